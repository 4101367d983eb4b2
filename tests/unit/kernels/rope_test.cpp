// cpu rotary embedding (through ops::rope) against the reference: head dims 16, 64, 128 and one
// whose half is not a multiple of 8, positions from 0 to past 32K, YaRN-style scaling.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernel_test_util.h"

namespace hanlin::test {
namespace {

// inv_freq as transformers builds it: 1 / theta^(2i / head_dim), in f32.
Tensor qwen_inv_freq(int64_t head_dim, float theta) {
  Tensor inv_freq = Tensor::zeros({head_dim / 2}, DType::kF32);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq.data<float>()[i] = 1.0f / std::pow(theta, exponent);
  }
  return inv_freq;
}

// Each output is x1·cos ∓ x2·sin with cos and sin within one ulp (glibc cosf/sinf vs double)
// and three more roundings, so its error is below 4·u·scaling·(|x1| + |x2|) for its pair.
std::vector<double> rope_tolerance(const Tensor& x, float scaling) {
  const std::vector<float> values = values_of(x);
  const int64_t head_dim = x.dim(2);
  const int64_t half = head_dim / 2;
  std::vector<double> allowed(values.size());
  for (size_t head = 0; head < values.size() / static_cast<size_t>(head_dim); ++head) {
    for (int64_t i = 0; i < half; ++i) {
      const size_t first = head * static_cast<size_t>(head_dim) + static_cast<size_t>(i);
      const double pair = std::fabs(values[first]) + std::fabs(values[first + static_cast<size_t>(half)]);
      allowed[first] = allowed[first + static_cast<size_t>(half)] = 4 * kF32Epsilon * scaling * pair;
    }
  }
  return allowed;
}

using RopeVsRef = CpuVsRef;

TEST_P(RopeVsRef, MatchesReference) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  struct RopeCase {
    int64_t tokens, heads, head_dim;
    float scaling;
  };
  for (const RopeCase& shape :
       {RopeCase{1, 16, 128, 1.0f}, RopeCase{7, 8, 64, 1.0f}, RopeCase{83, 3, 16, 1.0f},
        RopeCase{769, 2, 128, 1.1f}, RopeCase{5125, 1, 16, 1.0f}, RopeCase{9, 5, 18, 1.0f}}) {
    const uint32_t seed = static_cast<uint32_t>(shape.tokens + shape.head_dim);
    Tensor actual = random_tensor({shape.tokens, shape.heads, shape.head_dim}, DType::kF32, seed);
    Tensor expected = clone(actual);
    const std::vector<double> allowed = rope_tolerance(actual, shape.scaling);
    std::mt19937 generator(seed);
    std::vector<int32_t> positions(static_cast<size_t>(shape.tokens));
    for (int32_t& position : positions) position = static_cast<int32_t>(generator() % 40960);
    positions[0] = 0;
    const Tensor inv_freq = qwen_inv_freq(shape.head_dim, 1000000.0f);
    ref::rope(expected, positions, inv_freq, shape.scaling, {});
    ops::rope(actual, positions, inv_freq, shape.scaling, threaded());
    EXPECT_TRUE(within(values_of(actual), values_of(expected), allowed))
        << shape.tokens << " x " << shape.heads << " x " << shape.head_dim;
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, RopeVsRef, all_isas(), IsaName());

}  // namespace
}  // namespace hanlin::test
