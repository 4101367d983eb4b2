// Optimised CPU versions of the ops in kernels/ops.h: multi-threaded over ctx.pool (inline when
// it is null), AVX2/FMA/F16C where the processor has them (chosen at run time), portable
// scalar code otherwise. They trust their inputs: ops.cpp checks shapes and dtypes first.
#pragma once

#include <span>

#include "kernels/ops.h"

namespace hanlin::cpu {

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

// The instruction sets the kernels choose between.
enum class Isa { kScalar, kAvx2 };

// What this processor supports, capped by set_max_isa.
Isa active_isa();
// Caps the instruction set for the whole process, so tests and benchmarks can exercise the
// scalar fallback on a machine with AVX2. Not meant to be flipped while ops are running.
void set_max_isa(Isa isa);

}  // namespace hanlin::cpu
