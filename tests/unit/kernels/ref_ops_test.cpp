// The reference ops against truths computed by hand or by identities (rotations preserve norms,
// a single key returns its value), so the oracle for the CPU and CUDA tests is itself checked.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel_test_util.h"

namespace hanlin::test {
namespace {

const ops::Context kNoPool{};

TEST(RefRmsNorm, MatchesHandComputedValues) {
  // mean(x²) = 30/4 = 7.5; + eps 0.5 = 8, so x is divided by √8.
  const Tensor in = from_values({1, 4}, {1, 2, 3, 4});
  const Tensor weight = from_values({4}, {1, 1, 2, 0.5f});
  Tensor out = Tensor::zeros({1, 4}, DType::kF32);
  ref::rms_norm(out, in, weight, 0.5f, kNoPool);
  const double r = 1 / std::sqrt(8.0);
  EXPECT_TRUE(close_to(values_of(out), {float(r), float(2 * r), float(6 * r), float(2 * r)}, 0, 1e-7));
}

TEST(RefRmsNorm, NormalisesEachRowOnItsOwn) {
  const Tensor in = from_values({2, 2}, {3, 4, -1, 1});
  const Tensor weight = from_values({2}, {1, 2}, DType::kBF16);
  Tensor out = Tensor::zeros({2, 2}, DType::kF32);
  ref::rms_norm(out, in, weight, 0.0f, kNoPool);
  const double r = 1 / std::sqrt(12.5);  // row 0: (9 + 16) / 2
  EXPECT_TRUE(close_to(values_of(out), {float(3 * r), float(8 * r), -1, 2}, 0, 1e-7));
}

TEST(RefAddRmsNorm, AddsIntoResidualThenNormalises) {
  Tensor residual = from_values({1, 4}, {3, 0, 1, 1});
  const Tensor x = from_values({1, 4}, {-2, 2, 2, 3});
  const Tensor weight = from_values({4}, {1, 1, 2, 0.5f});
  Tensor out = Tensor::zeros({1, 4}, DType::kF32);
  ref::add_rms_norm(out, residual, x, weight, 0.5f, kNoPool);
  EXPECT_EQ(values_of(residual), (std::vector<float>{1, 2, 3, 4}));
  const double r = 1 / std::sqrt(8.0);
  EXPECT_TRUE(close_to(values_of(out), {float(r), float(2 * r), float(6 * r), float(2 * r)}, 0, 1e-7));
}

TEST(RefHeadRmsNorm, NormalisesEachHeadSeparately) {
  Tensor x = from_values({1, 2, 2}, {3, 4, 1, -1});
  const Tensor weight = from_values({2}, {1, 2});
  ref::head_rms_norm(x, weight, 0.0f, kNoPool);
  const double r = 1 / std::sqrt(12.5);
  EXPECT_TRUE(close_to(values_of(x), {float(3 * r), float(8 * r), 1, -2}, 0, 1e-7));
}

TEST(RefLinear, MatchesAHandProductForEveryWeightDtype) {
  const Tensor in = from_values({2, 3}, {1, 2, 3, -1, 0, 2});
  const Tensor bias = from_values({2}, {0.5f, -1});
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const Tensor weight = from_values({2, 3}, {1, 0, -1, 2, 1, 0.5f}, dtype);  // exact in all three
    Tensor out = Tensor::zeros({2, 2}, DType::kF32);
    ref::linear(out, in, weight, &bias, kNoPool);
    EXPECT_EQ(values_of(out), (std::vector<float>{-1.5f, 4.5f, -2.5f, -2.0f})) << dtype_name(dtype);
    ref::linear(out, in, weight, nullptr, kNoPool);
    EXPECT_EQ(values_of(out), (std::vector<float>{-2.0f, 5.5f, -3.0f, -1.0f})) << dtype_name(dtype);
  }
}

TEST(RefRope, PositionZeroIsTheIdentity) {
  Tensor x = random_tensor({3, 2, 8}, DType::kF32, 11);
  const Tensor original = clone(x);
  const Tensor inv_freq = from_values({4}, {1.0f, 0.1f, 0.01f, 0.001f});
  const std::vector<int32_t> positions{0, 0, 0};
  ref::rope(x, positions, inv_freq, 1.0f, kNoPool);
  EXPECT_EQ(values_of(x), values_of(original));
}

TEST(RefRope, RotatesTheTwoHalvesAsPairs) {
  // head_dim 4: pairs (x0, x2) at frequency 1 and (x1, x3) at frequency 0.5; position 3.
  Tensor x = from_values({1, 1, 4}, {1, 2, 0, -1});
  const Tensor inv_freq = from_values({2}, {1.0f, 0.5f});
  const std::vector<int32_t> positions{3};
  ref::rope(x, positions, inv_freq, 1.0f, kNoPool);
  const double c3 = std::cos(3.0), s3 = std::sin(3.0), c15 = std::cos(1.5), s15 = std::sin(1.5);
  EXPECT_TRUE(close_to(
      values_of(x),
      {float(1 * c3 - 0 * s3), float(2 * c15 + 1 * s15), float(0 * c3 + 1 * s3), float(-1 * c15 + 2 * s15)},
      1e-7, 1e-7));
}

TEST(RefRope, PreservesNormsAndScalesThemByAttentionScaling) {
  Tensor x = random_tensor({4, 3, 16}, DType::kF32, 12);
  const Tensor original = clone(x);
  const Tensor inv_freq = random_tensor({8}, DType::kF32, 13, 0.001f, 1.0f);
  const std::vector<int32_t> positions{1, 17, 300, 40000};
  ref::rope(x, positions, inv_freq, 1.25f, kNoPool);
  const std::vector<float> before = values_of(original);
  const std::vector<float> after = values_of(x);
  for (size_t head = 0; head < 12; ++head) {
    double norm_before = 0, norm_after = 0;
    for (size_t d = 0; d < 16; ++d) {
      norm_before += before[head * 16 + d] * double(before[head * 16 + d]);
      norm_after += after[head * 16 + d] * double(after[head * 16 + d]);
    }
    EXPECT_NEAR(std::sqrt(norm_after), 1.25 * std::sqrt(norm_before), 1e-6 * std::sqrt(norm_before)) << head;
  }
}

TEST(RefRope, RotationsCompose) {
  // With dyadic frequencies the f32 angles are exact, so rotating by 5 then by 7 equals 12.
  Tensor twice = random_tensor({1, 2, 8}, DType::kF32, 14);
  Tensor once = clone(twice);
  const Tensor inv_freq = from_values({4}, {1.0f, 0.5f, 0.25f, 0.125f});
  ref::rope(twice, std::vector<int32_t>{5}, inv_freq, 1.0f, kNoPool);
  ref::rope(twice, std::vector<int32_t>{7}, inv_freq, 1.0f, kNoPool);
  ref::rope(once, std::vector<int32_t>{12}, inv_freq, 1.0f, kNoPool);
  EXPECT_TRUE(close_to(values_of(twice), values_of(once), 1e-6, 0));
}

// Caches of `num_blocks` blocks of block_size 2, one kv head, head_dim 2.
struct TinyCache {
  Tensor k = Tensor::zeros({4, 2, 1, 2}, DType::kF32);
  Tensor v = Tensor::zeros({4, 2, 1, 2}, DType::kF32);
  void write(int32_t slot, std::vector<float> key, std::vector<float> value) {
    ref::kv_cache_write(k, v, from_values({1, 1, 2}, key), from_values({1, 1, 2}, value),
                        std::vector<int32_t>{slot}, kNoPool);
  }
};

TEST(RefKvCacheWrite, WritesRowsToTheirSlotsAndSkipsMinusOne) {
  Tensor k_cache = Tensor::zeros({2, 2, 1, 2}, DType::kF32);
  Tensor v_cache = Tensor::zeros({2, 2, 1, 2}, DType::kF32);
  const Tensor k = from_values({3, 1, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor v = from_values({3, 1, 2}, {-1, -2, -3, -4, -5, -6});
  ref::kv_cache_write(k_cache, v_cache, k, v, std::vector<int32_t>{3, -1, 0}, kNoPool);
  EXPECT_EQ(values_of(k_cache), (std::vector<float>{5, 6, 0, 0, 0, 0, 1, 2}));
  EXPECT_EQ(values_of(v_cache), (std::vector<float>{-5, -6, 0, 0, 0, 0, -1, -2}));
}

TEST(RefPagedAttention, ASingleKeyReturnsItsValue) {
  TinyCache cache;
  cache.write(6, {0.3f, -2}, {7, -8});  // block 3, offset 0
  const Tensor q = from_values({1, 1, 2}, {5, 1});
  Tensor out = Tensor::zeros({1, 1, 2}, DType::kF32);
  const std::vector<int32_t> table{3};
  const std::vector<ops::AttentionSeq> seqs{{0, 1, 1, table}};
  ref::paged_attention(out, q, cache.k, cache.v, seqs, 0.7f, kNoPool);
  EXPECT_EQ(values_of(out), (std::vector<float>{7, -8}));
}

TEST(RefPagedAttention, WeighsValuesBySoftmaxThroughTheBlockTable) {
  // Scores (scale 1): q·k0 = 0 and q·k1 = ln 3, so the weights are 1/4 and 3/4. Position 0 is
  // block 2 offset 0 (slot 4) and position 1 is block 2 offset 1 (slot 5).
  TinyCache cache;
  cache.write(4, {0, 5}, {4, 8});
  cache.write(5, {float(std::log(3.0)), 0}, {-4, 0});
  const Tensor q = from_values({1, 1, 2}, {1, 0});
  Tensor out = Tensor::zeros({1, 1, 2}, DType::kF32);
  const std::vector<int32_t> table{2};
  const std::vector<ops::AttentionSeq> seqs{{0, 1, 2, table}};
  ref::paged_attention(out, q, cache.k, cache.v, seqs, 1.0f, kNoPool);
  EXPECT_TRUE(close_to(values_of(out), {0.25f * 4 + 0.75f * -4, 0.25f * 8}, 1e-6, 1e-6));
}

TEST(RefPagedAttention, IsCausalAndSharesKvHeadsAcrossAGroup) {
  // Two query rows of one sequence (context 3, so rows sit at positions 1 and 2), two query
  // heads over one kv head. Block table [1, 0]: positions 0,1 in block 1, position 2 in block 0.
  TinyCache cache;
  cache.write(2, {0, 0}, {1, 1});
  cache.write(3, {0, 0}, {3, 5});
  cache.write(0, {100, 0}, {-9, 9});
  const Tensor q = from_values({2, 2, 2}, {1, 0, 1, 0, 1, 0, 0, 0});
  Tensor out = Tensor::zeros({2, 2, 2}, DType::kF32);
  const std::vector<int32_t> table{1, 0};
  const std::vector<ops::AttentionSeq> seqs{{0, 2, 3, table}};
  ref::paged_attention(out, q, cache.k, cache.v, seqs, 1.0f, kNoPool);
  // Row 0 sees positions 0 and 1 with equal scores: the mean of their values, for both heads.
  // Row 1, head 0 sees position 2's score of 100: its value. Head 1 (q = 0) averages all three.
  const std::vector<float> expected{2, 3, 2, 3, -9, 9, -5.0f / 3, 5};
  EXPECT_TRUE(close_to(values_of(out), expected, 1e-6, 1e-6));
}

TEST(RefEmbedding, GathersRowsInAnyDtype) {
  for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const Tensor table = from_values({3, 2}, {1, 2, 3, 4, 5, 6}, dtype);
    Tensor out = Tensor::zeros({4, 2}, DType::kF32);
    ref::embedding(out, table, std::vector<int32_t>{2, 0, 0, 1}, kNoPool);
    EXPECT_EQ(values_of(out), (std::vector<float>{5, 6, 1, 2, 1, 2, 3, 4})) << dtype_name(dtype);
  }
}

TEST(RefSiluMul, MatchesHandComputedValues) {
  const Tensor gate = from_values({1, 3}, {0, 1, -2});
  const Tensor up = from_values({1, 3}, {5, 2, 1});
  Tensor out = Tensor::zeros({1, 3}, DType::kF32);
  ref::silu_mul(out, gate, up, kNoPool);
  // silu(1)·2 = 2 / (1 + e⁻¹); silu(−2) = −2 / (1 + e²).
  EXPECT_TRUE(close_to(values_of(out), {0, 1.4621171572600098f, -0.2384058440442351f}, 0, 1e-7));
}

// linear and paged_attention split their outputs over a pool when given one: every output must
// be the one the calling thread alone computes (a chunk missed or computed twice would differ).
TEST(RefOverAPool, GivesTheNumbersOfOneThread) {
  ThreadPool pool(3);
  const ops::Context threaded{&pool};
  const Tensor in = random_tensor({7, 33}, DType::kF32, 21);
  const Tensor weight = random_tensor({19, 33}, DType::kBF16, 22);
  const Tensor bias = random_tensor({19}, DType::kF32, 23);
  Tensor alone = Tensor::zeros({7, 19}, DType::kF32);
  Tensor shared = Tensor::zeros({7, 19}, DType::kF32);
  ref::linear(alone, in, weight, &bias, kNoPool);
  ref::linear(shared, in, weight, &bias, threaded);
  EXPECT_EQ(values_of(shared), values_of(alone));

  // Two sequences over 5 blocks of 4 slots, 2 kv heads of 8 dims, 6 query heads: one prefill
  // chunk of 3 rows after 5 cached positions and one decode row at position 9.
  const Tensor k_cache = random_tensor({5, 4, 2, 8}, DType::kF32, 24);
  const Tensor v_cache = random_tensor({5, 4, 2, 8}, DType::kF32, 25);
  const Tensor q = random_tensor({4, 6, 8}, DType::kF32, 26);
  const std::vector<int32_t> first_table{4, 1}, second_table{0, 3, 2};
  const std::vector<ops::AttentionSeq> seqs{{0, 3, 8, first_table}, {3, 1, 10, second_table}};
  Tensor attention_alone = Tensor::zeros({4, 6, 8}, DType::kF32);
  Tensor attention_shared = Tensor::zeros({4, 6, 8}, DType::kF32);
  ref::paged_attention(attention_alone, q, k_cache, v_cache, seqs, 0.35f, kNoPool);
  ref::paged_attention(attention_shared, q, k_cache, v_cache, seqs, 0.35f, threaded);
  EXPECT_EQ(values_of(attention_shared), values_of(attention_alone));
  EXPECT_NE(values_of(attention_alone), std::vector<float>(4 * 6 * 8, 0.0f));
}

}  // namespace
}  // namespace hanlin::test
