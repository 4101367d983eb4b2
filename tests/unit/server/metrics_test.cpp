// The Prometheus registry: exact exposition text, escaping, number formatting, histogram
// buckets, definition checks, and exact totals under concurrent updates and renders.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <latch>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace hanlin::server {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <typename Fn>
void expect_internal_error(Fn&& fn) {
  try {
    fn();
    ADD_FAILURE() << "expected Error(kInternal), nothing was thrown";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInternal) << error.what();
  }
}

// The value text of a lone gauge's sample line.
std::string rendered_value(double v) {
  MetricsRegistry registry;
  registry.gauge("g", "h").set(v);
  const std::string text = registry.render();
  const std::string prefix = "# HELP g h\n# TYPE g gauge\ng ";
  EXPECT_TRUE(text.starts_with(prefix) && text.ends_with("\n")) << text;
  return text.substr(prefix.size(), text.size() - prefix.size() - 1);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

TEST(Metrics, RendersSmallRegistryExactly) {
  MetricsRegistry registry;
  registry.counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.").add(12);
  // Registered "stop" first: children must still render sorted by label values.
  Counter& stop = registry.counter("vllm:request_success_total", "Count of successfully processed requests.",
                                   {{"finished_reason", "stop"}, {"model_name", "qwen3"}});
  Counter& length =
      registry.counter("vllm:request_success_total", "Count of successfully processed requests.",
                       {{"finished_reason", "length"}, {"model_name", "qwen3"}});
  stop.add(3);
  length.add();
  registry.gauge("vllm:num_requests_running", "Number of requests in model execution batches.").set(2);
  Histogram& ttft =
      registry.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                         {0.1, 0.5, 1}, {{"model_name", "qwen3"}});
  ttft.observe(0.0625);
  ttft.observe(0.5);
  ttft.observe(2);

  EXPECT_EQ(registry.render(),
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
            "# TYPE vllm:prompt_tokens_total counter\n"
            "vllm:prompt_tokens_total 12\n"
            "# HELP vllm:request_success_total Count of successfully processed requests.\n"
            "# TYPE vllm:request_success_total counter\n"
            "vllm:request_success_total{finished_reason=\"length\",model_name=\"qwen3\"} 1\n"
            "vllm:request_success_total{finished_reason=\"stop\",model_name=\"qwen3\"} 3\n"
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            "vllm:num_requests_running 2\n"
            "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.\n"
            "# TYPE vllm:time_to_first_token_seconds histogram\n"
            "vllm:time_to_first_token_seconds_bucket{model_name=\"qwen3\",le=\"0.1\"} 1\n"
            "vllm:time_to_first_token_seconds_bucket{model_name=\"qwen3\",le=\"0.5\"} 2\n"
            "vllm:time_to_first_token_seconds_bucket{model_name=\"qwen3\",le=\"1\"} 2\n"
            "vllm:time_to_first_token_seconds_bucket{model_name=\"qwen3\",le=\"+Inf\"} 3\n"
            "vllm:time_to_first_token_seconds_sum{model_name=\"qwen3\"} 2.5625\n"
            "vllm:time_to_first_token_seconds_count{model_name=\"qwen3\"} 3\n");
}

TEST(Metrics, UnlabelledHistogramAndEmptyRegistry) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.render(), "");
  registry.histogram("latency_seconds", "Latency.", {0.25}).observe(0.25);
  EXPECT_EQ(registry.render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{le=\"0.25\"} 1\n"
            "latency_seconds_bucket{le=\"+Inf\"} 1\n"
            "latency_seconds_sum 0.25\n"
            "latency_seconds_count 1\n");
}

TEST(Metrics, EscapesHelpAndLabelValues) {
  MetricsRegistry registry;
  // Help escapes backslash and newline but not the quote; label values escape all three.
  registry.counter("c", "Line one\nsays \"C:\\dir\"", {{"path", "say \"hi\"\nC:\\dir"}}).add(1);
  EXPECT_EQ(registry.render(),
            "# HELP c Line one\\nsays \"C:\\\\dir\"\n"
            "# TYPE c counter\n"
            "c{path=\"say \\\"hi\\\"\\nC:\\\\dir\"} 1\n");
}

TEST(Metrics, FormatsNumbers) {
  EXPECT_EQ(rendered_value(0), "0");
  EXPECT_EQ(rendered_value(-0.0), "0");
  EXPECT_EQ(rendered_value(42), "42");
  EXPECT_EQ(rendered_value(-3), "-3");
  EXPECT_EQ(rendered_value(100000), "100000");
  EXPECT_EQ(rendered_value(123456789012.0), "123456789012");
  EXPECT_EQ(rendered_value(9007199254740992.0), "9007199254740992");  // 2^53
  EXPECT_EQ(rendered_value(1e20), "1e+20");
  EXPECT_EQ(rendered_value(0.1), "0.1");
  EXPECT_EQ(rendered_value(2.5), "2.5");
  EXPECT_EQ(rendered_value(-0.75), "-0.75");
  EXPECT_EQ(rendered_value(1.5e-7), "1.5e-07");
  EXPECT_EQ(rendered_value(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(rendered_value(kInf), "+Inf");
  EXPECT_EQ(rendered_value(-kInf), "-Inf");
  EXPECT_EQ(rendered_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(Metrics, FormattedNumbersRoundTrip) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> bits;
  int num_checked = 0;
  while (num_checked < 2000) {
    const double v = std::bit_cast<double>(bits(rng));
    if (!std::isfinite(v)) continue;
    const std::string text = rendered_value(v);
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), v) << text;
    ++num_checked;
  }
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  MetricsRegistry registry;
  Histogram& histogram = registry.histogram("h", "help", {1, 2, 5});
  for (const double v : {0.5, 1.0, 1.5, 2.0, 5.0, 7.0, -1.0, std::nextafter(1.0, 2.0)}) histogram.observe(v);

  const HistogramSnapshot snapshot = histogram.snapshot();
  // le=1: -1, 0.5, 1 (on the boundary); le=2: + 1.5, 2, 1+ulp; le=5: + 5; +Inf: + 7.
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{3, 6, 7, 8}));
  EXPECT_EQ(snapshot.count, 8u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 16.0 + std::nextafter(1.0, 2.0));
  const std::vector<std::string> lines = lines_of(registry.render());
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[2], "h_bucket{le=\"1\"} 3");
  EXPECT_EQ(lines[3], "h_bucket{le=\"2\"} 6");
  EXPECT_EQ(lines[4], "h_bucket{le=\"5\"} 7");
  EXPECT_EQ(lines[5], "h_bucket{le=\"+Inf\"} 8");
  EXPECT_EQ(lines[7], "h_count 8");
}

TEST(Metrics, HistogramWithoutBoundsHasOnlyInfBucket) {
  Histogram histogram({});
  histogram.observe(3);
  histogram.observe(kInf);
  const HistogramSnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{2}));
  EXPECT_EQ(snapshot.sum, kInf);
}

TEST(Metrics, CounterAndGaugeArithmetic) {
  MetricsRegistry registry;
  Counter& counter = registry.counter("c", "help");
  counter.add();
  counter.add(2.5);
  counter.add(0);
  EXPECT_EQ(counter.value(), 3.5);
  Gauge& gauge = registry.gauge("g", "help");
  gauge.set(10);
  gauge.add(-4);
  gauge.add(0.5);
  EXPECT_EQ(gauge.value(), 6.5);
}

TEST(Metrics, CounterRejectsDecreasesAndNonFiniteIncrements) {
  Counter counter;
  counter.add(5);
  expect_internal_error([&] { counter.add(-1); });
  expect_internal_error([&] { counter.add(std::numeric_limits<double>::quiet_NaN()); });
  expect_internal_error([&] { counter.add(kInf); });
  EXPECT_EQ(counter.value(), 5);
  Histogram histogram({1});
  expect_internal_error([&] { histogram.observe(std::numeric_limits<double>::quiet_NaN()); });
  EXPECT_EQ(histogram.snapshot().count, 0u);
}

TEST(Metrics, SameDefinitionReturnsSameChild) {
  MetricsRegistry registry;
  Counter& a = registry.counter("vllm:request_success_total", "help", {{"reason", "stop"}});
  EXPECT_EQ(&registry.counter("vllm:request_success_total", "help", {{"reason", "stop"}}), &a);
  EXPECT_NE(&registry.counter("vllm:request_success_total", "help", {{"reason", "length"}}), &a);
  Gauge& g = registry.gauge("g", "help");
  EXPECT_EQ(&registry.gauge("g", "help"), &g);
  Histogram& h = registry.histogram("h", "help", time_to_first_token_buckets());
  EXPECT_EQ(&registry.histogram("h", "help", time_to_first_token_buckets()), &h);
}

TEST(Metrics, RejectsInvalidNames) {
  MetricsRegistry registry;
  for (const char* name : {"", "1abc", "a-b", "a b", "__reserved", "caf\xc3\xa9", "a.b"}) {
    SCOPED_TRACE(name);
    expect_internal_error([&] { registry.counter(name, "help"); });
  }
  for (const char* name : {"a", "_a", ":a", "a:b", "vllm:time_to_first_token_seconds", "A_9", "_"}) {
    EXPECT_NO_THROW(registry.gauge(name, "help")) << name;
  }
  for (const char* label : {"", "1a", "a:b", "a-b", "__reserved", "a b"}) {
    SCOPED_TRACE(label);
    expect_internal_error([&] { registry.counter("labelled", "help", {{label, "v"}}); });
  }
  expect_internal_error([&] { registry.counter("twice", "help", {{"a", "1"}, {"b", "2"}, {"a", "3"}}); });
  expect_internal_error([&] { registry.histogram("h", "help", {1}, {{"le", "1"}}); });
  EXPECT_NO_THROW(registry.counter("le_is_fine_on_counters", "help", {{"le", "1"}}));
  EXPECT_NO_THROW(registry.counter("label_ok", "help", {{"_a9", "v"}, {"B", ""}}));
}

TEST(Metrics, RejectsInvalidBuckets) {
  MetricsRegistry registry;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const std::vector<double>& bounds : std::vector<std::vector<double>>{
           {1, 1}, {2, 1}, {nan}, {1, nan, 3}, {1, kInf}, {-kInf, 0}, {0.1, 0.5, 0.4}}) {
    expect_internal_error([&] { registry.histogram("h", "help", bounds); });
    expect_internal_error([&] { Histogram histogram(bounds); });
  }
  EXPECT_EQ(registry.render(), "");  // nothing was half-registered
  EXPECT_NO_THROW(registry.histogram("h", "help", {-1, 0, 1e-9, 1}));
}

TEST(Metrics, RejectsConflictingRedefinitions) {
  MetricsRegistry registry;
  registry.counter("c", "help", {{"a", "1"}, {"b", "2"}});
  registry.histogram("h", "help", {1, 2});
  const std::string before = registry.render();
  expect_internal_error([&] { registry.gauge("c", "help", {{"a", "1"}, {"b", "2"}}); });          // type
  expect_internal_error([&] { registry.counter("c", "other help", {{"a", "1"}, {"b", "2"}}); });  // help
  expect_internal_error([&] { registry.counter("c", "help", {{"a", "1"}}); });                    // labels
  expect_internal_error([&] { registry.counter("c", "help", {{"b", "2"}, {"a", "1"}}); });        // order
  expect_internal_error([&] { registry.histogram("h", "help", {1, 3}); });                        // buckets
  expect_internal_error([&] { registry.histogram("c", "help", {1}, {{"a", "1"}, {"b", "2"}}); });
  // Sample names clash across families: h writes h_count and h_sum.
  expect_internal_error([&] { registry.counter("h_count", "help"); });
  registry.gauge("x_sum", "help");
  expect_internal_error([&] { registry.histogram("x", "help", {1}); });
  EXPECT_EQ(registry.render(), before + "# HELP x_sum help\n# TYPE x_sum gauge\nx_sum 0\n");
}

TEST(Metrics, StandardBucketsMatchVllm) {
  const std::vector<double> ttft = time_to_first_token_buckets();
  ASSERT_EQ(ttft.size(), 22u);
  EXPECT_EQ(ttft.front(), 0.001);
  EXPECT_EQ(ttft[7], 0.1);
  EXPECT_EQ(ttft.back(), 2560.0);
  const std::vector<double> itl = inter_token_latency_buckets();
  ASSERT_EQ(itl.size(), 19u);
  EXPECT_EQ(itl.front(), 0.01);
  EXPECT_EQ(itl[5], 0.15);
  EXPECT_EQ(itl.back(), 80.0);
  EXPECT_NO_THROW(Histogram{ttft});  // finite, strictly increasing
  EXPECT_NO_THROW(Histogram{itl});
}

// Checks one render taken mid-update: every histogram's buckets are non-decreasing and its
// +Inf bucket equals its _count.
void expect_consistent_histogram(const std::string& text) {
  uint64_t previous = 0;
  uint64_t inf_bucket = 0;
  for (const std::string& line : lines_of(text)) {
    if (line.starts_with("h_bucket")) {
      const uint64_t n = std::stoull(line.substr(line.rfind(' ') + 1));
      EXPECT_GE(n, previous) << line;
      previous = n;
      if (line.find("+Inf") != std::string::npos) inf_bucket = n;
    } else if (line.starts_with("h_count ")) {
      EXPECT_EQ(std::stoull(line.substr(8)), inf_bucket) << text;
    }
  }
}

TEST(Metrics, ConcurrentUpdatesWhileRendering) {
  constexpr int kNumThreads = 4;
  constexpr int kNumIterations = 100000;
  MetricsRegistry registry;
  Counter& counter = registry.counter("c", "help");
  Gauge& gauge = registry.gauge("g", "help");
  Histogram& histogram = registry.histogram("h", "help", {0.3, 1});
  std::atomic<bool> done{false};
  std::atomic<int> num_renders{0};
  std::latch start(kNumThreads);  // the writers begin together, so their updates overlap

  std::thread renderer([&] {
    // At least a few renders even if the writers finish first.
    while (!done.load() || num_renders.load() < 3) {
      expect_consistent_histogram(registry.render());
      num_renders.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kNumThreads; ++t) {
    writers.emplace_back([&, t] {
      const MetricLabels labels = {{"thread", std::to_string(t)}};
      start.arrive_and_wait();
      for (int i = 0; i < kNumIterations; ++i) {
        counter.add();
        gauge.add(i % 2 == 0 ? 3 : -1);
        histogram.observe(i % 4 == 0 ? 0.25 : (i % 4 == 1 ? 1.0 : 2.0));  // one bound-exact value
        // Looking children up (and creating them) races with render() and with each other.
        if (i % 1000 == 0) registry.counter("per_thread", "help", labels).add(1000);
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  done.store(true);
  renderer.join();

  constexpr uint64_t kTotal = uint64_t{kNumThreads} * kNumIterations;
  EXPECT_EQ(counter.value(), static_cast<double>(kTotal));
  EXPECT_EQ(gauge.value(), static_cast<double>(kTotal));  // per pair of iterations: +3 - 1
  const HistogramSnapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{kTotal / 4, kTotal / 2, kTotal}));
  EXPECT_EQ(snapshot.count, kTotal);
  EXPECT_EQ(snapshot.sum, kTotal / 4 * (0.25 + 1.0 + 2.0 * 2));
  for (int t = 0; t < kNumThreads; ++t) {
    EXPECT_EQ(registry.counter("per_thread", "help", {{"thread", std::to_string(t)}}).value(),
              static_cast<double>(kNumIterations));
  }
  EXPECT_GE(num_renders.load(), 3);
}

}  // namespace
}  // namespace hanlin::server
