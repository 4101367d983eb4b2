// cuda::paged_attention against ref::paged_attention run on f32 copies of the same bf16 q, k and v:
// decode rows whose contexts cross 16-slot blocks, prefill chunks after a cached prefix, whole
// prompts and mixed batches, over head dims 64 and 128 and GQA ratios 1–16, with shuffled block
// tables, rows in an order unlike the sequences', rows no sequence owns, and poisoned cache blocks
// that only a read past a row's causal limit would reach. Every case prints its largest errors.
// Without a GPU each test skips; without CUDA in the build the file is empty.
#ifdef HANLIN_HAS_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "attention_case.h"
#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::test {
namespace {

// Tolerance. The output is a convex combination of V rows (weights ≥ 0 summing to 1), computed
// in f32 and rounded once to bf16. That rounding moves it by at most 2^-8 of its magnitude. The
// f32 error y − ref before it is at most ε·max|v|, where ε is the relative error of the weights
// plus that of the f32 sums: a score is an f32 dot of head_dim terms (typically √head_dim·u·Σ|q·k|·scale
// ≈ 11·6e-8·4 ≈ 3e-6 here, 6× that with the peaked queries), exp2f is within 2 ulp, and each
// weighted sum runs over a few hundred keys per team (≈ √n·u). So ε is of order 1e-5, and
// |out − ref| ≤ 2^-8·|ref| + (1 + 2^-8)·ε·max|v|. kF32Slack = 1e-4 leaves a factor of ten over ε
// and is still ten times smaller than what a wrong key costs (one extra key of 769 moves the
// output by ~1e-3; a poisoned one by ~64/context). This element-wise bound is tighter than the
// uniform 2^-7·max|v|, which would hide a 1% error in every small output.
constexpr double kBf16Rounding = 0x1p-8;
constexpr double kF32Slack = 1e-4;

// Runs the case on the GPU and through the reference; rows no sequence owns must keep their
// values exactly, owned rows must be within the bf16 bound above. Prints the largest errors.
void check_against_reference(const std::string& name, const std::vector<SeqShape>& shapes, int64_t heads,
                             int64_t kv_heads, int64_t head_dim, float q_range = 1.0f) {
  const uint32_t seed = static_cast<uint32_t>(heads * 7919 + kv_heads * 131 + head_dim * 17 + shapes.size());
  const AttentionCase input(shapes, heads, kv_heads, head_dim, seed, q_range);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  // Unowned rows start (and must stay) as these values.
  const Tensor initial_out = random_tensor(input.q.shape(), DType::kBF16, seed + 4, -4.0f, 4.0f);

  Tensor out = cuda::to_device(initial_out);
  const int64_t num_seqs = input.num_seqs();
  cuda::paged_attention(out, cuda::to_device(input.q), cuda::to_device(input.k_cache),
                        cuda::to_device(input.v_cache), device_ints(input.seq_rows, {num_seqs, 3}),
                        device_ints(input.block_tables, {num_seqs, input.max_blocks}),
                        device_ints(input.row_seq, {static_cast<int64_t>(input.row_seq.size())}), scale,
                        nullptr);
  cuda::synchronize(nullptr);
  const std::vector<float> actual = values_of(cuda::to_host(out));

  Tensor expected = as_f32(initial_out);
  ref::paged_attention(expected, as_f32(input.q), as_f32(input.k_cache), as_f32(input.v_cache), input.seqs,
                       scale, {});
  const std::vector<float> expected_values = values_of(expected);

  // Owned rows against the bound above; rows no sequence owns must keep their values exactly.
  const size_t row_numel = static_cast<size_t>(heads * head_dim);
  std::vector<float> owned_actual, owned_expected;
  std::vector<double> allowed;
  size_t unowned_changed = 0;
  for (size_t row = 0; row < input.row_seq.size(); ++row) {
    for (size_t index = row * row_numel; index < (row + 1) * row_numel; ++index) {
      if (input.row_seq[row] < 0) {
        unowned_changed += actual[index] != expected_values[index];
        continue;
      }
      owned_actual.push_back(actual[index]);
      owned_expected.push_back(expected_values[index]);
      allowed.push_back(kBf16Rounding * std::fabs(expected_values[index]) + kF32Slack * input.max_abs_v);
    }
  }
  const std::string label = case_label(name, heads, kv_heads, head_dim);
  EXPECT_EQ(unowned_changed, 0u) << label << ": values changed in rows no sequence owns";
  const ::testing::AssertionResult result = within(owned_actual, owned_expected, allowed);
  std::cout << "[cuda attention] " << label << ": " << result.message() << "; "
            << f32_error_evidence(owned_actual, owned_expected) << "\n";
  EXPECT_TRUE(result) << label;
}

// (heads, kv_heads): GQA ratios 1, 2, 4 and 8, the last MQA.
const std::vector<std::pair<int64_t, int64_t>> kGqaRatios = {{8, 8}, {8, 4}, {8, 2}, {8, 1}};
const std::vector<int64_t> kHeadDims = {16, 32, 64, 128};

// One decode row per sequence; contexts on both sides of 16-slot block edges and long ones.
// The grid is narrower than the GPU (7–56 blocks on 132 SMs), so each row's context is split over
// a cluster of 8 blocks of 256 threads.
TEST(CudaPagedAttention, DecodeRowsAcrossBlockBoundaries) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const std::vector<SeqShape> decode = {{1, 1}, {1, 15}, {1, 16}, {1, 17}, {1, 83}, {1, 769}, {1, 5125}};
  for (int64_t head_dim : kHeadDims) {
    for (const auto& [heads, kv_heads] : kGqaRatios) {
      check_against_reference("decode", decode, heads, kv_heads, head_dim);
    }
  }
}

// Batch-1 decode: 8 clusters of 8 blocks. With a one-token context, seven blocks of each
// cluster see no key at all, and their empty states must merge as nothing.
TEST(CudaPagedAttention, SingleDecodeRow) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims) {
    check_against_reference("decode batch 1", {{1, 5125}}, 32, 8, head_dim);
    check_against_reference("decode first token", {{1, 1}}, 32, 8, head_dim);
  }
}

// Chunks of 7, 83 and 769 rows after cached prefixes that end mid-block, and whole prompts
// (on 132 SMs: 7 rows split each context 8 ways, 83 rows 2 ways, 769 rows not at all).
TEST(CudaPagedAttention, PrefillChunksAndWholePrompts) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims) {
    for (int32_t q_len : {7, 83, 769}) {
      check_against_reference("prefill chunk of " + std::to_string(q_len) + " after 1001 cached",
                              {{q_len, 1001 + q_len}}, 4, 2, head_dim);
      check_against_reference("whole prompt of " + std::to_string(q_len), {{q_len, q_len}}, 4, 2, head_dim);
    }
  }
}

// Prefill chunks, fresh prompts and decode rows of several sequences in one launch (128-thread
// blocks; split 2 ways for MQA on 132 SMs, else not).
const std::vector<SeqShape> kMixedBatch = {{37, 100}, {1, 83},  {20, 20}, {1, 1},    {1, 33},
                                           {7, 32},   {1, 769}, {83, 99}, {1, 5125}, {16, 16}};

TEST(CudaPagedAttention, MixedBatchesForEveryGqaRatio) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims) {
    for (const auto& [heads, kv_heads] : kGqaRatios) {
      check_against_reference("mixed batch", kMixedBatch, heads, kv_heads, head_dim);
    }
    // Ratios that are not a block's head count: 3 (a block of 4, one idle), 7 (Qwen2.5-7B's 28/4)
    // and 16 (Qwen3-235B's 64/4: two blocks per kv head).
    check_against_reference("mixed batch", kMixedBatch, 12, 4, head_dim);
    check_against_reference("mixed batch", kMixedBatch, 28, 4, head_dim);
    check_against_reference("mixed batch", kMixedBatch, 16, 1, head_dim);
  }
}

// Many decode rows: the grid is wider than the GPU, so decode rows take 128-thread blocks (split
// 2 ways on 132 SMs).
TEST(CudaPagedAttention, WideDecodeBatch) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  std::mt19937 generator(29);
  std::uniform_int_distribution<int32_t> context(1, 1500);
  std::vector<SeqShape> decode;
  for (int i = 0; i < 150; ++i) decode.push_back({1, context(generator)});
  for (int64_t head_dim : kHeadDims) check_against_reference("wide decode batch", decode, 8, 1, head_dim);
}

// Queries 6× larger: scores up to ~20, the softmax dominated by a few keys, the running maximum
// rescaling the accumulators often.
TEST(CudaPagedAttention, PeakedScores) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims)
    check_against_reference("peaked scores", kMixedBatch, 8, 2, head_dim, 6.0f);
}

void expect_internal_error(const std::string& what, const std::function<void()>& call) {
  try {
    call();
    ADD_FAILURE() << what << ": no error thrown";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInternal) << what << ": " << error.what();
  }
}

// A small consistent set of inputs (T = 3 rows, 4 heads over 2 kv heads, head_dim 64, 2
// sequences); each check below breaks one thing.
struct ValidInputs {
  Tensor out = cuda::device_zeros({3, 4, 64}, DType::kBF16);
  Tensor q = cuda::device_zeros({3, 4, 64}, DType::kBF16);
  Tensor k_cache = cuda::device_zeros({4, kBlockSize, 2, 64}, DType::kBF16);
  Tensor v_cache = cuda::device_zeros({4, kBlockSize, 2, 64}, DType::kBF16);
  Tensor seqs = device_ints({0, 2, 2, 2, 1, 20}, {2, 3});
  Tensor block_tables = device_ints({0, 1, 2, 3}, {2, 2});
  Tensor row_seq = device_ints({0, 0, 1}, {3});

  void run() {
    cuda::paged_attention(out, q, k_cache, v_cache, seqs, block_tables, row_seq, 0.125f, nullptr);
  }
};

TEST(CudaPagedAttention, MismatchedInputsThrow) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
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
  broken("out shape differs from q", [](ValidInputs& in) {
    in.out = cuda::device_zeros({3, 4, 128}, DType::kBF16);
  });
  broken("q head_dim differs from the cache's", [](ValidInputs& in) {
    in.q = cuda::device_zeros({3, 4, 128}, DType::kBF16);
    in.out = cuda::device_zeros({3, 4, 128}, DType::kBF16);
  });
  broken("v_cache shape differs from k_cache", [](ValidInputs& in) {
    in.v_cache = cuda::device_zeros({4, kBlockSize, 1, 64}, DType::kBF16);
  });
  broken("heads not a multiple of kv_heads", [](ValidInputs& in) {
    in.q = cuda::device_zeros({3, 3, 64}, DType::kBF16);
    in.out = cuda::device_zeros({3, 3, 64}, DType::kBF16);
  });
  broken("unsupported head_dim 96", [](ValidInputs& in) {
    in.q = cuda::device_zeros({3, 4, 96}, DType::kBF16);
    in.out = cuda::device_zeros({3, 4, 96}, DType::kBF16);
    in.k_cache = cuda::device_zeros({4, kBlockSize, 2, 96}, DType::kBF16);
    in.v_cache = cuda::device_zeros({4, kBlockSize, 2, 96}, DType::kBF16);
  });
  broken("q in f32", [](ValidInputs& in) { in.q = cuda::device_zeros({3, 4, 64}, DType::kF32); });
  broken("k_cache on the host", [](ValidInputs& in) {
    in.k_cache = Tensor::zeros({4, kBlockSize, 2, 64}, DType::kBF16);
  });
  broken("k_cache of rank 3", [](ValidInputs& in) {
    in.k_cache = cuda::device_zeros({4 * kBlockSize, 2, 64}, DType::kBF16);
    in.v_cache = cuda::device_zeros({4 * kBlockSize, 2, 64}, DType::kBF16);
  });
  broken("seqs of [S, 2]", [](ValidInputs& in) { in.seqs = device_ints({0, 2, 2, 1}, {2, 2}); });
  broken("seqs in f32", [](ValidInputs& in) { in.seqs = cuda::device_zeros({2, 3}, DType::kF32); });
  broken("block_tables rows differ from seqs", [](ValidInputs& in) {
    in.block_tables = device_ints({0, 1, 2, 3, 0, 0}, {3, 2});
  });
  broken("row_seq length differs from q rows", [](ValidInputs& in) {
    in.row_seq = device_ints({0, 0}, {2});
  });
}

}  // namespace
}  // namespace hanlin::test

#endif  // HANLIN_HAS_CUDA
