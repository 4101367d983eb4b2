// A small Prometheus metrics registry (counters, gauges, histograms) rendered in the text
// exposition format 0.0.4 for the server's GET /metrics. Updates are lock-free atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hanlin::server {

enum class MetricType { kCounter, kGauge, kHistogram };

// Label name → value pairs, in the order the family declares its label names.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing value (requests served, tokens generated).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Throws Error(kInternal) unless v is finite and >= 0: a counter that goes down is a bug.
  void add(double v = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (requests running, KV cache usage).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// What a histogram holds at one moment. cumulative_counts[i] counts observations <= the
// i-th upper bound; its last entry (the +Inf bucket) equals count.
struct HistogramSnapshot {
  std::vector<uint64_t> cumulative_counts;  // [num_bounds + 1]
  double sum = 0;
  uint64_t count = 0;
};

// Counts observations into buckets with inclusive upper bounds (Prometheus' `le`).
class Histogram {
 public:
  // Throws Error(kInternal) unless the bounds are finite and strictly increasing.
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Throws Error(kInternal) on NaN, which would poison the sum for the life of the server.
  void observe(double v);
  // Buckets and count agree with each other; under concurrent observe() the sum may include
  // an observation or two that the buckets do not yet show (or the reverse).
  HistogramSnapshot snapshot() const;
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  std::vector<double> upper_bounds_;
  std::vector<std::atomic<uint64_t>> bucket_counts_;  // [num_bounds + 1], not cumulative
  std::atomic<double> sum_{0};
};

// vLLM's time-to-first-token buckets, 1 ms … 2560 s; fit for other request latencies too.
std::vector<double> time_to_first_token_buckets();
// vLLM's inter-token (time per output token) buckets, 10 ms … 80 s.
std::vector<double> inter_token_latency_buckets();

// Owns metric families and their children. A family is a name, help text, type, label names
// and (for histograms) buckets; a child is one set of label values. Asking for a family again
// with the same definition returns the same child objects; a different definition, an invalid
// name or label name, or invalid buckets throws Error(kInternal) (names come from our code).
// Returned references stay valid as long as the registry. Lookups take the registry mutex:
// keep the reference on per-token paths rather than looking it up each time.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const std::vector<double>& upper_bounds,
                       const MetricLabels& labels = {});

  // Families in registration order, children sorted by label values.
  std::string render() const;

  struct Family;  // an implementation detail, defined in metrics.cpp

 private:
  // Both expect mutex_ held.
  Family& find_or_add_family(MetricType type, std::string_view name, std::string_view help,
                             const MetricLabels& labels, const std::vector<double>& upper_bounds);
  void check_no_sample_name_clash(const Family& candidate) const;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;  // registration order
};

}  // namespace hanlin::server
