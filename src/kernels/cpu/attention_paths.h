// Internal to kernels/cpu: the two ways paged attention splits its work. By kv head (prefill
// chunks: every K/V row fetched serves all query rows and heads of a GQA group), and by slice
// of positions (decode rows: each thread streams whole cache rows of one stretch of the
// context, and the slices' partial softmaxes are merged afterwards).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/attention_kernels.h"

namespace hanlin::cpu {

// Buffers a thread reuses from one piece of work to the next.
struct AttentionScratch {
  std::vector<float> scores;  // [vectors][positions]
  std::vector<float> acc;     // [vectors][accumulator_stride(head_dim)]
};

// Query rows [row_begin, row_end) of `seq` for the heads of kv head `kv_head`, written to out.
struct HeadWork {
  const ops::AttentionSeq* seq;
  int64_t kv_head;
  int64_t row_begin;
  int64_t row_end;
};
void attend_by_head(const HeadWork& work, const AttentionProblem& problem, AttentionScratch& scratch);

// Query row `row` of `seq`, all heads, over positions [begin, end) only. Its result is left in
// `partial` [heads][kPartialHeader + head_dim]: the scores' max, the sum of exp(score − max),
// then Σ exp(score − max)·v.
constexpr int64_t kPartialHeader = 2;
struct SliceWork {
  const ops::AttentionSeq* seq;
  int64_t row;
  int64_t begin;
  int64_t end;
  float* partial;
};
void attend_slice(const SliceWork& work, const AttentionProblem& problem, AttentionScratch& scratch);

// Writes out for one query row from the partial results of its `num_slices` consecutive slices.
void merge_slices(const SliceWork* slices, int64_t num_slices, const AttentionProblem& problem);

}  // namespace hanlin::cpu
