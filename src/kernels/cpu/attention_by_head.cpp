// Paged attention split by kv head: each piece of work takes the query vectors that read one kv
// head (the heads of its GQA group for a run of rows) in batches of kMaxQueryBatch, and every
// K/V tile fetched serves all of them: scores over all visible positions, an exact two-pass
// softmax, then the weighted sum of V.
#include <algorithm>

#include "kernels/cpu/attention_paths.h"

namespace hanlin::cpu {
namespace {

// Asks for every cache line of the rows: one kv head's rows are short runs scattered over the
// cache, which the hardware prefetchers do not follow (measured: prefill attention at 2048
// tokens took about 1.6× as long without it).
void prefetch_rows(const float* const* rows, int64_t count, int64_t head_dim) {
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t d = 0; d < head_dim; d += 16) __builtin_prefetch(rows[i] + d, 0, 3);
  }
}

// Walks positions [0, length) in tiles of kPositionTile, handing each tile's row pointers to
// `visit` while the next tile's rows are already being fetched.
template <class Visit>
void for_each_tile(const float* cache, const AttentionProblem& problem, std::span<const int32_t> block_table,
                   int64_t kv_head, int64_t length, const Visit& visit) {
  const float* tiles[2][kPositionTile];
  int current = 0;
  gather_rows(tiles[current], cache, problem, block_table, kv_head, 0, std::min(kPositionTile, length));
  prefetch_rows(tiles[current], std::min(kPositionTile, length), problem.head_dim);
  for (int64_t p0 = 0; p0 < length; p0 += kPositionTile) {
    const int64_t next_p0 = p0 + kPositionTile;
    if (next_p0 < length) {
      const int64_t next_count = std::min(kPositionTile, length - next_p0);
      gather_rows(tiles[1 - current], cache, problem, block_table, kv_head, next_p0, next_count);
      prefetch_rows(tiles[1 - current], next_count, problem.head_dim);
    }
    visit(tiles[current], p0, std::min(kPositionTile, length - p0));
    current = 1 - current;
  }
}

// Up to kBatchesPerWork query batches of one kv head, which share every K/V tile read.
constexpr int kBatchesPerWork = 8;
struct BatchSet {
  QueryBatch batches[kBatchesPerWork];
  int count = 0;
  int64_t max_last = -1;  // over all batches: the positions to visit
};

// Adds one query vector to the set (which must not be full).
void add_vector(BatchSet& set, const float* q, float* out, int64_t last) {
  if (set.count == 0 || set.batches[set.count - 1].count == kMaxQueryBatch) ++set.count;
  QueryBatch& batch = set.batches[set.count - 1];
  batch.q[batch.count] = q;
  batch.out[batch.count] = out;
  batch.last[batch.count] = last;
  batch.max_last = std::max(batch.max_last, last);
  set.max_last = std::max(set.max_last, last);
  ++batch.count;
}

bool is_full(const BatchSet& set) {
  return set.count == kBatchesPerWork && set.batches[set.count - 1].count == kMaxQueryBatch;
}

// Scores, softmax and weighted sum of V for every batch of the set, each K and V tile used by
// all batches that see it while it is in L1. Scores of batch b, vector i start at
// ((b · kMaxQueryBatch) + i) · stride.
void attend_batches(const BatchSet& set, const AttentionProblem& problem,
                    std::span<const int32_t> block_table, int64_t kv_head, AttentionScratch& scratch) {
  const int64_t stride = set.max_last + 1;
  const int64_t acc_stride = accumulator_stride(problem.head_dim);
  const int64_t vectors = int64_t{kBatchesPerWork} * kMaxQueryBatch;
  scratch.scores.resize(static_cast<size_t>(vectors * stride));
  scratch.acc.assign(static_cast<size_t>(vectors * acc_stride), 0.0f);
  float* scores = scratch.scores.data();
  float* acc = scratch.acc.data();
  const auto batch_scores = [&](int b) { return scores + b * kMaxQueryBatch * stride; };
  for_each_tile(problem.k_cache, problem, block_table, kv_head, stride,
                [&](const float* const* rows, int64_t p0, int64_t count) {
                  for (int b = 0; b < set.count; ++b) {
                    const int64_t visible = std::min(count, set.batches[b].max_last + 1 - p0);
                    if (visible <= 0) continue;
                    score_tile(problem.isa, batch_scores(b), stride, set.batches[b], rows, visible, p0,
                               problem.head_dim, problem.scale);
                  }
                });
  float sums[kBatchesPerWork][kMaxQueryBatch];
  for (int b = 0; b < set.count; ++b) {
    const QueryBatch& batch = set.batches[b];
    for (int i = 0; i < batch.count; ++i) {
      sums[b][i] =
          softmax_numerators(problem.isa, batch_scores(b) + i * stride, batch.last[i], batch.max_last).sum;
    }
  }
  for_each_tile(problem.v_cache, problem, block_table, kv_head, stride,
                [&](const float* const* rows, int64_t p0, int64_t count) {
                  for (int b = 0; b < set.count; ++b) {
                    const int64_t visible = std::min(count, set.batches[b].max_last + 1 - p0);
                    if (visible <= 0) continue;
                    accumulate_tile(problem.isa, acc + b * kMaxQueryBatch * acc_stride, acc_stride,
                                    batch_scores(b), stride, set.batches[b].count, rows, visible, p0,
                                    problem.head_dim);
                  }
                });
  for (int b = 0; b < set.count; ++b) {
    const QueryBatch& batch = set.batches[b];
    for (int i = 0; i < batch.count; ++i) {
      const float inverse_sum = 1.0f / sums[b][i];
      const float* sum = acc + (b * kMaxQueryBatch + i) * acc_stride;
      for (int64_t d = 0; d < problem.head_dim; ++d) batch.out[i][d] = sum[d] * inverse_sum;
    }
  }
}

}  // namespace

void attend_by_head(const HeadWork& work, const AttentionProblem& problem, AttentionScratch& scratch) {
  const ops::AttentionSeq& seq = *work.seq;
  const int64_t group = problem.group();
  BatchSet set;
  for (int64_t r = work.row_begin; r < work.row_end; ++r) {
    const int64_t token = seq.q_start + r;
    const int64_t last = seq.context_len - seq.q_len + r;
    for (int64_t h = work.kv_head * group; h < (work.kv_head + 1) * group; ++h) {
      const int64_t offset = (token * problem.num_heads + h) * problem.head_dim;
      add_vector(set, problem.q + offset, problem.out + offset, last);
      if (is_full(set)) {
        attend_batches(set, problem, seq.block_table, work.kv_head, scratch);
        set = BatchSet{};
      }
    }
  }
  if (set.count > 0) attend_batches(set, problem, seq.block_table, work.kv_head, scratch);
}

}  // namespace hanlin::cpu
