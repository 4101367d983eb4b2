// The Qwen3 presets against the published model cards: non-embedding parameter counts
// (Qwen3 technical report / model cards: 0.44B, 1.4B, 3.6B, 6.95B, 13.2B, 31.2B).
#include "model/presets.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace hanlin::model {
namespace {

double non_embedding_billions(const io::ModelConfig& c) {
  const double q = static_cast<double>(c.num_attention_heads * c.head_dim);
  const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim);
  const double h = static_cast<double>(c.hidden_size);
  const double attention = h * q * 2 + h * kv * 2;
  const double mlp = 3.0 * h * static_cast<double>(c.intermediate_size);
  return (attention + mlp) * static_cast<double>(c.num_hidden_layers) / 1e9;
}

TEST(Presets, MatchThePublishedSizes) {
  const std::pair<const char*, double> cards[] = {{"qwen3-0.6b", 0.44}, {"qwen3-1.7b", 1.4}, {"qwen3-4b", 3.6},
                                                  {"qwen3-8b", 6.95},   {"qwen3-14b", 13.2}, {"qwen3-32b", 31.2}};
  for (const auto& [name, billions] : cards) {
    const io::ModelConfig config = preset_config(name);
    EXPECT_NEAR(non_embedding_billions(config), billions, billions * 0.01) << name;
    EXPECT_EQ(config.vocab_size, 151936) << name;
    EXPECT_EQ(config.head_dim, 128) << name;
  }
  EXPECT_TRUE(preset_config("Qwen3-0.6B").tie_word_embeddings);
  EXPECT_FALSE(preset_config("qwen3-8b").tie_word_embeddings);
  EXPECT_EQ(preset_names().size(), 6u);
}

TEST(Presets, UnknownNameListsTheKnownOnes) {
  try {
    preset_config("qwen3-7b");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("qwen3-0.6b"), std::string::npos);
  }
}

}  // namespace
}  // namespace hanlin::model
