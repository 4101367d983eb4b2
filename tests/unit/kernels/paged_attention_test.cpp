// cpu paged attention (through ops::paged_attention) against the reference: batches that mix
// prefill chunks with earlier context, fresh prefills and decode rows; contexts crossing
// 16-token blocks through shuffled block tables; head dims 16, 20, 64, 128; GQA ratios 1–16.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernel_test_util.h"

namespace hanlin::test {
namespace {

constexpr int64_t kBlockSize = 16;

struct SeqShape {
  int32_t q_len;
  int32_t context_len;
};

// A batch of sequences over one shared, randomly filled cache whose blocks are handed out in
// shuffled order; one row of q (the last) belongs to no sequence.
struct AttentionBatch {
  Tensor q, k_cache, v_cache;
  std::vector<std::vector<int32_t>> block_tables;
  std::vector<ops::AttentionSeq> seqs;

  AttentionBatch(const std::vector<SeqShape>& shapes, int64_t heads, int64_t kv_heads, int64_t head_dim,
                 uint32_t seed, float q_range = 1.0f) {
    int64_t blocks_needed = 0;
    int32_t num_rows = 0;
    for (const SeqShape& shape : shapes) {
      blocks_needed += (shape.context_len + kBlockSize - 1) / kBlockSize;
      num_rows += shape.q_len;
    }
    const int64_t num_blocks = blocks_needed + 3;  // some blocks no sequence owns
    k_cache = random_tensor({num_blocks, kBlockSize, kv_heads, head_dim}, DType::kF32, seed);
    v_cache = random_tensor({num_blocks, kBlockSize, kv_heads, head_dim}, DType::kF32, seed + 1);
    q = random_tensor({num_rows + 1, heads, head_dim}, DType::kF32, seed + 2, -q_range, q_range);
    std::vector<int32_t> free_blocks(static_cast<size_t>(num_blocks));
    std::iota(free_blocks.begin(), free_blocks.end(), 0);
    std::shuffle(free_blocks.begin(), free_blocks.end(), std::mt19937(seed + 3));
    int32_t q_start = 0;
    for (const SeqShape& shape : shapes) {
      const size_t count = static_cast<size_t>((shape.context_len + kBlockSize - 1) / kBlockSize);
      block_tables.emplace_back(free_blocks.end() - static_cast<std::ptrdiff_t>(count), free_blocks.end());
      free_blocks.resize(free_blocks.size() - count);
      seqs.push_back({q_start, shape.q_len, shape.context_len, {}});
      q_start += shape.q_len;
    }
    for (size_t i = 0; i < seqs.size(); ++i) seqs[i].block_table = block_tables[i];
  }
};

// The output is a convex combination of V rows, so its scale is max|v| (1 here). Score errors
// (an f32 dot of head_dim terms, ≲ 4u·Σ|q·k|·scale) become relative errors of the weights; the
// exp is within 2 ulp; the weighted sum runs over up to a few thousand positions in f32
// (≲ √n·u relative). Over these cases the error stays below 7e-7; 4e-6 leaves a factor 5.
constexpr double kAttentionAtol = 4e-6;

class PagedAttentionVsRef : public CpuVsRef {
 protected:
  void check(const std::vector<SeqShape>& shapes, int64_t heads, int64_t kv_heads, int64_t head_dim,
             float q_range = 1.0f, bool use_pool = true) {
    const uint32_t seed = static_cast<uint32_t>(heads * 1000 + kv_heads * 100 + head_dim + shapes.size());
    const AttentionBatch batch(shapes, heads, kv_heads, head_dim, seed, q_range);
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    Tensor expected = random_tensor(batch.q.shape(), DType::kF32, seed + 9);  // uncovered rows keep these
    Tensor actual = clone(expected);
    ref::paged_attention(expected, batch.q, batch.k_cache, batch.v_cache, batch.seqs, scale, {});
    ops::paged_attention(actual, batch.q, batch.k_cache, batch.v_cache, batch.seqs, scale,
                         use_pool ? threaded() : ops::Context{});
    EXPECT_TRUE(close_to(actual, expected, kAttentionAtol, 0))
        << "heads " << heads << ", kv_heads " << kv_heads << ", head_dim " << head_dim;
  }
};

// A prefill chunk after earlier context, a decode row, a fresh prefill, a first token, a
// decode crossing a block boundary and a chunk ending exactly on one.
const std::vector<SeqShape> kMixedBatch = {{37, 100}, {1, 83}, {20, 20}, {1, 1}, {1, 33}, {7, 32}};

TEST_P(PagedAttentionVsRef, MixedBatchForEveryGqaRatio) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  check(kMixedBatch, 8, 8, 64);   // no grouping
  check(kMixedBatch, 8, 4, 64);   // GQA 2
  check(kMixedBatch, 8, 2, 64);   // GQA 4
  check(kMixedBatch, 8, 1, 64);   // MQA 8
  check(kMixedBatch, 16, 1, 16);  // MQA 16: two query batches per row
  check(kMixedBatch, 6, 2, 16);   // GQA 3
  check(kMixedBatch, 72, 1, 8);   // 72 vectors a row: more than one piece of work holds at once
}

TEST_P(PagedAttentionVsRef, HeadDimsOnAndOffTheVectorWidth) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  check(kMixedBatch, 4, 2, 128);
  check(kMixedBatch, 4, 2, 20);
  check(kMixedBatch, 3, 3, 9);
}

TEST_P(PagedAttentionVsRef, LongContextsDecodeAndPrefill) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  check({{1, 2000}, {83, 769}, {1, 769}}, 4, 2, 128);
  check({{769, 769}}, 2, 1, 16);
}

TEST_P(PagedAttentionVsRef, ShortRunsSplitIntoSlicesOfTheContext) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  // Runs of up to 4 query rows are split by slice of positions and merged; long contexts give
  // several slices per row, each row of a run its own causal limit.
  check({{3, 2000}, {2, 300}, {4, 4}, {1, 257}}, 8, 2, 64);
  check({{4, 1500}}, 16, 1, 16);  // MQA 16: two query batches per kv head within a slice
}

TEST_P(PagedAttentionVsRef, RunsInlineWithoutAPool) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  check({{1, 1000}, {20, 50}}, 4, 2, 64, 1.0f, /*use_pool=*/false);
}

TEST_P(PagedAttentionVsRef, PeakedScores) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  // Queries 6× larger: scores up to ~20, softmax dominated by a few keys.
  check(kMixedBatch, 8, 2, 64, 6.0f);
}

INSTANTIATE_TEST_SUITE_P(Isas, PagedAttentionVsRef, all_isas(), IsaName());

}  // namespace
}  // namespace hanlin::test
