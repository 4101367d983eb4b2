// RMSNorm over the last dimension of bf16 rows (out = x · rsqrt(mean(x²) + eps) · weight), its
// fused residual-add form, and the per-head form; f32 arithmetic inside, bf16 in and out.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/cuda/bf16_vector.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch_checks.h"

namespace hanlin::cuda {
namespace {

constexpr int kWarpSize = 32;
constexpr int kMinThreadsPerBlock = 128;  // short rows (heads) share a block, a warp each

// The sum of `value` over the blockDim.x threads of this thread's row (threadIdx.y); every
// thread of the block must call it once. blockDim.x is a multiple of 32, so a warp never
// straddles two rows.
__device__ float row_sum(float value) {
  value = warp_sum(value);
  if (blockDim.x == kWarpSize) return value;
  __shared__ float partial_sums[kRmsNormMaxThreadsPerRow / kWarpSize];  // [rows per block * warps per row] ≤ 32
  const int warps_per_row = blockDim.x / kWarpSize;
  const int first_warp_of_row = threadIdx.y * warps_per_row;
  if (threadIdx.x % kWarpSize == 0) partial_sums[first_warp_of_row + threadIdx.x / kWarpSize] = value;
  __syncthreads();
  float total = 0;
  for (int warp = 0; warp < warps_per_row; ++warp) total += partial_sums[first_warp_of_row + warp];
  return total;
}

// One row per threadIdx.y, its blockDim.x threads striding over it kVec elements at a time.
// Pass one sums the squares (and, with kAddResidual, writes residual_out = residual + in rounded
// to bf16); pass two re-reads the row, from L1 in practice, and writes the scaled output. out may
// alias in, and residual_out residual (each element is read, then written, by the same thread), so
// none is __restrict__. The GEMV's normed form (gemv.cu) sums in this order too.
template <int kVec, bool kAddResidual>
__global__ void rms_norm_kernel(__nv_bfloat16* out,                        // [rows, width]
                                __nv_bfloat16* residual_out,               // [rows, width]; kAddResidual only
                                const __nv_bfloat16* residual,             // [rows, width]; kAddResidual only
                                const __nv_bfloat16* in,                   // [rows, width]
                                const __nv_bfloat16* __restrict__ weight,  // [width]
                                int64_t rows, int width, float eps) {
  allow_next_kernel();
  wait_for_previous_kernel();
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  const int num_vectors = row < rows ? width / kVec : 0;  // a block's spare rows still join the sum
  const int64_t row_offset = row * width;
  const __nv_bfloat16* source = kAddResidual ? residual_out + row_offset : in + row_offset;

  float sum_squares = 0;
  for (int v = threadIdx.x; v < num_vectors; v += blockDim.x) {
    float values[kVec];
    load_bf16<kVec>(in + row_offset + v * kVec, values);
    if constexpr (kAddResidual) {
      float residual_values[kVec];
      load_bf16<kVec>(residual + row_offset + v * kVec, residual_values);
#pragma unroll
      for (int k = 0; k < kVec; ++k) values[k] = round_to_bf16(residual_values[k] + values[k]);
      store_bf16<kVec>(residual_out + row_offset + v * kVec, values);
    }
#pragma unroll
    for (int k = 0; k < kVec; ++k) sum_squares += values[k] * values[k];
  }
  const float inverse_rms = rsqrtf(row_sum(sum_squares) / static_cast<float>(width) + eps);

  for (int v = threadIdx.x; v < num_vectors; v += blockDim.x) {
    float values[kVec];
    float scales[kVec];
    load_bf16<kVec>(source + v * kVec, values);
    load_bf16<kVec>(weight + v * kVec, scales);
#pragma unroll
    for (int k = 0; k < kVec; ++k) values[k] = values[k] * inverse_rms * scales[k];
    store_bf16<kVec>(out + row_offset + v * kVec, values);
  }
}

// Threads per row: enough for one vector each, in whole warps, at most 1024; rows per block:
// enough to make a block of at least 128 threads.
template <bool kAddResidual>
void launch_rms_norm(__nv_bfloat16* out, __nv_bfloat16* residual_out, const __nv_bfloat16* residual,
                     const __nv_bfloat16* in, const __nv_bfloat16* weight, int64_t rows, int width, float eps,
                     int vector_width, cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  const int num_vectors = width / vector_width;
  const int threads_per_row = rms_norm_threads_per_row(num_vectors);
  const int rows_per_block = std::max(1, kMinThreadsPerBlock / threads_per_row);
  const dim3 block(threads_per_row, rows_per_block);
  const dim3 grid(static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block));
  auto* kernel = vector_width == kBf16PerVector ? rms_norm_kernel<kBf16PerVector, kAddResidual>
                                                : rms_norm_kernel<1, kAddResidual>;
  use_chain_carveout(reinterpret_cast<const void*>(kernel));
  launch_dependent(kernel, grid, block, 0, stream, 1, out, residual_out, residual, in, weight, rows, width, eps);
}

__nv_bfloat16* bf16_data(Tensor& tensor) {
  return static_cast<__nv_bfloat16*>(tensor.raw());
}
const __nv_bfloat16* bf16_data(const Tensor& tensor) {
  return static_cast<const __nv_bfloat16*>(tensor.raw());
}

// in, out [rows, width] as `in`'s shape, weight [width]; returns the row count.
int64_t check_norm_inputs(const char* op, const Tensor& out, const char* in_name, const Tensor& in,
                          const Tensor& weight) {
  check_device_tensor(op, "out", out, DType::kBF16);
  check_device_tensor(op, in_name, in, DType::kBF16);
  check_device_tensor(op, "weight", weight, DType::kBF16);
  check_rank(op, "weight", weight, 1);
  if (in.rank() < 1 || in.dim(-1) != weight.dim(0)) {
    fail_check(op, std::string(in_name) + " " + shape_to_string(in.shape()) +
                       " does not end in the weight's width " + std::to_string(weight.dim(0)));
  }
  check_shape(op, "out", out, in.shape());
  if (weight.dim(0) > INT32_MAX) fail_check(op, "rows wider than 2^31 - 1 elements");
  return weight.dim(0) == 0 ? 0 : in.numel() / weight.dim(0);
}

void normalize(const char* op, Tensor& out, const Tensor& in, const Tensor& weight, float eps,
               Stream stream) {
  const int64_t rows = check_norm_inputs(op, out, "in", in, weight);
  const int width = static_cast<int>(weight.dim(0));
  const int vector_width = bf16_vector_width(width, {out.raw(), in.raw(), weight.raw()});
  launch_rms_norm<false>(bf16_data(out), nullptr, nullptr, bf16_data(in), bf16_data(weight), rows, width, eps,
                         vector_width, static_cast<cudaStream_t>(stream));
}

// Whether the bytes of a and b overlap.
bool overlap(const Tensor& a, const Tensor& b) {
  const auto* a_begin = static_cast<const char*>(a.raw());
  const auto* b_begin = static_cast<const char*>(b.raw());
  return a.nbytes() > 0 && b.nbytes() > 0 && a_begin < b_begin + b.nbytes() && b_begin < a_begin + a.nbytes();
}

// Whether they overlap without being the same tensor (which a thread's read-then-write allows).
bool overlap_partly(const Tensor& a, const Tensor& b) { return a.raw() != b.raw() && overlap(a, b); }

}  // namespace

void rms_norm(Tensor& out, const Tensor& in, const Tensor& weight, float eps, Stream stream) {
  normalize("rms_norm", out, in, weight, eps, stream);
}

void add_rms_norm(Tensor& out, Tensor& residual_out, const Tensor& residual, const Tensor& x, const Tensor& weight,
                  float eps, Stream stream) {
  constexpr const char* kOp = "add_rms_norm";
  const int64_t rows = check_norm_inputs(kOp, out, "residual", residual, weight);
  check_device_tensor(kOp, "x", x, DType::kBF16);
  check_shape(kOp, "x", x, residual.shape());
  check_device_tensor(kOp, "residual_out", residual_out, DType::kBF16);
  check_shape(kOp, "residual_out", residual_out, residual.shape());
  if (overlap_partly(residual_out, residual) || overlap_partly(residual_out, x)) {
    fail_check(kOp, "residual_out overlaps residual or x without being it");
  }
  const int width = static_cast<int>(weight.dim(0));
  const int vector_width =
      bf16_vector_width(width, {out.raw(), residual_out.raw(), residual.raw(), x.raw(), weight.raw()});
  launch_rms_norm<true>(bf16_data(out), bf16_data(residual_out), bf16_data(residual), bf16_data(x),
                        bf16_data(weight), rows, width, eps, vector_width, static_cast<cudaStream_t>(stream));
}

void add_rms_norm(Tensor& out, Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                  Stream stream) {
  add_rms_norm(out, residual, residual, x, weight, eps, stream);
}

int64_t check_pre_norm(const char* op, const PreNorm& in) {
  const int64_t rows = check_norm_inputs(op, in.normed, "residual", in.residual, in.weight);
  if (in.delta == nullptr) return rows;
  check_device_tensor(op, "delta", *in.delta, DType::kBF16);
  check_shape(op, "delta", *in.delta, in.residual.shape());
  check_device_tensor(op, "residual_out", in.residual_out, DType::kBF16);
  check_shape(op, "residual_out", in.residual_out, in.residual.shape());
  if (overlap(in.residual_out, in.residual) || overlap(in.residual_out, *in.delta)) {
    fail_check(op, "residual_out overlaps residual or delta");
  }
  return rows;
}

void pre_norm(const PreNorm& in, Stream stream) {
  check_pre_norm("pre_norm", in);
  Tensor normed = in.normed;
  if (in.delta == nullptr) return rms_norm(normed, in.residual, in.weight, in.eps, stream);
  Tensor residual_out = in.residual_out;
  add_rms_norm(normed, residual_out, in.residual, *in.delta, in.weight, in.eps, stream);
}

// x [T, heads, head_dim] is [T * heads] rows of head_dim.
void head_rms_norm(Tensor& x, const Tensor& weight, float eps, Stream stream) {
  check_rank("head_rms_norm", "x", x, 3);
  normalize("head_rms_norm", x, x, weight, eps, stream);
}

}  // namespace hanlin::cuda
