// Paged attention for decode rows, split by slice of positions: one query row, all heads, one
// stretch of the context, so a thread reads whole cache rows (every kv head) block after block
// instead of one head's short runs. Each slice keeps its own softmax max, sum and unnormalised
// output; merge_slices rescales them to the common max and combines them exactly.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/attention_paths.h"

namespace hanlin::cpu {
namespace {

// Positions per tile. Every kv head of a tile is visited before the next tile, so the tile's
// cache rows (kv_heads·head_dim floats each, 4 KiB for Qwen3-0.6B) are read as a few short
// sequential regions the hardware prefetchers follow; far more rows at once and they lose track.
constexpr int64_t kSliceTile = 8;

// The query vectors of kv head `kv_head` for one row: the heads of its group, from `first`,
// at most kMaxQueryBatch of them; `last` is relative to the slice start.
QueryBatch group_batch(const AttentionProblem& problem, int64_t token, int64_t first, int64_t end,
                       int64_t last) {
  QueryBatch batch;
  for (int64_t h = first; h < end && batch.count < kMaxQueryBatch; ++h) {
    batch.q[batch.count] = problem.q + (token * problem.num_heads + h) * problem.head_dim;
    batch.last[batch.count] = last;
    ++batch.count;
  }
  batch.max_last = last;
  return batch;
}

// Calls visit(first_head, batch) for every batch of query heads of the row, kv head by kv head.
template <class Visit>
void for_each_batch(const AttentionProblem& problem, int64_t token, int64_t last, const Visit& visit) {
  const int64_t group = problem.group();
  for (int64_t g = 0; g < problem.kv_heads; ++g) {
    for (int64_t h = g * group; h < (g + 1) * group; h += kMaxQueryBatch) {
      visit(g, h, group_batch(problem, token, h, (g + 1) * group, last));
    }
  }
}

// Scores of every head over the slice's positions, tile by tile, every kv head of a tile
// before the next, so each cache row is consumed whole while it is in cache.
void score_slice(const SliceWork& work, const AttentionProblem& problem, int64_t token, int64_t length,
                 float* scores) {
  const float* rows[kSliceTile];
  for (int64_t p0 = 0; p0 < length; p0 += kSliceTile) {
    const int64_t count = std::min(kSliceTile, length - p0);
    for_each_batch(
        problem, token, length - 1, [&](int64_t kv_head, int64_t first_head, const QueryBatch& batch) {
          gather_rows(rows, problem.k_cache, problem, work.seq->block_table, kv_head, work.begin + p0, count);
          score_tile(problem.isa, scores + first_head * length, length, batch, rows, count, p0,
                     problem.head_dim, problem.scale);
        });
  }
}

void accumulate_slice(const SliceWork& work, const AttentionProblem& problem, int64_t token, int64_t length,
                      const float* weights, float* acc) {
  const int64_t acc_stride = accumulator_stride(problem.head_dim);
  const float* rows[kSliceTile];
  for (int64_t p0 = 0; p0 < length; p0 += kSliceTile) {
    const int64_t count = std::min(kSliceTile, length - p0);
    for_each_batch(
        problem, token, length - 1, [&](int64_t kv_head, int64_t first_head, const QueryBatch& batch) {
          gather_rows(rows, problem.v_cache, problem, work.seq->block_table, kv_head, work.begin + p0, count);
          accumulate_tile(problem.isa, acc + first_head * acc_stride, acc_stride,
                          weights + first_head * length, length, batch.count, rows, count, p0,
                          problem.head_dim);
        });
  }
}

}  // namespace

void attend_slice(const SliceWork& work, const AttentionProblem& problem, AttentionScratch& scratch) {
  const ops::AttentionSeq& seq = *work.seq;
  const int64_t token = seq.q_start + work.row;
  const int64_t last = seq.context_len - seq.q_len + work.row;
  const int64_t length = std::max<int64_t>(0, std::min(work.end, last + 1) - work.begin);
  const int64_t acc_stride = accumulator_stride(problem.head_dim);
  const int64_t partial_stride = kPartialHeader + problem.head_dim;
  scratch.scores.resize(static_cast<size_t>(problem.num_heads * std::max<int64_t>(length, 1)));
  scratch.acc.assign(static_cast<size_t>(problem.num_heads * acc_stride), 0.0f);
  score_slice(work, problem, token, length, scratch.scores.data());
  for (int64_t h = 0; h < problem.num_heads; ++h) {
    const SoftmaxStats stats =
        softmax_numerators(problem.isa, scratch.scores.data() + h * length, length - 1, length - 1);
    work.partial[h * partial_stride] = stats.max;
    work.partial[h * partial_stride + 1] = stats.sum;
  }
  accumulate_slice(work, problem, token, length, scratch.scores.data(), scratch.acc.data());
  for (int64_t h = 0; h < problem.num_heads; ++h) {
    std::copy_n(scratch.acc.data() + h * acc_stride, problem.head_dim,
                work.partial + h * partial_stride + kPartialHeader);
  }
}

void merge_slices(const SliceWork* slices, int64_t num_slices, const AttentionProblem& problem) {
  const ops::AttentionSeq& seq = *slices[0].seq;
  const int64_t token = seq.q_start + slices[0].row;
  const int64_t partial_stride = kPartialHeader + problem.head_dim;
  for (int64_t h = 0; h < problem.num_heads; ++h) {
    float max_score = -INFINITY;
    for (int64_t s = 0; s < num_slices; ++s)
      max_score = std::max(max_score, slices[s].partial[h * partial_stride]);
    float* out = problem.out + (token * problem.num_heads + h) * problem.head_dim;
    std::fill_n(out, problem.head_dim, 0.0f);
    float sum = 0;
    for (int64_t s = 0; s < num_slices; ++s) {
      const float* partial = slices[s].partial + h * partial_stride;
      if (partial[1] == 0) continue;  // a slice wholly past the causal limit
      const float weight = std::exp(partial[0] - max_score);
      sum += weight * partial[1];
      for (int64_t d = 0; d < problem.head_dim; ++d) out[d] += weight * partial[kPartialHeader + d];
    }
    const float inverse_sum = 1.0f / sum;
    for (int64_t d = 0; d < problem.head_dim; ++d) out[d] *= inverse_sum;
  }
}

}  // namespace hanlin::cpu
