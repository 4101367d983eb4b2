// KvCache: pool shapes per layer and sizing from a --kv-cache-gb budget.
#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/presets.h"

namespace hanlin::model {
namespace {

io::ModelConfig small_config() {
  io::ModelConfig config;
  config.num_hidden_layers = 3;
  config.num_key_value_heads = 2;
  config.head_dim = 8;
  return config;
}

TEST(KvCache, HoldsKAndVPoolsPerLayer) {
  KvCache cache(small_config(), 5);
  EXPECT_EQ(cache.num_layers(), 3);
  EXPECT_EQ(cache.capacity_tokens(), 80);
  EXPECT_EQ(cache.keys(2).shape(), Shape({5, 16, 2, 8}));
  EXPECT_EQ(cache.values(0).shape(), Shape({5, 16, 2, 8}));
  EXPECT_EQ(cache.keys(0).dtype(), DType::kF32);
  EXPECT_NE(cache.keys(1).raw(), cache.values(1).raw());
}

TEST(KvCache, NeedsABlock) { EXPECT_THROW(KvCache(small_config(), 0), Error); }

TEST(KvCache, CopyBlockCopiesEveryLayerKAndVAndNothingElse) {
  KvCache cache(small_config(), 4);
  const int64_t block_floats = 16 * 2 * 8;
  for (int64_t layer = 0; layer < cache.num_layers(); ++layer) {
    float* keys = cache.keys(layer).data<float>();
    float* values = cache.values(layer).data<float>();
    for (int64_t i = 0; i < 4 * block_floats; ++i) {
      keys[i] = static_cast<float>(layer * 100000 + i);
      values[i] = -static_cast<float>(layer * 100000 + i);
    }
  }
  cache.copy_block(1, 3);
  for (int64_t layer = 0; layer < cache.num_layers(); ++layer) {
    const float* keys = cache.keys(layer).data<float>();
    const float* values = cache.values(layer).data<float>();
    for (int64_t i = 0; i < block_floats; ++i) {
      EXPECT_EQ(keys[3 * block_floats + i], static_cast<float>(layer * 100000 + block_floats + i));
      EXPECT_EQ(values[3 * block_floats + i], -static_cast<float>(layer * 100000 + block_floats + i));
      EXPECT_EQ(keys[2 * block_floats + i], static_cast<float>(layer * 100000 + 2 * block_floats + i));
    }
  }
  EXPECT_THROW(cache.copy_block(0, 4), Error);
  EXPECT_THROW(cache.copy_block(-1, 0), Error);
}

TEST(KvCache, SizesFromAByteBudget) {
  // Qwen3-0.6B: 28 layers × K and V × 16 slots × 8 kv heads × 128 dims × 4 bytes = 3.5 MiB per block.
  const io::ModelConfig config = preset_config("qwen3-0.6b");
  EXPECT_EQ(KvCache::bytes_per_block(config), 28 * 2 * 16 * 8 * 128 * 4);
  EXPECT_EQ(KvCache::num_blocks_for_budget(config, 3.5 / 1024), 1);
  EXPECT_EQ(KvCache::num_blocks_for_budget(config, 1.0), 292);  // 1024 MiB / 3.5 MiB
  EXPECT_EQ(KvCache::num_blocks_for_budget(config, 0.001), 0);
  EXPECT_THROW(KvCache::num_blocks_for_budget(config, -1), Error);
}

}  // namespace
}  // namespace hanlin::model
