// Request send times for a benchmark run; see arrivals.h.
#include "bench/arrivals.h"

#include <cmath>
#include <random>

namespace hanlin::bench {

std::vector<double> gamma_gaps(size_t num_requests, double request_rate, double burstiness, uint64_t seed) {
  std::vector<double> gaps(num_requests, 1.0 / request_rate);
  if (std::isinf(burstiness)) return gaps;
  std::mt19937_64 generator(seed);
  std::gamma_distribution<double> gap(burstiness, 1.0 / (request_rate * burstiness));
  for (double& value : gaps) value = gap(generator);
  return gaps;
}

std::vector<double> arrival_times(size_t num_requests, double request_rate, double burstiness, uint64_t seed) {
  if (std::isinf(request_rate) || num_requests == 0) return std::vector<double>(num_requests, 0.0);
  std::vector<double> times = gamma_gaps(num_requests, request_rate, burstiness, seed);
  for (size_t i = 1; i < times.size(); ++i) times[i] += times[i - 1];
  if (times.back() <= 0) return times;
  const double last = static_cast<double>(num_requests) / request_rate;
  const double scale = last / times.back();
  for (double& time : times) time *= scale;
  times.back() = last;  // exact, whatever the rounding of the product
  return times;
}

}  // namespace hanlin::bench
