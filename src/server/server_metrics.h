// The server's metrics under vLLM's names (dashboards built for vLLM work unchanged), plus
// hanlin's own: engine gauges and totals read at scrape time, per-request latencies as each
// request finishes.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine_core.h"
#include "server/metrics.h"

namespace hanlin::server {

// One request's timeline, kept by its handler.
class RequestTimer {
 public:
  RequestTimer() : arrived_(Clock::now()) {}
  // Call when an output with `num_tokens` new tokens arrives.
  void on_tokens(int64_t num_tokens);
  double seconds_since_arrival() const;
  std::optional<double> time_to_first_token() const { return time_to_first_token_; }
  const std::vector<double>& inter_token_seconds() const { return inter_token_seconds_; }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point arrived_;
  std::optional<Clock::time_point> last_token_;
  std::optional<double> time_to_first_token_;
  std::vector<double> inter_token_seconds_;  // per token after the first
};

class ServerMetrics {
 public:
  explicit ServerMetrics(const std::string& model_name);

  // A request ended: `finish_reason` as the API says it ("stop", "length", "tool_calls", ...).
  void request_finished(const RequestTimer& timer, const std::string& finish_reason, std::optional<double> queue_seconds);
  void request_failed(int status);
  // Prometheus text, with the engine's gauges and totals as of `stats`.
  std::string render(const engine::EngineStats& stats);

 private:
  void update_from_engine(const engine::EngineStats& stats);

  MetricsRegistry registry_;
  MetricLabels labels_;
  Gauge& running_;
  Gauge& waiting_;
  Gauge& kv_cache_usage_;
  Counter& prompt_tokens_;
  Counter& generation_tokens_;
  Counter& prefix_cache_queries_;
  Counter& prefix_cache_hits_;
  Counter& preemptions_;
  // The engine's step loop: steps, and their wall time by part (schedule, model, sample), so a
  // dashboard shows where a step goes and how much of it is host work.
  Counter& steps_;
  Counter& schedule_seconds_;
  Counter& model_seconds_;
  Counter& sample_seconds_;
  Histogram& time_to_first_token_;
  Histogram& inter_token_latency_;
  Histogram& e2e_latency_;
  Histogram& queue_time_;
  std::mutex engine_totals_mutex_;
  engine::EngineStats last_totals_;  // what the counters already hold
};

}  // namespace hanlin::server
