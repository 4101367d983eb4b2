// ops:: refuses what its kernels cannot trust: mismatched shapes and dtypes (kInternal, with the
// op and shapes named), token ids outside the vocabulary (kInvalidArgument), out-of-range slots
// and blocks, and GPU tensors in a build without CUDA (kUnsupported).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernel_test_util.h"

namespace hanlin::test {
namespace {

using ::testing::HasSubstr;

// Runs `call` and returns the Error it throws; fails the test when it throws nothing.
Error thrown_by(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "no hanlin::Error thrown";
  return Error(ErrorKind::kInternal, "");
}

const ops::Context kNoPool{};

TEST(OpsChecks, LinearNamesTheOpAndShapesOnAMismatchedK) {
  const Tensor in = random_tensor({3, 10}, DType::kF32, 1);
  const Tensor weight = random_tensor({4, 12}, DType::kBF16, 2);
  Tensor out = Tensor::zeros({3, 4}, DType::kF32);
  const Error error = thrown_by([&] { ops::linear(out, in, weight, nullptr, kNoPool); });
  EXPECT_EQ(error.kind(), ErrorKind::kInternal);
  EXPECT_THAT(error.what(), HasSubstr("ops::linear"));
  EXPECT_THAT(error.what(), HasSubstr("[3, 10]"));
  EXPECT_THAT(error.what(), HasSubstr("[4, 12]"));
}

TEST(OpsChecks, LinearRejectsWrongOutputBiasAndDtypes) {
  const Tensor in = random_tensor({3, 10}, DType::kF32, 1);
  const Tensor weight = random_tensor({4, 10}, DType::kBF16, 2);
  Tensor wrong_out = Tensor::zeros({3, 5}, DType::kF32);
  EXPECT_EQ(thrown_by([&] { ops::linear(wrong_out, in, weight, nullptr, kNoPool); }).kind(),
            ErrorKind::kInternal);
  Tensor out = Tensor::zeros({3, 4}, DType::kF32);
  const Tensor wrong_bias = random_tensor({5}, DType::kF32, 3);
  EXPECT_THAT(thrown_by([&] { ops::linear(out, in, weight, &wrong_bias, kNoPool); }).what(),
              HasSubstr("bias"));
  const Tensor int_weight = Tensor::zeros({4, 10}, DType::kI32);
  EXPECT_EQ(thrown_by([&] { ops::linear(out, in, int_weight, nullptr, kNoPool); }).kind(),
            ErrorKind::kInternal);
  const Tensor bf16_in = random_tensor({3, 10}, DType::kBF16, 4);
  EXPECT_EQ(thrown_by([&] { ops::linear(out, bf16_in, weight, nullptr, kNoPool); }).kind(),
            ErrorKind::kInternal);
}

TEST(OpsChecks, EmbeddingRejectsIdsOutsideTheVocabularyAsBadInput) {
  const Tensor table = random_tensor({5, 4}, DType::kBF16, 5);
  Tensor out = Tensor::zeros({2, 4}, DType::kF32);
  for (const int32_t bad_id : {5, -1}) {
    const std::vector<int32_t> ids{0, bad_id};
    const Error error = thrown_by([&] { ops::embedding(out, table, ids, kNoPool); });
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
    EXPECT_THAT(error.what(), HasSubstr(std::to_string(bad_id)));
  }
  const std::vector<int32_t> three_ids{0, 1, 2};
  EXPECT_EQ(thrown_by([&] { ops::embedding(out, table, three_ids, kNoPool); }).kind(), ErrorKind::kInternal);
}

TEST(OpsChecks, NormsRejectMismatchedWidths) {
  const Tensor in = random_tensor({2, 8}, DType::kF32, 6);
  const Tensor weight = random_tensor({7}, DType::kF32, 7);
  Tensor out = Tensor::zeros({2, 8}, DType::kF32);
  EXPECT_THAT(thrown_by([&] { ops::rms_norm(out, in, weight, 1e-6f, kNoPool); }).what(),
              HasSubstr("ops::rms_norm"));
  Tensor residual = random_tensor({2, 8}, DType::kF32, 8);
  const Tensor weight8 = random_tensor({8}, DType::kF32, 9);
  const Tensor short_x = random_tensor({1, 8}, DType::kF32, 10);
  EXPECT_EQ(thrown_by([&] { ops::add_rms_norm(out, residual, short_x, weight8, 1e-6f, kNoPool); }).kind(),
            ErrorKind::kInternal);
  EXPECT_THAT(thrown_by([&] { ops::add_rms_norm(residual, residual, in, weight8, 1e-6f, kNoPool); }).what(),
              HasSubstr("alias"));
  Tensor heads = random_tensor({2, 2, 4}, DType::kF32, 11);
  EXPECT_EQ(thrown_by([&] { ops::head_rms_norm(heads, weight8, 1e-6f, kNoPool); }).kind(),
            ErrorKind::kInternal);
}

TEST(OpsChecks, RopeRejectsWrongPositionsAndFrequencies) {
  Tensor x = random_tensor({2, 3, 8}, DType::kF32, 12);
  const Tensor inv_freq = random_tensor({4}, DType::kF32, 13);
  const std::vector<int32_t> one_position{0};
  EXPECT_EQ(thrown_by([&] { ops::rope(x, one_position, inv_freq, 1.0f, kNoPool); }).kind(),
            ErrorKind::kInternal);
  const Tensor wrong_freq = random_tensor({8}, DType::kF32, 14);
  const std::vector<int32_t> positions{0, 1};
  EXPECT_EQ(thrown_by([&] { ops::rope(x, positions, wrong_freq, 1.0f, kNoPool); }).kind(),
            ErrorKind::kInternal);
}

TEST(OpsChecks, KvCacheWriteRejectsSlotsOutsideTheCache) {
  Tensor k_cache = Tensor::zeros({2, 16, 1, 8}, DType::kF32);
  Tensor v_cache = Tensor::zeros({2, 16, 1, 8}, DType::kF32);
  const Tensor k = random_tensor({2, 1, 8}, DType::kF32, 15);
  for (const int32_t bad_slot : {32, -2}) {
    const std::vector<int32_t> slots{0, bad_slot};
    const Error error = thrown_by([&] { ops::kv_cache_write(k_cache, v_cache, k, k, slots, kNoPool); });
    EXPECT_EQ(error.kind(), ErrorKind::kInternal);
    EXPECT_THAT(error.what(), HasSubstr(std::to_string(bad_slot)));
  }
}

TEST(OpsChecks, PagedAttentionRejectsBadSequences) {
  const Tensor k_cache = random_tensor({3, 16, 2, 8}, DType::kF32, 16);
  const Tensor q = random_tensor({4, 4, 8}, DType::kF32, 17);
  Tensor out = Tensor::zeros({4, 4, 8}, DType::kF32);
  const std::vector<int32_t> table{2, 0};
  const std::vector<int32_t> bad_table{2, 3};
  const auto run = [&](ops::AttentionSeq seq) {
    return thrown_by([&] { ops::paged_attention(out, q, k_cache, k_cache, {&seq, 1}, 1.0f, kNoPool); });
  };
  EXPECT_THAT(run({2, 3, 20, table}).what(), HasSubstr("query rows outside q"));
  EXPECT_THAT(run({0, 4, 3, table}).what(), HasSubstr("q_len exceeds context_len"));
  EXPECT_THAT(run({0, 1, 33, table}).what(), HasSubstr("needs 3"));
  EXPECT_THAT(run({0, 1, 20, bad_table}).what(), HasSubstr("block 3"));
  const Tensor q_odd_heads = random_tensor({4, 3, 8}, DType::kF32, 18);
  Tensor out_odd = Tensor::zeros({4, 3, 8}, DType::kF32);
  const ops::AttentionSeq seq{0, 1, 1, table};
  EXPECT_EQ(thrown_by([&] {
              ops::paged_attention(out_odd, q_odd_heads, k_cache, k_cache, {&seq, 1}, 1.0f, kNoPool);
            }).kind(),
            ErrorKind::kInternal);
}

TEST(OpsChecks, SiluMulRejectsMismatchedShapes) {
  const Tensor gate = random_tensor({2, 8}, DType::kF32, 19);
  const Tensor up = random_tensor({2, 7}, DType::kF32, 20);
  Tensor out = Tensor::zeros({2, 8}, DType::kF32);
  EXPECT_EQ(thrown_by([&] { ops::silu_mul(out, gate, up, kNoPool); }).kind(), ErrorKind::kInternal);
}

TEST(OpsChecks, GpuTensorsAreUnsupportedWithoutTheCudaBackend) {
  float storage[16] = {};
  Tensor gpu_in = Tensor::borrow(storage, {2, 8}, DType::kF32, {}, Device::kCuda);
  Tensor gpu_out = Tensor::borrow(storage, {2, 8}, DType::kF32, {}, Device::kCuda);
  const Tensor gpu_weight = Tensor::borrow(storage, {8}, DType::kF32, {}, Device::kCuda);
  const Error error = thrown_by([&] { ops::rms_norm(gpu_out, gpu_in, gpu_weight, 1e-6f, kNoPool); });
  EXPECT_EQ(error.kind(), ErrorKind::kUnsupported);
  EXPECT_THAT(error.what(), HasSubstr("CUDA"));
  // Mixing devices is a bug, not a missing feature.
  const Tensor cpu_weight = random_tensor({8}, DType::kF32, 21);
  EXPECT_EQ(thrown_by([&] { ops::rms_norm(gpu_out, gpu_in, cpu_weight, 1e-6f, kNoPool); }).kind(),
            ErrorKind::kInternal);
}

TEST(OpsChecks, EmptyBatchesAreFine) {
  const Tensor in = Tensor::zeros({0, 16}, DType::kF32);
  const Tensor weight = random_tensor({8, 16}, DType::kBF16, 22);
  Tensor out = Tensor::zeros({0, 8}, DType::kF32);
  EXPECT_NO_THROW(ops::linear(out, in, weight, nullptr, kNoPool));
  const Tensor norm_weight = random_tensor({16}, DType::kF32, 23);
  Tensor norm_out = Tensor::zeros({0, 16}, DType::kF32);
  EXPECT_NO_THROW(ops::rms_norm(norm_out, in, norm_weight, 1e-6f, kNoPool));
}

}  // namespace
}  // namespace hanlin::test
