// cuda::linear (our kernel for one or two token rows, cuBLASLt beyond; bf16) against ref::linear
// (double accumulation) on the same bf16-rounded inputs: token counts 1, 2 (the decode kernel), 3,
// 7, 9, 83, 769, 5125 over Qwen-like and odd weight shapes, with and without bias, rows sliced off
// unaligned, the bias pointer changing under a cached plan, and the launcher's shape checks;
// cuda::gated_linear (gate and up fused) against ref::linear twice and ref::silu_mul.
#ifdef HANLIN_HAS_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::test {
namespace {

struct WeightShape {
  int64_t num_outputs;  // N
  int64_t num_inputs;   // K
};

const std::vector<int64_t> kTokenCounts = {1, 2, 3, 7, 9, 16, 17, 83, 769, 5125};

// Rows whose outputs are compared: all of them up to 32; past that the first rows, the rows on
// either side of the 128- and 256-token tile edges, the middle, the last (a partial tile) and
// a few random ones. The reference is plain double; all 5125 rows of a 12288 × 4096 product would
// take it minutes even over every thread.
std::vector<int64_t> rows_to_check(int64_t num_tokens, uint32_t seed) {
  std::vector<int64_t> rows;
  if (num_tokens <= 32) {
    for (int64_t t = 0; t < num_tokens; ++t) rows.push_back(t);
    return rows;
  }
  for (const int64_t t : {int64_t{0}, int64_t{1}, int64_t{127}, int64_t{128}, int64_t{255}, int64_t{256},
                          num_tokens / 2, num_tokens - 1}) {
    if (t < num_tokens) rows.push_back(t);
  }
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int64_t> any_row(0, num_tokens - 1);
  for (int i = 0; i < 3; ++i) rows.push_back(any_row(generator));
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

// The chosen rows of a bf16 [T, K] host tensor as f32 [rows, K] (exact): ref::linear's input.
Tensor gather_rows_f32(const Tensor& matrix, const std::vector<int64_t>& rows) {
  const int64_t width = matrix.dim(-1);
  Tensor gathered = Tensor::zeros({static_cast<int64_t>(rows.size()), width}, DType::kF32);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t k = 0; k < width; ++k) {
      gathered.data<float>()[static_cast<int64_t>(r) * width + k] =
          ref::element_as_f32(matrix, rows[r] * width + k);
    }
  }
  return gathered;
}

std::vector<double> row_norms(const Tensor& matrix) {
  const int64_t width = matrix.dim(-1);
  std::vector<double> norms(static_cast<size_t>(matrix.numel() / width));
  for (size_t r = 0; r < norms.size(); ++r) {
    double sum = 0;
    for (int64_t k = 0; k < width; ++k) {
      const double value = ref::element_as_f32(matrix, static_cast<int64_t>(r) * width + k);
      sum += value * value;
    }
    norms[r] = std::sqrt(sum);
  }
  return norms;
}

// Allowed |out − ref| for each compared output, in three terms:
//   2⁻⁸·|ref|: out is the f32 result rounded to nearest bf16, which keeps 8 significant bits
//     (unit roundoff 2⁻⁸). Measured on an H100 without bias: relative errors up to 0.0039
//     (2⁻⁸), absolute up to 0.249 for K = 4096 where outputs reach ≈ 100 (half an ulp of
//     [64, 128) is 0.25): rounding to nearest.
//   2⁻⁸·|ref − bias[n]| with a bias: cuBLASLt's bias epilogue rounds the product to bf16,
//     adds the bias and rounds again. Measured: with a bias, errors reach a whole ulp (0.249 at
//     ref 33.75, where half an ulp is 0.125); without this term the bias cases fail.
//   (our decode kernel adds the bias in f32 and rounds once, so this term only loosens it.)
//   8·sqrt(K)·u·‖in_t‖·‖w_n‖ (u = 2⁻²⁴): the f32 accumulation, and the 2⁻⁸ roundings' being
//     relative to the computed value rather than ref. bf16 products are exact in f32; K
//     rounding errors of random sign make the sum err by about λ·sqrt(K)·u·Σ|in·w| (Higham and
//     Mary's probabilistic bound), and Σ|in·w| ≤ ‖in_t‖·‖w_n‖ by Cauchy–Schwarz. λ = 4,
//     doubled because tensor cores may truncate inside their adder trees (2u a step). It
//     matters only where |ref| is near 0: for K = 4096 it is ≈ 0.04, against outputs of ≈ 20.
std::vector<double> linear_tolerance(const std::vector<float>& expected, const std::vector<double>& in_norms,
                                     const std::vector<double>& weight_norms, const Tensor* bias,
                                     int64_t num_inputs) {
  const double accumulation = 8 * std::sqrt(static_cast<double>(num_inputs)) * kF32Epsilon;
  const size_t num_outputs = weight_norms.size();
  std::vector<double> allowed(expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const size_t n = i % num_outputs;
    const double product = bias ? expected[i] - ref::element_as_f32(*bias, static_cast<int64_t>(n)) : 0.0;
    allowed[i] = std::ldexp(std::fabs(expected[i]) + std::fabs(product), -8) +
                 accumulation * in_norms[i / num_outputs] * weight_norms[n];
  }
  return allowed;
}

// The chosen rows of a bf16 [T, N] host tensor, as f32.
std::vector<float> values_of_rows(const Tensor& matrix, const std::vector<int64_t>& rows) {
  return values_of(gather_rows_f32(matrix, rows));
}

bool all_finite(const Tensor& host) {
  for (int64_t i = 0; i < host.numel(); ++i) {
    if (!std::isfinite(ref::element_as_f32(host, i))) return false;
  }
  return true;
}

// Runs cuda::linear on device copies of in/weight/bias into an output that starts as noise,
// and compares the chosen rows with ref::linear; prints the largest errors either way.
void check_against_ref(const Tensor& in, const Tensor& weight, const Tensor& device_weight,
                       const Tensor* bias, const Tensor* device_bias, uint32_t seed) {
  const int64_t num_tokens = in.dim(0);
  const int64_t num_outputs = weight.dim(0);
  const int64_t num_inputs = weight.dim(1);
  const Tensor device_in = cuda::to_device(in);
  Tensor device_out = cuda::to_device(random_tensor({num_tokens, num_outputs}, DType::kBF16, seed + 7));
  cuda::linear(device_out, device_in, device_weight, device_bias, nullptr);
  const Tensor out = cuda::to_host(device_out);

  const std::vector<int64_t> rows = rows_to_check(num_tokens, seed);
  const Tensor in_rows = gather_rows_f32(in, rows);
  Tensor expected = Tensor::zeros({static_cast<int64_t>(rows.size()), num_outputs}, DType::kF32);
  ref::linear(expected, in_rows, weight, bias, reference_context());
  const std::vector<float> expected_values = values_of(expected);
  const ::testing::AssertionResult result =
      within(values_of_rows(out, rows), expected_values,
             linear_tolerance(expected_values, row_norms(in_rows), row_norms(weight), bias, num_inputs));

  const std::string label = "T " + std::to_string(num_tokens) + ", N " + std::to_string(num_outputs) +
                            ", K " + std::to_string(num_inputs) + (bias ? ", bias" : "") + " (" +
                            std::to_string(rows.size()) + " rows compared)";
  std::printf("  cuda::linear %s: %s\n", label.c_str(), result.message());
  EXPECT_TRUE(result) << label;
  EXPECT_TRUE(all_finite(out)) << label << ": NaN or infinity in the output";
}

class CudaLinearVsRef : public ::testing::TestWithParam<WeightShape> {};

TEST_P(CudaLinearVsRef, MatchesReferenceWithAndWithoutBias) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const WeightShape shape = GetParam();
  const uint32_t seed = static_cast<uint32_t>(shape.num_outputs * 31 + shape.num_inputs);
  const Tensor weight = random_tensor({shape.num_outputs, shape.num_inputs}, DType::kBF16, seed);
  const Tensor bias = random_tensor({shape.num_outputs}, DType::kBF16, seed + 1);
  const Tensor device_weight = cuda::to_device(weight);
  const Tensor device_bias = cuda::to_device(bias);
  for (const int64_t num_tokens : kTokenCounts) {
    const uint32_t token_seed = seed + static_cast<uint32_t>(num_tokens) * 7919;
    const Tensor in = random_tensor({num_tokens, shape.num_inputs}, DType::kBF16, token_seed);
    check_against_ref(in, weight, device_weight, nullptr, nullptr, token_seed);
    check_against_ref(in, weight, device_weight, &bias, &device_bias, token_seed + 1);
  }
}

std::string weight_shape_name(const ::testing::TestParamInfo<WeightShape>& info) {
  return "N" + std::to_string(info.param.num_outputs) + "_K" + std::to_string(info.param.num_inputs);
}

// Qwen3-0.6B's square and MLP shapes, an odd N, an odd K (rows 2 bytes off alignment; the real
// lm_head's 151936 rows are too many for the reference), Qwen3-8B's MLP up-projection, and Ns
// whose output rows are 4 and 8 bytes aligned: for these cuBLASLt picked split-K kernels that
// reduce in bf16 until linear.cu excluded them (sums up to 10 % off).
INSTANTIATE_TEST_SUITE_P(Shapes, CudaLinearVsRef,
                         ::testing::Values(WeightShape{1024, 1024}, WeightShape{3072, 1024},
                                           WeightShape{1024, 3072}, WeightShape{4099, 1000},
                                           WeightShape{1034, 1001}, WeightShape{12288, 4096},
                                           WeightShape{1030, 2048}, WeightShape{2006, 1024},
                                           WeightShape{1028, 1024}),
                         weight_shape_name);

// How far into a larger buffer each operand starts, in rows (elements for the bias): at an
// address cudaMalloc's 256-byte alignment no longer holds. Row 1 of K = 1000 is 2000 bytes in
// (16-byte aligned), of N = 4099 8198 bytes in (2-byte aligned); bias element 1, 2, 4, 8 is
// 2, 4, 8, 16 bytes in.
struct Offsets {
  int64_t in;
  int64_t out;
  int64_t bias;
};

std::string describe(const Offsets& offsets) {
  return "offsets: in " + std::to_string(offsets.in) + ", out " + std::to_string(offsets.out) + ", bias " +
         std::to_string(offsets.bias);
}

// The plan must not assume 256-byte alignment, and rows outside the output slice keep their values.
TEST(CudaLinear, UnalignedRowSlices) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  constexpr int64_t kTokens = 83;
  constexpr int64_t kOutputs = 4099;
  constexpr int64_t kInputs = 1000;
  constexpr int64_t kMaxOffset = 8;
  const Tensor in_storage = random_tensor({kTokens + 1, kInputs}, DType::kBF16, 11);
  const Tensor weight = random_tensor({kOutputs, kInputs}, DType::kBF16, 12);
  const Tensor bias_storage = random_tensor({kOutputs + kMaxOffset}, DType::kBF16, 13);
  const Tensor start = random_tensor({kTokens + 1, kOutputs}, DType::kBF16, 14);
  const Tensor device_in_storage = cuda::to_device(in_storage);
  const Tensor device_bias_storage = cuda::to_device(bias_storage);
  const Tensor device_weight = cuda::to_device(weight);

  for (const Offsets offsets : {Offsets{1, 0, 0}, Offsets{0, 1, 0}, Offsets{0, 0, 1}, Offsets{0, 0, 2},
                                Offsets{0, 0, 4}, Offsets{0, 0, kMaxOffset}, Offsets{1, 1, 1}}) {
    Tensor device_out = cuda::to_device(start);
    Tensor out_slice = device_out.slice_rows(offsets.out, offsets.out + kTokens);
    const Tensor in_slice = device_in_storage.slice_rows(offsets.in, offsets.in + kTokens);
    const Tensor bias_slice = device_bias_storage.slice_rows(offsets.bias, offsets.bias + kOutputs);
    cuda::linear(out_slice, in_slice, device_weight, &bias_slice, nullptr);
    const Tensor out = cuda::to_host(device_out);

    std::vector<int64_t> in_rows(kTokens);
    std::vector<int64_t> out_rows(kTokens);
    for (int64_t t = 0; t < kTokens; ++t) {
      in_rows[static_cast<size_t>(t)] = offsets.in + t;
      out_rows[static_cast<size_t>(t)] = offsets.out + t;
    }
    const Tensor bias = bias_storage.slice_rows(offsets.bias, offsets.bias + kOutputs);
    const Tensor in = gather_rows_f32(in_storage, in_rows);
    Tensor expected = Tensor::zeros({kTokens, kOutputs}, DType::kF32);
    ref::linear(expected, in, weight, &bias, reference_context());
    const std::vector<float> expected_values = values_of(expected);
    const ::testing::AssertionResult result =
        within(values_of_rows(out, out_rows), expected_values,
               linear_tolerance(expected_values, row_norms(in), row_norms(weight), &bias, kInputs));
    std::printf("  cuda::linear T %lld, N %lld, K %lld, bias, %s: %s\n", static_cast<long long>(kTokens),
                static_cast<long long>(kOutputs), static_cast<long long>(kInputs), describe(offsets).c_str(),
                result.message());
    EXPECT_TRUE(result) << describe(offsets);
    const int64_t untouched_row = offsets.out == 0 ? kTokens : 0;
    EXPECT_EQ(values_of_rows(out, {untouched_row}), values_of_rows(start, {untouched_row}))
        << describe(offsets) << ": row " << untouched_row << " lies outside the output slice";
  }
}

// The second call reuses the first call's cached plan: it must add its own bias, not the first's.
TEST(CudaLinear, CachedPlanTakesEachCallsBias) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const Tensor in = random_tensor({7, 1024}, DType::kBF16, 21);
  const Tensor weight = random_tensor({1024, 1024}, DType::kBF16, 22);
  const Tensor first_bias = random_tensor({1024}, DType::kBF16, 23, -4.0f, 4.0f);
  const Tensor second_bias = random_tensor({1024}, DType::kBF16, 24, -4.0f, 4.0f);
  const Tensor device_weight = cuda::to_device(weight);
  const Tensor device_first_bias = cuda::to_device(first_bias);
  const Tensor device_second_bias = cuda::to_device(second_bias);
  check_against_ref(in, weight, device_weight, &first_bias, &device_first_bias, 25);
  check_against_ref(in, weight, device_weight, &second_bias, &device_second_bias, 26);
}

TEST(CudaLinear, EmptyBatchWritesNothing) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  Tensor out = cuda::device_zeros({0, 64}, DType::kBF16);
  EXPECT_NO_THROW(cuda::linear(out, cuda::device_zeros({0, 32}, DType::kBF16),
                               cuda::device_zeros({64, 32}, DType::kBF16), nullptr, nullptr));
}

// ---- gated_linear ----

struct GatedShape {
  int64_t width;       // I
  int64_t num_inputs;  // K
};

// out = silu(g̃)·ũ rounded, where g̃ and ũ are the bf16 products; each is within its linear
// tolerance t_g, t_u of the exact g, u (linear_tolerance). |silu′| ≤ 1.0998, so
// |silu(g̃)·ũ − silu(g)·u| ≤ 1.0998·t_g·(|u| + t_u) + |silu(g)|·t_u; the output's own rounding
// adds 2⁻⁸ of the computed value, and f32 arithmetic (expf, a division, a product) ≈ 4e-7 of it.
std::vector<double> gated_tolerance(const std::vector<float>& gate, const std::vector<float>& up,
                                    const std::vector<double>& gate_allowed, const std::vector<double>& up_allowed) {
  std::vector<double> allowed(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double silu = gate[i] / (1.0 + std::exp(-static_cast<double>(gate[i])));
    const double spread = 1.0998 * gate_allowed[i] * (std::fabs(up[i]) + up_allowed[i]) + std::fabs(silu) * up_allowed[i];
    const double computed = std::fabs(silu * up[i]) + spread;
    allowed[i] = spread + (0x1p-8 + 1e-6) * computed;
  }
  return allowed;
}

TEST(CudaGatedLinear, MatchesTwoProductsAndSiluMul) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  // Qwen3-0.6B's MLP, Qwen3-8B's, an I and K the decode kernel takes with a partial last step
  // (K = 1000), a K it cannot take (1001: cuBLASLt and silu_mul_halves even at T = 1), and an odd
  // I (the fused product's rows of 2I ≡ 2 mod 4 elements, 4 bytes aligned).
  for (const GatedShape shape : {GatedShape{3072, 1024}, GatedShape{12288, 4096}, GatedShape{1000, 1000},
                                 GatedShape{517, 1001}, GatedShape{1003, 1024}}) {
    const auto seed = static_cast<uint32_t>(shape.width * 7 + shape.num_inputs);
    const Tensor gate_up = random_tensor({2 * shape.width, shape.num_inputs}, DType::kBF16, seed);
    const Tensor gate = gate_up.slice_rows(0, shape.width);
    const Tensor up = gate_up.slice_rows(shape.width, 2 * shape.width);
    const Tensor device_gate_up = cuda::to_device(gate_up);
    for (const int64_t num_tokens : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{8}, int64_t{9}, int64_t{16},
                                     int64_t{83}}) {
      const Tensor in = random_tensor({num_tokens, shape.num_inputs}, DType::kBF16, seed + static_cast<uint32_t>(num_tokens));
      Tensor device_out = cuda::to_device(random_tensor({num_tokens, shape.width}, DType::kBF16, seed + 3));
      Tensor scratch = cuda::device_zeros({num_tokens + 5, 2 * shape.width}, DType::kBF16);
      cuda::gated_linear(device_out, cuda::to_device(in), device_gate_up, scratch, nullptr);
      const std::vector<float> out = values_of(cuda::to_host(device_out));

      const std::vector<int64_t> rows = rows_to_check(num_tokens, seed);
      const Tensor in_rows = gather_rows_f32(in, rows);
      const auto rows_count = static_cast<int64_t>(rows.size());
      Tensor g = Tensor::zeros({rows_count, shape.width}, DType::kF32);
      Tensor u = Tensor::zeros({rows_count, shape.width}, DType::kF32);
      ref::linear(g, in_rows, gate, nullptr, reference_context());
      ref::linear(u, in_rows, up, nullptr, reference_context());
      Tensor expected = Tensor::zeros({rows_count, shape.width}, DType::kF32);
      ref::silu_mul(expected, g, u, {});
      const std::vector<double> in_norms = row_norms(in_rows);
      const std::vector<float> g_values = values_of(g);
      const std::vector<float> u_values = values_of(u);
      const std::vector<double> allowed = gated_tolerance(
          g_values, u_values, linear_tolerance(g_values, in_norms, row_norms(gate), nullptr, shape.num_inputs),
          linear_tolerance(u_values, in_norms, row_norms(up), nullptr, shape.num_inputs));
      std::vector<float> actual;
      for (const int64_t row : rows) {
        actual.insert(actual.end(), out.begin() + row * shape.width, out.begin() + (row + 1) * shape.width);
      }
      const ::testing::AssertionResult result = within(actual, values_of(expected), allowed);
      const std::string label = "T " + std::to_string(num_tokens) + ", I " + std::to_string(shape.width) + ", K " +
                                std::to_string(shape.num_inputs);
      std::printf("  cuda::gated_linear %s: %s\n", label.c_str(), result.message());
      EXPECT_TRUE(result) << label;
    }
  }
}

TEST(CudaLinear, RejectsMismatchedShapesDtypesAndDevices) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const Tensor in = cuda::device_zeros({5, 32}, DType::kBF16);
  const Tensor weight = cuda::device_zeros({64, 32}, DType::kBF16);
  const Tensor bias = cuda::device_zeros({64}, DType::kBF16);
  Tensor out = cuda::device_zeros({5, 64}, DType::kBF16);
  EXPECT_NO_THROW(cuda::linear(out, in, weight, &bias, nullptr));  // the baseline is valid

  const Tensor in_wrong_width = cuda::device_zeros({5, 33}, DType::kBF16);
  expect_internal_error("in K ≠ weight K",
                        [&] { cuda::linear(out, in_wrong_width, weight, nullptr, nullptr); });
  Tensor out_wrong_width = cuda::device_zeros({5, 63}, DType::kBF16);
  expect_internal_error("out N ≠ weight N",
                        [&] { cuda::linear(out_wrong_width, in, weight, nullptr, nullptr); });
  Tensor out_wrong_rows = cuda::device_zeros({4, 64}, DType::kBF16);
  expect_internal_error("out T ≠ in T", [&] { cuda::linear(out_wrong_rows, in, weight, nullptr, nullptr); });
  const Tensor short_bias = cuda::device_zeros({63}, DType::kBF16);
  expect_internal_error("bias length ≠ N", [&] { cuda::linear(out, in, weight, &short_bias, nullptr); });
  const Tensor flat_weight = cuda::device_zeros({64 * 32}, DType::kBF16);
  expect_internal_error("weight of rank 1", [&] { cuda::linear(out, in, flat_weight, nullptr, nullptr); });
  const Tensor f32_in = cuda::device_zeros({5, 32}, DType::kF32);
  expect_internal_error("f32 in", [&] { cuda::linear(out, f32_in, weight, nullptr, nullptr); });
  const Tensor f32_bias = cuda::device_zeros({64}, DType::kF32);
  expect_internal_error("f32 bias", [&] { cuda::linear(out, in, weight, &f32_bias, nullptr); });
  const Tensor host_weight = Tensor::zeros({64, 32}, DType::kBF16);
  expect_internal_error("weight on the CPU", [&] { cuda::linear(out, in, host_weight, nullptr, nullptr); });
  Tensor square_out = cuda::device_zeros({5, 32}, DType::kBF16);
  const Tensor square_weight = cuda::device_zeros({32, 32}, DType::kBF16);
  expect_internal_error("out aliasing in",
                        [&] { cuda::linear(square_out, square_out, square_weight, nullptr, nullptr); });
}

}  // namespace
}  // namespace hanlin::test

#endif  // HANLIN_HAS_CUDA
