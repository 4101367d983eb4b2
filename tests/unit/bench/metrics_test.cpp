// Serving metrics against request timelines whose figures were worked out by hand below, and
// percentiles against numpy's linear interpolation computed by hand.
#include "bench/metrics.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"

namespace hanlin::bench {
namespace {

constexpr double kTolerance = 1e-9;

RequestTimeline completed(double start, double ttft, std::vector<double> itl, int64_t prompt_len, int64_t output_tokens) {
  RequestTimeline request;
  request.success = true;
  request.start_time = start;
  request.ttft = ttft;
  request.itl = std::move(itl);
  request.latency = ttft;
  for (double gap : request.itl) request.latency += gap;
  request.prompt_len = prompt_len;
  request.output_tokens = output_tokens;
  return request;
}

RequestTimeline failed(int64_t prompt_len) {
  RequestTimeline request;
  request.error = "HTTP 500: boom";
  request.prompt_len = prompt_len;
  return request;
}

// A: sent at 0.00, chunks at 0.10, 0.15, 0.25 → TTFT 100 ms, ITL 50 and 100 ms, E2E 250 ms,
//    3 tokens → TPOT (250 − 100) / 2 = 75 ms.
// B: sent at 0.05, one chunk at 0.20 after sending → TTFT = E2E = 200 ms, 1 token: no TPOT.
// C: failed.
std::vector<RequestTimeline> three_requests() {
  return {completed(0.0, 0.10, {0.05, 0.10}, 10, 3), completed(0.05, 0.20, {}, 20, 1), failed(30)};
}

TEST(PercentileTest, LinearInterpolationAsNumpy) {
  const std::vector<double> values = {1, 2, 3, 4};
  // rank = p/100 · (n − 1): p50 → 1.5 → 2.5; p90 → 2.7 → 3.7; p99 → 2.97 → 3.97.
  EXPECT_NEAR(percentile(values, 50), 2.5, kTolerance);
  EXPECT_NEAR(percentile(values, 90), 3.7, kTolerance);
  EXPECT_NEAR(percentile(values, 99), 3.97, kTolerance);
  EXPECT_NEAR(percentile(values, 0), 1.0, kTolerance);
  EXPECT_NEAR(percentile(values, 100), 4.0, kTolerance);
  const std::vector<double> one = {7};
  EXPECT_NEAR(percentile(one, 99), 7.0, kTolerance);
}

TEST(SummarizeTest, MillisecondsWithPopulationStd) {
  // [1, 2, 3, 4] s: mean 2.5, variance ((1.5² + 0.5²) · 2) / 4 = 1.25, std √1.25 = 1.118034.
  const Distribution values = summarize_ms({4, 1, 3, 2});
  EXPECT_NEAR(values.mean, 2500, 1e-6);
  EXPECT_NEAR(values.median, 2500, 1e-6);
  EXPECT_NEAR(values.std, 1118.033988749895, 1e-6);
  EXPECT_NEAR(values.p90, 3700, 1e-6);
  EXPECT_NEAR(values.p99, 3970, 1e-6);
}

TEST(SummarizeTest, NoValuesGiveZeros) {
  const Distribution values = summarize_ms({});
  EXPECT_EQ(values.mean, 0);
  EXPECT_EQ(values.p99, 0);
}

TEST(MetricsTest, CountsAndThroughputs) {
  const auto requests = three_requests();
  const BenchmarkMetrics metrics = compute_metrics(requests, 2.0, {});
  EXPECT_EQ(metrics.completed, 2);
  EXPECT_EQ(metrics.failed, 1);
  EXPECT_EQ(metrics.total_input, 30);  // 10 + 20: the failed request's prompt is not counted
  EXPECT_EQ(metrics.total_output, 4);
  EXPECT_NEAR(metrics.request_throughput, 1.0, kTolerance);      // 2 / 2 s
  EXPECT_NEAR(metrics.output_throughput, 2.0, kTolerance);       // 4 / 2 s
  EXPECT_NEAR(metrics.total_token_throughput, 17.0, kTolerance); // 34 / 2 s
  EXPECT_EQ(metrics.request_goodput, 0.0);                       // no SLOs given
}

TEST(MetricsTest, TtftTpotItlE2el) {
  const auto requests = three_requests();
  const BenchmarkMetrics metrics = compute_metrics(requests, 2.0, {});
  // TTFT [100, 200] ms: mean 150, std 50, p90 = 100 + 0.9 · 100 = 190, p99 = 199.
  EXPECT_NEAR(metrics.ttft.mean, 150, 1e-6);
  EXPECT_NEAR(metrics.ttft.median, 150, 1e-6);
  EXPECT_NEAR(metrics.ttft.std, 50, 1e-6);
  EXPECT_NEAR(metrics.ttft.p90, 190, 1e-6);
  EXPECT_NEAR(metrics.ttft.p99, 199, 1e-6);
  // TPOT: only A (B made one token) → 75 ms everywhere, std 0.
  EXPECT_NEAR(metrics.tpot.mean, 75, 1e-6);
  EXPECT_NEAR(metrics.tpot.p99, 75, 1e-6);
  EXPECT_NEAR(metrics.tpot.std, 0, 1e-6);
  // ITL pooled: [50, 100] ms → mean 75, p90 = 50 + 0.9 · 50 = 95.
  EXPECT_NEAR(metrics.itl.mean, 75, 1e-6);
  EXPECT_NEAR(metrics.itl.p90, 95, 1e-6);
  // E2E [250, 200] ms → mean 225, std 25.
  EXPECT_NEAR(metrics.e2el.mean, 225, 1e-6);
  EXPECT_NEAR(metrics.e2el.std, 25, 1e-6);
}

TEST(MetricsTest, ItlPoolsGapsOfEveryRequest) {
  // Gaps [10, 20, 30] ms from one request and [40] ms from another: pooled mean 25, not the
  // mean of per-request means (20 and 40 → 30).
  const std::vector<RequestTimeline> requests = {completed(0, 0.1, {0.01, 0.02, 0.03}, 1, 4),
                                                 completed(0, 0.1, {0.04}, 1, 2)};
  const BenchmarkMetrics metrics = compute_metrics(requests, 1.0, {});
  EXPECT_NEAR(metrics.itl.mean, 25, 1e-6);
  EXPECT_NEAR(metrics.itl.median, 25, 1e-6);
}

TEST(MetricsTest, PeakConcurrencyAndBusiestSecond) {
  const auto requests = three_requests();
  // A in flight [0, 0.25), B [0.05, 0.25): both at once.
  EXPECT_EQ(compute_metrics(requests, 2.0, {}).max_concurrent_requests, 2);
  // Back to back, [0, 1) and [1, 2): never two at once.
  const std::vector<RequestTimeline> serial = {completed(0, 1.0, {}, 1, 1), completed(1.0, 1.0, {}, 1, 1)};
  EXPECT_EQ(compute_metrics(serial, 2.0, {}).max_concurrent_requests, 1);
  // All four chunks of A and B land in the first second.
  EXPECT_NEAR(compute_metrics(requests, 2.0, {}).max_output_tokens_per_s, 4.0, kTolerance);
}

TEST(MetricsTest, GoodputCountsRequestsMeetingEverySlo) {
  const auto requests = three_requests();
  const auto goodput = [&](std::vector<std::string> pairs) {
    return compute_metrics(requests, 2.0, parse_goodput(pairs)).request_goodput;
  };
  // TTFT ≤ 150 ms: A (100) yes, B (200) no → 1 good / 2 s.
  EXPECT_NEAR(goodput({"ttft:150"}), 0.5, kTolerance);
  // TPOT ≤ 70 ms: A (75) no; B has one token, its TPOT counts as 0 → yes.
  EXPECT_NEAR(goodput({"tpot:70"}), 0.5, kTolerance);
  // E2E ≤ 250 ms: both (a bound is inclusive).
  EXPECT_NEAR(goodput({"e2el:250"}), 1.0, kTolerance);
  // TTFT ≤ 150 and TPOT ≤ 70: A fails TPOT, B fails TTFT → none.
  EXPECT_NEAR(goodput({"ttft:150", "tpot:70"}), 0.0, kTolerance);
}

TEST(MetricsTest, ParseGoodputRejectsBadPairs) {
  const auto parse = [](std::string pair) { return parse_goodput(std::vector<std::string>{pair}); };
  EXPECT_EQ(parse("ttft:500").ttft_ms, 500.0);
  EXPECT_EQ(parse("e2el:2.5").e2el_ms, 2.5);
  for (const char* bad : {"ttft", "ttft:", "ttft:abc", "latency:10", "tpot:-1", "tpot:5ms"}) {
    EXPECT_THROW(parse(bad), Error) << bad;
  }
}

TEST(MetricsTest, OutputTokensFromUsageElseTokenizerElseChunks) {
  EXPECT_EQ(output_token_count(12, "anything", 3, nullptr), 12);
  EXPECT_EQ(output_token_count(std::nullopt, "anything", 3, nullptr), 3);
}

TEST(MetricsTest, NothingCompletedGivesZeros) {
  const std::vector<RequestTimeline> requests = {failed(5), failed(6)};
  const BenchmarkMetrics metrics = compute_metrics(requests, 1.0, parse_goodput(std::vector<std::string>{"ttft:1"}));
  EXPECT_EQ(metrics.completed, 0);
  EXPECT_EQ(metrics.failed, 2);
  EXPECT_EQ(metrics.request_goodput, 0);
  EXPECT_EQ(metrics.max_concurrent_requests, 0);
  EXPECT_EQ(metrics.ttft.mean, 0);
}

}  // namespace
}  // namespace hanlin::bench
