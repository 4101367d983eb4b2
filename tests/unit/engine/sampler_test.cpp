// Sampler: Philox known answers, hand-worked processing examples, draws checked by chi-square
// against an independent reference distribution, raw logprobs, and batch = per-row results.
#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/philox.h"

namespace hanlin::engine {
namespace {

// A row and the sequence state its SampleInput points into.
struct Row {
  std::vector<float> logits;
  SamplingParams params;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> output_ids;
  std::vector<int32_t> banned_ids;
  uint64_t seed = 0;
  uint64_t sequence_index = 0;

  SampleInput input() const {
    return {logits, &params, prompt_ids, output_ids, banned_ids, seed, sequence_index};
  }
};

Row greedy_row(std::vector<float> logits) {
  Row row;
  row.logits = std::move(logits);
  row.params.temperature = 0.0;
  return row;
}

int32_t greedy_token(const Row& row) {
  return Sampler().sample_one(row.input()).token_id;
}

// The definition, written plainly: sort everything, softmax with temperature, then top-k (ties
// with the k-th kept, as Hugging Face's TopKLogitsWarper), renormalise, top-p (keep while the
// mass before a token is below top_p), renormalise, min-p against the largest, renormalise.
std::vector<double> reference_distribution(const std::vector<float>& logits, const SamplingParams& params) {
  const size_t n = logits.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return logits[a] > logits[b]; });
  const double max_logit = logits[order[0]];
  std::vector<double> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = std::exp((logits[i] - max_logit) / params.temperature);
  std::vector<bool> keep(n, true);
  const auto renormalise = [&] {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += keep[i] ? p[i] : 0.0;
    for (size_t i = 0; i < n; ++i) p[i] = keep[i] ? p[i] / sum : 0.0;
  };
  if (params.top_k > 0 && static_cast<size_t>(params.top_k) < n) {
    const float kth = logits[order[static_cast<size_t>(params.top_k) - 1]];
    for (size_t i = 0; i < n; ++i) keep[i] = logits[i] >= kth;
  }
  renormalise();
  if (params.top_p < 1.0) {
    double before = 0;
    for (size_t i : order) {
      if (!keep[i]) continue;
      if (before >= params.top_p) {
        keep[i] = false;
      } else {
        before += p[i];
      }
    }
  }
  renormalise();
  const double p_max = *std::max_element(p.begin(), p.end());
  for (size_t i = 0; i < n; ++i) keep[i] = keep[i] && p[i] >= params.min_p * p_max;
  renormalise();
  return p;
}

// Chi-square critical values at p = 1e-4, by degrees of freedom (index 0 unused).
constexpr double kChiSquareCritical[] = {0,      15.137, 18.421, 21.108, 23.513,
                                         25.745, 27.856, 29.878, 31.828, 33.720};

void expect_counts_fit(const std::vector<int64_t>& counts, const std::vector<double>& expected,
                       int64_t num_draws) {
  double chi_square = 0;
  int num_categories = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (expected[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "masked token " << i << " was drawn";
      continue;
    }
    const double e = expected[i] * static_cast<double>(num_draws);
    ASSERT_GE(e, 20.0) << "token " << i << ": too rare for a chi-square test";
    chi_square += (static_cast<double>(counts[i]) - e) * (static_cast<double>(counts[i]) - e) / e;
    ++num_categories;
  }
  const int degrees = num_categories - 1;
  ASSERT_GE(degrees, 1);
  ASSERT_LT(degrees, 10);
  EXPECT_LT(chi_square, kChiSquareCritical[degrees]) << "degrees of freedom " << degrees;
}

void expect_near_each(const std::vector<double>& actual, const std::vector<double>& expected,
                      double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tolerance) << "token " << i;
}

// ---------------------------------------------------------------------------------------------
// Philox and counter_uniform

TEST(Philox, MatchesRandom123KnownAnswers) {
  // Random123's kat_vectors: "philox4x32 10 <counter x4> <key x2> <expected x4>".
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(CounterUniform, UsesTheFirstTwoWordsOfTheKnownBlocks) {
  // u = ((word0 << 32 | word1) >> 11) / 2^53, with the words from the vectors above. The pi
  // vector pins the word order: key = (seed low, seed high), counter = (sequence, step) low first.
  EXPECT_EQ(counter_uniform(0, 0, 0), static_cast<double>(0x6627e8d5e169c58dull >> 11) * 0x1.0p-53);
  EXPECT_EQ(counter_uniform(~0ull, ~0ull, ~0ull),
            static_cast<double>(0x408f276d41c83b0eull >> 11) * 0x1.0p-53);
  EXPECT_EQ(counter_uniform(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull),
            static_cast<double>(0xd16cfe0994fdccebull >> 11) * 0x1.0p-53);
  EXPECT_NEAR(counter_uniform(0, 0, 0), 0.3990464708489645, 1e-15);
}

TEST(CounterUniform, InUnitIntervalAndRoughlyUniform) {
  double sum = 0;
  const int num = 100000;
  for (int i = 0; i < num; ++i) {
    const double u = counter_uniform(42, static_cast<uint64_t>(i % 7), static_cast<uint64_t>(i));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / num, 0.5, 0.005);  // standard error 0.0009
}

TEST(CounterUniform, DeterministicAndKeyedByEveryArgument) {
  const double u = counter_uniform(7, 3, 11);
  EXPECT_EQ(u, counter_uniform(7, 3, 11));
  EXPECT_NE(u, counter_uniform(8, 3, 11));
  EXPECT_NE(u, counter_uniform(7, 4, 11));
  EXPECT_NE(u, counter_uniform(7, 3, 12));
  EXPECT_NE(u, counter_uniform(7ull | (1ull << 40), 3, 11));  // the seed's high word counts
  EXPECT_NE(u, counter_uniform(7, 3, 11ull | (1ull << 40)));  // so does the step's
  EXPECT_NE(counter_uniform(0, 1, 0), counter_uniform(0, 0, 1));
}

// ---------------------------------------------------------------------------------------------
// Greedy and the logits processors, worked by hand

TEST(SamplerGreedy, PicksArgmaxAndLowestIdOnTies) {
  EXPECT_EQ(greedy_token(greedy_row({1.0f, 2.0f, 3.0f, 2.5f, 0.5f})), 2);
  EXPECT_EQ(greedy_token(greedy_row({1.0f, 3.0f, 3.0f, 2.0f})), 1);
  EXPECT_EQ(greedy_token(greedy_row({-5.0f, -1.0f, -1.0f})), 1);
  EXPECT_EQ(greedy_token(greedy_row({0.5f})), 0);
}

TEST(SamplerGreedy, DistributionIsOneAtTheArgmax) {
  const Row row = greedy_row({1.0f, 3.0f, 3.0f, 2.0f});
  expect_near_each(sampling_distribution(row.input()), {0, 1, 0, 0}, 0.0);
}

TEST(SamplerGreedy, LogitBiasMovesTheArgmax) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.5f, 0.5f});
  row.params.logit_bias = {{0, 2.5f}};  // token 0: 1.0 + 2.5 = 3.5 > 3.0
  EXPECT_EQ(greedy_token(row), 0);
  row.params.logit_bias = {{2, -1.0f}};  // token 2: 3.0 - 1.0 = 2.0 < 2.5 (token 3)
  EXPECT_EQ(greedy_token(row), 3);
}

TEST(SamplerGreedy, BannedIdsAreNeverChosen) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.5f, 0.5f});
  row.banned_ids = {2};
  EXPECT_EQ(greedy_token(row), 3);
  row.banned_ids = {2, 3};
  EXPECT_EQ(greedy_token(row), 1);
  row.params.logit_bias = {{2, 100.0f}};  // a ban beats any bias
  EXPECT_EQ(greedy_token(row), 1);
}

TEST(SamplerGreedy, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.5f, 0.5f});
  row.params.repetition_penalty = 2.0;
  row.prompt_ids = {2};  // 3.0 / 2 = 1.5 < 2.5
  EXPECT_EQ(greedy_token(row), 3);
  row.prompt_ids = {};
  row.output_ids = {2};  // generated tokens count too
  EXPECT_EQ(greedy_token(row), 3);

  Row negative = greedy_row({-3.0f, -1.0f, -1.5f, -4.0f});
  negative.params.repetition_penalty = 2.0;
  negative.prompt_ids = {1};  // -1.0 * 2 = -2.0 < -1.5 (dividing would give -0.5 and keep 1)
  EXPECT_EQ(greedy_token(negative), 2);
}

TEST(SamplerGreedy, RepetitionPenaltyAppliesOncePerDistinctToken) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.3f, 0.5f});
  row.params.repetition_penalty = 1.25;
  row.prompt_ids = {2, 2};
  row.output_ids = {2};  // once: 3.0 / 1.25 = 2.4 > 2.3; three times would give 1.536
  EXPECT_EQ(greedy_token(row), 2);
}

TEST(SamplerGreedy, FrequencyPenaltyScalesWithCount) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.5f, 0.5f});
  row.params.frequency_penalty = 0.2;
  row.output_ids = {2, 2};  // 3.0 - 0.4 = 2.6 > 2.5
  EXPECT_EQ(greedy_token(row), 2);
  row.output_ids = {2, 2, 2};  // 3.0 - 0.6 = 2.4 < 2.5
  EXPECT_EQ(greedy_token(row), 3);
}

TEST(SamplerGreedy, PresencePenaltyAppliesOnceWhateverTheCount) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.5f, 0.5f});
  row.params.presence_penalty = 0.4;
  row.output_ids = {2, 2, 2};  // 3.0 - 0.4 = 2.6 > 2.5
  EXPECT_EQ(greedy_token(row), 2);
  row.params.presence_penalty = 0.6;  // 2.4 < 2.5
  EXPECT_EQ(greedy_token(row), 3);
  row.params.presence_penalty = 0.4;
  row.params.frequency_penalty = 0.1;  // 3.0 - 0.3 - 0.4 = 2.3 < 2.5
  EXPECT_EQ(greedy_token(row), 3);
}

TEST(SamplerGreedy, PresenceAndFrequencyIgnoreThePrompt) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.5f, 0.5f});
  row.params.presence_penalty = 2.0;
  row.params.frequency_penalty = 2.0;
  row.prompt_ids = {2, 2, 2};
  EXPECT_EQ(greedy_token(row), 2);
}

TEST(SamplerGreedy, BiasComesBeforeRepetitionPenalty) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.3f, 0.5f});
  row.params.logit_bias = {{2, 1.0f}};
  row.params.repetition_penalty = 2.0;
  row.prompt_ids = {2};  // (3.0 + 1.0) / 2 = 2.0 < 2.3; the other order gives 3.0 / 2 + 1 = 2.5
  EXPECT_EQ(greedy_token(row), 3);
}

TEST(SamplerGreedy, RepetitionPenaltyComesBeforeFrequencyPenalty) {
  Row row = greedy_row({0.1f, 0.2f, 3.0f, 0.8f, 0.3f});
  row.params.repetition_penalty = 2.0;
  row.params.frequency_penalty = 1.0;
  row.output_ids = {2};  // 3.0 / 2 - 1 = 0.5 < 0.8; the other order gives (3.0 - 1) / 2 = 1.0
  EXPECT_EQ(greedy_token(row), 3);
}

TEST(SamplerGreedy, DoesNotModifyTheInputRow) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f, 2.5f, 0.5f});
  row.params.logit_bias = {{0, 5.0f}};
  row.params.repetition_penalty = 1.5;
  row.params.frequency_penalty = 0.5;
  row.prompt_ids = {1, 2};
  row.output_ids = {3};
  row.banned_ids = {4};
  const std::vector<float> before = row.logits;
  (void)greedy_token(row);
  (void)sampling_distribution(row.input());
  EXPECT_EQ(row.logits, before);
}

// ---------------------------------------------------------------------------------------------
// Draws against the reference distribution

const std::vector<float> kSmallLogits = {1.2f, 2.5f, 0.3f, -0.4f, 1.9f, 0.8f, -1.5f, 2.1f};

struct FilterCase {
  const char* name;
  double temperature;
  int32_t top_k;
  double top_p;
  double min_p;
};

// Each case keeps at least two tokens, with no token within 0.01 of a top-p or min-p boundary.
const FilterCase kFilterCases[] = {
    {"temperature 1", 1.0, 0, 1.0, 0.0},
    {"temperature 0.7", 0.7, 0, 1.0, 0.0},
    {"temperature 1.5", 1.5, 0, 1.0, 0.0},
    {"top_k 3", 1.0, 3, 1.0, 0.0},
    {"top_k -1 is off", 1.0, -1, 1.0, 0.0},
    {"top_p 0.8", 1.0, 0, 0.8, 0.0},
    {"min_p 0.2", 1.0, 0, 1.0, 0.2},
    {"min_p binds", 0.8, 5, 0.97, 0.25},
    {"top_p binds", 1.3, 6, 0.75, 0.0},
    {"top_k binds", 1.2, 4, 0.95, 0.05},
    {"top_p and min_p", 2.0, 0, 0.9, 0.15},
    // Top-3 renormalised: 0.4506, 0.3021, 0.2473; the mass before the third, 0.7527, reaches 0.75.
    // Measured against the whole vocabulary it would be 0.584 and keep three.
    {"top_p after top_k renormalises", 1.0, 3, 0.75, 0.0},
};

Row filter_row(const FilterCase& c) {
  Row row;
  row.logits = kSmallLogits;
  row.params.temperature = c.temperature;
  row.params.top_k = c.top_k;
  row.params.top_p = c.top_p;
  row.params.min_p = c.min_p;
  return row;
}

TEST(SamplerDistribution, MatchesTheReferenceForEachFilter) {
  for (const FilterCase& c : kFilterCases) {
    SCOPED_TRACE(c.name);
    const Row row = filter_row(c);
    expect_near_each(sampling_distribution(row.input()), reference_distribution(row.logits, row.params),
                     1e-12);
  }
}

TEST(SamplerDistribution, TopKKeepsTokensTiedWithTheKth) {
  Row row;
  row.logits = {3.0f, 2.0f, 2.0f, 1.0f};
  row.params.top_k = 2;
  const double z = std::exp(3.0) + 2 * std::exp(2.0);
  expect_near_each(sampling_distribution(row.input()),
                   {std::exp(3.0) / z, std::exp(2.0) / z, std::exp(2.0) / z, 0}, 1e-12);
}

TEST(SamplerDistribution, TinyTopPKeepsOnlyTheMostLikely) {
  Row row;
  row.logits = kSmallLogits;
  row.params.top_p = 1e-9;
  expect_near_each(sampling_distribution(row.input()), {0, 1, 0, 0, 0, 0, 0, 0}, 0.0);
}

TEST(SamplerDraws, FrequenciesFitTheReferenceOverSeeds) {
  const int64_t num_draws = 40000;
  for (const FilterCase& c : kFilterCases) {
    SCOPED_TRACE(c.name);
    Row row = filter_row(c);
    std::vector<int64_t> counts(row.logits.size(), 0);
    for (int64_t i = 0; i < num_draws; ++i) {
      row.seed = 1000003ull * static_cast<uint64_t>(i) + 17;
      ++counts[static_cast<size_t>(Sampler().sample_one(row.input()).token_id)];
    }
    expect_counts_fit(counts, reference_distribution(row.logits, row.params), num_draws);
  }
}

TEST(SamplerDraws, FrequenciesFitOverStepsOfOneSequence) {
  const int64_t num_draws = 40000;
  Row row = filter_row({"top_p and min_p", 2.0, 0, 0.9, 0.15});
  row.seed = 99;
  const std::vector<int32_t> history(static_cast<size_t>(num_draws),
                                     0);  // penalties off: only the step counts
  std::vector<int64_t> counts(row.logits.size(), 0);
  for (int64_t step = 0; step < num_draws; ++step) {
    SampleInput input = row.input();
    input.output_ids = std::span<const int32_t>(history).first(static_cast<size_t>(step));
    ++counts[static_cast<size_t>(Sampler().sample_one(input).token_id)];
  }
  expect_counts_fit(counts, reference_distribution(row.logits, row.params), num_draws);
}

TEST(SamplerDraws, PenaltiesAndBansApplyBeforeTemperature) {
  Row row;
  row.logits = {1.2f, 2.5f, 0.3f, -0.4f, 1.9f, 0.8f, -1.5f, 2.1f};
  row.params.temperature = 0.8;
  row.params.logit_bias = {{2, 0.5f}};
  row.params.repetition_penalty = 1.5;
  row.params.frequency_penalty = 0.2;
  row.params.presence_penalty = 0.1;
  row.prompt_ids = {1, 6};
  row.output_ids = {4, 4};
  row.banned_ids = {7};
  // By hand: 2: 0.3 + 0.5 = 0.8; 1: 2.5 / 1.5; 6: -1.5 * 1.5 = -2.25;
  // 4: 1.9 / 1.5 - 0.2 * 2 - 0.1; 7: banned.
  const std::vector<float> processed = {1.2f,
                                        2.5f / 1.5f,
                                        0.8f,
                                        -0.4f,
                                        1.9f / 1.5f - 0.5f,
                                        0.8f,
                                        -2.25f,
                                        -std::numeric_limits<float>::infinity()};
  SamplingParams plain;
  plain.temperature = 0.8;
  const std::vector<double> expected = reference_distribution(processed, plain);
  expect_near_each(sampling_distribution(row.input()), expected, 1e-6);

  const int64_t num_draws = 40000;
  std::vector<int64_t> counts(row.logits.size(), 0);
  for (int64_t i = 0; i < num_draws; ++i) {
    row.seed = static_cast<uint64_t>(i) * 7919 + 5;
    ++counts[static_cast<size_t>(Sampler().sample_one(row.input()).token_id)];
  }
  expect_counts_fit(counts, expected, num_draws);  // token 7 (banned) is checked never drawn
}

// The draw is pinned, not only its frequencies: u from counter_uniform (checked against the
// Philox known answers above) picks by inverse CDF over the kept tokens, most likely first.
TEST(SamplerDraws, InverseCdfInDescendingOrder) {
  for (const FilterCase& c : kFilterCases) {
    SCOPED_TRACE(c.name);
    Row row = filter_row(c);
    const std::vector<double> p = reference_distribution(row.logits, row.params);
    std::vector<size_t> order(p.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    for (uint64_t seed = 0; seed < 500; ++seed) {
      row.seed = seed;
      const double u = counter_uniform(seed, 0, 0);
      double cumulative = 0;
      size_t expected = order[0];
      bool is_near_boundary = false;
      for (size_t id : order) {
        cumulative += p[id];
        is_near_boundary |= std::abs(cumulative - u) < 1e-9;
        expected = id;
        if (u < cumulative) break;
      }
      if (is_near_boundary) continue;
      EXPECT_EQ(Sampler().sample_one(row.input()).token_id, static_cast<int32_t>(expected)) << "u " << u;
    }
  }
}

TEST(SamplerDraws, DeterministicPerSeedAndSequence) {
  Row row = filter_row({"temperature 1", 1.0, 0, 1.0, 0.0});
  std::set<int32_t> seen;
  for (uint64_t sequence = 0; sequence < 64; ++sequence) {
    row.seed = 5;
    row.sequence_index = sequence;
    const int32_t token = Sampler().sample_one(row.input()).token_id;
    EXPECT_EQ(token, Sampler().sample_one(row.input()).token_id);
    seen.insert(token);
  }
  EXPECT_GE(seen.size(), 3u);  // the sequences of one seed draw differently
}

// ---------------------------------------------------------------------------------------------
// Logprobs: the raw distribution

// Logits ln 1 .. ln 4: probabilities 0.1, 0.2, 0.3, 0.4.
Row quarter_row() {
  Row row;
  row.logits = {std::log(1.0f), std::log(2.0f), std::log(3.0f), std::log(4.0f)};
  return row;
}

TEST(SamplerLogprobs, RawLogSoftmaxAndTopOrder) {
  Row row = quarter_row();
  row.params.temperature = 0.0;
  row.params.logprobs = 3;
  const SampleResult result = Sampler().sample_one(row.input());
  EXPECT_EQ(result.token_id, 3);
  EXPECT_EQ(result.logprobs.sampled.token_id, 3);
  EXPECT_NEAR(result.logprobs.sampled.logprob, -0.916290731874155, 1e-5);  // ln 0.4
  ASSERT_EQ(result.logprobs.top.size(), 3u);
  const int32_t ids[] = {3, 2, 1};
  const double logprobs[] = {-0.916290731874155, -1.2039728043259361, -1.6094379124341003};  // ln .4 .3 .2
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(result.logprobs.top[i].token_id, ids[i]);
    EXPECT_NEAR(result.logprobs.top[i].logprob, logprobs[i], 1e-5);
  }
}

TEST(SamplerLogprobs, TiesListLowerIdFirst) {
  Row row;
  row.logits = {1.0f, 2.0f, 2.0f, 0.0f};
  row.params.temperature = 0.0;
  row.params.logprobs = 3;
  const SampleResult result = Sampler().sample_one(row.input());
  // ln Z = ln(e + 2e^2 + 1) = 2.9175757955891974.
  ASSERT_EQ(result.logprobs.top.size(), 3u);
  EXPECT_EQ(result.logprobs.top[0].token_id, 1);
  EXPECT_EQ(result.logprobs.top[1].token_id, 2);
  EXPECT_EQ(result.logprobs.top[2].token_id, 0);
  EXPECT_NEAR(result.logprobs.top[0].logprob, -0.9175757955891974, 1e-5);
  EXPECT_NEAR(result.logprobs.top[1].logprob, -0.9175757955891974, 1e-5);
  EXPECT_NEAR(result.logprobs.top[2].logprob, -1.9175757955891974, 1e-5);
}

TEST(SamplerLogprobs, ZeroTopStillReportsTheSampledToken) {
  Row row = quarter_row();
  row.params.temperature = 0.0;
  row.params.logprobs = 0;
  const SampleResult result = Sampler().sample_one(row.input());
  EXPECT_TRUE(result.logprobs.top.empty());
  EXPECT_EQ(result.logprobs.sampled.token_id, 3);
  EXPECT_NEAR(result.logprobs.sampled.logprob, -0.916290731874155, 1e-5);
}

TEST(SamplerLogprobs, NotFilledWhenNotAsked) {
  Row row = quarter_row();
  const SampleResult result = Sampler().sample_one(row.input());
  EXPECT_TRUE(result.logprobs.top.empty());
  EXPECT_EQ(result.logprobs.sampled.logprob, 0.0f);
}

TEST(SamplerLogprobs, SampledLogprobIsRawDespiteProcessing) {
  const double raw_logprob[] = {-2.3025850929940455, -1.6094379124341003, -1.2039728043259361,
                                -0.916290731874155};
  Row row = quarter_row();
  row.params.temperature = 0.5;
  row.params.logprobs = 2;
  row.params.logit_bias = {{0, 1.5f}};
  row.params.repetition_penalty = 1.3;
  row.params.presence_penalty = 0.5;
  row.prompt_ids = {2};
  row.output_ids = {1};
  row.banned_ids = {3};
  std::set<int32_t> seen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    row.seed = seed;
    const SampleResult result = Sampler().sample_one(row.input());
    ASSERT_NE(result.token_id, 3);
    seen.insert(result.token_id);
    EXPECT_EQ(result.logprobs.sampled.token_id, result.token_id);
    EXPECT_NEAR(result.logprobs.sampled.logprob, raw_logprob[result.token_id], 1e-5);
    ASSERT_EQ(result.logprobs.top.size(), 2u);
    EXPECT_EQ(result.logprobs.top[0].token_id, 3);  // banned, but the raw top is reported as is
    EXPECT_EQ(result.logprobs.top[1].token_id, 2);
  }
  EXPECT_EQ(seen.size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// A Qwen-sized vocabulary

constexpr size_t kQwenVocab = 151936;

std::vector<float> random_logits(size_t size, float scale, uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(size);
  for (float& x : logits) x = normal(generator);
  return logits;
}

void expect_matches_full_sort_definition(const Row& row) {
  const std::vector<double> expected = reference_distribution(row.logits, row.params);
  const std::vector<double> actual = sampling_distribution(row.input());
  ASSERT_EQ(actual.size(), expected.size());
  size_t num_kept = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_EQ(actual[i] > 0, expected[i] > 0) << "token " << i;
    ASSERT_NEAR(actual[i], expected[i], 1e-9 * expected[i]) << "token " << i;
    num_kept += expected[i] > 0;
  }
  // Each draw is the inverse CDF of u over the kept tokens, most likely first.
  std::vector<size_t> order(row.logits.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return row.logits[a] > row.logits[b]; });
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SampleInput input = row.input();
    input.seed = seed;
    const double u = counter_uniform(seed, 0, 0);
    double cumulative = 0;
    size_t expected_token = order[0];
    for (size_t id : order) {
      cumulative += expected[id];
      expected_token = id;
      if (u < cumulative) break;
    }
    if (std::abs(cumulative - u) < 1e-9) continue;  // too close to call
    EXPECT_EQ(Sampler().sample_one(input).token_id, static_cast<int32_t>(expected_token)) << "u " << u;
  }
  ::testing::Test::RecordProperty("num_kept", static_cast<int>(num_kept));
}

TEST(SamplerLargeVocab, TopPOnFlatLogitsMatchesFullSort) {
  Row row;
  row.logits = random_logits(kQwenVocab, 1.0f, 1);  // mass spread wide: the candidate set falls short
  row.params.top_p = 0.9;
  expect_matches_full_sort_definition(row);
}

TEST(SamplerLargeVocab, TopPOnPeakedLogitsMatchesFullSort) {
  Row row;
  row.logits = random_logits(kQwenVocab, 5.0f, 2);  // the nucleus fits among the candidates
  row.params.top_p = 0.9;
  expect_matches_full_sort_definition(row);
}

TEST(SamplerLargeVocab, OtherFiltersMatchFullSort) {
  Row row;
  row.logits = random_logits(kQwenVocab, 1.0f, 3);
  row.params.top_k = 20;
  row.params.top_p = 0.9;
  row.params.temperature = 0.7;
  expect_matches_full_sort_definition(row);
  row.params = SamplingParams{};
  row.params.min_p = 0.05;  // keeps thousands: past the candidate set
  expect_matches_full_sort_definition(row);
  row.params = SamplingParams{};  // plain temperature 1: everything kept
  expect_matches_full_sort_definition(row);
}

TEST(SamplerLargeVocab, LogprobsMatchAnIndependentLogSoftmax) {
  Row row;
  row.logits = random_logits(kQwenVocab, 3.0f, 4);
  row.params.logprobs = 20;
  row.seed = 8;
  long double sum = 0;
  const float max_logit = *std::max_element(row.logits.begin(), row.logits.end());
  for (float x : row.logits) sum += std::exp(static_cast<long double>(x) - max_logit);
  const long double log_z = max_logit + std::log(sum);
  std::vector<size_t> order(row.logits.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return row.logits[a] > row.logits[b]; });

  const SampleResult result = Sampler().sample_one(row.input());
  const auto id = static_cast<size_t>(result.token_id);
  EXPECT_NEAR(result.logprobs.sampled.logprob, static_cast<double>(row.logits[id] - log_z), 1e-5);
  ASSERT_EQ(result.logprobs.top.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(result.logprobs.top[i].token_id, static_cast<int32_t>(order[i]));
    EXPECT_NEAR(result.logprobs.top[i].logprob, static_cast<double>(row.logits[order[i]] - log_z), 1e-5);
  }
}

// ---------------------------------------------------------------------------------------------
// Batches

std::vector<Row> mixed_rows(size_t num_rows, size_t vocab_size) {
  std::vector<Row> rows(num_rows);
  for (size_t i = 0; i < num_rows; ++i) {
    Row& row = rows[i];
    row.logits = random_logits(vocab_size, 2.0f, static_cast<uint32_t>(100 + i));
    row.params.temperature = i % 5 == 0 ? 0.0 : 0.5 + 0.1 * static_cast<double>(i % 7);
    row.params.top_k = i % 3 == 0 ? 20 : 0;
    row.params.top_p = i % 4 == 1 ? 0.9 : 1.0;
    row.params.min_p = i % 6 == 2 ? 0.1 : 0.0;
    row.params.repetition_penalty = i % 2 == 0 ? 1.2 : 1.0;
    row.params.presence_penalty = i % 3 == 1 ? 0.5 : 0.0;
    if (i % 2 == 1) row.params.logprobs = static_cast<int32_t>(i % 6);
    row.prompt_ids = {static_cast<int32_t>(i), 3, 7};
    row.output_ids.assign(i % 9, static_cast<int32_t>(i % 11));
    row.seed = 1234 + i / 4;  // rows share seeds, as the n completions of one request do
    row.sequence_index = i % 4;
  }
  return rows;
}

void expect_same_result(const SampleResult& a, const SampleResult& b) {
  EXPECT_EQ(a.token_id, b.token_id);
  EXPECT_EQ(a.logprobs.sampled.token_id, b.logprobs.sampled.token_id);
  EXPECT_EQ(a.logprobs.sampled.logprob, b.logprobs.sampled.logprob);
  ASSERT_EQ(a.logprobs.top.size(), b.logprobs.top.size());
  for (size_t i = 0; i < a.logprobs.top.size(); ++i) {
    EXPECT_EQ(a.logprobs.top[i].token_id, b.logprobs.top[i].token_id);
    EXPECT_EQ(a.logprobs.top[i].logprob, b.logprobs.top[i].logprob);
  }
}

TEST(SamplerBatch, ParallelBatchEqualsRowByRow) {
  const std::vector<Row> rows = mixed_rows(37, 3000);
  std::vector<SampleInput> inputs;
  for (const Row& row : rows) inputs.push_back(row.input());
  for (int num_threads : {2, 3, 4}) {
    ThreadPool pool(num_threads);
    std::vector<SampleResult> results(inputs.size());
    Sampler(&pool).sample(inputs, results);
    for (size_t i = 0; i < inputs.size(); ++i) {
      SCOPED_TRACE(i);
      expect_same_result(results[i], Sampler().sample_one(inputs[i]));
    }
  }
}

TEST(SamplerBatch, RowResultDoesNotDependOnTheRestOfTheBatch) {
  const std::vector<Row> rows = mixed_rows(24, 3000);
  std::vector<SampleInput> inputs;
  for (const Row& row : rows) inputs.push_back(row.input());
  ThreadPool pool(3);
  const Sampler sampler(&pool);
  std::vector<SampleResult> full(inputs.size());
  sampler.sample(inputs, full);

  std::vector<SampleInput> subset;  // every third row, reversed
  std::vector<size_t> origin;
  for (size_t i = inputs.size(); i-- > 0;) {
    if (i % 3 == 0) {
      subset.push_back(inputs[i]);
      origin.push_back(i);
    }
  }
  std::vector<SampleResult> partial(subset.size());
  sampler.sample(subset, partial);
  for (size_t j = 0; j < subset.size(); ++j) {
    SCOPED_TRACE(origin[j]);
    expect_same_result(partial[j], full[origin[j]]);
  }
}

// A broken row fails alone: its result carries the error, the other rows are sampled as usual.
TEST(SamplerBatch, AFailingRowReportsItsErrorAndTheOthersAreSampled) {
  std::vector<Row> rows = mixed_rows(8, 100);
  rows[5].banned_ids = {100};  // outside the row: a broken invariant upstream
  std::vector<SampleInput> inputs;
  for (const Row& row : rows) inputs.push_back(row.input());
  for (size_t threads : {size_t{1}, size_t{2}}) {
    ThreadPool pool(static_cast<int>(threads));
    std::vector<SampleResult> results(inputs.size());
    Sampler(&pool).sample(inputs, results);
    EXPECT_NE(results[5].error.find("outside the logits row"), std::string::npos) << results[5].error;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i == 5) continue;
      EXPECT_EQ(results[i].error, "");
      expect_same_result(results[i], Sampler().sample_one(inputs[i]));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Rows nothing can be sampled from

TEST(SamplerErrors, BrokenRowsThrowInternalErrors) {
  Row all_banned = greedy_row({1.0f, 2.0f});
  all_banned.banned_ids = {0, 1};
  EXPECT_THROW(greedy_token(all_banned), Error);
  all_banned.params.temperature = 1.0;
  EXPECT_THROW((void)Sampler().sample_one(all_banned.input()), Error);

  Row with_nan = greedy_row({1.0f, std::numeric_limits<float>::quiet_NaN()});
  EXPECT_THROW(greedy_token(with_nan), Error);

  Row bad_prompt = greedy_row({1.0f, 2.0f});
  bad_prompt.params.repetition_penalty = 1.1;
  bad_prompt.prompt_ids = {2};
  EXPECT_THROW(greedy_token(bad_prompt), Error);
}

// ---------------------------------------------------------------------------------------------
// The row's processing as edits for the GPU sampler (what it applies is checked against this
// sampler on the GPU, in cuda_sampling_test)

std::vector<cuda::LogitEdit> sorted_by_id(std::vector<cuda::LogitEdit> edits) {
  std::sort(edits.begin(), edits.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return edits;
}

void expect_edit(const cuda::LogitEdit& edit, int32_t id, uint32_t flags, float bias, int32_t output_count) {
  EXPECT_EQ(edit.id, id);
  EXPECT_EQ(edit.flags, flags) << "id " << id;
  EXPECT_EQ(edit.bias, bias) << "id " << id;
  EXPECT_EQ(edit.output_count, output_count) << "id " << id;
}

TEST(SamplerEdits, ARowWithoutProcessingHasNone) {
  Row row = greedy_row({1.0f, 2.0f, 3.0f});
  row.prompt_ids = {0, 1};
  row.output_ids = {2};
  std::vector<cuda::LogitEdit> edits;
  EXPECT_TRUE(append_logit_edits(row.input(), edits));
  EXPECT_TRUE(edits.empty());
}

TEST(SamplerEdits, OneEditPerTouchedTokenWithEverythingThatTouchesIt) {
  Row row = greedy_row(std::vector<float>(16, 0.0f));
  row.params.repetition_penalty = 1.1;
  row.params.presence_penalty = 0.5;
  row.params.logit_bias = {{3, 2.0f}, {12, -1.5f}};
  row.prompt_ids = {5, 5, 3};
  row.output_ids = {7, 5, 7};
  row.banned_ids = {9, 5};
  std::vector<cuda::LogitEdit> edits;
  ASSERT_TRUE(append_logit_edits(row.input(), edits));
  const std::vector<cuda::LogitEdit> by_id = sorted_by_id(edits);
  ASSERT_EQ(by_id.size(), 5u);
  expect_edit(by_id[0], 3, cuda::kEditBias | cuda::kEditRepetition, 2.0f, 0);
  expect_edit(by_id[1], 5, cuda::kEditRepetition | cuda::kEditBan, 0.0f, 1);  // the prompt does not count
  expect_edit(by_id[2], 7, cuda::kEditRepetition, 0.0f, 2);
  expect_edit(by_id[3], 9, cuda::kEditBan, 0.0f, 0);
  expect_edit(by_id[4], 12, cuda::kEditBias, -1.5f, 0);
}

TEST(SamplerEdits, PenaltiesThatAreOffTouchNothing) {
  Row row = greedy_row(std::vector<float>(8, 0.0f));
  row.params.logit_bias = {{1, 1.0f}};  // some processing, so the row is not skipped whole
  row.prompt_ids = {2, 3};
  row.output_ids = {4, 4};
  std::vector<cuda::LogitEdit> edits;
  ASSERT_TRUE(append_logit_edits(row.input(), edits));
  ASSERT_EQ(edits.size(), 1u);
  expect_edit(edits[0], 1, cuda::kEditBias, 1.0f, 0);
}

TEST(SamplerEdits, RowsAppendAfterOneAnotherAndEachNamesATokenOnce) {
  Row first = greedy_row(std::vector<float>(8, 0.0f));
  first.params.frequency_penalty = 0.1;
  first.output_ids = {2, 2, 6};
  Row second = first;
  second.output_ids = {2};
  std::vector<cuda::LogitEdit> edits;
  ASSERT_TRUE(append_logit_edits(first.input(), edits));
  ASSERT_TRUE(append_logit_edits(second.input(), edits));
  ASSERT_EQ(edits.size(), 3u);
  const std::vector<cuda::LogitEdit> first_edits = sorted_by_id({edits.begin(), edits.begin() + 2});
  expect_edit(first_edits[0], 2, 0, 0.0f, 2);
  expect_edit(first_edits[1], 6, 0, 0.0f, 1);
  expect_edit(edits[2], 2, 0, 0.0f, 1);
}

TEST(SamplerEdits, WhatEditsCannotSayIsLeftToTheHostSampler) {
  std::vector<cuda::LogitEdit> edits(1);  // an earlier row's
  Row biased_twice = greedy_row(std::vector<float>(8, 0.0f));
  biased_twice.params.logit_bias = {{3, 1.0f}, {3, 2.0f}};  // the host adds both, in turn
  EXPECT_FALSE(append_logit_edits(biased_twice.input(), edits));
  Row negative = greedy_row(std::vector<float>(8, 0.0f));
  negative.banned_ids = {-1};
  EXPECT_FALSE(append_logit_edits(negative.input(), edits));
  EXPECT_EQ(edits.size(), 1u);
  // Nothing of theirs lingers: the next row's token 3 is only biased once.
  Row next = greedy_row(std::vector<float>(8, 0.0f));
  next.params.logit_bias = {{3, 4.0f}};
  ASSERT_TRUE(append_logit_edits(next.input(), edits));
  ASSERT_EQ(edits.size(), 2u);
  expect_edit(edits[1], 3, cuda::kEditBias, 4.0f, 0);
}

bool same_edits(const std::vector<cuda::LogitEdit>& a, const std::vector<cuda::LogitEdit>& b) {
  const auto key = [](const cuda::LogitEdit& e) { return std::make_tuple(e.id, e.flags, e.bias, e.output_count); };
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [&](const auto& x, const auto& y) { return key(x) == key(y); });
}

TEST(SamplerEdits, ACacheKeptOverStepsGivesWhatEachStepBuildsAfresh) {
  Row row = greedy_row(std::vector<float>(64, 0.0f));
  row.params.repetition_penalty = 1.2;
  row.params.frequency_penalty = 0.3;
  row.params.logit_bias = {{40, 1.0f}};
  row.prompt_ids = {1, 2, 3, 2, 40};
  LogitEditCache cache;
  const std::vector<int32_t> generated = {5, 2, 5, 9, 63, 5, 1};
  for (size_t step = 0; step <= generated.size(); ++step) {
    row.output_ids.assign(generated.begin(), generated.begin() + static_cast<std::ptrdiff_t>(step));
    row.banned_ids = step < 3 ? std::vector<int32_t>{9, 63, 9} : std::vector<int32_t>{};  // min_tokens, then not
    std::vector<cuda::LogitEdit> cached(2);  // after an earlier row's
    std::vector<cuda::LogitEdit> fresh(2);
    ASSERT_TRUE(cache.append(row.input(), cached));
    ASSERT_TRUE(append_logit_edits(row.input(), fresh));
    EXPECT_TRUE(same_edits(cached, fresh)) << "step " << step;
  }
  // A fork's copy starts over with fewer outputs: the cache rebuilds.
  row.output_ids = {7};
  std::vector<cuda::LogitEdit> cached;
  std::vector<cuda::LogitEdit> fresh;
  ASSERT_TRUE(cache.append(row.input(), cached));
  ASSERT_TRUE(append_logit_edits(row.input(), fresh));
  EXPECT_TRUE(same_edits(cached, fresh));
  // Each banned token once, whether cached or not.
  row.banned_ids = {2, 2, 30, 30};
  cached.clear();
  ASSERT_TRUE(cache.append(row.input(), cached));
  EXPECT_EQ(std::count_if(cached.begin(), cached.end(), [](const auto& e) { return e.id == 2; }), 1);
  EXPECT_EQ(std::count_if(cached.begin(), cached.end(), [](const auto& e) { return e.id == 30; }), 1);
}

}  // namespace
}  // namespace hanlin::engine
