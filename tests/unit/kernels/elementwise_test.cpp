// cpu embedding, SiLU-gated product and KV-cache write (through ops::) against the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "kernel_test_util.h"

namespace hanlin::test {
namespace {

using ElementwiseVsRef = CpuVsRef;

TEST_P(ElementwiseVsRef, EmbeddingGathersExactRows) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  struct EmbeddingCase {
    int64_t tokens, vocab, width;
  };
  for (const EmbeddingCase& shape : {EmbeddingCase{1, 50, 1024}, EmbeddingCase{7, 9, 7},
                                     EmbeddingCase{769, 300, 64}, EmbeddingCase{5125, 1000, 13}}) {
    for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
      const Tensor table = random_tensor({shape.vocab, shape.width}, dtype, 31);
      std::mt19937 generator(32);
      std::vector<int32_t> ids(static_cast<size_t>(shape.tokens));
      for (int32_t& id : ids) id = static_cast<int32_t>(generator() % static_cast<uint32_t>(shape.vocab));
      ids.back() = static_cast<int32_t>(shape.vocab - 1);
      Tensor expected = Tensor::zeros({shape.tokens, shape.width}, DType::kF32);
      Tensor actual = random_tensor({shape.tokens, shape.width}, DType::kF32, 33);
      ref::embedding(expected, table, ids, {});
      ops::embedding(actual, table, ids, threaded());
      EXPECT_TRUE(close_to(actual, expected, 0, 0)) << shape.tokens << " tokens, " << dtype_name(dtype);
    }
  }
}

TEST_P(ElementwiseVsRef, SiluMulMatchesReference) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  // silu(g)·u = g·u / (1 + e^-g): exp within 2 ulp, then an add, a divide and a multiply, so
  // about 5 u relative; 1e-6 leaves a factor 3. Gates span the range real MLPs produce.
  for (const Shape& shape : {Shape{1, 3072}, Shape{7, 13}, Shape{83, 100}, Shape{769, 64}, Shape{5125, 9}}) {
    const Tensor gate = random_tensor(shape, DType::kF32, 41, -20.0f, 20.0f);
    const Tensor up = random_tensor(shape, DType::kF32, 42, -3.0f, 3.0f);
    Tensor expected = Tensor::zeros(shape, DType::kF32);
    Tensor actual = Tensor::zeros(shape, DType::kF32);
    ref::silu_mul(expected, gate, up, {});
    ops::silu_mul(actual, gate, up, threaded());
    EXPECT_TRUE(close_to(actual, expected, 0, 1e-6)) << shape_to_string(shape);
  }
}

TEST_P(ElementwiseVsRef, KvCacheWriteFillsSlotsAndSkipsMinusOne) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  for (const int64_t tokens : {1, 7, 83, 769}) {
    const int64_t num_blocks = (tokens + 15) / 16 + 2;
    const Shape cache_shape{num_blocks, 16, 2, 64};
    Tensor expected_k = random_tensor(cache_shape, DType::kF32, 51);
    Tensor expected_v = random_tensor(cache_shape, DType::kF32, 52);
    Tensor actual_k = clone(expected_k);
    Tensor actual_v = clone(expected_v);
    const Tensor k = random_tensor({tokens, 2, 64}, DType::kF32, 53);
    const Tensor v = random_tensor({tokens, 2, 64}, DType::kF32, 54);
    std::vector<int32_t> slots(static_cast<size_t>(num_blocks * 16));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), std::mt19937(55));
    slots.resize(static_cast<size_t>(tokens));
    for (size_t t = 0; t < slots.size(); t += 3) slots[t] = -1;
    ref::kv_cache_write(expected_k, expected_v, k, v, slots, {});
    ops::kv_cache_write(actual_k, actual_v, k, v, slots, threaded());
    EXPECT_TRUE(close_to(actual_k, expected_k, 0, 0)) << tokens << " tokens";
    EXPECT_TRUE(close_to(actual_v, expected_v, 0, 0)) << tokens << " tokens";
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, ElementwiseVsRef, all_isas(), IsaName());

}  // namespace
}  // namespace hanlin::test
