// Internal to kernels/cpu: what both ways of splitting paged attention share. The three passes
// over one batch of query vectors that read the same kv head (scores of a tile of K rows,
// softmax numerators, weighted sum of a tile of V rows), each in a scalar and an AVX2 version
// picked by `isa`, and the walk over positions in tiles whose row pointers come from the block table.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/cpu_ops.h"

namespace hanlin::cpu {

constexpr int kMaxQueryBatch = 8;      // vectors scored together: 8 FMA chains keep both FMA ports busy
constexpr int64_t kPositionTile = 32;  // 32 V rows of head_dim 128 = 16 KiB, stays in L1 while reused

// The tensors and sizes of one paged_attention call.
struct AttentionProblem {
  const float* q;        // [T, heads, head_dim]
  float* out;            // [T, heads, head_dim]
  const float* k_cache;  // [num_blocks, block_size, kv_heads, head_dim]
  const float* v_cache;
  int64_t num_heads;
  int64_t kv_heads;
  int64_t head_dim;
  int64_t block_size;
  float scale;
  Isa isa;

  int64_t group() const { return num_heads / kv_heads; }
};

// Up to kMaxQueryBatch query vectors sharing one kv head; vector i attends to positions
// 0..last[i] (inclusive, relative to the first position passed to the passes) and max_last
// is the largest of those.
struct QueryBatch {
  int count = 0;
  const float* q[kMaxQueryBatch] = {};  // [head_dim] each
  float* out[kMaxQueryBatch] = {};      // [head_dim] each
  int64_t last[kMaxQueryBatch] = {};
  int64_t max_last = -1;
};

// Rows of an accumulator: head_dim rounded up to a whole number of 32-float sweeps.
constexpr int64_t accumulator_stride(int64_t head_dim) {
  return (head_dim + 31) / 32 * 32;
}

// scores[i * stride + p0 + r] = scale · q[i] · rows[r] for r < num_rows.
void score_tile(Isa isa, float* scores, int64_t stride, const QueryBatch& batch, const float* const* rows,
                int64_t num_rows, int64_t p0, int64_t head_dim, float scale);

// acc[i * acc_stride + d] += Σ_r weights[i * stride + p0 + r] · rows[r][d] for i < count.
void accumulate_tile(Isa isa, float* acc, int64_t acc_stride, const float* weights, int64_t stride, int count,
                     const float* const* rows, int64_t num_rows, int64_t p0, int64_t head_dim);

struct SoftmaxStats {
  float max;  // -inf when there are no scores
  float sum;  // of exp(score − max)
};
// Replaces scores[0..last] by exp(score − max) and zeroes (last, max_last]; last may be -1.
SoftmaxStats softmax_numerators(Isa isa, float* scores, int64_t last, int64_t max_last);

// Row pointers of positions [p0, p0 + count) of kv head `kv_head` in `cache`.
void gather_rows(const float** rows, const float* cache, const AttentionProblem& problem,
                 std::span<const int32_t> block_table, int64_t kv_head, int64_t p0, int64_t count);

}  // namespace hanlin::cpu
