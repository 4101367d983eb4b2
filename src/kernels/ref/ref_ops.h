// Plain f32 versions of every op in kernels/ops.h: the oracle that the CPU and CUDA versions
// are tested against. Written for obviousness, not speed; sums that decide accuracy (dot
// products, means of squares, softmax) are accumulated in double.
#pragma once

#include <cstdint>
#include <span>

#include "core/thread_pool.h"
#include "kernels/ops.h"

namespace hanlin::ref {

// Same arguments, shapes and contracts as the ops:: functions of the same name; they trust
// their inputs (ops.cpp checks them). All run on the calling thread, except linear and
// paged_attention (the slow ones on real shapes), which hand their outputs to ctx.pool when
// there is one: each output is computed alone, the same way on any thread, so the numbers do
// not depend on the pool.
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

// compute(i) for every i in [0, count), over ctx.pool when there is one.
template <class Compute>
void for_each_output(int64_t count, const ops::Context& ctx, const Compute& compute) {
  const auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) compute(i);
  };
  if (ctx.pool == nullptr) return run(0, count);
  ctx.pool->parallel_for(count, 1, run);
}

}  // namespace hanlin::ref
