// cuda::linear and cuda::gated_linear over a pre-norm layer's input (cuda::PreNorm): the norm folded
// into the decode kernel at one or two token rows, run on its own (cuda::pre_norm) beyond. Checked
// - bit for bit against the unfused ops, cuda::add_rms_norm (or rms_norm) then cuda::linear or
//   gated_linear, which their own tests hold to kernels/ref: the folded norm must sum in their
//   order;
// - residual_out exactly against ref's sum rounded to bf16, and untouched without a delta;
// - out against ref::add_rms_norm then ref::linear, within linear's tolerance plus the effect of
//   rounding the normalized rows to bf16;
// - the launcher's checks: residual_out overlapping its inputs, shapes that disagree.
// Widths: one 16-byte piece (K = 8), a partial warp of pieces (1000), Qwen3-8B's 4096 and
// Qwen3-14B's 5120, and 9000, whose 1125 pieces are more than rms_norm's 1024 threads a row (at one
// token row; at two, its rows and scales pass the fused form's shared-memory bound, and the unfused
// ops run).
#ifdef HANLIN_HAS_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::test {
namespace {

constexpr float kEps = 1e-6f;
const std::vector<int64_t> kWidths = {8, 1000, 4096, 5120, 9000};
const std::vector<int64_t> kTokenCounts = {1, 2, 3, 9};  // 1 and 2 fold the norm in

// Host inputs of one case: residual, delta and the norm's weight, bf16.
struct Inputs {
  Tensor residual;
  Tensor delta;
  Tensor norm_weight;
};

Inputs make_inputs(int64_t num_tokens, int64_t width, uint32_t seed) {
  return {random_tensor({num_tokens, width}, DType::kBF16, seed, -2.0f, 2.0f),
          random_tensor({num_tokens, width}, DType::kBF16, seed + 1, -2.0f, 2.0f),
          random_tensor({width}, DType::kBF16, seed + 2, -1.5f, 1.5f)};
}

Tensor as_f32(const Tensor& host) { return from_values(host.shape(), values_of(host)); }

std::vector<float> device_values(const Tensor& device) { return values_of(cuda::to_host(device)); }

// The device side of a case: its PreNorm, with residual_out and normed starting as noise.
struct DeviceCase {
  Tensor residual, delta, residual_out, norm_weight, normed;
  cuda::PreNorm pre_norm(bool with_delta) const {
    return {.residual = residual,
            .delta = with_delta ? &delta : nullptr,
            .residual_out = residual_out,
            .weight = norm_weight,
            .eps = kEps,
            .normed = normed};
  }
};

DeviceCase to_device(const Inputs& inputs, uint32_t seed) {
  const Shape shape = inputs.residual.shape();
  return {cuda::to_device(inputs.residual), cuda::to_device(inputs.delta),
          cuda::to_device(random_tensor(shape, DType::kBF16, seed + 3)), cuda::to_device(inputs.norm_weight),
          cuda::to_device(random_tensor(shape, DType::kBF16, seed + 4))};
}

// The unfused ops on fresh device copies: (out, the residual sum) as add_rms_norm / rms_norm and
// then `product` (a linear or gated_linear over the normed rows) leave them.
std::pair<std::vector<float>, std::vector<float>> unfused(const Inputs& inputs, bool with_delta,
                                                          const std::function<Tensor(const Tensor&)>& product) {
  Tensor residual = cuda::to_device(inputs.residual);
  Tensor normed = cuda::device_zeros(inputs.residual.shape(), DType::kBF16);
  const Tensor weight = cuda::to_device(inputs.norm_weight);
  if (with_delta) {
    cuda::add_rms_norm(normed, residual, cuda::to_device(inputs.delta), weight, kEps, nullptr);
  } else {
    cuda::rms_norm(normed, residual, weight, kEps, nullptr);
  }
  return {device_values(product(normed)), device_values(residual)};
}

// ref's residual sum rounded to bf16 (f32 [T, K]) and its normalized rows, unrounded (f32 [T, K]).
std::pair<Tensor, Tensor> ref_norm(const Inputs& inputs, bool with_delta) {
  Tensor summed = as_f32(inputs.residual);
  Tensor normed = Tensor::zeros(summed.shape(), DType::kF32);
  if (with_delta) {
    Tensor unused = Tensor::zeros(summed.shape(), DType::kF32);
    ref::add_rms_norm(unused, summed, as_f32(inputs.delta), as_f32(inputs.norm_weight), kEps, {});
    summed = from_values(summed.shape(), values_of(summed), DType::kBF16);
    summed = as_f32(summed);
  }
  ref::rms_norm(normed, summed, as_f32(inputs.norm_weight), kEps, {});
  return {summed, normed};
}

// Allowed |out − ref| for out[t, n] = Σ_k x[t, k] · w[n, k] (+ bias[n]), where the kernel's x is
// ref's unrounded normalized row rounded to bf16: at most half an ulp, 2⁻⁸ of |x| (bf16 keeps 8
// significant bits), plus f32 noise, so the products move by (2⁻⁸ + 2⁻²⁰)·Σ_k |x w| at most. Then
// linear's own terms (cuda_linear_test explains them): 2⁻⁸·|ref| for the output's rounding,
// 2⁻⁸·|ref − bias| for cuBLASLt's epilogue, which rounds before adding a bias (from three rows),
// and 8·sqrt(K)·u·Σ_k |x w| for the f32 accumulation.
std::vector<double> tolerance(const Tensor& normed, const Tensor& weight, const Tensor* bias,
                              const std::vector<float>& expected) {
  const int64_t rows = normed.dim(0);
  const int64_t width = normed.dim(1);
  const int64_t outputs = weight.dim(0);
  const double accumulation = 8 * std::sqrt(static_cast<double>(width)) * kF32Epsilon;
  std::vector<double> allowed(static_cast<size_t>(rows * outputs));
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t n = 0; n < outputs; ++n) {
      double magnitude = 0;
      for (int64_t k = 0; k < width; ++k) {
        magnitude += std::fabs(static_cast<double>(normed.data<float>()[t * width + k]) *
                               ref::element_as_f32(weight, n * width + k));
      }
      const auto i = static_cast<size_t>(t * outputs + n);
      const double product = bias ? expected[i] - ref::element_as_f32(*bias, n) : 0.0;
      allowed[i] = (0x1p-8 + 0x1p-20 + accumulation) * magnitude +
                   0x1p-8 * (std::fabs(expected[i]) + std::fabs(product));
    }
  }
  return allowed;
}

void report(const std::string& label, const ::testing::AssertionResult& result) {
  std::printf("  %s: %s\n", label.c_str(), result.message());
  EXPECT_TRUE(result) << label;
}

std::string case_label(const char* op, int64_t num_tokens, int64_t outputs, int64_t width, bool with_delta,
                       bool with_bias) {
  return std::string(op) + " T " + std::to_string(num_tokens) + ", N " + std::to_string(outputs) + ", K " +
         std::to_string(width) + (with_delta ? ", delta" : ", no delta") + (with_bias ? ", bias" : "");
}

TEST(CudaPreNorm, LinearMatchesTheUnfusedOpsAndTheReference) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  constexpr int64_t kOutputs = 1030;
  for (const int64_t width : kWidths) {
    const auto seed = static_cast<uint32_t>(width * 17);
    const Tensor weight = random_tensor({kOutputs, width}, DType::kBF16, seed);
    const Tensor bias = random_tensor({kOutputs}, DType::kBF16, seed + 1);
    const Tensor device_weight = cuda::to_device(weight);
    const Tensor device_bias = cuda::to_device(bias);
    for (const int64_t num_tokens : kTokenCounts) {
      const Inputs inputs = make_inputs(num_tokens, width, seed + static_cast<uint32_t>(num_tokens) * 101);
      for (const bool with_delta : {true, false}) {
        const bool with_bias = with_delta;  // each form once, to keep the reference's time down
        const Tensor* device_bias_or_null = with_bias ? &device_bias : nullptr;
        const std::string label = case_label("linear", num_tokens, kOutputs, width, with_delta, with_bias);
        DeviceCase device = to_device(inputs, seed);
        const std::vector<float> start_residual_out = device_values(device.residual_out);
        Tensor out = cuda::device_zeros({num_tokens, kOutputs}, DType::kBF16);
        cuda::linear(out, device.pre_norm(with_delta), device_weight, device_bias_or_null, nullptr);
        const std::vector<float> fused = device_values(out);

        const auto [unfused_out, unfused_residual] = unfused(inputs, with_delta, [&](const Tensor& normed) {
          Tensor product = cuda::device_zeros({num_tokens, kOutputs}, DType::kBF16);
          cuda::linear(product, normed, device_weight, device_bias_or_null, nullptr);
          return product;
        });
        EXPECT_EQ(fused, unfused_out) << label << ": out differs from add_rms_norm then linear";
        const auto [summed, normed] = ref_norm(inputs, with_delta);
        if (with_delta) {
          EXPECT_EQ(device_values(device.residual_out), unfused_residual) << label << ": residual_out";
          EXPECT_EQ(device_values(device.residual_out), values_of(summed)) << label << ": residual_out against ref";
        } else {
          EXPECT_EQ(device_values(device.residual_out), start_residual_out) << label << ": residual_out was written";
        }
        EXPECT_EQ(device_values(device.residual), values_of(inputs.residual)) << label << ": residual was written";

        Tensor expected = Tensor::zeros({num_tokens, kOutputs}, DType::kF32);
        ref::linear(expected, normed, weight, with_bias ? &bias : nullptr, reference_context());
        const std::vector<float> expected_values = values_of(expected);
        report(label, within(fused, expected_values,
                             tolerance(normed, weight, with_bias ? &bias : nullptr, expected_values)));
      }
    }
  }
}

TEST(CudaPreNorm, GatedLinearMatchesTheUnfusedOps) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  constexpr int64_t kGatedWidth = 517;  // I: the gate_up rows 2I
  for (const int64_t width : kWidths) {
    const auto seed = static_cast<uint32_t>(width * 29);
    const Tensor device_gate_up = cuda::to_device(random_tensor({2 * kGatedWidth, width}, DType::kBF16, seed));
    for (const int64_t num_tokens : kTokenCounts) {
      const Inputs inputs = make_inputs(num_tokens, width, seed + static_cast<uint32_t>(num_tokens) * 103);
      for (const bool with_delta : {true, false}) {
        const std::string label = case_label("gated_linear", num_tokens, kGatedWidth, width, with_delta, false);
        DeviceCase device = to_device(inputs, seed);
        Tensor scratch = cuda::device_zeros({num_tokens, 2 * kGatedWidth}, DType::kBF16);
        Tensor out = cuda::device_zeros({num_tokens, kGatedWidth}, DType::kBF16);
        cuda::gated_linear(out, device.pre_norm(with_delta), device_gate_up, scratch, nullptr);

        const auto [unfused_out, unfused_residual] = unfused(inputs, with_delta, [&](const Tensor& normed) {
          Tensor product = cuda::device_zeros({num_tokens, kGatedWidth}, DType::kBF16);
          cuda::gated_linear(product, normed, device_gate_up, scratch, nullptr);
          return product;
        });
        EXPECT_EQ(device_values(out), unfused_out) << label << ": out differs from add_rms_norm then gated_linear";
        if (with_delta) {
          EXPECT_EQ(device_values(device.residual_out), unfused_residual) << label << ": residual_out";
        }
      }
    }
  }
}

TEST(CudaPreNorm, RejectsOverlapsAndMismatchedShapes) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const DeviceCase device = to_device(make_inputs(2, 64, 5), 5);
  const Tensor weight = cuda::device_zeros({32, 64}, DType::kBF16);
  Tensor out = cuda::device_zeros({2, 32}, DType::kBF16);
  EXPECT_NO_THROW(cuda::linear(out, device.pre_norm(true), weight, nullptr, nullptr));  // the baseline is valid

  cuda::PreNorm in_place = device.pre_norm(true);
  in_place.residual_out = device.residual;
  expect_internal_error("residual_out is residual", [&] { cuda::linear(out, in_place, weight, nullptr, nullptr); });
  cuda::PreNorm onto_delta = device.pre_norm(true);
  onto_delta.residual_out = device.delta;
  expect_internal_error("residual_out is delta", [&] { cuda::linear(out, onto_delta, weight, nullptr, nullptr); });
  const Tensor short_delta = cuda::device_zeros({1, 64}, DType::kBF16);
  cuda::PreNorm wrong_delta = device.pre_norm(true);
  wrong_delta.delta = &short_delta;
  expect_internal_error("delta of another shape", [&] { cuda::linear(out, wrong_delta, weight, nullptr, nullptr); });
  cuda::PreNorm wrong_norm = device.pre_norm(false);
  wrong_norm.weight = cuda::device_zeros({63}, DType::kBF16);
  expect_internal_error("norm weight of another width",
                        [&] { cuda::linear(out, wrong_norm, weight, nullptr, nullptr); });
  const Tensor narrow_weight = cuda::device_zeros({32, 48}, DType::kBF16);
  expect_internal_error("product's K not the norm's width",
                        [&] { cuda::linear(out, device.pre_norm(true), narrow_weight, nullptr, nullptr); });
  Tensor scratch = cuda::device_zeros({2, 64}, DType::kBF16);
  const Tensor gate_up = cuda::device_zeros({64, 64}, DType::kBF16);
  Tensor gated_out = cuda::device_zeros({2, 32}, DType::kBF16);
  expect_internal_error("gated: residual_out is residual",
                        [&] { cuda::gated_linear(gated_out, in_place, gate_up, scratch, nullptr); });
}

}  // namespace
}  // namespace hanlin::test

#endif  // HANLIN_HAS_CUDA
