// CUDA ops (kernels/cuda) against the f32 reference ops (kernels/ref) run on f32 copies of the
// same bf16 inputs, over odd shapes; every case prints its largest absolute and relative error.
// Without a GPU each test skips; without CUDA in the build the file is empty.
#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::test {
namespace {

// Tolerances. Each op computes in f32 and rounds its result once to bf16, whose 8 significant
// bits put the rounded value within half a unit in the last place, 2^-8 of its magnitude, of the
// f32 one. The f32 arithmetic before that rounding is good to about 2e-6 relative (see each op);
// kF32Slack = 1e-5 covers it with margin and is far below what a wrong formula moves (a wrong
// eps, weight, angle or half pairing costs ≥ 1e-3). Below bf16's smallest normal the rounding is
// absolute, at most half the subnormal spacing, 2^-134: that is the only atol.
constexpr double kBf16Rounding = 0x1p-8;
constexpr double kF32Slack = 1e-5;
constexpr double kOutputRtol = kBf16Rounding + kF32Slack;
constexpr double kBf16Atol = 0x1p-134;

const std::vector<int64_t> kTokenCounts = {1, 7, 83, 769, 5125};
// Multiples of 8 take the 16-byte path; 1, 7 and 1031 take the scalar one.
const std::vector<int64_t> kHiddenSizes = {64, 1000, 1024, 4096, 1, 7, 1031};
const std::vector<int64_t> kHeadCounts = {1, 3, 8, 32};
// 64 and 128 are Qwen's; 14 (a half of 7) takes the scalar path.
const std::vector<int64_t> kHeadDims = {64, 128, 14};

Tensor random_bf16(const Shape& shape, uint32_t seed, float low, float high) {
  return random_tensor(shape, DType::kBF16, seed, low, high);
}

// The f32 tensor the reference reads: the same values, exactly.
Tensor as_f32(const Tensor& bf16_host) {
  return from_values(bf16_host.shape(), values_of(bf16_host));
}

std::vector<float> device_values(const Tensor& device) {
  return values_of(cuda::to_host(device));
}

Tensor device_ints(const std::vector<int32_t>& values) {
  Tensor host = Tensor::zeros({static_cast<int64_t>(values.size())}, DType::kI32);
  std::copy(values.begin(), values.end(), host.data<int32_t>());
  return cuda::to_device(host);
}

std::vector<float> rounded_to_bf16(std::vector<float> values) {
  for (float& value : values) value = to_f32(to_bf16(value));
  return values;
}

// Checks |actual − expected| ≤ allowed elementwise and prints the case's largest errors.
void expect_within(const std::string& label, const std::vector<float>& actual,
                   const std::vector<float>& expected, const std::vector<double>& allowed) {
  const ::testing::AssertionResult result = within(actual, expected, allowed);
  std::cout << "[cuda] " << label << ": " << result.message() << "\n";
  EXPECT_TRUE(result) << label;
}

void expect_close(const std::string& label, const std::vector<float>& actual,
                  const std::vector<float>& expected, double rtol, double atol) {
  std::vector<double> allowed(expected.size());
  for (size_t i = 0; i < expected.size(); ++i) allowed[i] = atol + rtol * std::fabs(expected[i]);
  expect_within(label, actual, expected, allowed);
}

std::string shape_label(const char* op, const Shape& shape) {
  return std::string(op) + " " + shape_to_string(shape);
}

// ---- device memory ----

TEST(CudaDeviceMemory, ZerosAndRoundTrips) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const Tensor zeros = cuda::device_zeros({7, 1031}, DType::kBF16);
  EXPECT_EQ(zeros.device(), Device::kCuda);
  for (float value : device_values(zeros)) ASSERT_EQ(value, 0.0f);
  for (DType dtype : {DType::kBF16, DType::kF32}) {
    const Tensor host = random_tensor({83, 65}, dtype, 11, -4.0f, 4.0f);
    const Tensor back = cuda::to_host(cuda::to_device(host));
    EXPECT_EQ(back.device(), Device::kCpu);
    EXPECT_EQ(back.shape(), host.shape());
    EXPECT_EQ(values_of(back), values_of(host)) << dtype_name(dtype);
  }
  const std::vector<int32_t> ids = {5, -1, 1 << 30, 0, 7};
  const Tensor ids_back = cuda::to_host(device_ints(ids));
  EXPECT_EQ(std::vector<int32_t>(ids_back.data<int32_t>(), ids_back.data<int32_t>() + ids.size()), ids);
}

TEST(CudaDeviceMemory, CopiesRejectATensorOnTheWrongSide) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const Tensor device = cuda::device_zeros({4}, DType::kF32);
  const Tensor host = Tensor::zeros({4}, DType::kF32);
  expect_internal_error("to_device of a device tensor", [&] { cuda::to_device(device); });
  expect_internal_error("to_host of a host tensor", [&] { cuda::to_host(host); });
}

TEST(CudaDeviceMemory, OutOfMemoryIsResourceExhaustedAndLeavesNoStaleError) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  try {
    cuda::device_zeros({int64_t{1} << 26, int64_t{1} << 26}, DType::kBF16);  // 8 PiB
    ADD_FAILURE() << "allocating 8 PiB succeeded";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kResourceExhausted) << error.what();
    EXPECT_NE(std::string(error.what()).find("cudaMalloc"), std::string::npos) << error.what();
  }
  // The next launch's check must not report the old failure.
  const Tensor in = cuda::to_device(random_bf16({3, 64}, 1, -1.0f, 1.0f));
  const Tensor weight = cuda::to_device(random_bf16({64}, 2, -1.0f, 1.0f));
  Tensor out = cuda::device_zeros({3, 64}, DType::kBF16);
  EXPECT_NO_THROW(cuda::rms_norm(out, in, weight, 1e-6f, nullptr));
  EXPECT_NO_THROW(cuda::synchronize(nullptr));
}

// ---- embedding ----

TEST(CudaOps, EmbeddingCopiesTheTableRowsExactly) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  constexpr int32_t kVocab = 1031;
  std::mt19937 generator(3);
  std::uniform_int_distribution<int32_t> token(0, kVocab - 1);
  for (int64_t hidden : kHiddenSizes) {
    const Tensor table = random_bf16({kVocab, hidden}, static_cast<uint32_t>(hidden), -2.0f, 2.0f);
    const Tensor device_table = cuda::to_device(table);
    const Tensor table_f32 = as_f32(table);
    for (int64_t tokens : kTokenCounts) {
      std::vector<int32_t> ids(static_cast<size_t>(tokens));
      for (int32_t& id : ids) id = token(generator);
      ids.front() = kVocab - 1;
      ids.back() = 0;
      Tensor expected = Tensor::zeros({tokens, hidden}, DType::kF32);
      ref::embedding(expected, table_f32, ids, {});
      Tensor out = cuda::device_zeros({tokens, hidden}, DType::kBF16);
      cuda::embedding(out, device_table, device_ints(ids), nullptr);
      // A copy: exact.
      expect_close(shape_label("embedding", out.shape()), device_values(out), values_of(expected), 0, 0);
    }
  }
}

// ---- RMSNorm ----

// The f32 error before the output's rounding: the sum of squares (positive terms, per-thread
// then tree sums: ≤ ~20 roundings, 1.2e-6 relative), the mean and eps (2), rsqrtf (2 ulp) and
// two products: ≤ 2e-6 relative, inside kF32Slack.
void check_rms_norm(const Tensor& in, const Tensor& weight, float eps, uint32_t seed_label) {
  Tensor expected = Tensor::zeros(in.shape(), DType::kF32);
  ref::rms_norm(expected, as_f32(in), as_f32(weight), eps, {});
  Tensor out = cuda::device_zeros(in.shape(), DType::kBF16);
  cuda::rms_norm(out, cuda::to_device(in), cuda::to_device(weight), eps, nullptr);
  expect_close(shape_label("rms_norm", in.shape()) + " eps " + std::to_string(eps) + " seed " +
                   std::to_string(seed_label),
               device_values(out), values_of(expected), kOutputRtol, kBf16Atol);
}

TEST(CudaOps, RmsNormMatchesReference) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t tokens : kTokenCounts) {
    for (int64_t hidden : kHiddenSizes) {
      const auto seed = static_cast<uint32_t>(tokens * 7919 + hidden);
      check_rms_norm(random_bf16({tokens, hidden}, seed, -3.0f, 3.0f),
                     random_bf16({hidden}, seed + 1, -1.5f, 1.5f), 1e-6f, seed);
    }
  }
}

TEST(CudaOps, RmsNormLargeEpsDominatesASmallRow) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  check_rms_norm(random_bf16({7, 1000}, 21, -1e-3f, 1e-3f), random_bf16({1000}, 22, -1.5f, 1.5f), 0.1f, 21);
  check_rms_norm(random_bf16({7, 1031}, 23, -1e-3f, 1e-3f), random_bf16({1031}, 24, -1.5f, 1.5f), 0.1f, 23);
}

TEST(CudaOps, RmsNormWorksInPlace) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (const Shape& shape : {Shape{83, 1000}, Shape{769, 4096}, Shape{7, 1031}}) {
    const Tensor in = random_bf16(shape, 31, -3.0f, 3.0f);
    const Tensor weight = random_bf16({shape[1]}, 32, -1.5f, 1.5f);
    Tensor expected = Tensor::zeros(shape, DType::kF32);
    ref::rms_norm(expected, as_f32(in), as_f32(weight), 1e-6f, {});
    Tensor x = cuda::to_device(in);
    cuda::rms_norm(x, x, cuda::to_device(weight), 1e-6f, nullptr);
    expect_close(shape_label("rms_norm in place", shape), device_values(x), values_of(expected), kOutputRtol,
                 kBf16Atol);
  }
}

// A row view that starts 24 bytes into a buffer: rows of 8 elements but not 16-byte aligned,
// so the launchers must take a narrower path (a 16-byte access there would fault).
TEST(CudaOps, MisalignedViewsTakeANarrowerPath) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const Tensor host = random_bf16({10, 12}, 41, -3.0f, 3.0f);
  const Tensor view = cuda::to_device(host).slice_rows(1, 9).reshape({12, 8});
  const std::vector<float> host_values = values_of(host);
  const std::vector<float> view_values(host_values.begin() + 12, host_values.begin() + 108);
  const Tensor weight = random_bf16({8}, 42, -1.5f, 1.5f);

  Tensor expected = Tensor::zeros({12, 8}, DType::kF32);
  ref::rms_norm(expected, from_values({12, 8}, view_values), as_f32(weight), 1e-6f, {});
  Tensor out = cuda::device_zeros({12, 8}, DType::kBF16);
  cuda::rms_norm(out, view, cuda::to_device(weight), 1e-6f, nullptr);
  expect_close("rms_norm of a misaligned view", device_values(out), values_of(expected), kOutputRtol,
               kBf16Atol);

  Tensor silu_expected = Tensor::zeros({12, 8}, DType::kF32);
  ref::silu_mul(silu_expected, from_values({12, 8}, view_values), from_values({12, 8}, view_values), {});
  Tensor silu_out = cuda::device_zeros({12, 8}, DType::kBF16);
  cuda::silu_mul(silu_out, view, view, nullptr);
  expect_close("silu_mul of a misaligned view", device_values(silu_out), values_of(silu_expected),
               kOutputRtol, kBf16Atol);

  // The view as a [12, 8] embedding table, gathered into another misaligned view.
  Tensor out_buffer = cuda::device_zeros({10, 12}, DType::kBF16);
  Tensor out_view = out_buffer.slice_rows(1, 9).reshape({12, 8});
  const std::vector<int32_t> ids = {11, 0, 5, 5, 3, 7, 1, 2, 9, 10, 4, 6};
  cuda::embedding(out_view, view, device_ints(ids), nullptr);
  Tensor gathered = Tensor::zeros({12, 8}, DType::kF32);
  ref::embedding(gathered, from_values({12, 8}, view_values), ids, {});
  const std::vector<float> buffer = device_values(out_buffer);
  expect_close("embedding into a misaligned view",
               std::vector<float>(buffer.begin() + 12, buffer.begin() + 108), values_of(gathered), 0, 0);
}

// The residual stream is bf16: residual + x is summed in f32 and rounded once to bf16 (exactly
// what the reference's f32 sum then to_bf16 gives, so it is compared bit for bit), and the norm
// reads that rounded residual, so its oracle is ref::rms_norm of the rounded residual.
TEST(CudaOps, AddRmsNormUpdatesTheResidualAndNormalises) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t tokens : kTokenCounts) {
    for (int64_t hidden : kHiddenSizes) {
      const auto seed = static_cast<uint32_t>(tokens * 104729 + hidden);
      const Shape shape = {tokens, hidden};
      const Tensor residual = random_bf16(shape, seed, -2.0f, 2.0f);
      const Tensor x = random_bf16(shape, seed + 1, -2.0f, 2.0f);
      const Tensor weight = random_bf16({hidden}, seed + 2, -1.5f, 1.5f);

      Tensor summed = as_f32(residual);
      Tensor unused = Tensor::zeros(shape, DType::kF32);
      ref::add_rms_norm(unused, summed, as_f32(x), as_f32(weight), 1e-6f, {});
      const std::vector<float> expected_residual = rounded_to_bf16(values_of(summed));
      Tensor expected = Tensor::zeros(shape, DType::kF32);
      ref::rms_norm(expected, from_values(shape, expected_residual), as_f32(weight), 1e-6f, {});

      Tensor device_residual = cuda::to_device(residual);
      Tensor out = cuda::device_zeros(shape, DType::kBF16);
      cuda::add_rms_norm(out, device_residual, cuda::to_device(x), cuda::to_device(weight), 1e-6f, nullptr);
      expect_close(shape_label("add_rms_norm residual", shape), device_values(device_residual),
                   expected_residual, 0, 0);
      expect_close(shape_label("add_rms_norm out", shape), device_values(out), values_of(expected),
                   kOutputRtol, kBf16Atol);
    }
  }
}

TEST(CudaOps, HeadRmsNormMatchesReference) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t tokens : kTokenCounts) {
    for (int64_t heads : kHeadCounts) {
      for (int64_t head_dim : kHeadDims) {
        const auto seed = static_cast<uint32_t>(tokens * 1009 + heads * 131 + head_dim);
        const Shape shape = {tokens, heads, head_dim};
        const Tensor in = random_bf16(shape, seed, -3.0f, 3.0f);
        const Tensor weight = random_bf16({head_dim}, seed + 1, -1.5f, 1.5f);
        Tensor expected = as_f32(in);
        ref::head_rms_norm(expected, as_f32(weight), 1e-6f, {});
        Tensor x = cuda::to_device(in);
        cuda::head_rms_norm(x, cuda::to_device(weight), 1e-6f, nullptr);
        expect_close(shape_label("head_rms_norm", shape), device_values(x), values_of(expected), kOutputRtol,
                     kBf16Atol);
      }
    }
  }
}

// ---- rotary embedding ----

// Qwen3's frequencies, base 1e6, in f32 as transformers computes them.
Tensor rope_frequencies(int64_t head_dim) {
  Tensor frequencies = Tensor::zeros({head_dim / 2}, DType::kF32);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    frequencies.data<float>()[i] =
        static_cast<float>(1.0 / std::pow(1e6, static_cast<double>(2 * i) / static_cast<double>(head_dim)));
  }
  return frequencies;
}

// x1·cos − x2·sin can cancel, so the f32 error is relative to the terms, not to the result:
// sincosf (≤ 2 ulp), the scaling product and the two products and a sum, about 5 roundings of
// at most scaling·(|x1| + |x2|)·2^-24 each. kF32Slack·scaling·(|x1| + |x2|) bounds it with margin;
// the output's bf16 rounding adds 2^-8·|ref|.
// |x1| + |x2| of the pair each element of x [..., head_dim] rotates with.
std::vector<double> rope_terms(const std::vector<float>& x, int64_t head_dim) {
  std::vector<double> terms(x.size());
  const int64_t half = head_dim / 2;
  for (size_t index = 0; index < x.size(); ++index) {
    const int64_t in_head = static_cast<int64_t>(index) % head_dim;
    const size_t head_start = index - static_cast<size_t>(in_head);
    const size_t pair = static_cast<size_t>(in_head % half);
    terms[index] = std::fabs(x[head_start + pair]) + std::fabs(x[head_start + pair + static_cast<size_t>(half)]);
  }
  return terms;
}

std::vector<double> rope_allowed(const std::vector<float>& x, const std::vector<float>& expected,
                                 int64_t head_dim, float attention_scaling) {
  const std::vector<double> terms = rope_terms(x, head_dim);
  std::vector<double> allowed(expected.size());
  for (size_t index = 0; index < expected.size(); ++index) {
    allowed[index] =
        kBf16Rounding * std::fabs(expected[index]) + kF32Slack * attention_scaling * terms[index] + kBf16Atol;
  }
  return allowed;
}

TEST(CudaOps, RopeMatchesReference) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  std::mt19937 generator(5);
  // Up to 200000: past 105615 rad sincosf takes its slow argument reduction.
  std::uniform_int_distribution<int32_t> position(0, 200000);
  for (int64_t tokens : kTokenCounts) {
    for (int64_t heads : kHeadCounts) {
      for (int64_t head_dim : kHeadDims) {
        const Shape shape = {tokens, heads, head_dim};
        const float attention_scaling = heads % 2 == 0 ? 1.0f : 1.2f;  // YaRN's mscale on some cases
        std::vector<int32_t> positions(static_cast<size_t>(tokens));
        for (int32_t& p : positions) p = position(generator);
        positions.front() = 0;
        const Tensor in =
            random_bf16(shape, static_cast<uint32_t>(tokens * 31 + heads * 7 + head_dim), -2.0f, 2.0f);
        const Tensor frequencies = rope_frequencies(head_dim);
        Tensor expected = as_f32(in);
        ref::rope(expected, positions, frequencies, attention_scaling, {});
        Tensor x = cuda::to_device(in);
        cuda::rope(x, device_ints(positions), cuda::to_device(frequencies), attention_scaling, nullptr);
        const std::vector<float> expected_values = values_of(expected);
        expect_within(shape_label("rope", shape) + " scaling " + std::to_string(attention_scaling),
                      device_values(x), expected_values,
                      rope_allowed(values_of(in), expected_values, head_dim, attention_scaling));
      }
    }
  }
}

// ---- SiLU-gated product ----

// silu(g)·u in f32: expf (≤ 2 ulp), 1 + e, a division and a product: ≤ 4e-7 relative.
TEST(CudaOps, SiluMulMatchesReference) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t tokens : kTokenCounts) {
    for (int64_t width : kHiddenSizes) {
      const auto seed = static_cast<uint32_t>(tokens * 613 + width);
      const Shape shape = {tokens, width};
      const Tensor gate = random_bf16(shape, seed, -8.0f, 8.0f);
      const Tensor up = random_bf16(shape, seed + 1, -3.0f, 3.0f);
      Tensor expected = Tensor::zeros(shape, DType::kF32);
      ref::silu_mul(expected, as_f32(gate), as_f32(up), {});
      Tensor out = cuda::device_zeros(shape, DType::kBF16);
      cuda::silu_mul(out, cuda::to_device(gate), cuda::to_device(up), nullptr);
      expect_close(shape_label("silu_mul", shape), device_values(out), values_of(expected), kOutputRtol,
                   kBf16Atol);
    }
  }
}

// ---- paged KV-cache write ----

struct CacheLayout {
  int64_t kv_heads;
  int64_t head_dim;
};

// Distinct random slots over the whole cache, every fourth row -1 (skipped).
std::vector<int32_t> random_slots(int64_t tokens, int64_t num_slots, uint32_t seed) {
  std::vector<int32_t> all_slots(static_cast<size_t>(num_slots));
  std::iota(all_slots.begin(), all_slots.end(), 0);
  std::mt19937 generator(seed);
  std::shuffle(all_slots.begin(), all_slots.end(), generator);
  std::vector<int32_t> slots(all_slots.begin(), all_slots.begin() + tokens);
  for (size_t t = 1; t < slots.size(); t += 4) slots[t] = -1;
  return slots;
}

TEST(CudaOps, KvCacheWriteScattersRowsAndSkipsMinusOne) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  constexpr int64_t kBlockSize = 16;
  // (3, 7): rows of 42 bytes, copied 2 bytes at a time.
  for (const CacheLayout layout :
       {CacheLayout{1, 64}, CacheLayout{2, 128}, CacheLayout{8, 128}, CacheLayout{3, 7}}) {
    for (int64_t tokens : kTokenCounts) {
      const auto seed = static_cast<uint32_t>(tokens * 17 + layout.kv_heads * 5 + layout.head_dim);
      const int64_t num_blocks = tokens / kBlockSize + 3;
      const Shape cache_shape = {num_blocks, kBlockSize, layout.kv_heads, layout.head_dim};
      const Shape row_shape = {tokens, layout.kv_heads, layout.head_dim};
      const Tensor k_cache = random_bf16(cache_shape, seed, -1.0f, 1.0f);
      const Tensor v_cache = random_bf16(cache_shape, seed + 1, -1.0f, 1.0f);
      const Tensor k = random_bf16(row_shape, seed + 2, -4.0f, 4.0f);
      const Tensor v = random_bf16(row_shape, seed + 3, -4.0f, 4.0f);
      const std::vector<int32_t> slots = random_slots(tokens, num_blocks * kBlockSize, seed);

      Tensor expected_k = as_f32(k_cache);
      Tensor expected_v = as_f32(v_cache);
      ref::kv_cache_write(expected_k, expected_v, as_f32(k), as_f32(v), slots, {});
      Tensor device_k_cache = cuda::to_device(k_cache);
      Tensor device_v_cache = cuda::to_device(v_cache);
      cuda::kv_cache_write(device_k_cache, device_v_cache, cuda::to_device(k), cuda::to_device(v),
                           device_ints(slots), nullptr);
      // Copies: exact, and every slot not named (including what -1 rows would hit) unchanged.
      expect_close(shape_label("kv_cache_write k_cache", cache_shape), device_values(device_k_cache),
                   values_of(expected_k), 0, 0);
      expect_close(shape_label("kv_cache_write v_cache", cache_shape), device_values(device_v_cache),
                   values_of(expected_v), 0, 0);
    }
  }
}

TEST(CudaOps, KvCacheWriteWithOnlyMinusOneSlotsLeavesTheCacheUntouched) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const Shape cache_shape = {4, 16, 8, 128};
  const Tensor k_cache = random_bf16(cache_shape, 51, -1.0f, 1.0f);
  const Tensor v_cache = random_bf16(cache_shape, 52, -1.0f, 1.0f);
  Tensor device_k_cache = cuda::to_device(k_cache);
  Tensor device_v_cache = cuda::to_device(v_cache);
  const Tensor k = cuda::to_device(random_bf16({7, 8, 128}, 53, -4.0f, 4.0f));
  const Tensor v = cuda::to_device(random_bf16({7, 8, 128}, 54, -4.0f, 4.0f));
  cuda::kv_cache_write(device_k_cache, device_v_cache, k, v, device_ints(std::vector<int32_t>(7, -1)),
                       nullptr);
  EXPECT_EQ(device_values(device_k_cache), values_of(k_cache));
  EXPECT_EQ(device_values(device_v_cache), values_of(v_cache));
}

// ---- fused q/k/v step: norm, rotary embedding and cache write ----

struct QkvShape {
  int64_t heads;
  int64_t kv_heads;
  int64_t head_dim;
  bool qk_norm;
};

// Heads [first, first + count) of every token of qkv [T, total · head_dim] as f32 [T, count, head_dim].
Tensor qkv_heads(const Tensor& qkv, int64_t first, int64_t count, int64_t head_dim) {
  const int64_t tokens = qkv.dim(0);
  const int64_t width = qkv.dim(1);
  Tensor heads = Tensor::zeros({tokens, count, head_dim}, DType::kF32);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t i = 0; i < count * head_dim; ++i) {
      heads.data<float>()[t * count * head_dim + i] = to_f32(qkv.data<bf16>()[t * width + first * head_dim + i]);
    }
  }
  return heads;
}

// The reference is the exact composition (f32 norm, then rope, no rounding between); the kernel
// rounds the normed value to bf16 before rotating, as head_rms_norm then rope do, which moves each
// rotated term by at most 2^-8 of itself: rope_allowed's terms are the normed values, so that
// rounding adds kBf16Rounding · scaling · (|x1| + |x2|) on top of rope's own bound.
std::vector<double> fused_rope_allowed(const std::vector<float>& normed, const std::vector<float>& expected,
                                       int64_t head_dim, float attention_scaling, bool rounded_between) {
  std::vector<double> allowed = rope_allowed(normed, expected, head_dim, attention_scaling);
  if (!rounded_between) return allowed;
  const std::vector<double> terms = rope_terms(normed, head_dim);
  for (size_t i = 0; i < allowed.size(); ++i) allowed[i] += kBf16Rounding * attention_scaling * terms[i];
  return allowed;
}

// Rows of the cache at the given slots, [slots, kv_heads · head_dim] f32, and the cache with
// those rows replaced by `rows` (what a correct write leaves).
std::vector<float> cache_with_rows(const Tensor& cache, const std::vector<int32_t>& slots, const Tensor& rows) {
  std::vector<float> values = values_of(cache);
  const int64_t width = cache.dim(2) * cache.dim(3);
  for (size_t t = 0; t < slots.size(); ++t) {
    if (slots[t] < 0) continue;
    for (int64_t i = 0; i < width; ++i) {
      values[static_cast<size_t>(slots[t] * width + i)] = rows.data<float>()[static_cast<int64_t>(t) * width + i];
    }
  }
  return values;
}

TEST(CudaOps, QkvRopeCacheWriteMatchesNormRopeAndCacheWrite) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  constexpr int64_t kBlockSize = 16;
  std::mt19937 generator(11);
  std::uniform_int_distribution<int32_t> position(0, 200000);
  // Qwen3-8B's 32/8 heads of 128; Qwen2.5's no-norm form at 64 (14/2); 14 and 16: lanes past half idle.
  for (const QkvShape shape : {QkvShape{32, 8, 128, true}, QkvShape{14, 2, 64, false}, QkvShape{4, 4, 14, true},
                               QkvShape{8, 1, 16, true}, QkvShape{2, 1, 256, true}}) {
    for (int64_t tokens : kTokenCounts) {
      const auto seed = static_cast<uint32_t>(tokens * 97 + shape.heads * 13 + shape.head_dim);
      const int64_t total_heads = shape.heads + 2 * shape.kv_heads;
      const float attention_scaling = shape.heads % 2 == 0 ? 1.0f : 1.2f;
      const Tensor qkv = random_bf16({tokens, total_heads * shape.head_dim}, seed, -3.0f, 3.0f);
      const Tensor q_norm = random_bf16({shape.head_dim}, seed + 1, -1.5f, 1.5f);
      const Tensor k_norm = random_bf16({shape.head_dim}, seed + 2, -1.5f, 1.5f);
      const int64_t num_blocks = tokens / kBlockSize + 3;
      const Shape cache_shape = {num_blocks, kBlockSize, shape.kv_heads, shape.head_dim};
      const Tensor k_cache = random_bf16(cache_shape, seed + 3, -1.0f, 1.0f);
      const Tensor v_cache = random_bf16(cache_shape, seed + 4, -1.0f, 1.0f);
      const std::vector<int32_t> slots = random_slots(tokens, num_blocks * kBlockSize, seed);
      std::vector<int32_t> positions(static_cast<size_t>(tokens));
      for (int32_t& p : positions) p = position(generator);
      const Tensor frequencies = rope_frequencies(shape.head_dim);

      // The reference: ref::head_rms_norm, ref::rope, ref::kv_cache_write on the split heads.
      Tensor q = qkv_heads(qkv, 0, shape.heads, shape.head_dim);
      Tensor k = qkv_heads(qkv, shape.heads, shape.kv_heads, shape.head_dim);
      const Tensor v = qkv_heads(qkv, shape.heads + shape.kv_heads, shape.kv_heads, shape.head_dim);
      if (shape.qk_norm) {
        ref::head_rms_norm(q, as_f32(q_norm), 1e-6f, {});
        ref::head_rms_norm(k, as_f32(k_norm), 1e-6f, {});
      }
      const std::vector<float> q_normed = values_of(q);
      const std::vector<float> k_normed = values_of(k);
      ref::rope(q, positions, frequencies, attention_scaling, {});
      ref::rope(k, positions, frequencies, attention_scaling, {});

      Tensor device_q = cuda::device_zeros({tokens, shape.heads, shape.head_dim}, DType::kBF16);
      Tensor device_k_cache = cuda::to_device(k_cache);
      Tensor device_v_cache = cuda::to_device(v_cache);
      const Tensor device_q_norm = cuda::to_device(q_norm);
      const Tensor device_k_norm = cuda::to_device(k_norm);
      cuda::qkv_rope_cache_write(device_q, device_k_cache, device_v_cache, cuda::to_device(qkv),
                                 shape.qk_norm ? &device_q_norm : nullptr, shape.qk_norm ? &device_k_norm : nullptr,
                                 1e-6f, device_ints(positions), cuda::to_device(frequencies), attention_scaling,
                                 device_ints(slots), nullptr);

      const std::string label = "qkv_rope_cache_write " + shape_to_string(cache_shape) + " heads " +
                                std::to_string(shape.heads) + (shape.qk_norm ? " norm" : "") + ", T " +
                                std::to_string(tokens);
      const std::vector<float> q_expected = values_of(q);
      expect_within(label + " q", device_values(device_q), q_expected,
                    fused_rope_allowed(q_normed, q_expected, shape.head_dim, attention_scaling, shape.qk_norm));
      // K: rows at the slots within the rope bound; every other cache element unchanged exactly.
      const std::vector<float> k_expected = cache_with_rows(k_cache, slots, k);
      const std::vector<float> k_terms = cache_with_rows(k_cache, slots, from_values(k.shape(), k_normed));
      std::vector<double> k_allowed =
          fused_rope_allowed(k_terms, k_expected, shape.head_dim, attention_scaling, shape.qk_norm);
      const int64_t row_width = shape.kv_heads * shape.head_dim;
      std::vector<bool> written(k_allowed.size(), false);
      for (const int32_t slot : slots) {
        if (slot >= 0) std::fill_n(written.begin() + slot * row_width, row_width, true);
      }
      for (size_t i = 0; i < k_allowed.size(); ++i) {
        if (!written[i]) k_allowed[i] = 0;
      }
      expect_within(label + " k_cache", device_values(device_k_cache), k_expected, k_allowed);
      // V: copied exactly.
      expect_close(label + " v_cache", device_values(device_v_cache), cache_with_rows(v_cache, slots, v), 0, 0);
    }
  }
}

// ---- gated product's second half ----

TEST(CudaOps, SiluMulHalvesMatchesSiluMulOfTheHalves) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  for (int64_t tokens : kTokenCounts) {
    for (int64_t width : kHiddenSizes) {
      const auto seed = static_cast<uint32_t>(tokens * 419 + width);
      const Tensor gate_up = random_bf16({tokens, 2 * width}, seed, -8.0f, 8.0f);
      const Tensor gate = qkv_heads(gate_up, 0, 1, width).reshape({tokens, width});
      const Tensor up = qkv_heads(gate_up, 1, 1, width).reshape({tokens, width});
      Tensor expected = Tensor::zeros({tokens, width}, DType::kF32);
      ref::silu_mul(expected, gate, up, {});
      Tensor out = cuda::device_zeros({tokens, width}, DType::kBF16);
      cuda::silu_mul_halves(out, cuda::to_device(gate_up), nullptr);
      expect_close(shape_label("silu_mul_halves", {tokens, width}), device_values(out), values_of(expected),
                   kOutputRtol, kBf16Atol);
    }
  }
}

// ---- launcher checks, empty batches, streams ----

TEST(CudaOps, BadInputsThrowInternalError) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  const auto zeros = [](Shape shape, DType dtype = DType::kBF16) {
    return cuda::device_zeros(std::move(shape), dtype);
  };
  Tensor x = zeros({7, 64});
  Tensor out = zeros({7, 64});
  const Tensor weight = zeros({64});
  expect_internal_error("rms_norm out shape", [&] {
    Tensor wrong = zeros({7, 65});
    cuda::rms_norm(wrong, x, weight, 1e-6f, nullptr);
  });
  expect_internal_error("rms_norm weight width",
                        [&] { cuda::rms_norm(out, x, zeros({63}), 1e-6f, nullptr); });
  expect_internal_error("rms_norm f32 input", [&] {
    cuda::rms_norm(out, zeros({7, 64}, DType::kF32), weight, 1e-6f, nullptr);
  });
  expect_internal_error("rms_norm host input", [&] {
    cuda::rms_norm(out, Tensor::zeros({7, 64}, DType::kBF16), weight, 1e-6f, nullptr);
  });
  expect_internal_error("add_rms_norm x shape", [&] {
    cuda::add_rms_norm(out, x, zeros({6, 64}), weight, 1e-6f, nullptr);
  });

  Tensor heads = zeros({7, 4, 64});
  expect_internal_error("head_rms_norm weight",
                        [&] { cuda::head_rms_norm(heads, zeros({128}), 1e-6f, nullptr); });
  expect_internal_error("head_rms_norm rank", [&] { cuda::head_rms_norm(x, weight, 1e-6f, nullptr); });

  const Tensor positions = zeros({7}, DType::kI32);
  const Tensor frequencies = zeros({32}, DType::kF32);
  expect_internal_error("rope positions length",
                        [&] { cuda::rope(heads, zeros({6}, DType::kI32), frequencies, 1.0f, nullptr); });
  expect_internal_error("rope positions dtype",
                        [&] { cuda::rope(heads, zeros({7}, DType::kF32), frequencies, 1.0f, nullptr); });
  expect_internal_error("rope inv_freq length",
                        [&] { cuda::rope(heads, positions, zeros({64}, DType::kF32), 1.0f, nullptr); });
  expect_internal_error("rope odd head_dim", [&] {
    Tensor odd = zeros({7, 4, 63});
    cuda::rope(odd, positions, zeros({31}, DType::kF32), 1.0f, nullptr);
  });

  expect_internal_error("silu_mul up shape", [&] { cuda::silu_mul(out, x, zeros({7, 63}), nullptr); });

  const Tensor table = zeros({100, 64});
  expect_internal_error("embedding ids length",
                        [&] { cuda::embedding(out, table, zeros({6}, DType::kI32), nullptr); });
  expect_internal_error("embedding table width", [&] {
    cuda::embedding(out, zeros({100, 32}), zeros({7}, DType::kI32), nullptr);
  });

  Tensor k_cache = zeros({4, 16, 2, 64});
  Tensor v_cache = zeros({4, 16, 2, 64});
  const Tensor k = zeros({7, 2, 64});
  const Tensor slots = zeros({7}, DType::kI32);
  expect_internal_error("kv_cache_write kv_heads", [&] {
    cuda::kv_cache_write(k_cache, v_cache, zeros({7, 4, 64}), zeros({7, 4, 64}), slots, nullptr);
  });
  expect_internal_error("kv_cache_write slot_mapping length", [&] {
    cuda::kv_cache_write(k_cache, v_cache, k, k, zeros({6}, DType::kI32), nullptr);
  });
  expect_internal_error("kv_cache_write v_cache shape", [&] {
    Tensor other = zeros({4, 8, 2, 64});
    cuda::kv_cache_write(k_cache, other, k, k, slots, nullptr);
  });
}

TEST(CudaOps, EmptyBatchesAreNoOps) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  Tensor rows = cuda::device_zeros({0, 64}, DType::kBF16);
  Tensor heads = cuda::device_zeros({0, 4, 64}, DType::kBF16);
  const Tensor weight = cuda::to_device(random_bf16({64}, 61, -1.0f, 1.0f));
  const Tensor no_ints = cuda::device_zeros({0}, DType::kI32);
  Tensor k_cache = cuda::device_zeros({2, 16, 4, 64}, DType::kBF16);
  Tensor v_cache = cuda::device_zeros({2, 16, 4, 64}, DType::kBF16);
  EXPECT_NO_THROW(cuda::rms_norm(rows, rows, weight, 1e-6f, nullptr));
  EXPECT_NO_THROW(cuda::add_rms_norm(rows, rows, rows, weight, 1e-6f, nullptr));
  EXPECT_NO_THROW(cuda::head_rms_norm(heads, weight, 1e-6f, nullptr));
  EXPECT_NO_THROW(cuda::rope(heads, no_ints, cuda::device_zeros({32}, DType::kF32), 1.0f, nullptr));
  EXPECT_NO_THROW(cuda::silu_mul(rows, rows, rows, nullptr));
  EXPECT_NO_THROW(cuda::embedding(rows, cuda::device_zeros({10, 64}, DType::kBF16), no_ints, nullptr));
  EXPECT_NO_THROW(cuda::kv_cache_write(k_cache, v_cache, heads, heads, no_ints, nullptr));
  EXPECT_NO_THROW(cuda::synchronize(nullptr));
}

// Work queued on a non-blocking stream is complete after cuda::synchronize(stream).
TEST(CudaOps, RunsOnAnExplicitStream) {
  if (hanlin::cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  const Shape shape = {769, 8, 128};
  const Tensor in = random_bf16(shape, 71, -3.0f, 3.0f);
  const Tensor gate = random_bf16({769, 1024}, 72, -8.0f, 8.0f);
  const Tensor up = random_bf16({769, 1024}, 73, -3.0f, 3.0f);
  std::vector<int32_t> positions(769);
  std::iota(positions.begin(), positions.end(), 1000);
  const Tensor frequencies = rope_frequencies(128);

  Tensor expected_rope = as_f32(in);
  ref::rope(expected_rope, positions, frequencies, 1.0f, {});
  Tensor expected_silu = Tensor::zeros(gate.shape(), DType::kF32);
  ref::silu_mul(expected_silu, as_f32(gate), as_f32(up), {});

  Tensor x = cuda::to_device(in);
  const Tensor device_positions = device_ints(positions);
  const Tensor device_frequencies = cuda::to_device(frequencies);
  const Tensor device_gate = cuda::to_device(gate);
  const Tensor device_up = cuda::to_device(up);
  Tensor out = cuda::device_zeros(gate.shape(), DType::kBF16);
  cuda::rope(x, device_positions, device_frequencies, 1.0f, stream);
  cuda::silu_mul(out, device_gate, device_up, stream);
  cuda::synchronize(stream);
  const std::vector<float> expected_rope_values = values_of(expected_rope);
  expect_within("rope on a stream", device_values(x), expected_rope_values,
                rope_allowed(values_of(in), expected_rope_values, 128, 1.0f));
  expect_close("silu_mul on a stream", device_values(out), values_of(expected_silu), kOutputRtol, kBf16Atol);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

}  // namespace
}  // namespace hanlin::test

#endif  // HANLIN_HAS_CUDA
