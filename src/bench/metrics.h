// Serving metrics as vLLM's `bench serve` defines them, computed from per-request timelines:
// TTFT, TPOT, ITL and end-to-end latency (mean, median, std, p90, p99 in ms), throughputs,
// goodput under SLOs, and the peak number of requests in flight.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "text/tokenizer.h"

namespace hanlin::bench {

// One request as the client saw it. Times in seconds; start_time from the start of the run.
struct RequestTimeline {
  bool success = false;
  std::string error;           // why it failed; empty on success
  double start_time = 0;       // when it was sent
  double ttft = 0;             // first output chunk − send
  double latency = 0;          // last output chunk − send
  std::vector<double> itl;     // gaps between successive output chunks
  int64_t prompt_len = 0;      // tokens (the server's usage when it reported them)
  int64_t output_tokens = 0;   // see output_token_count
  std::string generated_text;
};

// The output length of a request: the server's usage when present, else the text's token count
// when a tokenizer is given, else the number of output chunks.
int64_t output_token_count(std::optional<int64_t> usage_tokens, const std::string& text, size_t num_chunks,
                           const text::Tokenizer* tokenizer);

// Service-level objectives for goodput, in ms; a request is good when it meets every one given.
struct SloTargets {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> e2el_ms;
  bool empty() const { return !ttft_ms && !tpot_ms && !e2el_ms; }
};

// "ttft:500", "tpot:50", "e2el:3000" (vLLM's --goodput). Error(kInvalidArgument) on an unknown
// name, a malformed pair or a negative value.
SloTargets parse_goodput(std::span<const std::string> pairs);

// numpy's default percentile: linear interpolation between the two nearest ranks of the sorted
// values. `sorted` must be sorted and non-empty; p in [0, 100].
double percentile(std::span<const double> sorted, double p);

struct Distribution {  // milliseconds; all 0 when there were no values (as vLLM reports)
  double mean = 0;
  double median = 0;
  double std = 0;  // population standard deviation (numpy's default)
  double p90 = 0;
  double p99 = 0;
};

// The distribution of `seconds`, reported in milliseconds.
Distribution summarize_ms(std::vector<double> seconds);

struct BenchmarkMetrics {
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t total_input = 0;   // over completed requests
  int64_t total_output = 0;  // over completed requests
  double request_throughput = 0;
  double request_goodput = 0;
  double output_throughput = 0;
  double total_token_throughput = 0;
  Distribution ttft;
  Distribution tpot;  // requests with more than one output token only
  Distribution itl;   // gaps pooled over all requests
  Distribution e2el;
  int64_t max_concurrent_requests = 0;  // peak of completed requests in flight at once
  double max_output_tokens_per_s = 0;   // the busiest whole second, by output chunks
};

// `duration_s` is the run's wall time. Failed requests count only in `failed`.
BenchmarkMetrics compute_metrics(std::span<const RequestTimeline> requests, double duration_s,
                                 const SloTargets& slo);

}  // namespace hanlin::bench
