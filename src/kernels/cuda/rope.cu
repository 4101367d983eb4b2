// Rotary position embedding, neox layout, in place on bf16 x [T, heads, head_dim]: element i of
// each head's first half and element i of its second half rotate as a pair by positions[t] ·
// inv_freq[i] (that product in f32, as transformers does), cos and sin scaled by attention_scaling.
// Also its fused form, qkv_rope_cache_write: the per-head norm, RoPE and the KV-cache write in one
// pass over a fused q/k/v projection's output.
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

constexpr int kWarpSize = 32;
constexpr int kFusedWarps = 4;
constexpr int kMaxFusedHeadDim = 256;

struct QkvArgs {
  __nv_bfloat16* q;                  // [T, heads, head_dim]
  __nv_bfloat16* k_cache;            // [slots, kv_heads, head_dim]
  __nv_bfloat16* v_cache;            // [slots, kv_heads, head_dim]
  const __nv_bfloat16* qkv;          // [T, (heads + 2 kv_heads) head_dim]
  const __nv_bfloat16* q_norm;       // [head_dim] or null
  const __nv_bfloat16* k_norm;       // [head_dim] or null
  const int32_t* positions;          // [T]
  const float* inverse_frequencies;  // [head_dim / 2]
  const int32_t* slots;              // [T]
  int num_heads;
  int kv_heads;
  int half_dim;
  float eps;
  float attention_scaling;
};

// One head of one token, by one warp: lane l holds the pairs (i, i + half_dim) for i = l, l + 32,
// … (kPairs of them), so the norm's sum is one warp reduction and each rotation pair sits in one
// lane. The norm's output is rounded to bf16 before the rotation, as head_rms_norm then rope do.
template <int kPairs>
__device__ void finish_head(__nv_bfloat16* out, const __nv_bfloat16* in, const __nv_bfloat16* norm,
                            const float* cos_values, const float* sin_values, const QkvArgs& args, bool rotate) {
  const int lane = static_cast<int>(threadIdx.x % kWarpSize);
  const int half = args.half_dim;
  float first[kPairs];
  float second[kPairs];
  float sum_squares = 0;
#pragma unroll
  for (int j = 0; j < kPairs; ++j) {
    const int i = lane + j * kWarpSize;
    first[j] = i < half ? __bfloat162float(in[i]) : 0.0f;
    second[j] = i < half ? __bfloat162float(in[i + half]) : 0.0f;
    sum_squares += first[j] * first[j] + second[j] * second[j];
  }
  if (norm) {
    const float inverse_rms = rsqrtf(warp_sum(sum_squares) / static_cast<float>(2 * half) + args.eps);
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const int i = lane + j * kWarpSize;
      if (i >= half) continue;
      first[j] = round_to_bf16(first[j] * inverse_rms * __bfloat162float(norm[i]));
      second[j] = round_to_bf16(second[j] * inverse_rms * __bfloat162float(norm[i + half]));
    }
  }
#pragma unroll
  for (int j = 0; j < kPairs; ++j) {
    const int i = lane + j * kWarpSize;
    if (i >= half) continue;
    float rotated_first = first[j];
    float rotated_second = second[j];
    if (rotate) {
      rotated_first = first[j] * cos_values[i] - second[j] * sin_values[i];
      rotated_second = second[j] * cos_values[i] + first[j] * sin_values[i];
    }
    out[i] = __float2bfloat16_rn(rotated_first);
    out[i + half] = __float2bfloat16_rn(rotated_second);
  }
}

// Grid (tokens, groups of kFusedWarps heads): a block computes its token's angles into shared
// memory, then each warp takes one head: q heads to q, k heads to the K cache, v heads (copied,
// no norm or rotation) to the V cache. A warp per head rather than a block per token walking the
// heads: at decode a step has one token, and 48 heads walked by 4 warps was a chain of 12 round
// trips to memory.
template <int kPairs>
__global__ void __launch_bounds__(kFusedWarps* kWarpSize) qkv_rope_cache_write_kernel(const QkvArgs args) {
  __shared__ float cos_values[kMaxFusedHeadDim / 2];
  __shared__ float sin_values[kMaxFusedHeadDim / 2];
  allow_next_kernel();
  wait_for_previous_kernel();
  const int64_t token = blockIdx.x;
  const float position = static_cast<float>(args.positions[token]);
  for (int i = static_cast<int>(threadIdx.x); i < args.half_dim; i += static_cast<int>(blockDim.x)) {
    sincosf(position * args.inverse_frequencies[i], &sin_values[i], &cos_values[i]);
    cos_values[i] *= args.attention_scaling;
    sin_values[i] *= args.attention_scaling;
  }
  __syncthreads();
  const int head_dim = 2 * args.half_dim;
  const int64_t slot = args.slots[token];
  const int total_heads = args.num_heads + 2 * args.kv_heads;
  const __nv_bfloat16* token_in = args.qkv + token * total_heads * head_dim;
  const int head = static_cast<int>(blockIdx.y * kFusedWarps + threadIdx.x / kWarpSize);
  if (head >= total_heads) return;
  const __nv_bfloat16* in = token_in + static_cast<int64_t>(head) * head_dim;
  if (head < args.num_heads) {
    __nv_bfloat16* out = args.q + (token * args.num_heads + head) * head_dim;
    finish_head<kPairs>(out, in, args.q_norm, cos_values, sin_values, args, true);
    return;
  }
  if (slot < 0) return;
  const int kv_head = (head - args.num_heads) % args.kv_heads;
  const bool is_key = head < args.num_heads + args.kv_heads;
  __nv_bfloat16* cache = is_key ? args.k_cache : args.v_cache;
  __nv_bfloat16* out = cache + (slot * args.kv_heads + kv_head) * head_dim;
  finish_head<kPairs>(out, in, is_key ? args.k_norm : nullptr, cos_values, sin_values, args, is_key);
}

void check_qkv_inputs(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& qkv,
                      const Tensor* q_norm, const Tensor* k_norm, const Tensor& positions, const Tensor& inv_freq,
                      const Tensor& slot_mapping) {
  constexpr const char* op = "qkv_rope_cache_write";
  check_device_tensor(op, "q", q, DType::kBF16);
  check_device_tensor(op, "k_cache", k_cache, DType::kBF16);
  check_device_tensor(op, "v_cache", v_cache, DType::kBF16);
  check_device_tensor(op, "qkv", qkv, DType::kBF16);
  check_device_tensor(op, "positions", positions, DType::kI32);
  check_device_tensor(op, "inv_freq", inv_freq, DType::kF32);
  check_device_tensor(op, "slot_mapping", slot_mapping, DType::kI32);
  check_rank(op, "q", q, 3);
  check_rank(op, "k_cache", k_cache, 4);
  check_shape(op, "v_cache", v_cache, k_cache.shape());
  const int64_t tokens = q.dim(0);
  const int64_t head_dim = q.dim(2);
  if (k_cache.dim(3) != head_dim) {
    fail_check(op, "q " + shape_to_string(q.shape()) + " and k_cache " + shape_to_string(k_cache.shape()) +
                       " differ in head_dim");
  }
  if (head_dim % 2 != 0 || head_dim > kMaxFusedHeadDim) {
    fail_check(op, "head_dim " + std::to_string(head_dim) + " is odd or above " + std::to_string(kMaxFusedHeadDim));
  }
  check_shape(op, "qkv", qkv, {tokens, (q.dim(1) + 2 * k_cache.dim(2)) * head_dim});
  for (const Tensor* norm : {q_norm, k_norm}) {
    if (!norm) continue;
    check_device_tensor(op, "q_norm/k_norm", *norm, DType::kBF16);
    check_shape(op, "q_norm/k_norm", *norm, {head_dim});
  }
  check_shape(op, "positions", positions, {tokens});
  check_shape(op, "inv_freq", inv_freq, {head_dim / 2});
  check_shape(op, "slot_mapping", slot_mapping, {tokens});
  if (qkv.dim(1) > INT32_MAX || k_cache.dim(2) > INT32_MAX) fail_check(op, "more than 2^31 - 1 heads");
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

void qkv_rope_cache_write(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv, const Tensor* q_norm,
                          const Tensor* k_norm, float eps, const Tensor& positions, const Tensor& inv_freq,
                          float attention_scaling, const Tensor& slot_mapping, Stream stream) {
  check_qkv_inputs(q, k_cache, v_cache, qkv, q_norm, k_norm, positions, inv_freq, slot_mapping);
  const int64_t num_tokens = q.dim(0);
  if (num_tokens == 0 || q.dim(2) == 0) return;
  const auto bf16_or_null = [](const Tensor* tensor) {
    return tensor ? static_cast<const __nv_bfloat16*>(tensor->raw()) : nullptr;
  };
  const QkvArgs args{
      .q = static_cast<__nv_bfloat16*>(q.raw()),
      .k_cache = static_cast<__nv_bfloat16*>(k_cache.raw()),
      .v_cache = static_cast<__nv_bfloat16*>(v_cache.raw()),
      .qkv = static_cast<const __nv_bfloat16*>(qkv.raw()),
      .q_norm = bf16_or_null(q_norm),
      .k_norm = bf16_or_null(k_norm),
      .positions = static_cast<const int32_t*>(positions.raw()),
      .inverse_frequencies = static_cast<const float*>(inv_freq.raw()),
      .slots = static_cast<const int32_t*>(slot_mapping.raw()),
      .num_heads = static_cast<int>(q.dim(1)),
      .kv_heads = static_cast<int>(k_cache.dim(2)),
      .half_dim = static_cast<int>(q.dim(2) / 2),
      .eps = eps,
      .attention_scaling = attention_scaling,
  };
  const int64_t total_heads = q.dim(1) + 2 * k_cache.dim(2);
  const dim3 grid(static_cast<unsigned>(num_tokens), static_cast<unsigned>((total_heads + kFusedWarps - 1) / kFusedWarps));
  const dim3 block(kFusedWarps * kWarpSize);
  const cudaStream_t cuda_stream = static_cast<cudaStream_t>(stream);
  auto* kernel = args.half_dim <= kWarpSize       ? qkv_rope_cache_write_kernel<1>
                 : args.half_dim <= 2 * kWarpSize ? qkv_rope_cache_write_kernel<2>
                                                  : qkv_rope_cache_write_kernel<4>;
  use_chain_carveout(reinterpret_cast<const void*>(kernel));
  launch_dependent(kernel, grid, block, 0, cuda_stream, 1, args);
}

}  // namespace hanlin::cuda
