// When each request of a benchmark run is sent: all at once (rate inf), or with gaps drawn from
// a gamma distribution (shape = burstiness; 1 is a Poisson process), as vLLM's `bench serve` does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hanlin::bench {

// `num_requests` gaps in seconds, gamma-distributed with shape `burstiness` and mean 1/`request_rate`
// (scale = 1 / (rate · burstiness)). An infinite burstiness gives constant gaps of 1/rate.
// The same seed gives the same gaps. Requires a finite rate > 0 and burstiness > 0.
std::vector<double> gamma_gaps(size_t num_requests, double request_rate, double burstiness, uint64_t seed);

// Send times in seconds from the start of the run, non-decreasing. An infinite rate sends every
// request at 0. Otherwise the cumulative gaps are scaled so the last request goes out at exactly
// num_requests / request_rate: a plain sum of random gaps misses that by a percent or two, and
// the scaling keeps throughput figures comparable between seeds (vLLM does the same).
std::vector<double> arrival_times(size_t num_requests, double request_rate, double burstiness, uint64_t seed);

}  // namespace hanlin::bench
