// CPU paged KV-cache write (each new K/V row copied into its slot) and causal paged attention:
// plans the work (by kv head for prefill chunks, by slice of positions for decode rows; see
// attention_paths.h), runs it on the pool, then merges the decode rows' slices.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/attention_paths.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace hanlin::cpu {
namespace {

// Sequences with at most this many query rows (decode, short speculative runs) are split by
// slice of positions; longer ones (prefill chunks) by kv head.
constexpr int64_t kMaxSplitRows = 4;
// Query vectors per kv-head piece of work: as many as attend_by_head serves from each K/V tile
// read; smaller pieces would read the cache more often, larger ones balance threads worse.
constexpr int64_t kVectorsPerHeadWork = 64;
// Shortest slice worth its own partial result and merge.
constexpr int64_t kMinSliceLength = 8 * kPositionTile;

struct AttentionPlan {
  std::vector<HeadWork> by_head;
  std::vector<SliceWork> slices;    // consecutive for each row
  std::vector<int64_t> row_starts;  // index of each split row's first slice, then slices.size()
  std::vector<float> partials;      // the slices' partial results
};

// Slices of at least kMinSliceLength positions, about two per thread for a long context.
int64_t slice_length(int64_t visible, int64_t num_threads) {
  const int64_t even_share = (visible + 2 * num_threads - 1) / (2 * num_threads);
  return (std::max(kMinSliceLength, even_share) + kPositionTile - 1) / kPositionTile * kPositionTile;
}

AttentionPlan plan_work(std::span<const ops::AttentionSeq> seqs, const AttentionProblem& problem,
                        int64_t num_threads) {
  AttentionPlan plan;
  for (const ops::AttentionSeq& seq : seqs) {
    if (seq.q_len <= 0) continue;
    if (seq.q_len > kMaxSplitRows) {
      const int64_t rows_per_work = std::max<int64_t>(1, kVectorsPerHeadWork / problem.group());
      for (int64_t g = 0; g < problem.kv_heads; ++g) {
        for (int64_t r = 0; r < seq.q_len; r += rows_per_work) {
          plan.by_head.push_back({&seq, g, r, std::min<int64_t>(seq.q_len, r + rows_per_work)});
        }
      }
      continue;
    }
    for (int64_t r = 0; r < seq.q_len; ++r) {
      const int64_t visible = seq.context_len - seq.q_len + r + 1;
      const int64_t length = slice_length(visible, num_threads);
      plan.row_starts.push_back(static_cast<int64_t>(plan.slices.size()));
      for (int64_t begin = 0; begin < visible; begin += length) {
        plan.slices.push_back({&seq, r, begin, std::min(visible, begin + length), nullptr});
      }
    }
  }
  plan.row_starts.push_back(static_cast<int64_t>(plan.slices.size()));
  const int64_t partial_size = problem.num_heads * (kPartialHeader + problem.head_dim);
  plan.partials.resize(plan.slices.size() * static_cast<size_t>(partial_size));
  for (size_t i = 0; i < plan.slices.size(); ++i) {
    plan.slices[i].partial = plan.partials.data() + static_cast<int64_t>(i) * partial_size;
  }
  return plan;
}

}  // namespace

void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     std::span<const ops::AttentionSeq> seqs, float scale, const ops::Context& ctx) {
  const AttentionProblem problem{q.data<float>(),       out.data<float>(), k_cache.data<float>(),
                                 v_cache.data<float>(), q.dim(1),          k_cache.dim(2),
                                 k_cache.dim(3),        k_cache.dim(1),    scale,
                                 active_isa()};
  AttentionPlan plan = plan_work(seqs, problem, ctx.pool ? ctx.pool->num_threads() : 1);
  const int64_t num_by_head = static_cast<int64_t>(plan.by_head.size());
  const int64_t num_work = num_by_head + static_cast<int64_t>(plan.slices.size());
  parallel_for(ctx, num_work, 1, [&](int64_t begin, int64_t end) {
    AttentionScratch scratch;
    for (int64_t i = begin; i < end; ++i) {
      if (i < num_by_head) {
        attend_by_head(plan.by_head[static_cast<size_t>(i)], problem, scratch);
      } else {
        attend_slice(plan.slices[static_cast<size_t>(i - num_by_head)], problem, scratch);
      }
    }
  });
  for (size_t row = 0; row + 1 < plan.row_starts.size(); ++row) {
    merge_slices(plan.slices.data() + plan.row_starts[row], plan.row_starts[row + 1] - plan.row_starts[row],
                 problem);
  }
}

void kv_cache_write(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
                    std::span<const int32_t> slot_mapping, const ops::Context& ctx) {
  const int64_t row = k_cache.dim(2) * k_cache.dim(3);  // kv_heads * head_dim floats per slot
  const size_t row_bytes = static_cast<size_t>(row) * sizeof(float);
  float* k_cache_data = k_cache.data<float>();
  float* v_cache_data = v_cache.data<float>();
  const float* k_data = k.data<float>();
  const float* v_data = v.data<float>();
  parallel_for(ctx, static_cast<int64_t>(slot_mapping.size()), std::max<int64_t>(1, 16384 / row),
               [&](int64_t begin, int64_t end) {
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t slot = slot_mapping[static_cast<size_t>(t)];
                   if (slot < 0) continue;
                   std::memcpy(k_cache_data + slot * row, k_data + t * row, row_bytes);
                   std::memcpy(v_cache_data + slot * row, v_data + t * row, row_bytes);
                 }
               });
}

}  // namespace hanlin::cpu
