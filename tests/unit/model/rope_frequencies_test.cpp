// RoPE inverse frequencies and attention scaling against transformers' own values, which each
// fixture's expected.json records (default, linear and YaRN configs).
#include "model/rope_frequencies.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "io/model_config.h"
#include "model_test_support.h"

namespace hanlin::model {
namespace {

namespace support = hanlin::model::test_support;

constexpr double kTolerance = 1e-6;  // relative, per element

class RopeFrequenciesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RopeFrequenciesTest, MatchTransformers) {
  const support::ModelFixture fixture = support::load_fixture(GetParam());
  const io::ModelConfig config = io::load_model_config((fixture.dir / "config.json").string());
  const RopeFrequencies rope = compute_rope_frequencies(config);
  ASSERT_EQ(rope.inv_freq.numel(), static_cast<int64_t>(fixture.inv_freq.size()));
  double worst = 0;
  for (size_t i = 0; i < fixture.inv_freq.size(); ++i) {
    const double ours = rope.inv_freq.data<float>()[i];
    const double relative = std::abs(ours - fixture.inv_freq[i]) / std::abs(fixture.inv_freq[i]);
    EXPECT_LE(relative, kTolerance) << "inv_freq[" << i << "]: ours " << ours << ", transformers " << fixture.inv_freq[i];
    worst = std::max(worst, relative);
  }
  EXPECT_LE(std::abs(rope.attention_scaling - fixture.attention_scaling) / fixture.attention_scaling, kTolerance)
      << "ours " << rope.attention_scaling << ", transformers " << fixture.attention_scaling;
  std::printf("[ %s ] inv_freq worst relative error %.3g\n", fixture.name.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RopeFrequenciesTest, ::testing::ValuesIn(support::fixture_model_names()),
                         support::fixture_test_name);

TEST(RopeFrequencies, RejectAnOddHeadDim) {
  io::ModelConfig config;
  config.head_dim = 7;
  EXPECT_THROW(compute_rope_frequencies(config), Error);
}

}  // namespace
}  // namespace hanlin::model
