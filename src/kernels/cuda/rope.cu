// Rotary position embedding, neox layout, in place on bf16 x [T, heads, head_dim]: element i of
// each head's first half and element i of its second half rotate as a pair by positions[t] ·
// inv_freq[i] (that product in f32, as transformers does), cos and sin scaled by attention_scaling.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/cuda/bf16_vector.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch_checks.h"

namespace hanlin::cuda {
namespace {

constexpr int kThreadsPerBlock = 128;

// One block per token. threadIdx.x strides over the pair index i, kVec pairs at a time, and
// computes their cos/sin once; threadIdx.y strides over the heads that share those angles.
template <int kVec>
__global__ void rope_kernel(__nv_bfloat16* __restrict__ x,                  // [T, heads, head_dim]
                            const int32_t* __restrict__ positions,          // [T]
                            const float* __restrict__ inverse_frequencies,  // [head_dim / 2]
                            int num_heads, int half_dim, float attention_scaling) {
  const int64_t token = blockIdx.x;
  const float position = static_cast<float>(positions[token]);
  __nv_bfloat16* token_heads = x + token * num_heads * 2 * half_dim;
  for (int i = threadIdx.x * kVec; i < half_dim; i += blockDim.x * kVec) {
    float cos_values[kVec];
    float sin_values[kVec];
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      sincosf(position * inverse_frequencies[i + k], &sin_values[k], &cos_values[k]);
      cos_values[k] *= attention_scaling;
      sin_values[k] *= attention_scaling;
    }
    for (int head = threadIdx.y; head < num_heads; head += blockDim.y) {
      __nv_bfloat16* first_half = token_heads + static_cast<int64_t>(head) * 2 * half_dim + i;
      __nv_bfloat16* second_half = first_half + half_dim;
      float x1[kVec];
      float x2[kVec];
      load_bf16<kVec>(first_half, x1);
      load_bf16<kVec>(second_half, x2);
      float rotated1[kVec];
      float rotated2[kVec];
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        rotated1[k] = x1[k] * cos_values[k] - x2[k] * sin_values[k];
        rotated2[k] = x2[k] * cos_values[k] + x1[k] * sin_values[k];
      }
      store_bf16<kVec>(first_half, rotated1);
      store_bf16<kVec>(second_half, rotated2);
    }
  }
}

void check_rope_inputs(const Tensor& x, const Tensor& positions, const Tensor& inv_freq) {
  constexpr const char* op = "rope";
  check_device_tensor(op, "x", x, DType::kBF16);
  check_device_tensor(op, "positions", positions, DType::kI32);
  check_device_tensor(op, "inv_freq", inv_freq, DType::kF32);
  check_rank(op, "x", x, 3);
  if (x.dim(2) % 2 != 0) fail_check(op, "head_dim " + std::to_string(x.dim(2)) + " is odd");
  check_shape(op, "positions", positions, {x.dim(0)});
  check_shape(op, "inv_freq", inv_freq, {x.dim(2) / 2});
  if (x.dim(1) * x.dim(2) > INT32_MAX) fail_check(op, "more than 2^31 - 1 elements per token");
}

}  // namespace

void rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float attention_scaling,
          Stream stream) {
  check_rope_inputs(x, positions, inv_freq);
  const int64_t num_tokens = x.dim(0);
  const int num_heads = static_cast<int>(x.dim(1));
  const int half_dim = static_cast<int>(x.dim(2) / 2);
  if (num_tokens == 0 || num_heads == 0 || half_dim == 0) return;
  // Each half of a head must start on a 16-byte boundary for the vector path.
  const int vector_width = bf16_vector_width(half_dim, {x.raw()});
  const int threads_x = std::min(kThreadsPerBlock, (half_dim + vector_width - 1) / vector_width);
  const int threads_y = std::max(1, std::min(num_heads, kThreadsPerBlock / threads_x));
  const dim3 block(threads_x, threads_y);
  const dim3 grid(static_cast<unsigned>(num_tokens));
  auto* data = static_cast<__nv_bfloat16*>(x.raw());
  const auto* position_data = static_cast<const int32_t*>(positions.raw());
  const auto* frequencies = static_cast<const float*>(inv_freq.raw());
  cudaStream_t cuda_stream = static_cast<cudaStream_t>(stream);
  if (vector_width == kBf16PerVector) {
    rope_kernel<kBf16PerVector><<<grid, block, 0, cuda_stream>>>(data, position_data, frequencies, num_heads,
                                                                 half_dim, attention_scaling);
  } else {
    rope_kernel<1><<<grid, block, 0, cuda_stream>>>(data, position_data, frequencies, num_heads, half_dim,
                                                    attention_scaling);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace hanlin::cuda
