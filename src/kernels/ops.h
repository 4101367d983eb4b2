// The one op interface the model calls. Each op checks shapes and dtypes, then dispatches on
// the tensors' device to the optimised implementation (kernels/cpu now, kernels/cuda later).
// kernels/ref holds a plain f32 version of every op with the same arguments: the oracle the
// optimised ones are tested against.
//
// Conventions: outputs first; activations are f32 on the CPU; weights may be f32, bf16 or
// f16 and are converted on the fly; shapes in the comments use T = tokens in the batch.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace hanlin::ops {

// What an op may use besides its tensors: the CPU thread pool (later: the CUDA stream).
struct Context {
  ThreadPool* pool = nullptr;
};

// One sequence's share of a flattened batch (ARCHITECTURE.md, "BatchView"): its query rows
// are [q_start, q_start + q_len); its context (cached + new tokens) is context_len long,
// so query row i sits at absolute position context_len - q_len + i and attends to
// positions 0..that position (causal). block_table maps position p to the cache slot
// block_table[p / block_size] * block_size + p % block_size.
struct AttentionSeq {
  int32_t q_start = 0;
  int32_t q_len = 0;
  int32_t context_len = 0;
  std::span<const int32_t> block_table;
};

// out[T, H] = table[token_ids[t], :]; table [V, H] any dtype. Ids must be in [0, V).
void embedding(Tensor& out, const Tensor& table, std::span<const int32_t> token_ids, const Context& ctx);

// out[T, H] = in / sqrt(mean(in²) + eps) * weight; weight [H]. out may alias in.
void rms_norm(Tensor& out, const Tensor& in, const Tensor& weight, float eps, const Context& ctx);

// residual[T, H] += x; out = rms_norm(residual). (The pre-norm residual stream, fused.)
void add_rms_norm(Tensor& out, Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                  const Context& ctx);

// In place over the last dimension of x [T, heads, head_dim]; weight [head_dim] (Qwen3 q/k norm).
void head_rms_norm(Tensor& x, const Tensor& weight, float eps, const Context& ctx);

// out[T, N] = in[T, K] · weight[N, K]ᵀ (+ bias[N]); bias may be null.
void linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, const Context& ctx);

// Rotary embedding, neox layout (the two halves of each head rotate as pairs), in place on
// x [T, heads, head_dim]: angle = positions[t] * inv_freq[i] in f32, and cos/sin are scaled
// by attention_scaling (YaRN's mscale; 1 otherwise). inv_freq [head_dim / 2], f32.
void rope(Tensor& x, std::span<const int32_t> positions, const Tensor& inv_freq, float attention_scaling,
          const Context& ctx);

// Writes k, v [T, kv_heads, head_dim] into the paged caches [num_blocks, block_size, kv_heads,
// head_dim] at slot_mapping[t] (a flat slot = block * block_size + offset); -1 skips the row.
void kv_cache_write(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
                    std::span<const int32_t> slot_mapping, const Context& ctx);

// Causal attention of q [T, heads, head_dim] over the paged caches for each sequence in
// `seqs`; out [T, heads, head_dim]. heads must be a multiple of kv_heads (GQA/MQA): query
// head h reads kv head h / (heads / kv_heads). Rows not covered by any sequence are left as is.
void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     std::span<const AttentionSeq> seqs, float scale, const Context& ctx);

// out[T, I] = silu(gate[T, I]) * up[T, I].
void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up, const Context& ctx);

}  // namespace hanlin::ops
