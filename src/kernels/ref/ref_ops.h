// Plain, single-threaded f32 versions of every op in kernels/ops.h: the oracle that the CPU
// and CUDA versions are tested against. Written for obviousness, not speed; sums that decide
// accuracy (dot products, means of squares, softmax) are accumulated in double.
#pragma once

#include <span>

#include "kernels/ops.h"

namespace hanlin::ref {

// Same arguments, shapes and contracts as the ops:: functions of the same name; they trust
// their inputs (ops.cpp checks them) and ignore ctx.
void embedding(Tensor& out, const Tensor& table, std::span<const int32_t> token_ids, const ops::Context& ctx);
void rms_norm(Tensor& out, const Tensor& in, const Tensor& weight, float eps, const ops::Context& ctx);
void add_rms_norm(Tensor& out, Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                  const ops::Context& ctx);
void head_rms_norm(Tensor& x, const Tensor& weight, float eps, const ops::Context& ctx);
void linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, const ops::Context& ctx);
void rope(Tensor& x, std::span<const int32_t> positions, const Tensor& inv_freq, float attention_scaling,
          const ops::Context& ctx);
void kv_cache_write(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
                    std::span<const int32_t> slot_mapping, const ops::Context& ctx);
void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     std::span<const ops::AttentionSeq> seqs, float scale, const ops::Context& ctx);
void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up, const ops::Context& ctx);

// Element `index` of a f32, bf16 or f16 tensor, as f32 (exact for all three).
float element_as_f32(const Tensor& tensor, int64_t index);

}  // namespace hanlin::ref
