// Products with a few token rows (decode steps): out = in · weightᵀ read at close to the memory's
// bandwidth. cuda::linear and cuda::gated_linear route here when gemv_applies; larger batches go
// to cuBLASLt. Internal to kernels/cuda.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::cuda {

// The most token rows the kernel takes. Each further row costs every weight piece another 16-byte
// read of the token rows through L1, and past two cuBLASLt's tensor-core kernels were faster
// (H100, Qwen3-8B's shapes: at T = 4 the down projection took 47 µs here against 40 µs there).
inline constexpr int64_t kMaxGemvTokens = 2;

// Whether gemv can run this product: few enough rows, K a multiple of 8, and `in` and `weight`
// 16-byte aligned (each thread reads 8 bf16 at a time).
bool gemv_applies(int64_t num_tokens, const Tensor& in, const Tensor& weight);
// The same for a pre-norm input, whose tensors must all be 16-byte aligned and whose normed rows
// (T · K bf16) must fit the 48 KB of shared memory a block gets without opting in.
bool gemv_applies(int64_t num_tokens, const PreNorm& in, const Tensor& weight);

// out[T, N] = in[T, K] · weight[N, K]ᵀ (+ bias[N]), the sum and bias in f32, rounded once.
// Checked by the caller (cuda::linear).
void gemv(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, int64_t num_tokens,
          Stream stream);
// The same with the input's norm folded in (PreNorm, cuda_ops.h): each block first builds the
// normed token rows in shared memory, summing the squares of residual + delta in rms_norm's order,
// and block 0 writes residual_out. The output and residual_out are exactly the unfused ones.
void gemv(Tensor& out, const PreNorm& in, const Tensor& weight, const Tensor* bias, int64_t num_tokens,
          Stream stream);

// out[T, N] = in[T, K] · weight[N, K]ᵀ (+ bias[N]), one output per thread with scalar loads: slow,
// for shapes whose rows are not whole 16-byte pieces (K not a multiple of 8), which no Qwen
// checkpoint has and cuBLASLt got wrong (H100: K = 1001 at T = 9 gave sums off by up to 10 %,
// whatever alignment the heuristic was told).
void scalar_linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, int64_t num_tokens,
                   Stream stream);

// out[T, I] = silu(g) · u with g = in · gate_up[0:I]ᵀ and u = in · gate_up[I:2I]ᵀ, each rounded to
// bf16 first (the numbers linear then silu_mul give). Checked by the caller (cuda::gated_linear).
void gated_gemv(Tensor& out, const Tensor& in, const Tensor& gate_up, int64_t num_tokens, Stream stream);
void gated_gemv(Tensor& out, const PreNorm& in, const Tensor& gate_up, int64_t num_tokens, Stream stream);

}  // namespace hanlin::cuda
