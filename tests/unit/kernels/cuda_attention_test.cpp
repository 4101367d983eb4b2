// cuda::paged_attention against ref::paged_attention run on f32 copies of the same bf16 q, k and v:
// decode rows whose contexts cross 16-slot blocks, prefill chunks after a cached prefix, whole
// prompts and mixed batches, over head dims 64 and 128 and GQA ratios 1–16, with shuffled block
// tables, rows in an order unlike the sequences', rows no sequence owns, and poisoned cache blocks
// that only a read past a row's causal limit would reach; small decode batches whose long contexts
// are split over many blocks, also replayed from a CUDA graph with the context changed between
// replays; eight decode rows whose splits merge through clusters; a launch that computes only the
// rows it lists; the query and the step's K/V written by the launches just before. Each case runs
// every way the launch can walk the contexts (tensor cores, clusters, workspace) and prints its
// largest errors. Without a GPU each test skips, except the one of the rule that picks the way;
// without CUDA in the build the file is empty.
#ifdef HANLIN_HAS_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
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

// Compares a launch's output (on the device) with the reference run over `seqs`: the rows the
// launch computed must be within the bf16 bound above, every other row must keep initial_out's
// values exactly. Prints the largest errors.
void expect_matches_reference(const std::string& label, const AttentionCase& input,
                              const std::vector<ops::AttentionSeq>& seqs, const std::vector<bool>& computed,
                              const Tensor& initial_out, const Tensor& out, float scale) {
  const std::vector<float> actual = values_of(cuda::to_host(out));
  Tensor expected = as_f32(initial_out);
  ref::paged_attention(expected, as_f32(input.q), as_f32(input.k_cache), as_f32(input.v_cache), seqs, scale,
                       reference_context());
  const std::vector<float> expected_values = values_of(expected);
  const std::vector<float> initial_values = values_of(initial_out);

  const size_t row_numel = static_cast<size_t>(input.q.dim(1) * input.q.dim(2));
  std::vector<float> owned_actual, owned_expected;
  std::vector<double> allowed;
  size_t others_changed = 0;
  for (size_t row = 0; row < input.row_seq.size(); ++row) {
    for (size_t index = row * row_numel; index < (row + 1) * row_numel; ++index) {
      if (!computed[row]) {
        others_changed += actual[index] != initial_values[index];
        continue;
      }
      owned_actual.push_back(actual[index]);
      owned_expected.push_back(expected_values[index]);
      allowed.push_back(kBf16Rounding * std::fabs(expected_values[index]) + kF32Slack * input.max_abs_v);
    }
  }
  EXPECT_EQ(others_changed, 0u) << label << ": values changed in rows the launch was not to compute";
  const ::testing::AssertionResult result = within(owned_actual, owned_expected, allowed);
  std::cout << "[cuda attention] " << label << ": " << result.message() << "; "
            << f32_error_evidence(owned_actual, owned_expected) << "\n";
  EXPECT_TRUE(result) << label;
}

// The same where the launch computes every row a sequence owns.
void expect_matches_reference(const std::string& label, const AttentionCase& input,
                              const std::vector<ops::AttentionSeq>& seqs, const Tensor& initial_out,
                              const Tensor& out, float scale) {
  std::vector<bool> owned(input.row_seq.size());
  for (size_t row = 0; row < owned.size(); ++row) owned[row] = input.row_seq[row] >= 0;
  expect_matches_reference(label, input, seqs, owned, initial_out, out, scale);
}

// Output rows no sequence owns start (and must stay) as these values.
Tensor initial_output(const AttentionCase& input, uint32_t seed) {
  return random_tensor(input.q.shape(), DType::kBF16, seed, -4.0f, 4.0f);
}

// Every way the launch can walk the contexts (cuda::attention_way picks one per launch).
const cuda::AttentionWay kWays[] = {cuda::AttentionWay::kTensorCoresShort, cuda::AttentionWay::kTensorCores,
                                    cuda::AttentionWay::kTensorCoresWide, cuda::AttentionWay::kClusters,
                                    cuda::AttentionWay::kWorkspace};

std::string way_label(cuda::AttentionWay way) { return std::string(" (") + cuda::attention_way_name(way) + ")"; }

// One launch over the case's tensors into a copy of initial_out, every row of q or the `listed` ones.
Tensor run_case(const AttentionCase& input, const Tensor& initial_out, const std::vector<int32_t>* listed,
                float scale, cuda::AttentionWay way) {
  const int64_t num_seqs = input.num_seqs();
  Tensor out = cuda::to_device(initial_out);
  const Tensor q = cuda::to_device(input.q);
  const Tensor k_cache = cuda::to_device(input.k_cache);
  const Tensor v_cache = cuda::to_device(input.v_cache);
  const Tensor seqs = device_ints(input.seq_rows, {num_seqs, 3});
  const Tensor block_tables = device_ints(input.block_tables, {num_seqs, input.max_blocks});
  const Tensor row_seq = device_ints(input.row_seq, {static_cast<int64_t>(input.row_seq.size())});
  if (listed == nullptr) {
    cuda::paged_attention(out, q, k_cache, v_cache, seqs, block_tables, row_seq, scale, way, nullptr);
  } else {
    const Tensor rows = device_ints(*listed, {static_cast<int64_t>(listed->size())});
    cuda::paged_attention(out, q, k_cache, v_cache, seqs, block_tables, row_seq, rows, scale, way, nullptr);
  }
  cuda::synchronize(nullptr);
  return out;
}

// Runs the case on the GPU every way and compares each with the reference.
void check_against_reference(const std::string& name, const std::vector<SeqShape>& shapes, int64_t heads,
                             int64_t kv_heads, int64_t head_dim, float q_range = 1.0f) {
  const uint32_t seed = static_cast<uint32_t>(heads * 7919 + kv_heads * 131 + head_dim * 17 + shapes.size());
  const AttentionCase input(shapes, heads, kv_heads, head_dim, seed, q_range);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const Tensor initial_out = initial_output(input, seed + 4);
  for (const cuda::AttentionWay way : kWays) {
    const Tensor out = run_case(input, initial_out, nullptr, scale, way);
    expect_matches_reference(case_label(name, heads, kv_heads, head_dim) + way_label(way), input, input.seqs,
                             initial_out, out, scale);
  }
}

// The choice of way at its edges (cuda_ops.h): the wide tensor-core walk for 16–256 rows from 2,048
// keys; else tensor cores for up to 16 rows with up to 32,768 keys among them, and for 17–32 rows
// with up to 24,576, while rows × the longest context stays within 1.5 times that, in their short
// form up to 1,024 keys a row; beyond, the CUDA-core ways.
TEST(CudaAttentionWay, PicksByRowsAndKeys) {
  using cuda::AttentionWay;
  EXPECT_EQ(cuda::attention_way(1, 1), AttentionWay::kTensorCoresShort);
  EXPECT_EQ(cuda::attention_way(1, 1024), AttentionWay::kTensorCoresShort);
  EXPECT_EQ(cuda::attention_way(1, 1025), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(1, 32768), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(1, 32769), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(4, 256), AttentionWay::kTensorCoresShort);
  EXPECT_EQ(cuda::attention_way(7, 4681), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(7, 4682), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(8, 4096), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(8, 4097), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(15, 2048), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(15, 4096), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(16, 2047), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(16, 2048), AttentionWay::kTensorCoresWide);
  EXPECT_EQ(cuda::attention_way(17, 1445), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(17, 1446), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(32, 768), AttentionWay::kTensorCoresShort);
  EXPECT_EQ(cuda::attention_way(32, 769), AttentionWay::kClusters);
  EXPECT_EQ(cuda::attention_way(33, 128), AttentionWay::kClusters);
  EXPECT_EQ(cuda::attention_way(64, 2047), AttentionWay::kClusters);
  EXPECT_EQ(cuda::attention_way(64, 4096), AttentionWay::kTensorCoresWide);
  EXPECT_EQ(cuda::attention_way(256, 1 << 20), AttentionWay::kTensorCoresWide);
  EXPECT_EQ(cuda::attention_way(257, 2048), AttentionWay::kWorkspace);
  // Contexts that differ: their sum, and the longest.
  EXPECT_EQ(cuda::attention_way(2, 24576, 32768), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(2, 24577, 32768), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(2, 16385, 32769), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(16, 3072, 32768), AttentionWay::kTensorCoresWide);
  EXPECT_EQ(cuda::attention_way(16, 30000, 31920), AttentionWay::kTensorCoresWide);  // one long row, 15 short
  EXPECT_EQ(cuda::attention_way(20, 1843, 24576), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(20, 1844, 24576), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(20, 1500, 24577), AttentionWay::kWorkspace);
  EXPECT_EQ(cuda::attention_way(20, 1024, 10000), AttentionWay::kTensorCoresShort);
  EXPECT_EQ(cuda::attention_way(20, 1025, 10000), AttentionWay::kTensorCores);
  EXPECT_EQ(cuda::attention_way(20, 2048, 10000), AttentionWay::kTensorCoresWide);
}

// (heads, kv_heads): GQA ratios 1, 2, 4 and 8, the last MQA.
const std::vector<std::pair<int64_t, int64_t>> kGqaRatios = {{8, 8}, {8, 4}, {8, 2}, {8, 1}};
const std::vector<int64_t> kHeadDims = {16, 32, 64, 128};

// One decode row per sequence; contexts on both sides of 16-slot block edges and long ones.
// The grid is narrower than the GPU (7–56 groups of blocks, a group per row and kv head, against
// 132 SMs), so each row's context is split over several blocks, the short ones over fewer or one.
TEST(CudaPagedAttention, DecodeRowsAcrossBlockBoundaries) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const std::vector<SeqShape> decode = {{1, 1}, {1, 15}, {1, 16}, {1, 17}, {1, 83}, {1, 769}, {1, 5125}};
  for (int64_t head_dim : kHeadDims) {
    for (const auto& [heads, kv_heads] : kGqaRatios) {
      check_against_reference("decode", decode, heads, kv_heads, head_dim);
    }
  }
}

// Eight decode rows at Qwen3's 32/8 heads make 64 groups: the tensor-core way gives each group two
// blocks of one cluster on 132 SMs, merged through distributed shared memory. Rows of up to 128 keys
// leave the second block without keys, which still meets the cluster's barriers. Nine rows (72
// groups) take one block a group and merge nothing.
TEST(CudaPagedAttention, ClusteredSplitsAtBatchEight) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const std::vector<SeqShape> eight = {{1, 1},   {1, 100},  {1, 128},  {1, 129},
                                       {1, 700}, {1, 2000}, {1, 4095}, {1, 4097}};
  std::vector<SeqShape> nine = eight;
  nine.push_back({1, 3000});
  for (const int64_t head_dim : {64, 128}) {
    check_against_reference("decode batch 8", eight, 32, 8, head_dim);
    check_against_reference("decode batch 9", nine, 32, 8, head_dim);
  }
}

// Batch-1 decode (and a row no sequence owns): each of the 8 kv heads' context split over 32 blocks
// on 132 SMs. With a one-token context all but the first block of each group have no keys and
// leave at once.
TEST(CudaPagedAttention, SingleDecodeRow) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims) {
    check_against_reference("decode batch 1", {{1, 5125}}, 32, 8, head_dim);
    check_against_reference("decode first token", {{1, 1}}, 32, 8, head_dim);
  }
}

// Chunks of 7, 83 and 769 rows after cached prefixes that end mid-block, and whole prompts
// (on 132 SMs: 7 rows split each context 32 ways, 83 rows 3 ways, 769 rows not at all).
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

// Prefill chunks, fresh prompts and decode rows of several sequences in one launch (170 rows: not
// split on 132 SMs).
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

// Many decode rows: 152 groups of 8-head blocks, of which an SM holds two, so not split on 132 SMs.
TEST(CudaPagedAttention, WideDecodeBatch) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  std::mt19937 generator(29);
  std::uniform_int_distribution<int32_t> context(1, 1500);
  std::vector<SeqShape> decode;
  for (int i = 0; i < 150; ++i) decode.push_back({1, context(generator)});
  for (int64_t head_dim : kHeadDims) check_against_reference("wide decode batch", decode, 8, 1, head_dim);
  // More rows than the wide tensor-core walk takes (kMaxWideRows): it hands them to the CUDA cores.
  std::vector<SeqShape> wider;
  for (int i = 0; i < 300; ++i) wider.push_back({1, 1 + i % 97});
  check_against_reference("wider decode batch", wider, 8, 1, 128);
}

// Small decode batches at long contexts, where each row's context is split over dozens of blocks
// whose partial states merge through subtotals of 8: batch 1 and 2 at 3000 and 17000 tokens (ranges
// that end inside cache blocks and inside a step), 2100 tokens (17 splits of at least 128 keys:
// subgroups of 8, 8 and 1), 100 tokens (one split, written directly), a batch of one long and one three-token row (the short one in one split, written
// directly), GQA ratios 1–8 (4 and 8: Qwen3's 32/8 and 64/8
// shapes), 3, 7 and 16 (two chunks of heads, each a group of its own), head dims 64 and 128.
TEST(CudaPagedAttention, SplitContextsAtSmallBatch) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const std::vector<std::pair<int64_t, int64_t>> ratios = {{8, 8},  {8, 4},  {8, 2},  {8, 1}, {32, 8},
                                                           {12, 4}, {28, 4}, {64, 8}, {16, 1}};
  const std::vector<std::vector<SeqShape>> batches = {
      {{1, 3000}}, {{1, 17000}}, {{1, 2100}}, {{1, 100}}, {{1, 3000}, {1, 2999}}, {{1, 17000}, {1, 3}}};
  for (const int64_t head_dim : {64, 128}) {
    for (const auto& [heads, kv_heads] : ratios) {
      for (const std::vector<SeqShape>& batch : batches) {
        check_against_reference("split decode batch " + std::to_string(batch.size()) + " context " +
                                    std::to_string(batch[0].context_len),
                                batch, heads, kv_heads, head_dim);
      }
    }
  }
  // Teams of 2 and 4 threads: steps of 256 and 128 keys.
  for (const int64_t head_dim : {16, 32})
    check_against_reference("split decode", {{1, 3000}}, 32, 8, head_dim);
  // A short prefill chunk at batch 1: each of its 7 rows has its own context length and ranges.
  check_against_reference("split prefill chunk", {{7, 17000}}, 32, 8, 128);
}

// Decode rows whose contexts differ, where the workspace way shares each kv head's blocks out by
// keys rather than giving every row the same number: 40 rows from 3 to 9,000 keys (one kv head, so
// 40 groups and 6 blocks a row on 132 SMs; the scan for a block's row crosses two warps' worth of
// rows); one row of 30,000 keys beside five of 50, where the long row's share is capped at 32 blocks
// and the short rows take one each; rows no sequence owns in between. Head dims 64 and 128.
TEST(CudaPagedAttention, SplitsSharedOutByKeysAtSpreadContexts) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  std::vector<SeqShape> spread;
  for (int32_t i = 0; i < 40; ++i) spread.push_back({1, 3 + i * 9000 / 39});
  std::shuffle(spread.begin(), spread.end(), std::mt19937(41));
  const std::vector<SeqShape> one_long = {{1, 50}, {1, 50}, {1, 30000}, {1, 50}, {1, 50}, {1, 50}};
  for (const int64_t head_dim : {64, 128}) {
    check_against_reference("spread decode batch of 40", spread, 8, 1, head_dim);
    check_against_reference("one long row among short ones", one_long, 32, 8, head_dim);
  }
}

// A step that mixes a long prefill chunk (its 40 rows left to the prefill kernel) with decode rows
// and a short chunk: the launch lists the rows it computes, in an order unlike theirs, and is sized
// by them, so the few listed rows' contexts are split as a small batch's would be (their split
// groups numbered by their place in the list, not by their rows). Every other row, owned or not,
// keeps its values.
TEST(CudaPagedAttention, ComputesOnlyTheListedRows) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const std::vector<SeqShape> shapes = {{1, 2128}, {40, 2100}, {1, 3000}, {3, 500}, {1, 17}};
  for (const int64_t head_dim : {64, 128}) {
    const AttentionCase input(shapes, 32, 8, head_dim, 71 + static_cast<uint32_t>(head_dim), 1.0f);
    std::vector<int32_t> listed;
    for (size_t s = 0; s < shapes.size(); ++s) {
      if (shapes[s].q_len == 40) continue;
      const int32_t q_start = input.seq_rows[3 * s];
      for (int32_t i = 0; i < shapes[s].q_len; ++i) listed.push_back(q_start + i);
    }
    std::reverse(listed.begin(), listed.end());
    std::vector<bool> computed(input.row_seq.size(), false);
    for (const int32_t row : listed) computed[static_cast<size_t>(row)] = true;
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const Tensor initial_out = initial_output(input, 5);
    for (const cuda::AttentionWay way : kWays) {
      const Tensor out = run_case(input, initial_out, &listed, scale, way);
      expect_matches_reference(case_label("listed rows", 32, 8, head_dim) + way_label(way), input, input.seqs,
                               computed, initial_out, out, scale);
    }
  }
}

// One batch-1 decode launch captured in a CUDA graph and replayed with the row's context length
// rewritten on the device between replays, as a decode step's graph is: the split count is fixed
// at capture, so each replay's key ranges, and which blocks merge, follow the new length; each
// replay also relies on the last one leaving the workspace's arrival counts at 0.
TEST(CudaPagedAttention, CapturedSplitDecodeFollowsTheContext) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  constexpr int64_t kHeads = 32, kKvHeads = 8, kHeadDim = 128;
  const AttentionCase input({{1, 17000}}, kHeads, kKvHeads, kHeadDim, 71, 1.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  const Tensor initial_out = initial_output(input, 72);
  Tensor out = cuda::to_device(initial_out);
  const Tensor q = cuda::to_device(input.q);
  const Tensor k_cache = cuda::to_device(input.k_cache);
  const Tensor v_cache = cuda::to_device(input.v_cache);
  Tensor seqs = device_ints(input.seq_rows, {1, 3});
  const Tensor block_tables = device_ints(input.block_tables, {1, input.max_blocks});
  const Tensor row_seq = device_ints(input.row_seq, {static_cast<int64_t>(input.row_seq.size())});

  const std::shared_ptr<void> stream_owner = cuda::create_stream();
  const cuda::Stream stream = stream_owner.get();
  for (const cuda::AttentionWay way : kWays) {
    cuda::begin_capture(stream);
    cuda::paged_attention(out, q, k_cache, v_cache, seqs, block_tables, row_seq, scale, way, stream);
    const std::shared_ptr<cuda::Graph> graph = cuda::end_capture(stream);
    // Through the workspace, one split (contexts up to 128) writes directly; 2–32 merge in one level
    // (2, 5 and 11 at 200, 529 and 1300 in one batch of reads; 17 and 24 at 2100 and 3000 in two);
    // 36 and 60 (4500; 16999 and 17000) through subgroups of 8, the last partly filled. Through
    // clusters, every length takes the same 8 blocks, some of them with no keys.
    for (const int32_t context_len : {17000, 1, 20, 128, 200, 529, 1300, 2100, 3000, 4500, 16999, 17000}) {
      std::vector<int32_t> seq_rows = input.seq_rows;
      seq_rows[2] = context_len;
      Tensor host_seqs = Tensor::zeros({1, 3}, DType::kI32);
      std::copy(seq_rows.begin(), seq_rows.end(), host_seqs.data<int32_t>());
      cuda::copy_to_device_async(seqs, host_seqs, stream);
      cuda::launch_graph(*graph, stream);
      cuda::synchronize(stream);
      std::vector<ops::AttentionSeq> ref_seqs = input.seqs;
      ref_seqs[0].context_len = context_len;
      expect_matches_reference("graph replay at context " + std::to_string(context_len) + way_label(way), input,
                               ref_seqs, initial_out, out, scale);
    }
  }
}

// The query and the K/V of each sequence's step (its newest q_len positions) written by the kernels
// just before the attention launch, in one captured graph, as a step's fused rope/KV write does:
// first the query by a slow copy (one block copies it all), then the step's K/V, whose launch is
// resident and waiting for the copy, so that the attention launch, a programmatic dependent, is
// resident too while neither is written yet. The kernel may read the step's tables and the K/V of
// earlier positions before its wait, but the query and the step's keys only after it: read before,
// they would be the device's stale values (a zero query, poisoned K and V). Measured on an H100: a
// kernel that read the query before its wait failed here when the K/V were written first and the
// query second (a third to nine tenths of the outputs wrong); one that copied the step's keys before
// its wait passed with that order, and fails with this one (5,076 outputs wrong, three runs of
// three). Steps of 3–20 positions (chunks of a prefill) put the step's keys inside and across the
// tiles that the tensor-core way copies before its wait.
TEST(CudaPagedAttention, ReadsWhatThePreviousKernelsWrote) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  constexpr int64_t kHeads = 64, kKvHeads = 8, kHeadDim = 128;
  const AttentionCase input(
      {{5, 1000}, {1, 3000}, {3, 17}, {1, 2048}, {20, 640}, {1, 129}, {16, 1500}, {1, 4000}}, kHeads, kKvHeads,
      kHeadDim, 81, 1.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  const Tensor initial_out = initial_output(input, 82);
  const int64_t num_rows = static_cast<int64_t>(input.row_seq.size());
  const int64_t slot_numel = kKvHeads * kHeadDim;

  // The slots of each sequence's step; their true K/V rows, and caches where they hold poison instead.
  const int64_t num_seqs = input.num_seqs();
  std::vector<int32_t> step_slots;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const ops::AttentionSeq& seq = input.seqs[static_cast<size_t>(s)];
    const int32_t q_len = input.seq_rows[static_cast<size_t>(3 * s + 1)];
    for (int32_t position = seq.context_len - q_len; position < seq.context_len; ++position) {
      step_slots.push_back(seq.block_table[static_cast<size_t>(position / kBlockSize)] * kBlockSize +
                           position % kBlockSize);
    }
  }
  const auto num_written = static_cast<int64_t>(step_slots.size());
  Tensor newest_k = Tensor::zeros({num_written, kKvHeads, kHeadDim}, DType::kBF16);
  Tensor newest_v = Tensor::zeros({num_written, kKvHeads, kHeadDim}, DType::kBF16);
  Tensor stale_k = Tensor::zeros(input.k_cache.shape(), DType::kBF16);
  Tensor stale_v = Tensor::zeros(input.v_cache.shape(), DType::kBF16);
  std::copy_n(input.k_cache.data<bf16>(), input.k_cache.numel(), stale_k.data<bf16>());
  std::copy_n(input.v_cache.data<bf16>(), input.v_cache.numel(), stale_v.data<bf16>());
  for (int64_t i = 0; i < num_written; ++i) {
    const int64_t slot = step_slots[static_cast<size_t>(i)];
    std::copy_n(input.k_cache.data<bf16>() + slot * slot_numel, slot_numel, newest_k.data<bf16>() + i * slot_numel);
    std::copy_n(input.v_cache.data<bf16>() + slot * slot_numel, slot_numel, newest_v.data<bf16>() + i * slot_numel);
    std::fill_n(stale_k.data<bf16>() + slot * slot_numel, slot_numel, to_bf16(kPoisonValue));
    std::fill_n(stale_v.data<bf16>() + slot * slot_numel, slot_numel, to_bf16(kPoisonValue));
  }
  const int64_t q_numel = input.q.numel();
  const Tensor true_q = cuda::to_device(input.q).reshape({1, q_numel});
  const Tensor first_row = device_ints({0}, {1});
  const Tensor slots = device_ints(step_slots, {num_written});
  const Tensor device_newest_k = cuda::to_device(newest_k);
  const Tensor device_newest_v = cuda::to_device(newest_v);

  const std::shared_ptr<void> stream_owner = cuda::create_stream();
  const cuda::Stream stream = stream_owner.get();
  for (const cuda::AttentionWay way : kWays) {
    Tensor out = cuda::to_device(initial_out);
    Tensor q = cuda::device_zeros(input.q.shape(), DType::kBF16);
    Tensor q_as_one_row = q.reshape({1, q_numel});
    Tensor k_cache = cuda::to_device(stale_k);
    Tensor v_cache = cuda::to_device(stale_v);
    const Tensor seqs = device_ints(input.seq_rows, {num_seqs, 3});
    const Tensor block_tables = device_ints(input.block_tables, {num_seqs, input.max_blocks});
    const Tensor row_seq = device_ints(input.row_seq, {num_rows});
    // Captured, as a decode step is, so that the launches follow one another on the device alone.
    cuda::begin_capture(stream);
    cuda::embedding(q_as_one_row, true_q, first_row, stream);
    cuda::kv_cache_write(k_cache, v_cache, device_newest_k, device_newest_v, slots, stream);
    cuda::paged_attention(out, q, k_cache, v_cache, seqs, block_tables, row_seq, scale, way, stream);
    const std::shared_ptr<cuda::Graph> graph = cuda::end_capture(stream);
    cuda::launch_graph(*graph, stream);
    cuda::synchronize(stream);
    expect_matches_reference("query and the step's K/V written just before" + way_label(way), input, input.seqs,
                             initial_out, out, scale);
  }
}

// Queries 6× larger: scores up to ~20, the softmax dominated by a few keys, the running maximum
// rescaling the accumulators often.
TEST(CudaPagedAttention, PeakedScores) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t head_dim : kHeadDims)
    check_against_reference("peaked scores", kMixedBatch, 8, 2, head_dim, 6.0f);
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
    cuda::paged_attention(out, q, k_cache, v_cache, seqs, block_tables, row_seq, 0.125f,
                          cuda::attention_way(3, 20), nullptr);
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
  // The list of rows a launch computes: more entries than q has rows, a list of two dimensions,
  // and a list on the host.
  const auto listing = [](const std::string& what, const Tensor& rows) {
    ValidInputs in;
    expect_internal_error(what, [&] {
      cuda::paged_attention(in.out, in.q, in.k_cache, in.v_cache, in.seqs, in.block_tables, in.row_seq, rows, 0.125f,
                            cuda::attention_way(1, 20), nullptr);
    });
  };
  listing("more listed rows than q's", device_ints({0, 1, 2, 2}, {4}));
  listing("rows of two dimensions", device_ints({0, 1}, {1, 2}));
  listing("rows on the host", Tensor::zeros({1}, DType::kI32));
  {
    ValidInputs in;
    EXPECT_NO_THROW(cuda::paged_attention(in.out, in.q, in.k_cache, in.v_cache, in.seqs, in.block_tables, in.row_seq,
                                          device_ints({2}, {1}), 0.125f, cuda::attention_way(1, 20), nullptr));
    EXPECT_NO_THROW(cuda::synchronize(nullptr));
  }
}

}  // namespace
}  // namespace hanlin::test

#endif  // HANLIN_HAS_CUDA
