// cuda::prefill_attention against ref::paged_attention run on f32 copies of the same bf16 q, k and
// v: whole prompts and chunks after cached prefixes that end mid-block (q_len 1, 7, 64, 83, 769),
// several sequences in one launch, head dims 64 and 128, GQA ratios 1, 4 and 8, shuffled block
// tables with poisoned padding blocks, and rows no listed tile covers (other sequences, rows no
// sequence owns, a dropped tile), which must keep their values. Every case prints its largest
// errors. Without a GPU the kernel tests skip; without CUDA in the build the file is empty.
#ifdef HANLIN_HAS_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "attention_case.h"
#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/prefill_attention.h"

namespace hanlin::test {
namespace {

// Tolerance. The output is Σ w_i·v_i with w_i = p_i / l, p_i = 2^(s_i − max), l = Σ p_i. Unlike
// cuda::paged_attention, this kernel feeds P·V to the tensor cores in bf16: each p_i is rounded
// to bf16 (relative error ≤ 2^-8) while l sums the unrounded f32 p_i, so the numerator is off by
// at most 2^-8·Σ w_i·|v_i| =: 2^-8·A, A being attention over |v| (the reference computes it
// exactly, run with |V| in place of V). The rest is f32 arithmetic as in the paged-attention test:
// scores are f32 sums of exact bf16 products on the tensor cores, exp2 within 2 ulp, sums over at
// most a few thousand keys, ε of order 1e-5 of max|v|, covered by kF32Slack = 1e-4. The output is
// then rounded once to bf16 (2^-8 of its magnitude). So
//   |out − ref| ≤ 2^-8·|ref| + (1 + 2^-8)·(2^-8·A + kF32Slack·max|v|),
// element by element. The A term is a worst case (all roundings one way); the printed errors show
// the typical one. What the bound still catches: a key past the causal diagonal moves a row at
// position p by ~|v|/(p + 2), above the bound for the first few hundred positions of every whole
// prompt; a skipped or repeated 64-key tile moves rows by ~64/context·|v|; a poisoned block by
// ~64/context·64.
constexpr double kBf16Rounding = 0x1p-8;
constexpr double kF32Slack = 1e-4;

// Which tiles a launch lists: those of prefill_tiles(seqs, min_q_len), without the second tile of
// the sequence at index drop_second_tile_of (when it has one; -1 drops none).
struct TileChoice {
  int32_t min_q_len = 1;
  int64_t drop_second_tile_of = -1;
};

std::vector<std::array<int32_t, 3>> seq_triples(const std::vector<int32_t>& seq_rows) {
  std::vector<std::array<int32_t, 3>> triples(seq_rows.size() / 3);
  for (size_t s = 0; s < triples.size(); ++s)
    triples[s] = {seq_rows[3 * s], seq_rows[3 * s + 1], seq_rows[3 * s + 2]};
  return triples;
}

std::vector<int32_t> chosen_tiles(const std::vector<std::array<int32_t, 3>>& seqs, const TileChoice& choice) {
  const std::vector<int32_t> all = cuda::prefill_tiles(seqs, choice.min_q_len);
  std::vector<int32_t> tiles;
  for (size_t t = 0; t < all.size(); t += 2) {
    if (all[t] == choice.drop_second_tile_of && all[t + 1] == cuda::kPrefillTileRows) continue;
    tiles.push_back(all[t]);
    tiles.push_back(all[t + 1]);
  }
  return tiles;
}

// Which of the T rows the listed tiles cover.
std::vector<bool> covered_rows(const std::vector<std::array<int32_t, 3>>& seqs,
                               const std::vector<int32_t>& tiles, size_t num_rows) {
  std::vector<bool> is_covered(num_rows, false);
  for (size_t t = 0; t < tiles.size(); t += 2) {
    const auto& [q_start, q_len, context_len] = seqs[static_cast<size_t>(tiles[t])];
    const int32_t end = std::min(q_len, tiles[t + 1] + cuda::kPrefillTileRows);
    for (int32_t row = tiles[t + 1]; row < end; ++row) is_covered[static_cast<size_t>(q_start + row)] = true;
  }
  return is_covered;
}

// ref::paged_attention over every owned row, starting from `initial_out`; with `absolute_v`,
// over |V| (the A of the bound above).
std::vector<float> reference_output(const AttentionCase& input, const Tensor& initial_out, float scale,
                                    bool absolute_v) {
  Tensor expected = as_f32(initial_out);
  Tensor v = as_f32(input.v_cache);
  if (absolute_v) {
    for (int64_t i = 0; i < v.numel(); ++i) v.data<float>()[i] = std::fabs(v.data<float>()[i]);
  }
  ref::paged_attention(expected, as_f32(input.q), as_f32(input.k_cache), v, input.seqs, scale, reference_context());
  return values_of(expected);
}

// Runs the case on the GPU with the chosen tiles and through the reference; rows the tiles cover
// must be within the bound above, every other row must keep its value exactly.
void check_against_reference(const std::string& name, const std::vector<SeqShape>& shapes, int64_t heads,
                             int64_t kv_heads, int64_t head_dim, const TileChoice& choice = {},
                             float q_range = 1.0f, int64_t longest_context = 0) {
  const uint32_t seed = static_cast<uint32_t>(heads * 7919 + kv_heads * 131 + head_dim * 17 +
                                              shapes.size() * 3 + shapes[0].q_len);
  const AttentionCase input(shapes, heads, kv_heads, head_dim, seed, q_range);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const Tensor initial_out = random_tensor(input.q.shape(), DType::kBF16, seed + 4, -4.0f, 4.0f);
  const std::vector<std::array<int32_t, 3>> seqs = seq_triples(input.seq_rows);
  const std::vector<int32_t> tiles = chosen_tiles(seqs, choice);

  Tensor out = cuda::to_device(initial_out);
  const int64_t num_seqs = input.num_seqs();
  cuda::prefill_attention(out, cuda::to_device(input.q), cuda::to_device(input.k_cache),
                          cuda::to_device(input.v_cache), device_ints(input.seq_rows, {num_seqs, 3}),
                          device_ints(input.block_tables, {num_seqs, input.max_blocks}),
                          device_ints(tiles, {static_cast<int64_t>(tiles.size() / 2), 2}), scale, nullptr,
                          longest_context);
  cuda::synchronize(nullptr);
  const std::vector<float> actual = values_of(cuda::to_host(out));
  const std::vector<float> expected = reference_output(input, initial_out, scale, false);
  const std::vector<float> attention_over_abs_v = reference_output(input, initial_out, scale, true);
  const std::vector<float> initial = values_of(initial_out);

  const std::vector<bool> is_covered = covered_rows(seqs, tiles, input.row_seq.size());
  const size_t row_numel = static_cast<size_t>(heads * head_dim);
  std::vector<float> covered_actual, covered_expected;
  std::vector<double> allowed;
  size_t untouched_changed = 0;
  for (size_t row = 0; row < is_covered.size(); ++row) {
    for (size_t index = row * row_numel; index < (row + 1) * row_numel; ++index) {
      if (!is_covered[row]) {
        untouched_changed += actual[index] != initial[index];
        continue;
      }
      covered_actual.push_back(actual[index]);
      covered_expected.push_back(expected[index]);
      allowed.push_back(kBf16Rounding * std::fabs(expected[index]) +
                        (1 + kBf16Rounding) *
                            (kBf16Rounding * attention_over_abs_v[index] + kF32Slack * input.max_abs_v));
    }
  }
  const std::string label = case_label(name, heads, kv_heads, head_dim);
  EXPECT_EQ(untouched_changed, 0u) << label << ": values changed in rows no listed tile covers";
  ASSERT_FALSE(covered_actual.empty()) << label << ": no tile listed";
  const ::testing::AssertionResult result = within(covered_actual, covered_expected, allowed);
  std::cout << "[cuda prefill attention] " << label << ": " << result.message() << "; "
            << f32_error_evidence(covered_actual, covered_expected) << "\n";
  EXPECT_TRUE(result) << label;
}

const std::vector<int64_t> kHeadDims = {64, 128};
const std::vector<int32_t> kQueryLengths = {1, 7, 64, 83, 769};
// A cached prefix that ends mid-block (1001 = 62·16 + 9, and 15·64 + 41).
constexpr int32_t kPrefix = 1001;

// prefill_tiles: kPrefillTileRows-row tiles of each sequence with q_len ≥ min_q_len, in order.
TEST(CudaPrefillAttention, TilesOfTheLongSequences) {
  const std::vector<std::array<int32_t, 3>> seqs = {{0, 1, 1}, {1, 300, 300}, {301, 128, 1000}, {429, 7, 7}};
  const int32_t rows = cuda::kPrefillTileRows;
  EXPECT_EQ(cuda::prefill_tiles(seqs, 2), (std::vector<int32_t>{1, 0, 1, rows, 1, 2 * rows, 2, 0, 3, 0}));
  EXPECT_EQ(cuda::prefill_tiles(seqs, 8), (std::vector<int32_t>{1, 0, 1, rows, 1, 2 * rows, 2, 0}));
  EXPECT_EQ(cuda::prefill_tiles(seqs, 0).size(), 12u);  // q_len 1 too
  EXPECT_TRUE(cuda::prefill_tiles(seqs, 1000).empty());
  EXPECT_TRUE(cuda::prefill_attention_supports(64));
  EXPECT_TRUE(cuda::prefill_attention_supports(128));
  EXPECT_FALSE(cuda::prefill_attention_supports(96));
}

// Each length alone, as a whole prompt and as a chunk after a cached prefix; GQA ratio 4.
TEST(CudaPrefillAttention, WholePromptsAndChunksAfterACachedPrefix) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims) {
    for (int32_t q_len : kQueryLengths) {
      check_against_reference("whole prompt of " + std::to_string(q_len), {{q_len, q_len}}, 8, 2, head_dim);
      check_against_reference(
          "chunk of " + std::to_string(q_len) + " after " + std::to_string(kPrefix) + " cached",
          {{q_len, kPrefix + q_len}}, 8, 2, head_dim);
    }
  }
}

// Whole prompts and chunks after prefixes of 37, 48 (a block multiple, not a tile's) and 1001
// cached positions, all in one launch.
const std::vector<SeqShape> kBatch = {
    {1, 1},      {7, 7},    {64, 64},           {83, 83},      {769, 769},
    {7, 37 + 7}, {1, 1002}, {64, kPrefix + 64}, {83, 48 + 83}, {769, kPrefix + 769}};

TEST(CudaPrefillAttention, SeveralSequencesForGqaRatios1To8) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims) {
    for (const auto& [heads, kv_heads] : std::vector<std::pair<int64_t, int64_t>>{{8, 8}, {8, 2}, {8, 1}}) {
      check_against_reference("batch", kBatch, heads, kv_heads, head_dim);
    }
    check_against_reference("batch at Qwen3-8B's heads", kBatch, 32, 8, head_dim);
  }
}

// Few tiles over long contexts, given the longest context so that the launch splits each tile's
// keys over several blocks and merges them: one tile after 2,000 and 20,000 cached positions
// (ranges that end inside cache blocks and key tiles), three tiles after 9,000, and a batch of a
// long and a short sequence (the short one's later ranges hold no key of its rows); heads in
// pairs (32/8) and alone (14/2, 8/1), head dims 64 and 128.
TEST(CudaPrefillAttention, FewTilesOverLongContextsSplitTheKeys) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const std::vector<std::vector<SeqShape>> cases = {
      {{128, 2128}}, {{17, 20017}}, {{300, 9300}}, {{128, 6001}, {40, 437}}};
  for (const int64_t head_dim : kHeadDims) {
    for (const auto& [heads, kv_heads] : std::vector<std::pair<int64_t, int64_t>>{{32, 8}, {14, 2}, {8, 1}}) {
      for (const std::vector<SeqShape>& shapes : cases) {
        int64_t longest = 0;
        for (const SeqShape& shape : shapes) longest = std::max<int64_t>(longest, shape.context_len);
        check_against_reference("split keys, " + std::to_string(shapes[0].q_len) + " rows after " +
                                    std::to_string(shapes[0].context_len - shapes[0].q_len),
                                shapes, heads, kv_heads, head_dim, {}, 1.0f, longest);
      }
    }
  }
}

// Only sequences of q_len ≥ 8 are listed (the others, as decode rows, belong to the paged kernel),
// and the second tile of the 769-row chunk (sequence 9) is dropped: those rows must not change.
TEST(CudaPrefillAttention, RowsOfUnlistedTilesAreUntouched) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims) {
    check_against_reference("listed tiles only", kBatch, 8, 2, head_dim,
                            {.min_q_len = 8, .drop_second_tile_of = 9});
  }
}

// Queries 6× larger: scores up to ~20, the softmax dominated by a few keys, the running maximum
// rescaling the accumulators often.
TEST(CudaPrefillAttention, PeakedScores) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims)
    check_against_reference("peaked scores", kBatch, 8, 2, head_dim, {}, 6.0f);
}

// A small consistent set of inputs (T = 3 rows, 4 heads over 2 kv heads, head_dim 64, 2
// sequences, one tile); each check below breaks one thing.
struct ValidInputs {
  Tensor out = cuda::device_zeros({3, 4, 64}, DType::kBF16);
  Tensor q = cuda::device_zeros({3, 4, 64}, DType::kBF16);
  Tensor k_cache = cuda::device_zeros({4, kBlockSize, 2, 64}, DType::kBF16);
  Tensor v_cache = cuda::device_zeros({4, kBlockSize, 2, 64}, DType::kBF16);
  Tensor seqs = device_ints({0, 2, 2, 2, 1, 20}, {2, 3});
  Tensor block_tables = device_ints({0, 1, 2, 3}, {2, 2});
  Tensor tiles = device_ints({0, 0}, {1, 2});

  void run() {
    cuda::prefill_attention(out, q, k_cache, v_cache, seqs, block_tables, tiles, 0.125f, nullptr);
  }
};

TEST(CudaPrefillAttention, MismatchedInputsThrow) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  {
    ValidInputs inputs;
    EXPECT_NO_THROW(inputs.run());
    EXPECT_NO_THROW(cuda::synchronize(nullptr));
  }
  const auto broken = [](const std::string& what, const std::function<void(ValidInputs&)>& breaking) {
    ValidInputs inputs;
    breaking(inputs);
    expect_internal_error(what, [&] { inputs.run(); });
  };
  broken("unsupported head_dim 32", [](ValidInputs& in) {
    in.q = cuda::device_zeros({3, 4, 32}, DType::kBF16);
    in.out = cuda::device_zeros({3, 4, 32}, DType::kBF16);
    in.k_cache = cuda::device_zeros({4, kBlockSize, 2, 32}, DType::kBF16);
    in.v_cache = cuda::device_zeros({4, kBlockSize, 2, 32}, DType::kBF16);
  });
  broken("out shape differs from q", [](ValidInputs& in) {
    in.out = cuda::device_zeros({3, 4, 128}, DType::kBF16);
  });
  broken("heads not a multiple of kv_heads", [](ValidInputs& in) {
    in.q = cuda::device_zeros({3, 3, 64}, DType::kBF16);
    in.out = cuda::device_zeros({3, 3, 64}, DType::kBF16);
  });
  broken("tiles of [N, 3]", [](ValidInputs& in) { in.tiles = device_ints({0, 0, 0}, {1, 3}); });
  broken("tiles in f32", [](ValidInputs& in) { in.tiles = cuda::device_zeros({1, 2}, DType::kF32); });
  broken("block_tables rows differ from seqs", [](ValidInputs& in) {
    in.block_tables = device_ints({0, 1, 2, 3, 0, 0}, {3, 2});
  });
}

}  // namespace
}  // namespace hanlin::test

#endif  // HANLIN_HAS_CUDA
