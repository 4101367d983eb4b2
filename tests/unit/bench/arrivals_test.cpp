// Arrival times: the gamma gaps' mean and variance over many draws (tolerances of five standard
// errors, derived below), vLLM's rescaling, rate inf, and seeding.
#include "bench/arrivals.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace hanlin::bench {
namespace {

struct SampleMoments {
  double mean;
  double variance;
};

SampleMoments moments(const std::vector<double>& values) {
  const double n = static_cast<double>(values.size());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double squares = 0;
  for (double value : values) squares += (value - mean) * (value - mean);
  return {mean, squares / (n - 1)};
}

// Gamma(k, θ) with θ = 1/(rate·k): mean 1/rate, variance kθ² = 1/(rate²·k), excess kurtosis 6/k.
// The sample mean's standard error is σ/√n; the sample variance's is about σ²·√((2 + 6/k)/n).
void expect_gamma_moments(double rate, double burstiness) {
  constexpr size_t kDraws = 200000;
  const std::vector<double> gaps = gamma_gaps(kDraws, rate, burstiness, 7);
  const SampleMoments sample = moments(gaps);
  const double n = static_cast<double>(kDraws);
  const double variance = 1.0 / (rate * rate * burstiness);
  EXPECT_NEAR(sample.mean, 1.0 / rate, 5 * std::sqrt(variance / n)) << "burstiness " << burstiness;
  EXPECT_NEAR(sample.variance, variance, 5 * variance * std::sqrt((2 + 6 / burstiness) / n))
      << "burstiness " << burstiness;
}

TEST(ArrivalsTest, PoissonGapsHaveTheRequestedRate) { expect_gamma_moments(4.0, 1.0); }

TEST(ArrivalsTest, BurstinessShapesTheGapsButKeepsTheRate) {
  expect_gamma_moments(10.0, 0.5);  // burstier: variance twice the Poisson one
  expect_gamma_moments(2.0, 4.0);   // smoother: a quarter of it
}

TEST(ArrivalsTest, InfiniteBurstinessGivesEvenGaps) {
  for (double gap : gamma_gaps(5, 8.0, INFINITY, 1)) EXPECT_DOUBLE_EQ(gap, 0.125);
}

TEST(ArrivalsTest, RescalingPutsTheLastArrivalAtNOverRate) {
  for (uint64_t seed : {0u, 1u, 2u}) {
    const std::vector<double> times = arrival_times(100, 5.0, 1.0, seed);
    ASSERT_EQ(times.size(), 100u);
    EXPECT_DOUBLE_EQ(times.back(), 20.0);  // 100 / 5
    EXPECT_GT(times.front(), 0.0);
    for (size_t i = 1; i < times.size(); ++i) EXPECT_LE(times[i - 1], times[i]);
  }
}

TEST(ArrivalsTest, RescalingKeepsTheGapsProportions) {
  // The cumulative gaps scaled by one factor: ratios between arrivals are the raw ones.
  const std::vector<double> gaps = gamma_gaps(10, 3.0, 1.0, 11);
  const std::vector<double> times = arrival_times(10, 3.0, 1.0, 11);
  const double raw_total = std::accumulate(gaps.begin(), gaps.end(), 0.0);
  EXPECT_NEAR(times[0] / times.back(), gaps[0] / raw_total, 1e-12);
  EXPECT_NEAR(times[4] / times.back(), (gaps[0] + gaps[1] + gaps[2] + gaps[3] + gaps[4]) / raw_total, 1e-12);
}

TEST(ArrivalsTest, InfiniteRateSendsEverythingAtOnce) {
  const std::vector<double> times = arrival_times(6, INFINITY, 1.0, 3);
  EXPECT_EQ(times, std::vector<double>(6, 0.0));
}

TEST(ArrivalsTest, SameSeedSameTimesOtherSeedOtherTimes) {
  EXPECT_EQ(arrival_times(50, 2.0, 0.7, 42), arrival_times(50, 2.0, 0.7, 42));
  EXPECT_NE(arrival_times(50, 2.0, 0.7, 42), arrival_times(50, 2.0, 0.7, 43));
}

}  // namespace
}  // namespace hanlin::bench
