// cpu::linear (through ops::linear) against ref::linear over token counts on both sides of
// the streaming/blocked switch and of the token block, widths that are and are not multiples
// of 8 and 16, f32/bf16/f16 weights, and with and without bias.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel_test_util.h"

namespace hanlin::test {
namespace {

struct LinearCase {
  int64_t num_tokens;
  int64_t num_inputs;
  int64_t num_outputs;
};

// An f32 dot product errs by about u·Σ|partial sums| (u = 2^-24); with random-sign terms the
// partial sums stay far below Σ|in·w|, and over every case here the error is at most 4·u·Σ|in·w|
// whatever the summation order (8 lanes, one chain per output). 8·u·Σ|in·w| keeps a factor 2;
// for typical outputs that is about 1e-5 relative at K = 1024. The double-accumulated reference
// adds only its final rounding.
std::vector<double> linear_tolerance(const Tensor& in, const Tensor& weight, const Tensor* bias) {
  Tensor abs_in = clone(in);
  for (int64_t i = 0; i < abs_in.numel(); ++i) abs_in.data<float>()[i] = std::fabs(abs_in.data<float>()[i]);
  Tensor abs_weight = Tensor::zeros(weight.shape(), DType::kF32);
  for (int64_t i = 0; i < weight.numel(); ++i)
    abs_weight.data<float>()[i] = std::fabs(ref::element_as_f32(weight, i));
  Tensor magnitude = Tensor::zeros({in.dim(0), weight.dim(0)}, DType::kF32);
  ref::linear(magnitude, abs_in, abs_weight, nullptr, {});
  const double gamma = 8 * kF32Epsilon;
  std::vector<double> allowed(static_cast<size_t>(magnitude.numel()));
  for (int64_t i = 0; i < magnitude.numel(); ++i) {
    const double bias_size = bias ? std::fabs(ref::element_as_f32(*bias, i % weight.dim(0))) : 0.0;
    allowed[static_cast<size_t>(i)] = gamma * (magnitude.data<float>()[i] + bias_size);
  }
  return allowed;
}

class LinearVsRef : public CpuVsRef {
 protected:
  void check(const LinearCase& shape, DType weight_dtype, const Tensor* bias, const ops::Context& ctx) {
    const uint32_t seed =
        static_cast<uint32_t>(shape.num_tokens * 7919 + shape.num_inputs * 31 + shape.num_outputs);
    const Tensor in = random_tensor({shape.num_tokens, shape.num_inputs}, DType::kF32, seed);
    const Tensor weight = random_tensor({shape.num_outputs, shape.num_inputs}, weight_dtype, seed + 1);
    Tensor expected = Tensor::zeros({shape.num_tokens, shape.num_outputs}, DType::kF32);
    Tensor actual = random_tensor({shape.num_tokens, shape.num_outputs}, DType::kF32, seed + 2);  // not zeros
    ref::linear(expected, in, weight, bias, {});
    ops::linear(actual, in, weight, bias, ctx);
    EXPECT_TRUE(within(values_of(actual), values_of(expected), linear_tolerance(in, weight, bias)))
        << "T " << shape.num_tokens << ", K " << shape.num_inputs << ", N " << shape.num_outputs
        << ", weight " << dtype_name(weight_dtype) << (bias ? " with bias" : "");
  }
};

const std::vector<LinearCase> kCases = {
    {1, 1024, 300}, {1, 7, 5},   {2, 269, 33},   {3, 100, 17},  {4, 1024, 67}, {5, 269, 33}, {6, 64, 48},
    {7, 513, 100},  {8, 64, 64}, {13, 1000, 35}, {83, 300, 70}, {769, 67, 37}, {769, 8, 16},
};

TEST_P(LinearVsRef, MatchesReferenceForEveryWeightDtype) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  for (const LinearCase& shape : kCases) {
    for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16})
      check(shape, dtype, nullptr, threaded());
  }
}

TEST_P(LinearVsRef, AddsBiasOfAnyDtype) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  for (const LinearCase& shape : {LinearCase{1, 96, 37}, LinearCase{3, 40, 21}, LinearCase{29, 300, 50}}) {
    for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
      const Tensor bias = random_tensor({shape.num_outputs}, dtype, 99);
      check(shape, DType::kBF16, &bias, threaded());
    }
  }
}

TEST_P(LinearVsRef, RunsInlineWithoutAPool) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  for (const LinearCase& shape : {LinearCase{1, 256, 130}, LinearCase{50, 200, 45}}) {
    check(shape, DType::kBF16, nullptr, ops::Context{});
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, LinearVsRef, all_isas(), IsaName());

}  // namespace
}  // namespace hanlin::test
