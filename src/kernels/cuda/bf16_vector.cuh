// Device helpers for the bf16 kernels: kVec consecutive bf16 values loaded to or stored from
// f32 registers in one access (16 bytes when kVec is 8, 2 bytes when kVec is 1), bf16 rounding,
// a warp's sum, and the MLP's activation.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace hanlin::cuda {

// The 8 bf16 values of a 16-byte piece, as f32.
__device__ __forceinline__ void unpack_bf16x8(const uint4& raw, float (&values)[8]) {
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 pair = __bfloat1622float2(pairs[k]);
    values[2 * k] = pair.x;
    values[2 * k + 1] = pair.y;
  }
}

template <int kVec>
__device__ __forceinline__ void load_bf16(const __nv_bfloat16* source, float (&values)[kVec]) {
  static_assert(kVec == 8 || kVec == 1, "16-byte or scalar accesses only");
  if constexpr (kVec == 8) {
    unpack_bf16x8(*reinterpret_cast<const uint4*>(source), values);
  } else {
    values[0] = __bfloat162float(*source);
  }
}

// Rounds to nearest even, as hanlin::to_bf16 and torch do.
template <int kVec>
__device__ __forceinline__ void store_bf16(__nv_bfloat16* destination, const float (&values)[kVec]) {
  static_assert(kVec == 8 || kVec == 1, "16-byte or scalar accesses only");
  if constexpr (kVec == 8) {
    uint4 raw;
    __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) pairs[k] = __floats2bfloat162_rn(values[2 * k], values[2 * k + 1]);
    *reinterpret_cast<uint4*>(destination) = raw;
  } else {
    *destination = __float2bfloat16_rn(values[0]);
  }
}

__device__ __forceinline__ float round_to_bf16(float value) {
  return __bfloat162float(__float2bfloat16_rn(value));
}

// The sum of `value` over the 32 lanes of a warp; every lane gets it.
__device__ __forceinline__ float warp_sum(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// rms_norm_kernel's threads per row for a row of num_vectors ≥ 1 vectors of 16 bytes (or elements):
// one per vector, in whole warps, at most kRmsNormMaxThreadsPerRow. The fused norm of the decode
// GEMVs (gemv.cu) sums a row's squares in the same order, so both take the count from here.
inline constexpr int kRmsNormMaxThreadsPerRow = 1024;

__host__ __device__ constexpr int rms_norm_threads_per_row(int64_t num_vectors) {
  constexpr int kWarp = 32;
  const int64_t whole_warps = (num_vectors + kWarp - 1) / kWarp * kWarp;
  return static_cast<int>(whole_warps < kRmsNormMaxThreadsPerRow ? whole_warps : kRmsNormMaxThreadsPerRow);
}

// SiLU in f32, as the MLP's activation (silu_mul, gated_linear).
__device__ __forceinline__ float silu(float value) { return value / (1.0f + expf(-value)); }

}  // namespace hanlin::cuda
