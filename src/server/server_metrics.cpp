// Registration of the server's metric families and their updates.
#include "server/server_metrics.h"

#include <algorithm>

namespace hanlin::server {

void RequestTimer::on_tokens(int64_t num_tokens) {
  if (num_tokens <= 0) return;
  const Clock::time_point now = Clock::now();
  if (!last_token_) {
    time_to_first_token_ = std::chrono::duration<double>(now - arrived_).count();
  } else {
    // Tokens that arrive together share the gap since the previous output.
    const double gap = std::chrono::duration<double>(now - *last_token_).count() / static_cast<double>(num_tokens);
    for (int64_t i = 0; i < num_tokens; ++i) inter_token_seconds_.push_back(gap);
  }
  last_token_ = now;
}

double RequestTimer::seconds_since_arrival() const {
  return std::chrono::duration<double>(Clock::now() - arrived_).count();
}

namespace {

std::vector<double> request_latency_buckets() {
  return {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
}

// Wall time of one part of the engine's steps: "schedule" (choosing the batch), "model" (the
// forward: upload, kernels, the results' copy back), "sample" (sampling on the host, stop checks,
// delivering outputs).
Counter& step_part_counter(MetricsRegistry& registry, const MetricLabels& labels, const char* part) {
  MetricLabels with_part = labels;
  with_part.emplace_back("part", part);
  return registry.counter("hanlin:engine_step_seconds_total", "Wall time of the engine's steps, by part.", with_part);
}

}  // namespace

ServerMetrics::ServerMetrics(const std::string& model_name)
    : labels_{{"model_name", model_name}},
      running_(registry_.gauge("vllm:num_requests_running", "Requests being generated (started, not finished).", labels_)),
      waiting_(registry_.gauge("vllm:num_requests_waiting", "Requests waiting to start.", labels_)),
      kv_cache_usage_(registry_.gauge("vllm:kv_cache_usage_perc", "Share of KV cache blocks in use, 0 to 1.", labels_)),
      prompt_tokens_(registry_.counter("vllm:prompt_tokens_total", "Prompt tokens of started requests.", labels_)),
      generation_tokens_(registry_.counter("vllm:generation_tokens_total", "Generated tokens.", labels_)),
      prefix_cache_queries_(registry_.counter("vllm:prefix_cache_queries", "Prompt tokens looked up in the prefix cache.", labels_)),
      prefix_cache_hits_(registry_.counter("vllm:prefix_cache_hits", "Prompt tokens found in the prefix cache.", labels_)),
      preemptions_(registry_.counter("vllm:num_preemptions_total", "Sequences preempted (recomputed later).", labels_)),
      steps_(registry_.counter("hanlin:engine_steps_total", "Engine steps run (each one forward over a batch).", labels_)),
      schedule_seconds_(step_part_counter(registry_, labels_, "schedule")),
      model_seconds_(step_part_counter(registry_, labels_, "model")),
      sample_seconds_(step_part_counter(registry_, labels_, "sample")),
      time_to_first_token_(registry_.histogram("vllm:time_to_first_token_seconds", "Time from arrival to the first token.",
                                               time_to_first_token_buckets(), labels_)),
      inter_token_latency_(registry_.histogram("vllm:inter_token_latency_seconds", "Time between consecutive tokens.",
                                               inter_token_latency_buckets(), labels_)),
      e2e_latency_(registry_.histogram("vllm:e2e_request_latency_seconds", "Time from arrival to the last token.",
                                       request_latency_buckets(), labels_)),
      queue_time_(registry_.histogram("vllm:request_queue_time_seconds", "Time waiting before the first step.",
                                      request_latency_buckets(), labels_)) {
  for (const char* reason : {"stop", "length", "tool_calls", "abort", "error"}) {
    MetricLabels labels = labels_;
    labels.emplace_back("finished_reason", reason);
    registry_.counter("vllm:request_success_total", "Requests finished, by finish reason.", labels);
  }
}

void ServerMetrics::request_finished(const RequestTimer& timer, const std::string& finish_reason,
                                     std::optional<double> queue_seconds) {
  MetricLabels labels = labels_;
  labels.emplace_back("finished_reason", finish_reason);
  registry_.counter("vllm:request_success_total", "Requests finished, by finish reason.", labels).add();
  e2e_latency_.observe(timer.seconds_since_arrival());
  if (timer.time_to_first_token()) time_to_first_token_.observe(*timer.time_to_first_token());
  for (double gap : timer.inter_token_seconds()) inter_token_latency_.observe(gap);
  if (queue_seconds) queue_time_.observe(*queue_seconds);
}

void ServerMetrics::request_failed(int status) {
  MetricLabels labels = labels_;
  labels.emplace_back("status", std::to_string(status));
  registry_.counter("hanlin:request_errors_total", "Requests answered with an error status.", labels).add();
}

void ServerMetrics::update_from_engine(const engine::EngineStats& stats) {
  running_.set(static_cast<double>(stats.num_running_requests));
  waiting_.set(static_cast<double>(stats.num_waiting_requests));
  kv_cache_usage_.set(stats.kv_cache_usage);
  std::lock_guard lock(engine_totals_mutex_);
  // The engine keeps totals; a counter takes what is new since the last scrape (never less:
  // two scrapes may read snapshots out of order).
  auto grow = [](Counter& counter, int64_t now, int64_t& before) {
    if (now > before) counter.add(static_cast<double>(now - before));
    before = std::max(before, now);
  };
  grow(prompt_tokens_, stats.num_prompt_tokens, last_totals_.num_prompt_tokens);
  grow(generation_tokens_, stats.num_generated_tokens, last_totals_.num_generated_tokens);
  grow(prefix_cache_queries_, stats.prefix_cache.queried_tokens, last_totals_.prefix_cache.queried_tokens);
  grow(prefix_cache_hits_, stats.prefix_cache.hit_tokens, last_totals_.prefix_cache.hit_tokens);
  grow(preemptions_, stats.num_preemptions, last_totals_.num_preemptions);
  grow(steps_, stats.num_steps, last_totals_.num_steps);
  auto grow_seconds = [](Counter& counter, double now, double& before) {
    if (now > before) counter.add(now - before);
    before = std::max(before, now);
  };
  grow_seconds(schedule_seconds_, stats.step_times.schedule_seconds, last_totals_.step_times.schedule_seconds);
  grow_seconds(model_seconds_, stats.step_times.model_seconds, last_totals_.step_times.model_seconds);
  grow_seconds(sample_seconds_, stats.step_times.sample_seconds, last_totals_.step_times.sample_seconds);
}

std::string ServerMetrics::render(const engine::EngineStats& stats) {
  update_from_engine(stats);
  return registry_.render();
}

}  // namespace hanlin::server
