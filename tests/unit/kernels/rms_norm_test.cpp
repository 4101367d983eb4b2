// cpu RMSNorm, fused add + RMSNorm and per-head RMSNorm (through ops::) against the reference,
// over row counts 1…5125, widths on and off multiples of 8, and f32/bf16/f16 weights.
#include <gtest/gtest.h>

#include <vector>

#include "kernel_test_util.h"

namespace hanlin::test {
namespace {

// The mean of H squares is summed in f32 over 8–16 partial sums, so its relative error is about
// √(H/8)·u (1.5e-6 at H = 5125), halved by the square root; four more roundings add 2.4e-7.
// Observed at most 3.1e-7; 4e-6 relative per element keeps a margin and still catches a wrong
// eps, weight or scale.
constexpr double kNormRtol = 4e-6;

struct NormCase {
  int64_t rows;
  int64_t width;
};

const std::vector<NormCase> kNormCases = {{1, 1024},  {7, 7}, {83, 100}, {769, 64}, {769, 1031},
                                          {5125, 16}, {3, 1}, {2, 5125}, {1, 3}};

using RmsNormVsRef = CpuVsRef;

TEST_P(RmsNormVsRef, MatchesReference) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  for (const NormCase& shape : kNormCases) {
    for (const DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
      const uint32_t seed = static_cast<uint32_t>(shape.rows * 131 + shape.width);
      const Tensor in = random_tensor({shape.rows, shape.width}, DType::kF32, seed, -3.0f, 3.0f);
      const Tensor weight = random_tensor({shape.width}, dtype, seed + 1, 0.5f, 1.5f);
      Tensor expected = Tensor::zeros(in.shape(), DType::kF32);
      Tensor actual = Tensor::zeros(in.shape(), DType::kF32);
      ref::rms_norm(expected, in, weight, 1e-6f, {});
      ops::rms_norm(actual, in, weight, 1e-6f, threaded());
      EXPECT_TRUE(close_to(actual, expected, 0, kNormRtol))
          << shape.rows << " x " << shape.width << " weight " << dtype_name(dtype);
    }
  }
}

TEST_P(RmsNormVsRef, WorksInPlace) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  Tensor x = random_tensor({83, 1031}, DType::kF32, 5);
  const Tensor weight = random_tensor({1031}, DType::kBF16, 6);
  Tensor expected = Tensor::zeros(x.shape(), DType::kF32);
  ref::rms_norm(expected, x, weight, 1e-5f, {});
  ops::rms_norm(x, x, weight, 1e-5f, threaded());
  EXPECT_TRUE(close_to(x, expected, 0, kNormRtol));
}

TEST_P(RmsNormVsRef, LargeEpsDominatesASmallRow) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  const Tensor in = random_tensor({7, 100}, DType::kF32, 7, -1e-3f, 1e-3f);
  const Tensor weight = random_tensor({100}, DType::kF32, 8);
  Tensor expected = Tensor::zeros(in.shape(), DType::kF32);
  Tensor actual = Tensor::zeros(in.shape(), DType::kF32);
  ref::rms_norm(expected, in, weight, 0.1f, {});
  ops::rms_norm(actual, in, weight, 0.1f, threaded());
  EXPECT_TRUE(close_to(actual, expected, 0, kNormRtol));
}

TEST_P(RmsNormVsRef, AddRmsNormUpdatesResidualAndNormalises) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  for (const NormCase& shape : kNormCases) {
    const uint32_t seed = static_cast<uint32_t>(shape.rows * 17 + shape.width);
    const Tensor residual = random_tensor({shape.rows, shape.width}, DType::kF32, seed, -2.0f, 2.0f);
    const Tensor x = random_tensor({shape.rows, shape.width}, DType::kF32, seed + 1, -2.0f, 2.0f);
    const Tensor weight = random_tensor({shape.width}, DType::kBF16, seed + 2, 0.5f, 1.5f);
    Tensor expected_residual = clone(residual);
    Tensor actual_residual = clone(residual);
    Tensor expected = Tensor::zeros(x.shape(), DType::kF32);
    Tensor actual = Tensor::zeros(x.shape(), DType::kF32);
    ref::add_rms_norm(expected, expected_residual, x, weight, 1e-6f, {});
    ops::add_rms_norm(actual, actual_residual, x, weight, 1e-6f, threaded());
    // One f32 addition each way: exactly equal.
    EXPECT_TRUE(close_to(actual_residual, expected_residual, 0, 0)) << shape.rows << " x " << shape.width;
    EXPECT_TRUE(close_to(actual, expected, 0, kNormRtol)) << shape.rows << " x " << shape.width;
  }
}

TEST_P(RmsNormVsRef, AddRmsNormMayWriteOverX) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  Tensor residual = random_tensor({7, 1024}, DType::kF32, 21);
  Tensor x = random_tensor({7, 1024}, DType::kF32, 22);
  const Tensor weight = random_tensor({1024}, DType::kF16, 23);
  Tensor expected_residual = clone(residual);
  Tensor expected = Tensor::zeros(x.shape(), DType::kF32);
  ref::add_rms_norm(expected, expected_residual, x, weight, 1e-6f, {});
  ops::add_rms_norm(x, residual, x, weight, 1e-6f, threaded());
  EXPECT_TRUE(close_to(residual, expected_residual, 0, 0));
  EXPECT_TRUE(close_to(x, expected, 0, kNormRtol));
}

TEST_P(RmsNormVsRef, HeadRmsNormNormalisesEachHead) {
  if (!isa_available()) GTEST_SKIP() << "no AVX2 on this machine";
  struct HeadCase {
    int64_t tokens, heads, head_dim;
  };
  for (const HeadCase& shape : {HeadCase{1, 16, 128}, HeadCase{7, 8, 64}, HeadCase{83, 3, 16},
                                HeadCase{769, 2, 128}, HeadCase{5, 4, 20}}) {
    const uint32_t seed = static_cast<uint32_t>(shape.tokens * 7 + shape.head_dim);
    Tensor actual =
        random_tensor({shape.tokens, shape.heads, shape.head_dim}, DType::kF32, seed, -4.0f, 4.0f);
    Tensor expected = clone(actual);
    const Tensor weight = random_tensor({shape.head_dim}, DType::kBF16, seed + 1, 0.5f, 1.5f);
    ref::head_rms_norm(expected, weight, 1e-6f, {});
    ops::head_rms_norm(actual, weight, 1e-6f, threaded());
    EXPECT_TRUE(close_to(actual, expected, 0, kNormRtol))
        << shape.tokens << " x " << shape.heads << " x " << shape.head_dim;
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, RmsNormVsRef, all_isas(), IsaName());

}  // namespace
}  // namespace hanlin::test
