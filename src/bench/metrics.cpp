// Serving metrics from request timelines; see metrics.h.
#include "bench/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <numeric>
#include <utility>

#include "core/error.h"

namespace hanlin::bench {
namespace {

double parse_slo_value(const std::string& pair, const std::string& value) {
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  require(!value.empty() && end == value.c_str() + value.size() && std::isfinite(number), ErrorKind::kInvalidArgument,
          "--goodput: '" + pair + "' is not KEY:MILLISECONDS (e.g. ttft:500)");
  require(number >= 0, ErrorKind::kInvalidArgument, "--goodput: '" + pair + "': the target must be 0 ms or more");
  return number;
}

// Each completed request's TPOT for goodput: 0 when it produced one token or none, as vLLM counts.
double goodput_tpot(const RequestTimeline& request) {
  if (request.output_tokens <= 1) return 0;
  return (request.latency - request.ttft) / static_cast<double>(request.output_tokens - 1);
}

bool meets(const RequestTimeline& request, const SloTargets& slo) {
  const auto within = [](double seconds, const std::optional<double>& target_ms) {
    return !target_ms || seconds * 1000.0 <= *target_ms;
  };
  return within(request.ttft, slo.ttft_ms) && within(goodput_tpot(request), slo.tpot_ms) &&
         within(request.latency, slo.e2el_ms);
}

// Sweep over half-open intervals [start, start + latency): an end at the same instant as a start
// comes first, so back-to-back requests do not overlap.
int64_t peak_in_flight(std::span<const RequestTimeline> requests) {
  std::vector<std::pair<double, int>> events;
  for (const RequestTimeline& request : requests) {
    if (!request.success) continue;
    events.emplace_back(request.start_time, +1);
    events.emplace_back(request.start_time + request.latency, -1);
  }
  std::sort(events.begin(), events.end());
  int64_t in_flight = 0;
  int64_t peak = 0;
  for (const auto& [time, change] : events) {
    in_flight += change;
    peak = std::max(peak, in_flight);
  }
  return peak;
}

// Output chunks per whole second since the first completed request started; the busiest second.
double busiest_second(std::span<const RequestTimeline> requests) {
  double first_start = INFINITY;
  for (const RequestTimeline& request : requests) {
    if (request.success) first_start = std::min(first_start, request.start_time);
  }
  std::map<int64_t, int64_t> per_second;
  for (const RequestTimeline& request : requests) {
    if (!request.success) continue;
    double time = request.start_time + request.ttft;
    ++per_second[static_cast<int64_t>(time - first_start)];
    for (double gap : request.itl) {
      time += gap;
      ++per_second[static_cast<int64_t>(time - first_start)];
    }
  }
  int64_t busiest = 0;
  for (const auto& [second, count] : per_second) busiest = std::max(busiest, count);
  return static_cast<double>(busiest);
}

}  // namespace

int64_t output_token_count(std::optional<int64_t> usage_tokens, const std::string& text, size_t num_chunks,
                           const text::Tokenizer* tokenizer) {
  if (usage_tokens) return *usage_tokens;
  if (tokenizer) return static_cast<int64_t>(tokenizer->encode(text).size());
  return static_cast<int64_t>(num_chunks);
}

SloTargets parse_goodput(std::span<const std::string> pairs) {
  SloTargets slo;
  for (const std::string& pair : pairs) {
    const size_t colon = pair.find(':');
    require(colon != std::string::npos, ErrorKind::kInvalidArgument,
            "--goodput: '" + pair + "' is not KEY:MILLISECONDS (e.g. ttft:500)");
    const std::string name = pair.substr(0, colon);
    const double value = parse_slo_value(pair, pair.substr(colon + 1));
    if (name == "ttft") slo.ttft_ms = value;
    else if (name == "tpot") slo.tpot_ms = value;
    else if (name == "e2el") slo.e2el_ms = value;
    else throw Error(ErrorKind::kInvalidArgument, "--goodput: unknown metric '" + name + "' (use ttft, tpot or e2el)");
  }
  return slo;
}

double percentile(std::span<const double> sorted, double p) {
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (rank - static_cast<double>(below));
}

Distribution summarize_ms(std::vector<double> seconds) {
  if (seconds.empty()) return {};
  std::sort(seconds.begin(), seconds.end());
  const auto count = static_cast<double>(seconds.size());
  const double mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / count;
  double squares = 0;
  for (double value : seconds) squares += (value - mean) * (value - mean);
  return Distribution{.mean = mean * 1000,
                      .median = percentile(seconds, 50) * 1000,
                      .std = std::sqrt(squares / count) * 1000,
                      .p90 = percentile(seconds, 90) * 1000,
                      .p99 = percentile(seconds, 99) * 1000};
}

BenchmarkMetrics compute_metrics(std::span<const RequestTimeline> requests, double duration_s,
                                 const SloTargets& slo) {
  BenchmarkMetrics metrics;
  std::vector<double> ttfts, tpots, itls, e2els;
  int64_t num_good = 0;
  for (const RequestTimeline& request : requests) {
    if (!request.success) {
      ++metrics.failed;
      continue;
    }
    ++metrics.completed;
    metrics.total_input += request.prompt_len;
    metrics.total_output += request.output_tokens;
    ttfts.push_back(request.ttft);
    e2els.push_back(request.latency);
    if (request.output_tokens > 1) tpots.push_back(goodput_tpot(request));
    itls.insert(itls.end(), request.itl.begin(), request.itl.end());
    if (!slo.empty() && meets(request, slo)) ++num_good;
  }
  if (duration_s > 0) {
    metrics.request_throughput = static_cast<double>(metrics.completed) / duration_s;
    metrics.request_goodput = static_cast<double>(num_good) / duration_s;
    metrics.output_throughput = static_cast<double>(metrics.total_output) / duration_s;
    metrics.total_token_throughput = static_cast<double>(metrics.total_input + metrics.total_output) / duration_s;
  }
  metrics.ttft = summarize_ms(std::move(ttfts));
  metrics.tpot = summarize_ms(std::move(tpots));
  metrics.itl = summarize_ms(std::move(itls));
  metrics.e2el = summarize_ms(std::move(e2els));
  metrics.max_concurrent_requests = peak_in_flight(requests);
  metrics.max_output_tokens_per_s = metrics.completed > 0 ? busiest_second(requests) : 0;
  return metrics;
}

}  // namespace hanlin::bench
