// Causal attention of bf16 query rows over the paged bf16 KV cache (ops::paged_attention's
// semantics): one pass over each row's context with an f32 online softmax, decode and prefill rows
// in one kernel, the query heads that share a kv head served together so each K/V row is read once.
//
// Layout of the work. One thread block per (query row, kv head, chunk of up to kMaxHeadsPerBlock of
// the query heads that read that kv head). Within the block, kHeadDim / 8 consecutive threads (a
// "key team") hold one K or V row between them, a 16-byte vector (8 bf16) each, so a row is one
// coalesced read; the block's blockDim.x / (kHeadDim / 8) teams walk the context interleaved, each
// key read once per block and used by all of the block's query heads. For a key a thread forms the
// partial dot products of its 8 dimensions with every head's query and the team sums them with
// shuffles; V is accumulated in the same layout, so a thread owns 8 output dimensions per head.
//
// Why a team per key rather than a thread per key: the team's 16-byte loads are coalesced (a full
// row per team), the V accumulation needs no second layout and no scores in shared memory, and
// with each team running its own online softmax (running max, running sum and accumulator) the
// main loop has no block barrier at all; the teams' states are merged once at the end.
//
// Each team takes kKeysPerStep keys per step and issues their K and V loads before using any, so
// every thread has 8 independent 16-byte loads in flight. Scores live in the log2 domain (the
// query is pre-multiplied by scale·log2 e), so the softmax uses exp2f.
//
// Splitting the context. A grid narrower than the GPU (decode at small batch: kv_heads blocks for
// one row) would leave most SMs idle and the read far below the memory's bandwidth, so the launcher
// then splits each row's context over several blocks, in the way the caller passes
// (cuda::AttentionWay; cuda::attention_way picks one from the rows and the longest context):
// - Workspace (flash-decoding): contiguous ranges of whole steps, one block each, with as many
//   splits as fill every SM's resident blocks once. Each block of a split group (a row, kv head and
//   chunk of heads) leaves its partial softmax state in a fixed device workspace and counts itself
//   in; the last to arrive merges the group's states (through subtotals when there are many, see
//   kMaxMerged) and writes the output, so the launch stays one kernel. The context lengths live
//   on the device (and a captured graph replays one launch for every length), so the split count
//   is fixed by the grid's shape and each row's ranges by its length: a short context uses fewer
//   splits, the rest of its blocks leave at once, and a row whose context fits one split writes its
//   output directly. The workspace is one per device at a fixed address (captured graphs keep its
//   pointers), so calls on one device must not overlap in time: hanlin issues a device's kernels
//   on one stream.
// - Clusters: a thread-block cluster of up to 8 blocks per row, each taking every 8th step of
//   keys, merged through distributed shared memory. Measured on Qwen3-8B decode at batch 1 (one
//   H100), the workspace's merge made a step 0.15 ms slower at contexts of about 100 and 0.33 ms
//   at 1K, while at 16K the many splits made it 1.6 ms faster.
// - Tensor cores: another walk for small launches, its splits merged through a cluster or the
//   workspace (see "Small batches" below), and for wide ones, the rows' keys cut into parts of
//   about equal length (see "Wide launches").
//
// Not done here: tensor-core tiles over several query rows for long prefills (each row reads its
// own context, from L2 in practice, and the dot products run on the CUDA cores).
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <string>

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/bf16_vector.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"

namespace hanlin::cuda {
namespace {

// 128 threads: four blocks fit an SM at Qwen3's shapes (128 registers a thread), so a full wave of
// blocks keeps reads in flight while others compute; the split count is chosen to fill that wave.
constexpr int kThreads = 128;
constexpr int kMaxHeadsPerBlock = 8;
constexpr int kMaxHeadDim = 128;
constexpr int kKeysPerStep = 4;
constexpr int kMaxSplits = 128;     // per group (then 16 subtotals for the merge tree's top)
constexpr int kMaxPartials = 4096;  // split blocks per launch: the workspace's size (18 MiB)
constexpr int kWarpSize = 32;
constexpr float kLog2E = 1.4426950408889634f;

// The launch's shapes and pointers; the kernel trusts them (the launcher checked the tensors).
struct AttentionArgs {
  __nv_bfloat16* out;            // [T, num_heads, head_dim]
  const __nv_bfloat16* q;        // [T, num_heads, head_dim]
  const __nv_bfloat16* k_cache;  // [num_blocks, block_size, kv_heads, head_dim]
  const __nv_bfloat16* v_cache;  // [num_blocks, block_size, kv_heads, head_dim]
  const int32_t* seqs;           // [S, 3]: q_start, q_len, context_len
  const int32_t* block_tables;   // [S, max_blocks_per_seq]
  const int32_t* row_seq;        // [T]: the row's sequence, or -1
  const int32_t* rows;           // [R]: the rows the launch computes, blockIdx.x indexing it; null: all
  int num_heads;
  int kv_heads;
  int heads_per_kv_head;  // num_heads / kv_heads
  int block_size;
  int max_blocks_per_seq;
  float scale_log2;  // scale · log2 e
};

// The sum of `value` over the kTeam consecutive lanes of this thread's key team; every lane gets it.
template <int kTeam>
__device__ __forceinline__ float team_sum(float value) {
#pragma unroll
  for (int offset = kTeam / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// One key team's online-softmax state for kHeads query heads over its 8 dimensions.
template <int kHeads>
struct SoftmaxState {
  float running_max[kHeads];  // log2-domain; -inf until the team has seen a key
  float running_sum[kHeads];  // Σ 2^(score − running_max)
  float accumulator[kHeads][8];
};

// Folds kKeysPerStep keys (scores [j][h], -inf for keys past the row's limit, and their V
// vectors) into the state: rescale once by the step's new maximum, then accumulate.
template <int kHeads>
__device__ __forceinline__ void fold_step(SoftmaxState<kHeads>& state,
                                          const float (&scores)[kKeysPerStep][kHeads],
                                          const uint4 (&v_raw)[kKeysPerStep]) {
  float base[kHeads];
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    float new_max = state.running_max[h];
#pragma unroll
    for (int j = 0; j < kKeysPerStep; ++j) new_max = fmaxf(new_max, scores[j][h]);
    // A team that has seen only masked keys stays at -inf; subtracting 0 then keeps exp2 at 0, not NaN.
    base[h] = new_max == -INFINITY ? 0.0f : new_max;
    const float correction = exp2f(state.running_max[h] - base[h]);
    state.running_max[h] = new_max;
    state.running_sum[h] *= correction;
#pragma unroll
    for (int i = 0; i < 8; ++i) state.accumulator[h][i] *= correction;
  }
#pragma unroll
  for (int j = 0; j < kKeysPerStep; ++j) {
    float v[8];
    unpack_bf16x8(v_raw[j], v);
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      const float weight = exp2f(scores[j][h] - base[h]);
      state.running_sum[h] += weight;
#pragma unroll
      for (int i = 0; i < 8; ++i) state.accumulator[h][i] = fmaf(weight, v[i], state.accumulator[h][i]);
    }
  }
}

// A block's softmax state for its heads after merging its teams: output[h] = Σ 2^(score − max[h])·v
// over the block's keys, not yet divided by sum[h]. max[h] is -inf when the block saw no key.
template <int kHeadDim, int kHeads>
struct BlockState {
  float max[kHeads];
  float sum[kHeads];
  float output[kHeads][kHeadDim];
};

// Merges partial states: the one over all parts is Σ part·2^(max_part − M), M the largest max.
// 2^(max_part − M) is 0 for a part that saw no key; at least one part saw one.
__device__ __forceinline__ float rescale(float part_max, float overall_max) {
  return exp2f(part_max - (overall_max == -INFINITY ? 0.0f : overall_max));
}

// Merges the block's teams into `block` through shared memory; every thread must call it. The
// teams' outputs of as many heads as fit kTeamOutputBytes go in one round (one barrier pair);
// 256-thread blocks with 8 heads take two rounds.
constexpr int kTeamOutputBytes = 32 * 1024;

template <int kHeadDim, int kHeads, int kBlockThreads>
__device__ void merge_teams(const SoftmaxState<kHeads>& state, BlockState<kHeadDim, kHeads>& block,
                            int num_heads_here) {
  constexpr int kTeam = kHeadDim / 8;
  constexpr int kMaxTeams = kBlockThreads / kTeam;
  constexpr int kHeadsPerRound = std::min<int>(kHeads, kTeamOutputBytes / (kMaxTeams * kHeadDim * 4));
  static_assert(kHeadsPerRound >= 1 && kHeads % kHeadsPerRound == 0, "whole rounds of heads");
  __shared__ float team_max[kMaxTeams][kHeads];
  __shared__ float team_sum_of[kMaxTeams][kHeads];
  __shared__ float team_output[kMaxTeams][kHeadsPerRound][kHeadDim];
  const int team = threadIdx.x / kTeam;
  const int lane = threadIdx.x % kTeam;
  const int num_teams = blockDim.x / kTeam;
  if (lane == 0) {
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      team_max[team][h] = state.running_max[h];
      team_sum_of[team][h] = state.running_sum[h];
    }
  }
  __syncthreads();
#pragma unroll
  for (int first = 0; first < kHeads; first += kHeadsPerRound) {
    if (first >= num_heads_here) break;  // uniform across the block
#pragma unroll
    for (int r = 0; r < kHeadsPerRound; ++r) {
      const int h = first + r;
      float block_max = -INFINITY;
      for (int t = 0; t < num_teams; ++t) block_max = fmaxf(block_max, team_max[t][h]);
      const float weight = rescale(state.running_max[h], block_max);
#pragma unroll
      for (int i = 0; i < 8; ++i) team_output[team][r][lane * 8 + i] = state.accumulator[h][i] * weight;
    }
    __syncthreads();
    const int heads_this_round = min(kHeadsPerRound, num_heads_here - first);
    for (int e = threadIdx.x; e < heads_this_round * kHeadDim; e += blockDim.x) {
      const int r = e / kHeadDim;
      float numerator = 0.0f;
      for (int t = 0; t < num_teams; ++t) numerator += team_output[t][r][e % kHeadDim];
      block.output[first + r][e % kHeadDim] = numerator;
    }
    __syncthreads();  // team_output is rewritten in the next round
  }
  if (threadIdx.x < num_heads_here) {
    const int h = threadIdx.x;
    float block_max = -INFINITY;
    for (int t = 0; t < num_teams; ++t) block_max = fmaxf(block_max, team_max[t][h]);
    float sum = 0.0f;
    for (int t = 0; t < num_teams; ++t) sum += team_sum_of[t][h] * rescale(team_max[t][h], block_max);
    block.max[h] = block_max;
    block.sum[h] = sum;
  }
  __syncthreads();
}

// Writes out[h][d] = output / sum for the block's heads.
template <int kHeadDim, int kHeads>
__device__ void store_output(const BlockState<kHeadDim, kHeads>& block,
                             __nv_bfloat16* out,  // [kHeads, kHeadDim]
                             int num_heads_here) {
  for (int e = threadIdx.x; e < num_heads_here * kHeadDim; e += blockDim.x) {
    const int h = e / kHeadDim;
    out[e] = __float2bfloat16_rn(block.output[h][e % kHeadDim] / block.sum[h]);
  }
}

// A split block's state for its heads (BlockState's numbers), or the merged state of several.
struct alignas(16) PartialState {
  float max[kMaxHeadsPerBlock];
  float sum[kMaxHeadsPerBlock];
  float output[kMaxHeadsPerBlock * kMaxHeadDim];  // [heads here, head_dim], not yet divided by sum
};

// Partial states are merged in one level up to kMaxMerged of them: the group's last block merges
// them straight into the output. A larger group (its split count then a multiple of kMergeWidth)
// first merges each subgroup of kMergeWidth consecutive splits into a subtotal, as the subgroup's
// last block arrives (most subgroups while others still read), then the subtotals. A merge reads
// kMergeBatch states' vectors per thread at once, so up to kMergeBatch states take one round trip to
// L2 and kMaxMerged two: cheaper than a tree's second level, which adds a store and a count on the
// way (measured at batch 1 and 2, 4K context, 32 splits: 0.75–1.0 µs a call, when a count still
// took two fences).
constexpr int kMergeWidth = 8;
constexpr int kMergeBatch = 16;
constexpr int kMaxMerged = 2 * kMergeBatch;
static_assert(kMaxSplits / kMergeWidth <= kMaxMerged && kMaxMerged <= kWarpSize,
              "a merge's states fit one warp's lanes");

// The split groups' workspace: partial states at group · num_splits + split, subtotals at
// (group · num_splits) / kMergeWidth + subgroup, and the counts of states left so far. The block that
// completes a count sets it back to 0, so every launch finds the counts at 0 (they start so: device
// globals are zero-initialised).
__device__ PartialState split_partials[kMaxPartials];
__device__ PartialState split_subtotals[kMaxPartials / kMergeWidth];
__device__ unsigned int subgroup_arrivals[kMaxPartials / kMergeWidth];
__device__ unsigned int group_arrivals[kMaxPartials];

// The contiguous keys [begin, end) of one split of a row: ranges of whole steps, as even as that
// allows, so only the last range ends inside a step; splits past a short context get none.
struct KeyRange {
  int begin;
  int end;
  int step_stride = 0;  // keys between one step's start and the next; 0: the next step (contiguous)
};

// A split reads at least this many keys: below it the merge through the workspace (a few µs of
// fences, atomics and L2 reads) costs more than the shorter walk saves, so a context this short is
// one split and writes its output directly (measured end to end: batch-1 decode at contexts of
// 32–160 was 0.15 ms a step slower on Qwen3-8B with every context split).
constexpr int kMinKeysPerSplit = 128;

__device__ __forceinline__ int keys_per_split(int num_keys, int num_splits, int keys_per_step) {
  const int even_share = max((num_keys + num_splits - 1) / num_splits, kMinKeysPerSplit);
  return (even_share + keys_per_step - 1) / keys_per_step * keys_per_step;
}

__device__ __forceinline__ KeyRange split_keys(int num_keys, int num_splits, int split, int keys_per_step) {
  const int64_t per_split = keys_per_split(num_keys, num_splits, keys_per_step);
  const int64_t begin = split * per_split;
  const int64_t end = begin + per_split;
  return {static_cast<int>(begin < num_keys ? begin : num_keys),
          static_cast<int>(end < num_keys ? end : num_keys)};
}

// How many of a row's splits have keys (the group's blocks that leave a partial state).
__device__ __forceinline__ int splits_with_keys(int num_keys, int num_splits, int keys_per_step) {
  const int per_split = keys_per_split(num_keys, num_splits, keys_per_step);
  return (num_keys + per_split - 1) / per_split;
}

__device__ __forceinline__ float warp_max(float value) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// Whether this block completes `count` (the `expected`-th state left); every thread calls it after
// writing its share of the block's state. One thread counts the block in with an acquire-release
// add at device scope, after a barrier: its release publishes every write the barrier ordered
// before it (the whole block's state), and in the completing block its acquire, extended to the
// other threads by the barrier after it, orders their reads of the others' states after those
// writes. Two sequentially consistent fences by every thread (__threadfence) did the same, and the
// tensor-core walk over the workspace was 3–9 % slower with them (H100, kernel alone, batch 1–4 at
// 1K–16K context).
__device__ bool is_last_arrival(unsigned int* count, int expected) {
  __shared__ bool is_last;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned int before;
    asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], 1;" : "=r"(before) : "l"(count) : "memory");
    is_last = before + 1 == static_cast<unsigned int>(expected);
    if (is_last) *count = 0;  // every other block has counted itself: ready for the next launch
  }
  __syncthreads();
  return is_last;
}

// How num_parts states merge, per head: M the largest max, each state's weight 2^(max_p − M), and
// the merged sum Σ sum_p · 2^(max_p − M).
template <int kHeads>
struct MergeWeights {
  float weight[kMaxMerged][kHeads];
  float max[kHeads];
  float sum[kHeads];
};

// A warp per head, a lane per state.
template <int kHeads>
__device__ void merge_weights(const PartialState* parts, int num_parts, int num_heads_here,
                              MergeWeights<kHeads>& weights) {
  const int lane = threadIdx.x % kWarpSize;
  const bool has_part = lane < num_parts;
  for (int h = threadIdx.x / kWarpSize; h < num_heads_here; h += blockDim.x / kWarpSize) {
    const float part_max = has_part ? __ldcg(&parts[lane].max[h]) : -INFINITY;
    const float part_sum = has_part ? __ldcg(&parts[lane].sum[h]) : 0.0f;
    const float overall_max = warp_max(part_max);
    const float weight = rescale(part_max, overall_max);
    const float sum = team_sum<kWarpSize>(part_sum * weight);
    if (has_part) weights.weight[lane][h] = weight;
    if (lane == 0) {
      weights.max[h] = overall_max;
      weights.sum[h] = sum;
    }
  }
}

// Output vector v (4 floats) of states [first, first + kMergeBatch) of num_parts, read from L2
// (other SMs wrote them).
__device__ __forceinline__ void load_vectors(const PartialState* parts, int first, int num_parts, int v,
                                             float4 (&vectors)[kMergeBatch]) {
#pragma unroll
  for (int p = 0; p < kMergeBatch; ++p) {
    if (first + p < num_parts)
      vectors[p] = __ldcg(reinterpret_cast<const float4*>(parts[first + p].output) + v);
  }
}

// Adds the weighted vectors of states [first, first + kMergeBatch) of num_parts to total.
template <int kHeads>
__device__ __forceinline__ void add_weighted(const float4 (&vectors)[kMergeBatch], int first, int num_parts,
                                             int h, const MergeWeights<kHeads>& weights, float4& total) {
#pragma unroll
  for (int p = 0; p < kMergeBatch; ++p) {
    if (first + p >= num_parts) break;
    const float weight = weights.weight[first + p][h];
    total.x = fmaf(weight, vectors[p].x, total.x);
    total.y = fmaf(weight, vectors[p].y, total.y);
    total.z = fmaf(weight, vectors[p].z, total.z);
    total.w = fmaf(weight, vectors[p].w, total.w);
  }
}

// Merges num_parts (≤ kMaxMerged) consecutive states: into out [heads here, kHeadDim], divided by
// the merged sum, when out is given; else into *total, still undivided. A thread's first batch of
// vectors is read before the weights, so that both take one round trip.
template <int kHeadDim, int kHeads>
__device__ void merge_states(const PartialState* parts, int num_parts, int num_heads_here, __nv_bfloat16* out,
                             PartialState* total) {
  __shared__ MergeWeights<kHeads> weights;
  const int num_vectors = num_heads_here * kHeadDim / 4;
  float4 vectors[kMergeBatch];
  if (threadIdx.x < num_vectors) load_vectors(parts, 0, num_parts, threadIdx.x, vectors);
  merge_weights<kHeads>(parts, num_parts, num_heads_here, weights);
  __syncthreads();
  for (int v = threadIdx.x; v < num_vectors; v += blockDim.x) {
    const int h = v * 4 / kHeadDim;
    float4 merged = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 1  // one batch of vectors in registers at a time
    for (int first = 0; first < num_parts; first += kMergeBatch) {
      // The first batch of the thread's first vector was read along with the weights.
      if (first > 0 || v != threadIdx.x) load_vectors(parts, first, num_parts, v, vectors);
      add_weighted<kHeads>(vectors, first, num_parts, h, weights, merged);
    }
    if (out == nullptr) {
      reinterpret_cast<float4*>(total->output)[v] = merged;
      continue;
    }
    const float inverse = 1.0f / weights.sum[h];
    const __nv_bfloat162 pairs[2] = {__floats2bfloat162_rn(merged.x * inverse, merged.y * inverse),
                                     __floats2bfloat162_rn(merged.z * inverse, merged.w * inverse)};
    *reinterpret_cast<uint2*>(out + 4 * v) = *reinterpret_cast<const uint2*>(pairs);
  }
  if (out == nullptr && threadIdx.x < num_heads_here) {
    total->max[threadIdx.x] = weights.max[threadIdx.x];
    total->sum[threadIdx.x] = weights.sum[threadIdx.x];
  }
}

// A split block's end: leaves the block's state in the workspace at first + split (first: the
// group's first state) and counts it; the block that completes a subgroup or the group merges (see
// kMaxMerged). Groups of more than kMaxMerged states start at a multiple of kMergeWidth.
template <int kHeadDim, int kHeads>
__device__ void leave_partial(const BlockState<kHeadDim, kHeads>& block, __nv_bfloat16* out,
                              int num_heads_here, int group, int first, int split, int num_parts) {
  PartialState& mine = split_partials[first + split];
  for (int e = threadIdx.x; e < num_heads_here * kHeadDim; e += blockDim.x)
    mine.output[e] = block.output[e / kHeadDim][e % kHeadDim];
  if (threadIdx.x < num_heads_here) {
    mine.max[threadIdx.x] = block.max[threadIdx.x];
    mine.sum[threadIdx.x] = block.sum[threadIdx.x];
  }
  if (num_parts <= kMaxMerged) {
    if (is_last_arrival(&group_arrivals[group], num_parts))
      merge_states<kHeadDim, kHeads>(split_partials + first, num_parts, num_heads_here, out, nullptr);
    return;
  }
  const int subgroup = split / kMergeWidth;
  const int first_subtotal = first / kMergeWidth;
  const int members = min(kMergeWidth, num_parts - subgroup * kMergeWidth);
  if (!is_last_arrival(&subgroup_arrivals[first_subtotal + subgroup], members)) return;
  merge_states<kHeadDim, kHeads>(split_partials + first + subgroup * kMergeWidth, members, num_heads_here,
                                 nullptr, &split_subtotals[first_subtotal + subgroup]);
  const int num_subgroups = (num_parts + kMergeWidth - 1) / kMergeWidth;
  if (is_last_arrival(&group_arrivals[group], num_subgroups))
    merge_states<kHeadDim, kHeads>(split_subtotals + first_subtotal, num_subgroups, num_heads_here, out,
                                   nullptr);
}

// Where a kernel block's work lies: its row's sequence and keys, its kv head and query heads.
struct BlockWork {
  int row;
  int slot;      // the row's place in the launch (blockIdx.x): its split groups' index
  int seq;       // -1: no sequence owns the row
  int num_keys;  // positions 0..the row's own, causal
  int old_keys;  // the sequence's positions before this step's (no kernel of the step writes them)
  int kv_head;
  int chunk;
  int split;
  int first_head;
  int num_heads_here;
};

// Where the block's first head starts in q and out.
template <int kHeadDim>
__device__ __forceinline__ int64_t first_element(const AttentionArgs& args, const BlockWork& work) {
  return (static_cast<int64_t>(work.row) * args.num_heads + work.first_head) * kHeadDim;
}

// The first kTableWindow entries of a block table from a block's first key on, in shared memory,
// loaded before the wait (no kernel of the step writes the tables): a key's cache slot is then
// found without a dependent read of the table before its K/V copy. Keys past the window read the
// table itself.
constexpr int kTableWindow = 256;

struct TableWindow {
  int32_t entries[kTableWindow];
  int first;  // the block-table index of entries[0]
};

// Both kernels' opening: the block's kv head, chunk of heads and split from its grid position (z is
// chunk · num_splits + split), then its row's sequence and keys. It reads only the step's tables,
// which are copied in before the step (no kernel writes them), so the kernels run it before the
// wait: its two dependent reads (row → sequence → key count) then overlap the previous kernel
// instead of following it (measured on an H100: 0.15–0.3 µs a call at batch 1–2 below 2K, 1.8 µs
// at batch 1 and 4K). A launch given a list of rows reads the row from it first.
template <int kHeadDim, int kHeads>
__device__ __forceinline__ BlockWork find_block_work(const AttentionArgs& args, int slot, int kv_head, int chunk,
                                                     int split) {
  BlockWork work;
  work.slot = slot;
  work.row = args.rows == nullptr ? work.slot : args.rows[work.slot];
  work.kv_head = kv_head;
  work.chunk = chunk;
  work.split = split;
  work.first_head = work.kv_head * args.heads_per_kv_head + work.chunk * kHeads;
  work.num_heads_here = min(kHeads, args.heads_per_kv_head - work.chunk * kHeads);
  work.seq = args.row_seq[work.row];
  work.num_keys = 0;
  work.old_keys = 0;
  if (work.seq < 0) return work;
  const int q_start = args.seqs[3 * work.seq];
  const int q_len = args.seqs[3 * work.seq + 1];
  const int context_len = args.seqs[3 * work.seq + 2];
  work.old_keys = context_len - q_len;
  work.num_keys = work.old_keys + (work.row - q_start) + 1;
  return work;
}

// The same for a block of the grid (slot, kv head, chunk · num_splits + split), its row at `slot`
// and its keys at `split` (or as its place says).
template <int kHeadDim, int kHeads>
__device__ __forceinline__ BlockWork find_block_work(const AttentionArgs& args, int num_splits, int slot, int split) {
  return find_block_work<kHeadDim, kHeads>(args, slot, blockIdx.y, blockIdx.z / num_splits, split);
}

// The block's row and split from the grid: (slot, kv head, chunk · num_splits + split).
template <int kHeadDim, int kHeads>
__device__ __forceinline__ BlockWork find_block_work(const AttentionArgs& args, int num_splits) {
  return find_block_work<kHeadDim, kHeads>(args, num_splits, blockIdx.x, blockIdx.z % num_splits);
}

// The keys of the row in the launch's slot `slot` (0 for a row no sequence owns).
__device__ __forceinline__ int slot_keys(const AttentionArgs& args, int slot) {
  const int row = args.rows == nullptr ? slot : args.rows[slot];
  const int seq = args.row_seq[row];
  if (seq < 0) return 0;
  return args.seqs[3 * seq + 2] - args.seqs[3 * seq + 1] + (row - args.seqs[3 * seq]) + 1;
}

// ---- Splits shared out by keys (the workspace way over several rows) ----
//
// An even split gives every row num_splits blocks, so when the rows' contexts differ the longest
// row's blocks read the most and the launch waits for them (measured on an H100, Qwen3-8B heads,
// contexts spread over ±50 % of the mean: 21–29 % slower than equal contexts of the same bytes).
// Here the R · num_splits blocks of a (kv head, chunk) are shared out by keys instead: every block
// reads up to `per_part` keys, a row taking ⌈keys / per_part⌉ consecutive blocks, with per_part the
// least multiple of a step whose parts fit the R · num_splits blocks, at least kMinKeysPerSplit keys,
// and few enough parts a row for a one-level merge (kMaxMerged; launches of more splits a row stay
// even). Equal contexts get num_splits blocks a row, as the even split gives them. A row's states
// lie together in the workspace, from the (kv head, chunk)'s first state plus the blocks of the rows
// before it. Every block works its place out from the rows' key counts, which no kernel of the step
// writes, so it does so before the wait.
struct BalancedPlace {
  int slot;        // the row's place in the launch; -1: a block left over
  int part;        // the block's share of the row: keys [part · per_part, (part + 1) · per_part)
  int num_parts;   // the row's blocks with keys
  int first_part;  // the row's first block among the (kv head, chunk)'s R · num_splits
  int per_part;
};

__device__ __forceinline__ int divide_up(int a, int b) { return (a + b - 1) / b; }

// The sum of an integer over the warp's lanes (int or int64_t); every lane gets it.
template <typename Integer>
__device__ __forceinline__ Integer warp_sum_int(Integer value) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// The sum of `value` over this lane and the lanes below it; every lane of the warp calls it.
__device__ __forceinline__ int warp_inclusive_sum(int value, int lane) {
#pragma unroll
  for (int offset = 1; offset < kWarpSize; offset *= 2) {
    const int below = __shfl_up_sync(0xffffffffu, value, offset);
    if (lane >= offset) value += below;
  }
  return value;
}

__device__ __forceinline__ int warp_max_int(int value) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value = max(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

// The blocks the launch's rows need at per_part keys a block; every lane of a warp calls it and gets it.
__device__ int parts_needed(const AttentionArgs& args, int per_part) {
  int parts = 0;
  for (int slot = static_cast<int>(threadIdx.x % kWarpSize); slot < static_cast<int>(gridDim.x); slot += kWarpSize)
    parts += divide_up(slot_keys(args, slot), per_part);
  return warp_sum_int(parts);
}

__device__ __forceinline__ int round_up(int value, int multiple) { return divide_up(value, multiple) * multiple; }

// The keys a block reads (per_part): the least multiple of a step whose parts fit the launch's
// blocks, within the bounds BalancedPlace names. Every lane of a warp calls it and gets it.
__device__ int balanced_share(const AttentionArgs& args, int num_splits, int keys_per_step) {
  const int num_slots = static_cast<int>(gridDim.x);
  int total = 0;
  int longest = 0;
  for (int slot = static_cast<int>(threadIdx.x % kWarpSize); slot < num_slots; slot += kWarpSize) {
    const int keys = slot_keys(args, slot);
    total += keys;
    longest = max(longest, keys);
  }
  total = warp_sum_int(total);
  longest = warp_max_int(longest);
  // The even split's share of the longest row always fits (no row takes more than num_splits
  // blocks), and no block would read less than an even share of all the keys: the least share that
  // fits lies between. Equal contexts get the even split's.
  const int least = round_up(
      max(max(divide_up(total, num_slots * num_splits), divide_up(longest, kMaxMerged)), kMinKeysPerSplit),
      keys_per_step);
  int fits = max(least, round_up(max(divide_up(longest, num_splits), kMinKeysPerSplit), keys_per_step));
  int too_few = least - keys_per_step;  // a share known not to fit (or below the least allowed)
  while (fits - too_few > keys_per_step) {
    const int middle = too_few + (fits - too_few) / (2 * keys_per_step) * keys_per_step;
    if (parts_needed(args, middle) <= num_slots * num_splits) {
      fits = middle;
    } else {
      too_few = middle;
    }
  }
  return fits;
}

// The block's place, into `place` in shared memory: the first warp works it out; every thread calls it.
__device__ void find_balanced_place(BalancedPlace& place, const AttentionArgs& args, int num_splits,
                                    int keys_per_step) {
  if (threadIdx.x < kWarpSize) {
    const int lane = static_cast<int>(threadIdx.x);
    const int num_slots = static_cast<int>(gridDim.x);
    const int per_part = balanced_share(args, num_splits, keys_per_step);
    // The block's index among the (kv head, chunk)'s, and the row whose blocks take it in.
    const int block = static_cast<int>(blockIdx.x) * num_splits + static_cast<int>(blockIdx.z) % num_splits;
    BalancedPlace found{-1, 0, 0, 0, per_part};
    int before = 0;  // blocks of the slots before this pass's 32
    for (int first_slot = 0; first_slot < num_slots; first_slot += kWarpSize) {
      const int slot = first_slot + lane;
      const int parts = slot < num_slots ? divide_up(slot_keys(args, slot), per_part) : 0;
      const int end = warp_inclusive_sum(parts, lane);
      const int start = before + end - parts;
      const unsigned owner = __ballot_sync(0xffffffffu, block >= start && block < start + parts);
      if (owner != 0) {
        const int at = __ffs(owner) - 1;
        found.slot = first_slot + at;
        found.first_part = __shfl_sync(0xffffffffu, start, at);
        found.num_parts = __shfl_sync(0xffffffffu, parts, at);
        found.part = block - found.first_part;
        break;
      }
      before += __shfl_sync(0xffffffffu, end, kWarpSize - 1);
    }
    if (lane == 0) place = found;
  }
  __syncthreads();
}

// Every thread calls it; the caller synchronises before the window is read.
__device__ __forceinline__ void load_table_window(TableWindow& window, const AttentionArgs& args,
                                                  const BlockWork& work, int first_key) {
  const int32_t* block_table = args.block_tables + static_cast<int64_t>(work.seq) * args.max_blocks_per_seq;
  const int first = first_key / args.block_size;
  const int used = min((work.num_keys + args.block_size - 1) / args.block_size, args.max_blocks_per_seq);
  if (threadIdx.x == 0) window.first = first;
  for (int i = threadIdx.x; i < kTableWindow && first + i < used; i += blockDim.x)
    window.entries[i] = block_table[first + i];
}

// The cache slot of a key at `position` of the block's sequence.
__device__ __forceinline__ int64_t cache_slot(const TableWindow& window, const int32_t* block_table, int block_size,
                                              int position) {
  const int index = position / block_size;
  const int cached = index - window.first;
  const int32_t block = cached < kTableWindow ? window.entries[cached] : __ldg(block_table + index);
  return static_cast<int64_t>(block) * block_size + position % block_size;
}

// This thread's 8 query dimensions for each of the block's heads, scaled into the log2 domain;
// absent heads are 0. The previous kernel writes the query: read after the wait.
template <int kHeadDim, int kHeads>
__device__ __forceinline__ void load_query(const AttentionArgs& args, const BlockWork& work,
                                           float (&query)[kHeads][8]) {
  const __nv_bfloat16* q_row =
      args.q + first_element<kHeadDim>(args, work) + (threadIdx.x % (kHeadDim / 8)) * 8;
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    if (h < work.num_heads_here) {
      unpack_bf16x8(*reinterpret_cast<const uint4*>(q_row + h * kHeadDim), query[h]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) query[h][i] = 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) query[h][i] *= args.scale_log2;
  }
}

// The team's pass over keys [begin, end), a step of keys at a time (or every step_stride-th key
// onwards): each step, kKeysPerStep keys a team with every load issued before any is used.
template <int kHeadDim, int kHeads>
__device__ void attend_keys(SoftmaxState<kHeads>& state, const AttentionArgs& args, const BlockWork& work,
                            const float (&query)[kHeads][8], KeyRange keys) {
  constexpr int kTeam = kHeadDim / 8;
  const int team = threadIdx.x / kTeam;
  const int num_teams = blockDim.x / kTeam;
  const int dim = (threadIdx.x % kTeam) * 8;
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    state.running_max[h] = -INFINITY;
    state.running_sum[h] = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) state.accumulator[h][i] = 0.0f;
  }
  const int32_t* block_table = args.block_tables + static_cast<int64_t>(work.seq) * args.max_blocks_per_seq;
  const int64_t slot_stride = static_cast<int64_t>(args.kv_heads) * kHeadDim;  // elements per cache slot
  const __nv_bfloat16* k_base = args.k_cache + work.kv_head * kHeadDim + dim;
  const __nv_bfloat16* v_base = args.v_cache + work.kv_head * kHeadDim + dim;
  const int keys_per_step = num_teams * kKeysPerStep;

  const int stride = keys.step_stride > 0 ? keys.step_stride : keys_per_step;
  // The range is the same for the whole block, so every lane runs every step (the shuffles need it).
  for (int step_start = keys.begin; step_start < keys.end; step_start += stride) {
    uint4 k_raw[kKeysPerStep];
    uint4 v_raw[kKeysPerStep];
    bool is_valid[kKeysPerStep];
#pragma unroll
    for (int j = 0; j < kKeysPerStep; ++j) {
      // Neighbouring teams take neighbouring positions: usually one cache block, so one table entry.
      const int position = step_start + j * num_teams + team;
      is_valid[j] = position < keys.end;
      k_raw[j] = make_uint4(0, 0, 0, 0);
      v_raw[j] = make_uint4(0, 0, 0, 0);
      if (is_valid[j]) {
        const int64_t slot =
            static_cast<int64_t>(__ldg(block_table + position / args.block_size)) * args.block_size +
            position % args.block_size;
        k_raw[j] = __ldg(reinterpret_cast<const uint4*>(k_base + slot * slot_stride));
        v_raw[j] = __ldg(reinterpret_cast<const uint4*>(v_base + slot * slot_stride));
      }
    }
    float scores[kKeysPerStep][kHeads];
#pragma unroll
    for (int j = 0; j < kKeysPerStep; ++j) {
      float k[8];
      unpack_bf16x8(k_raw[j], k);
#pragma unroll
      for (int h = 0; h < kHeads; ++h) {
        float partial = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) partial = fmaf(query[h][i], k[i], partial);
        const float score = team_sum<kTeam>(partial);
        scores[j][h] = is_valid[j] ? score : -INFINITY;
      }
    }
    fold_step<kHeads>(state, scores, v_raw);
  }
}

// A split block's end once its state is merged: its output when it is the row's only split with
// keys, else its partial state left for the group's merge. first_part: where the row's blocks start
// among the (kv head, chunk)'s (BalancedPlace), or -1 for an even split.
template <int kHeadDim, int kHeads>
__device__ void finish_split(const BlockState<kHeadDim, kHeads>& block, const AttentionArgs& args,
                             const BlockWork& work, int num_splits, int num_parts, int first_part = -1) {
  __nv_bfloat16* out = args.out + first_element<kHeadDim>(args, work);
  if (num_parts == 1) return store_output<kHeadDim, kHeads>(block, out, work.num_heads_here);
  const int num_chunks = gridDim.z / num_splits;
  const int group = (work.slot * args.kv_heads + work.kv_head) * num_chunks + work.chunk;
  int first = group * num_splits;
  if (first_part >= 0) {
    const int blocks_per_chunk = static_cast<int>(gridDim.x) * num_splits;  // of one kv head and chunk
    first = (work.kv_head * num_chunks + work.chunk) * blocks_per_chunk + first_part;
  }
  leave_partial<kHeadDim, kHeads>(block, out, work.num_heads_here, group, first, work.split, num_parts);
}

// Grid (T, kv_heads, head chunks × num_splits); blockDim.x kThreads. Up to 4 heads a block keep to
// 128 registers a thread, so that four blocks share an SM; 8 heads need about twice that.
// The block's walk once its keys are known, from the wait to the output or its partial state.
// first_part: the row's first block (BalancedPlace, in shared memory, read after the walk rather
// than kept in registers through it), or null for an even split.
template <int kHeadDim, int kHeads>
__device__ __forceinline__ void walk_split(const AttentionArgs& args, const BlockWork& work, KeyRange keys,
                                           int num_splits, int num_parts, const int* first_part) {
  // Every block passes the wait, even one with nothing to do: the chain's order (dependent_launch.cuh)
  // rests on no launch completing before its predecessor.
  wait_for_previous_kernel();
  if (keys.begin >= keys.end) return;  // no keys here, or a row no sequence owns (it keeps its values)
  float query[kHeads][8];
  load_query<kHeadDim, kHeads>(args, work, query);

  SoftmaxState<kHeads> state;
  attend_keys<kHeadDim, kHeads>(state, args, work, query, keys);

  __shared__ BlockState<kHeadDim, kHeads> block;
  merge_teams<kHeadDim, kHeads, kThreads>(state, block, work.num_heads_here);
  finish_split<kHeadDim, kHeads>(block, args, work, num_splits, num_parts, first_part != nullptr ? *first_part : -1);
}

// Grid (T, kv_heads, head chunks × num_splits); blockDim.x kThreads. Up to 4 heads a block keep to
// 128 registers a thread, so that four blocks share an SM; 8 heads need about twice that. kBalanced:
// the splits shared out by keys (BalancedPlace), else num_splits even ranges a row.
template <int kHeadDim, int kHeads, bool kBalanced>
__global__ void __launch_bounds__(kThreads, kHeads <= 4 ? 4 : 2)
    paged_attention_kernel(const AttentionArgs args, int num_splits) {
  constexpr int kTeam = kHeadDim / 8;  // threads per K/V row, 16 bytes each
  static_assert(kTeam <= kWarpSize && kWarpSize % kTeam == 0, "a key team must sit inside one warp");
  static_assert(kHeads <= kMaxHeadsPerBlock && kHeadDim <= kMaxHeadDim,
                "a partial state must hold the block's");
  allow_next_kernel();
  const int keys_per_step = (blockDim.x / kTeam) * kKeysPerStep;
  // The block's keys, and how many of the row's splits have keys (the group's states to merge).
  // Counted before the walk: counted after it, the row's key count stayed live through the walk and
  // the 4-head kernel spilled. A split past a short context has no keys and leaves no partial state.
  if constexpr (kBalanced) {
    __shared__ BalancedPlace place;
    find_balanced_place(place, args, num_splits, keys_per_step);
    const BlockWork work = find_block_work<kHeadDim, kHeads>(args, num_splits, max(place.slot, 0), place.part);
    const bool has_keys = place.slot >= 0 && work.seq >= 0;
    const KeyRange keys = has_keys ? KeyRange{place.part * place.per_part,
                                              min(work.num_keys, (place.part + 1) * place.per_part)}
                                   : KeyRange{0, 0};
    walk_split<kHeadDim, kHeads>(args, work, keys, num_splits, has_keys ? place.num_parts : 0, &place.first_part);
  } else {
    const BlockWork work = find_block_work<kHeadDim, kHeads>(args, num_splits);
    const KeyRange keys =
        work.seq < 0 ? KeyRange{0, 0} : split_keys(work.num_keys, num_splits, work.split, keys_per_step);
    const int num_parts = work.seq < 0 ? 0 : splits_with_keys(work.num_keys, num_splits, keys_per_step);
    walk_split<kHeadDim, kHeads>(args, work, keys, num_splits, num_parts, nullptr);
  }
}

// ---- Short contexts: the context split over a thread-block cluster ----
//
// For wide batches (from 32 rows) at short contexts the workspace's merge (fences,
// atomics, reads from L2) costs more than it saves, so a grid splits each row's context over a
// cluster of up to kMaxClusterSplits blocks of up to kClusterThreads threads instead: block r of
// the cluster takes every num_splits-th step of keys, and the blocks' states merge through
// distributed shared memory.

constexpr int kClusterThreads = 256;
constexpr int kMaxClusterSplits = 8;  // the largest portable cluster

// Writes out[h][d] = output / sum over the cluster's num_splits (≤ kMaxRanks) blocks, each block
// writing a contiguous share of the elements. A thread reads every block's numbers for its element
// before it uses any, so that they take one round trip through distributed shared memory.
template <int kHeadDim, int kHeads, int kMaxRanks>
__device__ void store_cluster_output(const BlockState<kHeadDim, kHeads>& block,
                                     __nv_bfloat16* out,  // [kHeads, kHeadDim]
                                     int num_heads_here, int num_splits) {
  if (num_splits == 1) return store_output<kHeadDim, kHeads>(block, out, num_heads_here);
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();  // every block's state is complete
  const int num_elements = num_heads_here * kHeadDim;
  const int share = (num_elements + num_splits - 1) / num_splits;
  const int begin = static_cast<int>(cluster.block_rank()) * share;
  for (int e = begin + threadIdx.x; e < min(begin + share, num_elements); e += blockDim.x) {
    const int h = e / kHeadDim;
    const int d = e % kHeadDim;
    float maxes[kMaxRanks];
    float sums[kMaxRanks];
    float outputs[kMaxRanks];
#pragma unroll
    for (int r = 0; r < kMaxRanks; ++r) {
      maxes[r] = -INFINITY;
      sums[r] = 0.0f;
      outputs[r] = 0.0f;
      if (r < num_splits) {
        const BlockState<kHeadDim, kHeads>* part = cluster.map_shared_rank(&block, r);
        maxes[r] = part->max[h];
        sums[r] = part->sum[h];
        outputs[r] = part->output[h][d];
      }
    }
    float overall_max = -INFINITY;
#pragma unroll
    for (int r = 0; r < kMaxRanks; ++r) overall_max = fmaxf(overall_max, maxes[r]);
    float numerator = 0.0f;
    float denominator = 0.0f;
#pragma unroll
    for (int r = 0; r < kMaxRanks; ++r) {
      const float weight = rescale(maxes[r], overall_max);
      numerator += outputs[r] * weight;
      denominator += sums[r] * weight;
    }
    out[e] = __float2bfloat16_rn(numerator / denominator);
  }
  cluster.sync();  // no block leaves while another still reads its shared memory
}

// Grid (T, kv_heads, head chunks × num_splits), clusters of (1, 1, num_splits) when num_splits > 1;
// blockDim.x a multiple of 32 up to kClusterThreads.
template <int kHeadDim, int kHeads>
__global__ void __launch_bounds__(kClusterThreads) clustered_attention_kernel(const AttentionArgs args, int num_splits) {
  constexpr int kTeam = kHeadDim / 8;
  static_assert(kTeam <= kWarpSize && kWarpSize % kTeam == 0, "a key team must sit inside one warp");
  allow_next_kernel();
  // A cluster is num_splits consecutive blocks along z.
  const BlockWork work = find_block_work<kHeadDim, kHeads>(args, num_splits);
  const int keys_per_step = (blockDim.x / kTeam) * kKeysPerStep;
  // Every block of the cluster walks (perhaps no keys) and reaches the cluster's barriers.
  const KeyRange keys{work.split * keys_per_step, work.num_keys, num_splits * keys_per_step};
  wait_for_previous_kernel();
  // A row no sequence owns keeps its values. A cluster shares one row, so its blocks leave together
  // and none waits at a cluster barrier for a sibling that left.
  if (work.seq < 0) return;
  float query[kHeads][8];
  load_query<kHeadDim, kHeads>(args, work, query);

  SoftmaxState<kHeads> state;
  attend_keys<kHeadDim, kHeads>(state, args, work, query, keys);
  __shared__ BlockState<kHeadDim, kHeads> block;
  merge_teams<kHeadDim, kHeads, kClusterThreads>(state, block, work.num_heads_here);
  store_cluster_output<kHeadDim, kHeads, kMaxClusterSplits>(block, args.out + first_element<kHeadDim>(args, work),
                                                             work.num_heads_here, num_splits);
}

// ---- Small batches: the walk on the tensor cores ----
//
// At small batch the CUDA-core walk is bound by the latency of its own instruction chains, not by
// memory: with 4 heads a block, a key costs a warp 16 FMA instructions for Q·K, 8 shuffles and 8
// adds for the team's sums and 16 more FMAs for P·V, and with two or three warps per scheduler
// those chains do not hide (ncu at batch 1, 4K context: 0.32 instructions issued per cycle per
// scheduler, DRAM at 23 %). Here the block's query heads are the rows of m16n8k16 products
// instead: S = Q·Kᵀ for 16 keys is 2·D/16 instructions, P·V 4·D/16, whatever the GQA ratio (up to
// 8 heads in the 16 rows; the rest are zeros). The walk is not bound by the tensor pipe: computed
// transposed (the heads as the 8 columns, Sᵀ = K·Qᵀ and Oᵀ += Vᵀ·Pᵀ, the scores' fragments turned
// into Pᵀ's by movmatrix) it took half the products and 96 registers a thread rather than 167, and
// was 1–3 % slower at batch 1–6 (H100, kernel alone). A warp walks tiles of 16 keys of the block's
// range, copying them into its own shared-memory stages (cp.async) kMmaStages − 1 tiles ahead, so
// its loop needs no block barrier. Q and K are exact in bf16 and their products sum in f32; the
// weights P enter P·V as two bf16 terms (hi + lo, 16 significant bits) rather than rounded to bf16
// as in FlashAttention, so the kernel tests' bound for the CUDA-core walk holds unchanged. A warp's
// first tiles are copied before the dependent-launch wait, all but the keys the step itself writes,
// so at small batch most of the block's reads overlap the kernels before it.
//
// The warps' states merge in shared memory, then the splits' states one of two ways (launch_mma):
// - From kMinClusterGroups groups (row, kv head, chunk of heads) on, blocks of kMmaClusterWarps
//   warps, one an SM, as many a group as cover the SMs once (2 at batch 8 of Qwen3's 8 kv heads on
//   132 SMs, 1 from batch 9): a group's blocks form one cluster and merge through distributed shared
//   memory, with no partial state in the workspace, no fence and no count. Measured on an H100
//   (Qwen3-8B's heads, kernel alone) against the workspace's merge: batch 8–16 at 1K–2K 9–14 %
//   faster at equal contexts and 3–9 % when the rows' contexts spread ±50 %. At batch 4 and 6
//   (32 and 48 groups, 4 and 2 blocks each) they were 2–16 % faster at equal contexts but up to 21 %
//   slower at spread ones: a group's blocks each read an even share of its row, and the longest
//   row's set the time.
// - Fewer groups merge through the workspace, like the CUDA-core split, in blocks of kMmaSplitWarps
//   warps, two an SM. (Blocks of 8 warps there, one an SM, were 5 % faster at batch 1 × 16K but 17 %
//   slower at 2 × 1K.)
//
// Short contexts (AttentionWay::kTensorCoresShort) take the workspace's blocks with kMmaShortStages
// stages, one block an SM at the shared-memory carve-out of the kernels around them
// (use_chain_carveout), rather than two at the largest: an SM changes its carve-out only once it
// has drained, so at the largest the attention of a short context cost Qwen3-14B 11.6 µs a layer at
// 128 keys, 7.9 µs at the chain's (H100, kernel timeline; bench/RESULTS.md, 2026-11-28).

constexpr int kMmaSplitWarps = 4;    // a block of a split over the workspace
constexpr int kMmaClusterWarps = 8;  // a block of a split over a cluster: one block an SM
constexpr int kMaxMmaClusterSplits = 2;
constexpr int64_t kMinClusterGroups = 64;
constexpr int kKeyTile = 16;  // keys per warp per step: the n of two m16n8k16 products
constexpr int kMmaStages = 3;
constexpr int kMmaShortStages = 2;  // 64 KB a block at Qwen3's head dim: one fits the chain's carve-out

// The block's dynamic shared memory: every warp's stages of K and V tiles, reused by the warps'
// merge.
template <int kHeadDim>
constexpr int mma_tile_bytes() {
  return 2 * kKeyTile * kHeadDim * static_cast<int>(sizeof(__nv_bfloat16));  // K then V
}

template <int kHeadDim, int kWarps, int kStages>
constexpr int mma_shared_bytes() {
  return kWarps * kStages * mma_tile_bytes<kHeadDim>();
}

// A K or V tile in shared memory: 16 rows (keys) of kHeadDim / 8 16-byte pieces, piece c of row r
// at r · pieces + (c ^ (r & mask)), so that an ldmatrix's eight rows fall in different banks.
template <int kHeadDim>
__device__ __forceinline__ uint32_t tile_piece(uint32_t tile, int row, int piece) {
  constexpr int kPieces = kHeadDim / 8;
  constexpr int kMask = (kPieces < 8 ? kPieces : 8) - 1;
  return tile + 16u * static_cast<uint32_t>(row * kPieces + (piece ^ (row & kMask)));
}

// Copies the K and V rows of keys [first, first + kKeyTile) into a tile, asynchronously: zeros from
// `end` on, and nothing for keys in [copy_end, end) (copy_rows fills them later). Every lane of the
// warp calls it, then commits.
template <int kHeadDim>
__device__ __forceinline__ void copy_key_tile(uint32_t k_tile, const AttentionArgs& args, const BlockWork& work,
                                              const TableWindow& window, int first, int copy_end, int end,
                                              int lane) {
  constexpr int kPieces = kHeadDim / 8;
  constexpr int kCopies = kKeyTile * kPieces / kWarpSize;  // per lane, for K and again for V
  static_assert(kCopies >= 1, "a tile has a piece for every lane");
  const uint32_t v_tile = k_tile + kKeyTile * kHeadDim * sizeof(__nv_bfloat16);
  const int64_t slot_stride = static_cast<int64_t>(args.kv_heads) * kHeadDim;
  const int32_t* block_table = args.block_tables + static_cast<int64_t>(work.seq) * args.max_blocks_per_seq;
#pragma unroll
  for (int c = 0; c < kCopies; ++c) {
    const int index = lane + c * kWarpSize;
    const int row = index / kPieces;
    const int piece = index % kPieces;
    const int position = first + row;
    const bool is_valid = position < end;
    if (is_valid && position >= copy_end) continue;
    int64_t offset = work.kv_head * kHeadDim + piece * 8;
    if (is_valid) offset += cache_slot(window, block_table, args.block_size, position) * slot_stride;
    copy_async_16(tile_piece<kHeadDim>(k_tile, row, piece), args.k_cache + offset, is_valid);
    copy_async_16(tile_piece<kHeadDim>(v_tile, row, piece), args.v_cache + offset, is_valid);
  }
}

// Copies the K and V rows of keys [from, to) into the tile of keys from `first` with ordinary loads
// and stores, done when it returns; every lane of the warp calls it.
template <int kHeadDim>
__device__ void copy_rows(uint32_t k_tile, const AttentionArgs& args, const BlockWork& work,
                          const TableWindow& window, int first, int from, int to, int lane) {
  constexpr int kPieces = kHeadDim / 8;
  const uint32_t v_tile = k_tile + kKeyTile * kHeadDim * sizeof(__nv_bfloat16);
  const int64_t slot_stride = static_cast<int64_t>(args.kv_heads) * kHeadDim;
  const int32_t* block_table = args.block_tables + static_cast<int64_t>(work.seq) * args.max_blocks_per_seq;
  for (int index = (from - first) * kPieces + lane; index < (to - first) * kPieces; index += kWarpSize) {
    const int row = index / kPieces;
    const int piece = index % kPieces;
    const int64_t offset = work.kv_head * kHeadDim + piece * 8 +
                           cache_slot(window, block_table, args.block_size, first + row) * slot_stride;
    store_shared_16(tile_piece<kHeadDim>(k_tile, row, piece), *reinterpret_cast<const uint4*>(args.k_cache + offset));
    store_shared_16(tile_piece<kHeadDim>(v_tile, row, piece), *reinterpret_cast<const uint4*>(args.v_cache + offset));
  }
}

// A warp's softmax state for head g = lane / 4 (rows g + 8 of the products are padding): its
// running max and the sum over its lane's columns (log2 domain), and the output dimensions
// 8j + 2(lane % 4) + {0, 1} in accumulator[j][0..1].
template <int kHeadDim>
struct MmaState {
  float running_max;
  float running_sum;
  float accumulator[kHeadDim / 8][4];
};

// The query's A fragments: rows = the block's heads (lane / 4; zero past them and from row 8 on),
// columns = dimensions 16s..16s+15 for step s.
template <int kHeadDim, int kHeads>
__device__ __forceinline__ void load_query_fragments(const AttentionArgs& args, const BlockWork& work, int lane,
                                                     uint32_t (&query)[kHeadDim / 16][2]) {
  const int head = lane / 4;
  const bool has_head = head < kHeads && head < work.num_heads_here;
  const __nv_bfloat16* q_row = args.q + first_element<kHeadDim>(args, work) + head * kHeadDim + 2 * (lane % 4);
#pragma unroll
  for (int s = 0; s < kHeadDim / 16; ++s) {
    query[s][0] = has_head ? *reinterpret_cast<const uint32_t*>(q_row + 16 * s) : 0u;
    query[s][1] = has_head ? *reinterpret_cast<const uint32_t*>(q_row + 16 * s + 8) : 0u;
  }
}

// Folds one tile of 16 keys (in shared memory; keys from `end` on masked) into the warp's state.
template <int kHeadDim>
__device__ __forceinline__ void fold_key_tile(MmaState<kHeadDim>& state, const uint32_t (&query)[kHeadDim / 16][2],
                                              uint32_t k_tile, int first, int end, float scale_log2, int lane) {
  const uint32_t v_tile = k_tile + kKeyTile * kHeadDim * sizeof(__nv_bfloat16);
  // S = Q·Kᵀ: ldmatrix's four matrices are keys 0–7 and 8–15 × the step's two 8-dimension halves.
  // Even and odd steps of 16 dimensions sum into separate products, halving the chain of dependent
  // mma instructions that each tile waits on.
  float chains[2][2][4] = {};
  const int k_row = lane % 8 + 8 * (lane / 16);
#pragma unroll
  for (int s = 0; s < kHeadDim / 16; ++s) {
    uint32_t k[4];
    load_matrices(k, tile_piece<kHeadDim>(k_tile, k_row, 2 * s + (lane / 8) % 2));
    const uint32_t a[4] = {query[s][0], 0u, query[s][1], 0u};
    mma_bf16(chains[s % 2][0], a, k[0], k[1]);
    mma_bf16(chains[s % 2][1], a, k[2], k[3]);
  }
  float scores[2][4];
#pragma unroll
  for (int n = 0; n < 2; ++n) {
#pragma unroll
    for (int i = 0; i < 4; ++i) scores[n][i] = chains[0][n][i] + chains[1][n][i];
  }
  // This lane's keys: 8n + 2(lane % 4) + e of the tile.
  float values[2][2];
  float tile_max = -INFINITY;
#pragma unroll
  for (int n = 0; n < 2; ++n) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const bool is_valid = first + 8 * n + 2 * (lane % 4) + e < end;
      values[n][e] = is_valid ? scores[n][e] * scale_log2 : -INFINITY;
      tile_max = fmaxf(tile_max, values[n][e]);
    }
  }
  tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
  tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
  const float new_max = fmaxf(state.running_max, tile_max);
  // A head that has seen only masked keys stays at -inf; subtracting 0 then keeps exp2 at 0, not NaN.
  const float base = new_max == -INFINITY ? 0.0f : new_max;
  const float correction = exp2f(state.running_max - base);
  state.running_max = new_max;
  state.running_sum *= correction;
#pragma unroll
  for (int j = 0; j < kHeadDim / 8; ++j) {
    state.accumulator[j][0] *= correction;
    state.accumulator[j][1] *= correction;
  }
  // P as A fragments, each weight split into a bf16 and the bf16 of what that leaves.
  uint32_t high[4] = {0u, 0u, 0u, 0u};
  uint32_t low[4] = {0u, 0u, 0u, 0u};
#pragma unroll
  for (int n = 0; n < 2; ++n) {
    const float p0 = exp2f(values[n][0] - base);
    const float p1 = exp2f(values[n][1] - base);
    state.running_sum += p0 + p1;
    const __nv_bfloat162 pair = __floats2bfloat162_rn(p0, p1);
    const float2 rounded = __bfloat1622float2(pair);
    high[2 * n] = *reinterpret_cast<const uint32_t*>(&pair);
    low[2 * n] = pack_bf16(p0 - rounded.x, p1 - rounded.y);
  }
  // O += P·V: ldmatrix.trans's four matrices are keys 0–7 and 8–15 × two 8-dimension pieces.
  const int v_row = lane % 8 + 8 * ((lane / 8) % 2);
#pragma unroll
  for (int j = 0; j < kHeadDim / 8; j += 2) {
    uint32_t v[4];
    load_matrices_transposed(v, tile_piece<kHeadDim>(v_tile, v_row, j + lane / 16));
    mma_bf16(state.accumulator[j], high, v[0], v[1]);
    mma_bf16(state.accumulator[j + 1], high, v[2], v[3]);
    mma_bf16(state.accumulator[j], low, v[0], v[1]);
    mma_bf16(state.accumulator[j + 1], low, v[2], v[3]);
  }
}

// A warp walks its tiles of the block's keys [begin, end): tiles warp, warp + kWarps, … of 16
// keys, each copied into the warp's stage (tile index) mod its stage count.
template <int kWarps>
constexpr int kTileStride = kWarps * kKeyTile;

__device__ __forceinline__ int first_warp_tile(KeyRange keys) {
  return keys.begin + static_cast<int>(threadIdx.x / kWarpSize) * kKeyTile;
}

template <int kHeadDim>
__device__ __forceinline__ uint32_t stage_tile(uint32_t warp_stages, int stage) {
  return warp_stages + stage * mma_tile_bytes<kHeadDim>();
}

// Before the wait: starts the copies of the warp's first kStages tiles (a group each), but not of
// keys from work.old_keys on: this step's kernels write those (copy_new_keys, after the wait). Older
// keys were written by earlier steps, which completed before this one began, so their reads overlap
// the kernels before this one; at small batch a block's whole range often fits these stages.
template <int kHeadDim, int kWarps, int kStages>
__device__ void prefetch_old_keys(const AttentionArgs& args, const BlockWork& work, const TableWindow& window,
                                  KeyRange keys, uint32_t warp_stages, int lane) {
  const int copy_end = min(work.old_keys, keys.end);
#pragma unroll
  for (int stage = 0; stage < kStages; ++stage) {
    const int first = first_warp_tile(keys) + stage * kTileStride<kWarps>;
    if (first < keys.end)
      copy_key_tile<kHeadDim>(stage_tile<kHeadDim>(warp_stages, stage), args, work, window, first, copy_end, keys.end,
                              lane);
    commit_copies();  // empty past the range, so that every step waits for the same group count
  }
}

// After the wait: the keys of those tiles that this step wrote (at most the newest at decode).
template <int kHeadDim, int kWarps, int kStages>
__device__ void copy_new_keys(const AttentionArgs& args, const BlockWork& work, const TableWindow& window,
                              KeyRange keys, uint32_t warp_stages, int lane) {
#pragma unroll
  for (int stage = 0; stage < kStages; ++stage) {
    const int first = first_warp_tile(keys) + stage * kTileStride<kWarps>;
    const int from = max(first, work.old_keys);
    const int to = min(first + kKeyTile, keys.end);
    if (from < to) {
      copy_rows<kHeadDim>(stage_tile<kHeadDim>(warp_stages, stage), args, work, window, first, from, to, lane);
    }
  }
}

// The warp's pass over its tiles, the first kStages already copied (prefetch_old_keys and
// copy_new_keys): each step folds the oldest stage's tile, then copies the tile kStages on into it.
template <int kHeadDim, int kWarps, int kStages>
__device__ void attend_keys_mma(MmaState<kHeadDim>& state, const AttentionArgs& args, const BlockWork& work,
                                const TableWindow& window, const uint32_t (&query)[kHeadDim / 16][2],
                                KeyRange keys, uint32_t warp_stages, int lane) {
  state.running_max = -INFINITY;
  state.running_sum = 0.0f;
#pragma unroll
  for (int j = 0; j < kHeadDim / 8; ++j) {
#pragma unroll
    for (int i = 0; i < 4; ++i) state.accumulator[j][i] = 0.0f;
  }
  int stage = 0;
  for (int first = first_warp_tile(keys); first < keys.end; first += kTileStride<kWarps>) {
    wait_copies<kStages - 1>();
    __syncwarp();  // every lane's copies of this tile have landed
    const uint32_t tile = stage_tile<kHeadDim>(warp_stages, stage);
    fold_key_tile<kHeadDim>(state, query, tile, first, keys.end, args.scale_log2, lane);
    __syncwarp();  // every lane has read the tile before it is copied over
    const int next = first + kStages * kTileStride<kWarps>;
    if (next < keys.end) copy_key_tile<kHeadDim>(tile, args, work, window, next, keys.end, keys.end, lane);
    commit_copies();
    stage = stage + 1 == kStages ? 0 : stage + 1;
  }
  wait_copies<0>();
  state.running_sum += __shfl_xor_sync(0xffffffffu, state.running_sum, 1);
  state.running_sum += __shfl_xor_sync(0xffffffffu, state.running_sum, 2);
}

// Merges the warps' states into `block` through `scratch` (the stages, once every warp is past the
// barrier); every thread calls it.
template <int kHeadDim, int kHeads, int kWarps>
__device__ void merge_warps(const MmaState<kHeadDim>& state, BlockState<kHeadDim, kHeads>& block,
                            int num_heads_here, void* scratch) {
  __shared__ float warp_max[kWarps][kHeads];
  __shared__ float warp_sum[kWarps][kHeads];
  auto& warp_output = *static_cast<float(*)[kWarps][kHeads][kHeadDim]>(scratch);
  // The fewest stages a launch has (the short form's).
  static_assert(sizeof(float) * kWarps * kHeads * kHeadDim <= mma_shared_bytes<kHeadDim, kWarps, kMmaShortStages>(),
                "the warps' outputs fit the stages");
  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int head = lane / 4;
  __syncthreads();  // every warp is done with its stages
  if (head < kHeads) {
    if (lane % 4 == 0) {
      warp_max[warp][head] = state.running_max;
      warp_sum[warp][head] = state.running_sum;
    }
#pragma unroll
    for (int j = 0; j < kHeadDim / 8; ++j) {
      warp_output[warp][head][8 * j + 2 * (lane % 4)] = state.accumulator[j][0];
      warp_output[warp][head][8 * j + 2 * (lane % 4) + 1] = state.accumulator[j][1];
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < num_heads_here * kHeadDim; e += blockDim.x) {
    const int h = e / kHeadDim;
    float block_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) block_max = fmaxf(block_max, warp_max[w][h]);
    float numerator = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) numerator += warp_output[w][h][e % kHeadDim] * rescale(warp_max[w][h], block_max);
    block.output[h][e % kHeadDim] = numerator;
    if (e % kHeadDim == 0) {
      float sum = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) sum += warp_sum[w][h] * rescale(warp_max[w][h], block_max);
      block.max[h] = block_max;
      block.sum[h] = sum;
    }
  }
  __syncthreads();
}

// A block's tensor-core walk of its keys: its table window, the copies before the wait, the wait,
// then the walk and the warps' merge into `block`. Every thread calls it; it returns whether the
// block goes on to leave its state: not for a row no sequence owns (it keeps its values), nor, with
// `leaves_empty`, for a block with no keys (a cluster's block goes on to its barriers with an empty
// state).
template <int kHeadDim, int kHeads, int kWarps, int kStages>
__device__ bool walk_keys_mma(const AttentionArgs& args, const BlockWork& work, KeyRange keys, bool leaves_empty,
                              BlockState<kHeadDim, kHeads>& block) {
  __shared__ TableWindow window;
  extern __shared__ uint4 stages[];
  const uint32_t warp_stages = shared_address(stages) + (threadIdx.x / kWarpSize) * kStages *
                                                            mma_tile_bytes<kHeadDim>();
  const int lane = threadIdx.x % kWarpSize;
  if (keys.begin < keys.end) load_table_window(window, args, work, keys.begin);
  __syncthreads();  // the table window is loaded
  if (keys.begin < keys.end) {
    prefetch_old_keys<kHeadDim, kWarps, kStages>(args, work, window, keys, warp_stages, lane);
  }
  // Every block passes the wait, even one with nothing to do (dependent_launch.cuh).
  wait_for_previous_kernel();
  if (work.seq < 0 || (leaves_empty && keys.begin >= keys.end)) return false;
  copy_new_keys<kHeadDim, kWarps, kStages>(args, work, window, keys, warp_stages, lane);
  uint32_t query[kHeadDim / 16][2];
  load_query_fragments<kHeadDim, kHeads>(args, work, lane, query);

  MmaState<kHeadDim> state;
  attend_keys_mma<kHeadDim, kWarps, kStages>(state, args, work, window, query, keys, warp_stages, lane);
  merge_warps<kHeadDim, kHeads, kWarps>(state, block, work.num_heads_here, stages);
  return true;
}

// Grid (T, kv_heads, head chunks × num_splits); blockDim.x kWarps · 32; mma_shared_bytes of dynamic
// shared memory, kStages tiles a warp. kClustered: each group's num_splits blocks are one cluster and
// merge through distributed shared memory (store_cluster_output), else through the workspace
// (finish_split).
template <int kHeadDim, int kHeads, int kWarps, int kStages, bool kClustered>
__global__ void __launch_bounds__(kWarps * kWarpSize) mma_attention_kernel(const AttentionArgs args, int num_splits) {
  static_assert(kHeads <= 8, "the heads are rows 0–7 of the products' 16");
  allow_next_kernel();
  const BlockWork work = find_block_work<kHeadDim, kHeads>(args, num_splits);
  constexpr int kKeysPerStep = kWarps * kKeyTile;
  const KeyRange keys =
      work.seq < 0 ? KeyRange{0, 0} : split_keys(work.num_keys, num_splits, work.split, kKeysPerStep);
  __shared__ BlockState<kHeadDim, kHeads> block;
  if (!walk_keys_mma<kHeadDim, kHeads, kWarps, kStages>(args, work, keys, !kClustered, block)) return;
  if constexpr (kClustered) {
    store_cluster_output<kHeadDim, kHeads, kMaxMmaClusterSplits>(
        block, args.out + first_element<kHeadDim>(args, work), work.num_heads_here, num_splits);
  } else {
    const int num_parts = splits_with_keys(work.num_keys, num_splits, kKeysPerStep);
    finish_split<kHeadDim, kHeads>(block, args, work, num_splits, num_parts);
  }
}

// ---- Wide launches: the tensor-core walk over parts of about equal keys ----
//
// From a dozen rows on at long contexts, the even split reads the longest row's keys in as many
// blocks as the shortest row's, and from a few dozen rows the groups (row, kv head, chunk of heads)
// alone fill the GPU, so a block per group reads its whole context: the longest contexts set the
// launch's time, and an SM that holds one block reads nothing while it opens and closes. Here the
// T rows of a (kv head, chunk) share its blocks by keys instead. The launch gives each (kv head,
// chunk) `slots` blocks, its share of one wave of the GPU's resident blocks, and the kernel cuts the
// rows into target = slots · waves parts or a few more, the waves such that a part holds about
// kWidePartKeys keys (1 to kMaxWideWaves); block y walks parts y, y + slots, … Every part holds at
// most part_keys keys, a row of k keys taking ⌈k / part_keys⌉ parts that cut it evenly, with
// part_keys the share of all keys that one of `target` parts would hold, raised until the rows'
// parts fit target (a few rounds, each raising it by the share it overshot). Rows of one part write
// their output; the others merge through the workspace like the split ways (at most kMaxMerged
// parts a row). The parts never exceed target + T (each row rounds up by less than one), which the
// workspace holds. Each block works the parts out from the rows' key counts, which no kernel of the
// step writes: before the wait.
//
// Measured on an H200, Qwen3-8B's heads, kernel alone (bench/RESULTS.md, 2026-11-28). A first form
// launched a block per part, its grid sized for the most parts; with a fixed count of waves, where
// the rows' contexts spread ±50 % smaller parts kept the blocks even (64 × 16K: 1,596 µs at one
// wave, 1,389 at four; the workspace way 1,980), and where they were equal fewer, larger ones paid
// fewer merges (32 × 1K: 45.5 µs at one wave, 64.0 at four): about 2,048 keys a part was near the
// best of both. In decode steps, though, its blocks left without a part (hundreds, each opening
// and passing the wait) cost 1.6–5.8 % at 1x2048–64x1024, hence one wave of blocks that loop.
constexpr int kMaxWideRows = static_cast<int>(kWideAttentionMaxRows);
constexpr int kWideRowsPerLane = kMaxWideRows / kWarpSize;
constexpr int kWideFitRounds = 3;
constexpr int kWidePartKeys = 2048;
constexpr int kMaxWideWaves = 4;

// A wide launch's parts, the same for every block of it: row r's parts are
// [first_part[r], first_part[r + 1]) among its (kv head, chunk)'s, cutting its keys[r] evenly.
struct WidePlan {
  int first_part[kMaxWideRows + 1];
  int keys[kMaxWideRows];
  int num_parts;
};

// The blocks the rows take at part_keys keys a block (the lane's rows in keys); every lane gets it.
__device__ __forceinline__ int wide_blocks(const int (&keys)[kWideRowsPerLane], int part_keys) {
  int blocks = 0;
#pragma unroll
  for (int i = 0; i < kWideRowsPerLane; ++i) blocks += divide_up(keys[i], part_keys);
  return warp_sum_int(blocks);
}

// The most keys a block reads: see "Wide launches". Every lane of a warp calls it and gets it.
__device__ int wide_part_keys(const int (&keys)[kWideRowsPerLane], int slots, int keys_per_step) {
  int64_t total = 0;
  int longest = 0;
#pragma unroll
  for (int i = 0; i < kWideRowsPerLane; ++i) {
    total += keys[i];
    longest = max(longest, keys[i]);
  }
  total = warp_sum_int(total);
  longest = warp_max_int(longest);
  const int64_t wave_keys = static_cast<int64_t>(slots) * kWidePartKeys;
  const int64_t rounded = (total + wave_keys / 2) / wave_keys;
  const int64_t waves = rounded < 1 ? 1 : rounded > kMaxWideWaves ? kMaxWideWaves : rounded;
  const int64_t target = slots * waves;
  int part_keys = round_up(max(static_cast<int>((total + target - 1) / target), divide_up(longest, kMaxMerged)),
                           keys_per_step);
  for (int round = 0; round < kWideFitRounds; ++round) {
    const int blocks = wide_blocks(keys, part_keys);
    if (blocks <= target) break;
    part_keys = round_up(static_cast<int>((static_cast<int64_t>(part_keys) * blocks + target - 1) / target),
                         keys_per_step);
  }
  return part_keys;
}

// The launch's parts, into `plan` in shared memory: the first warp works them out, reading every
// row's key count once (kWideRowsPerLane a lane, all issued before any is used); every thread calls it.
__device__ void plan_wide_parts(WidePlan& plan, const AttentionArgs& args, int num_rows, int slots,
                                int keys_per_step) {
  if (threadIdx.x < kWarpSize) {
    const int lane = static_cast<int>(threadIdx.x);
    int keys[kWideRowsPerLane];
#pragma unroll
    for (int i = 0; i < kWideRowsPerLane; ++i) {
      const int slot = i * kWarpSize + lane;
      keys[i] = slot < num_rows ? slot_keys(args, slot) : 0;
    }
    const int most_keys = wide_part_keys(keys, slots, keys_per_step);
    int before = 0;  // parts of the rows before this pass's 32
#pragma unroll
    for (int i = 0; i < kWideRowsPerLane; ++i) {
      if (i * kWarpSize >= num_rows) break;
      const int parts = divide_up(keys[i], most_keys);
      const int end = warp_inclusive_sum(parts, lane);
      const int slot = i * kWarpSize + lane;
      if (slot < num_rows) {
        plan.first_part[slot] = before + end - parts;
        plan.keys[slot] = keys[i];
      }
      before += __shfl_sync(0xffffffffu, end, kWarpSize - 1);
    }
    if (lane == 0) {
      plan.first_part[num_rows] = before;
      plan.num_parts = before;
    }
  }
  __syncthreads();
}

// The row (slot) whose parts hold part `part` (< plan.num_parts): the last row whose first part is
// at most `part` (rows of no parts share their first part with the next row).
__device__ __forceinline__ int wide_part_slot(const WidePlan& plan, int num_rows, int part) {
  int low = 0;
  int high = num_rows - 1;
  while (low < high) {
    const int middle = (low + high + 1) / 2;
    if (plan.first_part[middle] <= part) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  return low;
}

// Grid (kv_heads · head chunks, slots): blockIdx.x the (kv head, chunk); kMmaSplitWarps warps,
// kMmaStages stages, as the split over the workspace. Block y takes parts y, y + slots, … of its
// (kv head, chunk)'s, so that the grid is one wave of resident blocks whatever the parts. The states
// of a (kv head, chunk) lie together in the workspace from blockIdx.x · (slots · kMaxWideWaves + T);
// a row's count is at its first state's index.
template <int kHeadDim, int kHeads>
__global__ void __launch_bounds__(kMmaSplitWarps * kWarpSize)
    mma_wide_attention_kernel(const AttentionArgs args, int num_rows, int slots) {
  static_assert(kHeads <= 8, "the heads are rows 0–7 of the products' 16");
  allow_next_kernel();
  constexpr int kKeysPerStep = kMmaSplitWarps * kKeyTile;
  __shared__ WidePlan plan;
  plan_wide_parts(plan, args, num_rows, slots, kKeysPerStep);
  // Every block passes the wait, even one with no part (dependent_launch.cuh); walk_keys_mma waits
  // for the others.
  if (static_cast<int>(blockIdx.y) >= plan.num_parts) return wait_for_previous_kernel();
  const int chunks = divide_up(args.heads_per_kv_head, kHeads);
  const int states = static_cast<int>(blockIdx.x) * (slots * kMaxWideWaves + num_rows);
  __shared__ BlockState<kHeadDim, kHeads> block;
  for (int part = blockIdx.y; part < plan.num_parts; part += gridDim.y) {
    const int slot = wide_part_slot(plan, num_rows, part);
    const int first_part = plan.first_part[slot];
    const int num_parts = plan.first_part[slot + 1] - first_part;
    const int part_keys = round_up(divide_up(plan.keys[slot], num_parts), kKeysPerStep);
    const int split = part - first_part;
    const BlockWork work =
        find_block_work<kHeadDim, kHeads>(args, slot, blockIdx.x / chunks, blockIdx.x % chunks, split);
    const KeyRange keys{split * part_keys, min(work.num_keys, (split + 1) * part_keys)};
    if (!walk_keys_mma<kHeadDim, kHeads, kMmaSplitWarps, kMmaStages>(args, work, keys, true, block)) continue;
    __nv_bfloat16* out = args.out + first_element<kHeadDim>(args, work);
    if (num_parts == 1) {
      store_output<kHeadDim, kHeads>(block, out, work.num_heads_here);
    } else {
      leave_partial<kHeadDim, kHeads>(block, out, work.num_heads_here, states + first_part, states + first_part,
                                      split, num_parts);
    }
    __syncthreads();  // the block's state and table window are free for the next part
  }
}

// The smallest supported heads-per-block that covers `heads_per_kv_head`, up to kMaxHeadsPerBlock
// (more heads per kv head take several chunks, each reading the kv head's rows once).
int heads_per_block(int heads_per_kv_head) {
  int heads = 1;
  while (heads < heads_per_kv_head && heads < kMaxHeadsPerBlock) heads *= 2;
  return heads;
}

// How many blocks of `threads` threads and `shared_bytes` of dynamic shared memory fit an SM (first
// letting the kernel take that much shared memory).
template <class Kernel>
int resident_blocks_per_sm(Kernel kernel, int threads, int shared_bytes) {
  if (shared_bytes > 0)
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes));
  int blocks = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, shared_bytes));
  return std::max(blocks, 1);
}

// How many blocks share each group's context: as many as fill the GPU's resident blocks once (a
// wave of 4 per SM reads at 87–93 % of the bandwidth in wide decode batches), within the
// workspace, and above kMergeWidth a multiple of it (the merge tree's subgroups); 1 when the groups
// alone fill the GPU.
int context_splits(int64_t num_groups, int64_t resident_blocks) {
  if (num_groups >= resident_blocks) return 1;
  int64_t splits = std::min({resident_blocks / num_groups, int64_t{kMaxSplits}, kMaxPartials / num_groups});
  if (splits > kMergeWidth) splits -= splits % kMergeWidth;
  return static_cast<int>(std::max<int64_t>(splits, 1));
}

// How many splits a launch over the workspace gives each group's context: as many as fill the GPU's
// resident blocks once.
template <int kHeads>
int workspace_splits(const AttentionArgs& args, int64_t num_rows, int blocks_per_sm) {
  const int chunks = (args.heads_per_kv_head + kHeads - 1) / kHeads;
  const int64_t num_groups = num_rows * args.kv_heads * chunks;
  return context_splits(num_groups, static_cast<int64_t>(blocks_per_sm) * multiprocessor_count());
}

// Launches a kernel that splits each group's context over the workspace (the CUDA-core split and the
// tensor-core walk) `splits` ways.
template <int kHeads, class Kernel>
void launch_over_workspace(Kernel kernel, int threads, int shared_bytes, int splits, const AttentionArgs& args,
                           int64_t num_rows, cudaStream_t stream) {
  const int chunks = (args.heads_per_kv_head + kHeads - 1) / kHeads;
  const dim3 grid(static_cast<unsigned>(num_rows), static_cast<unsigned>(args.kv_heads),
                  static_cast<unsigned>(chunks * splits));
  launch_dependent(kernel, grid, dim3(threads), static_cast<size_t>(shared_bytes), stream, 1u, args, splits);
}

template <int kHeadDim, int kHeads>
void launch_split(const AttentionArgs& args, int64_t num_rows, cudaStream_t stream) {
  const auto even = paged_attention_kernel<kHeadDim, kHeads, false>;
  const auto balanced = paged_attention_kernel<kHeadDim, kHeads, true>;
  // The kernels' occupancy depends on their registers and the GPU's architecture only: asked once.
  // Both share the launch bounds that set it.
  static const int blocks_per_sm = resident_blocks_per_sm(even, kThreads, 0);
  const int splits = workspace_splits<kHeads>(args, num_rows, blocks_per_sm);
  // Several rows share their splits out by keys (BalancedPlace), up to kMaxMerged a row.
  const bool is_balanced = num_rows > 1 && splits > 1 && splits <= kMaxMerged;
  launch_over_workspace<kHeads>(is_balanced ? balanced : even, kThreads, 0, splits, args, num_rows, stream);
}

// How many blocks of a cluster share each row's context: enough to give the grid about two blocks
// per SM, a power of two up to kMaxClusterSplits; 1 when the rows alone do. (Measured on an H200
// against one, four and eight blocks per SM: two was best or level at batch 1–128.)
int cluster_splits(int64_t num_blocks, int num_sms) {
  int splits = 1;
  while (splits < kMaxClusterSplits && num_blocks * splits < 2 * static_cast<int64_t>(num_sms)) splits *= 2;
  return splits;
}

template <int kHeadDim, int kHeads>
void launch_clustered(const AttentionArgs& args, int64_t num_rows, cudaStream_t stream) {
  const int chunks = (args.heads_per_kv_head + kHeads - 1) / kHeads;
  const int64_t num_blocks = num_rows * args.kv_heads * chunks;
  const int num_sms = multiprocessor_count();
  const int splits = cluster_splits(num_blocks, num_sms);
  const dim3 grid(static_cast<unsigned>(num_rows), static_cast<unsigned>(args.kv_heads),
                  static_cast<unsigned>(chunks * splits));
  // A grid narrower than the GPU also gets more key teams per block, so that each context is walked
  // with more loads in flight; a wide grid fills the GPU with small blocks.
  const dim3 threads(num_blocks < num_sms ? kClusterThreads : kThreads);
  launch_dependent(clustered_attention_kernel<kHeadDim, kHeads>, grid, threads, 0, stream,
                   static_cast<unsigned>(splits), args, splits);
}

// How many clusters of each size up to kMaxMmaClusterSplits can run at once.
template <class Kernel>
std::array<int, kMaxMmaClusterSplits + 1> active_clusters(Kernel kernel, int threads, int shared_bytes) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes));
  std::array<int, kMaxMmaClusterSplits + 1> counts{};
  for (int size = 1; size <= kMaxMmaClusterSplits; ++size) {
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(1, 1, static_cast<unsigned>(size));
    config.blockDim = dim3(static_cast<unsigned>(threads));
    config.dynamicSmemBytes = static_cast<size_t>(shared_bytes);
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim.x = 1;
    attribute.val.clusterDim.y = 1;
    attribute.val.clusterDim.z = static_cast<unsigned>(size);
    config.attrs = &attribute;
    config.numAttrs = 1;
    CUDA_CHECK(cudaOccupancyMaxActiveClusters(&counts[size], kernel, &config));
  }
  return counts;
}

// The tensor-core walk over the workspace; kShort: with kMmaShortStages stages a warp, one block an SM
// at the chain's carve-out ("Short contexts" above).
template <int kHeadDim, int kHeads, bool kShort>
void launch_mma_over_workspace(const AttentionArgs& args, int64_t num_rows, cudaStream_t stream) {
  constexpr int kStages = kShort ? kMmaShortStages : kMmaStages;
  const auto kernel = mma_attention_kernel<kHeadDim, kHeads, kMmaSplitWarps, kStages, false>;
  constexpr int kThreadsHere = kMmaSplitWarps * kWarpSize;
  constexpr int kSharedBytes = mma_shared_bytes<kHeadDim, kMmaSplitWarps, kStages>();
  // The kernel's occupancy depends on its registers, shared memory, carve-out and the GPU only: asked
  // once.
  static const int blocks_per_sm = [&] {
    if (kShort) use_chain_carveout(reinterpret_cast<const void*>(kernel));
    return resident_blocks_per_sm(kernel, kThreadsHere, kSharedBytes);
  }();
  const int splits = workspace_splits<kHeads>(args, num_rows, blocks_per_sm);
  launch_over_workspace<kHeads>(kernel, kThreadsHere, kSharedBytes, splits, args, num_rows, stream);
}

// The tensor-core walk, its splits merged through clusters from kMinClusterGroups groups on, else
// through the workspace ("Small batches" above).
template <int kHeadDim, int kHeads>
void launch_mma(const AttentionArgs& args, int64_t num_rows, bool short_contexts, cudaStream_t stream) {
  const int chunks = (args.heads_per_kv_head + kHeads - 1) / kHeads;
  const int64_t num_groups = num_rows * args.kv_heads * chunks;
  if (num_groups >= kMinClusterGroups) {
    const auto kernel = mma_attention_kernel<kHeadDim, kHeads, kMmaClusterWarps, kMmaStages, true>;
    constexpr int kThreadsHere = kMmaClusterWarps * kWarpSize;
    constexpr int kSharedBytes = mma_shared_bytes<kHeadDim, kMmaClusterWarps, kMmaStages>();
    // The kernel's occupancy depends on its registers, shared memory and the GPU only: asked once.
    static const std::array<int, kMaxMmaClusterSplits + 1> counts =
        active_clusters(kernel, kThreadsHere, kSharedBytes);
    // As many splits as cover the SMs once, if every group's cluster can then run at once.
    int splits = static_cast<int>(
        std::clamp<int64_t>(multiprocessor_count() / num_groups, 1, kMaxMmaClusterSplits));
    while (splits > 1 && counts[splits] < num_groups) --splits;
    const dim3 grid(static_cast<unsigned>(num_rows), static_cast<unsigned>(args.kv_heads),
                    static_cast<unsigned>(chunks * splits));
    return launch_dependent(kernel, grid, dim3(kThreadsHere), static_cast<size_t>(kSharedBytes), stream,
                            static_cast<unsigned>(splits), args, splits);
  }
  if (short_contexts) return launch_mma_over_workspace<kHeadDim, kHeads, true>(args, num_rows, stream);
  launch_mma_over_workspace<kHeadDim, kHeads, false>(args, num_rows, stream);
}

// The wide tensor-core walk ("Wide launches" above). A launch of more rows than it takes, or whose
// blocks would not fit the workspace, splits over the workspace on the CUDA cores instead.
template <int kHeadDim, int kHeads>
void launch_mma_wide(const AttentionArgs& args, int64_t num_rows, cudaStream_t stream) {
  const auto kernel = mma_wide_attention_kernel<kHeadDim, kHeads>;
  constexpr int kThreadsHere = kMmaSplitWarps * kWarpSize;
  constexpr int kSharedBytes = mma_shared_bytes<kHeadDim, kMmaSplitWarps, kMmaStages>();
  static const int blocks_per_sm = resident_blocks_per_sm(kernel, kThreadsHere, kSharedBytes);
  const int64_t groups = static_cast<int64_t>(args.kv_heads) * ((args.heads_per_kv_head + kHeads - 1) / kHeads);
  const int64_t slots = std::max<int64_t>(blocks_per_sm * multiprocessor_count() / groups, 1);
  const int64_t capacity = slots * kMaxWideWaves + num_rows;
  if (num_rows > kMaxWideRows || groups * capacity > kMaxPartials)
    return launch_split<kHeadDim, kHeads>(args, num_rows, stream);
  const dim3 grid(static_cast<unsigned>(groups), static_cast<unsigned>(slots));
  launch_dependent(kernel, grid, dim3(kThreadsHere), static_cast<size_t>(kSharedBytes), stream, 1u, args,
                   static_cast<int>(num_rows), static_cast<int>(slots));
}

template <int kHeadDim, int kHeads>
void launch(const AttentionArgs& args, int64_t num_rows, AttentionWay way, cudaStream_t stream) {
  switch (way) {
    case AttentionWay::kTensorCoresShort: return launch_mma<kHeadDim, kHeads>(args, num_rows, true, stream);
    case AttentionWay::kTensorCores: return launch_mma<kHeadDim, kHeads>(args, num_rows, false, stream);
    case AttentionWay::kTensorCoresWide: return launch_mma_wide<kHeadDim, kHeads>(args, num_rows, stream);
    case AttentionWay::kWorkspace: return launch_split<kHeadDim, kHeads>(args, num_rows, stream);
    case AttentionWay::kClusters: return launch_clustered<kHeadDim, kHeads>(args, num_rows, stream);
  }
}

template <int kHeadDim>
void launch_for_head_dim(const AttentionArgs& args, int64_t num_rows, AttentionWay way, cudaStream_t stream) {
  switch (heads_per_block(args.heads_per_kv_head)) {
    case 1:
      return launch<kHeadDim, 1>(args, num_rows, way, stream);
    case 2:
      return launch<kHeadDim, 2>(args, num_rows, way, stream);
    case 4:
      return launch<kHeadDim, 4>(args, num_rows, way, stream);
    default:
      return launch<kHeadDim, kMaxHeadsPerBlock>(args, num_rows, way, stream);
  }
}

void check_attention_inputs(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                            const Tensor& seqs, const Tensor& block_tables, const Tensor& row_seq) {
  constexpr const char* op = "paged_attention";
  check_paged_attention_inputs(op, out, q, k_cache, v_cache, seqs, block_tables);
  check_device_tensor(op, "row_seq", row_seq, DType::kI32);
  check_shape(op, "row_seq", row_seq, {q.dim(0)});
  const int64_t head_dim = k_cache.dim(3);
  if (head_dim != 16 && head_dim != 32 && head_dim != 64 && head_dim != 128) {
    fail_check(op, "head_dim " + std::to_string(head_dim) + " is not supported (16, 32, 64 or 128)");
  }
  const int64_t num_heads = q.dim(1);
  const int64_t kv_heads = k_cache.dim(2);
  // Grid limits: y is kv_heads, z is chunks of heads × splits (≤ 65535 each).
  if (q.dim(0) > INT_MAX || num_heads / kv_heads > 4096 || kv_heads > 65535 || k_cache.dim(1) > INT_MAX ||
      block_tables.dim(1) > INT_MAX) {
    fail_check(op, "q " + shape_to_string(q.shape()) + ", the caches " + shape_to_string(k_cache.shape()) +
                       " or block_tables " + shape_to_string(block_tables.shape()) +
                       " exceed the launch's limits");
  }
  // Every row the kernel touches starts at a multiple of head_dim elements, so base alignment suffices.
  if (bf16_vector_width(kBf16PerVector, {out.raw(), q.raw(), k_cache.raw(), v_cache.raw()}) !=
      kBf16PerVector) {
    fail_check(op, "out, q and the caches must be 16-byte aligned");
  }
}

// The listed rows: int32 [R] on the device, at most q's rows (each one of them, the caller's duty).
void check_listed_rows(const Tensor& q, const Tensor& rows) {
  constexpr const char* op = "paged_attention";
  check_device_tensor(op, "rows", rows, DType::kI32);
  if (rows.shape().size() != 1 || rows.dim(0) > q.dim(0)) {
    fail_check(op, "rows has shape " + shape_to_string(rows.shape()) + ", expected [R] with R at most q's " +
                       std::to_string(q.dim(0)) + " rows");
  }
}

// Both overloads: every row of q when `rows` is null, else the rows it lists.
void launch_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                      const Tensor& seqs, const Tensor& block_tables, const Tensor& row_seq, const Tensor* rows,
                      float scale, AttentionWay way, Stream stream) {
  check_attention_inputs(out, q, k_cache, v_cache, seqs, block_tables, row_seq);
  if (rows != nullptr) check_listed_rows(q, *rows);
  const int64_t num_rows = rows != nullptr ? rows->dim(0) : q.dim(0);
  if (num_rows == 0 || q.dim(1) == 0) return;
  const AttentionArgs args{
      .out = static_cast<__nv_bfloat16*>(out.raw()),
      .q = static_cast<const __nv_bfloat16*>(q.raw()),
      .k_cache = static_cast<const __nv_bfloat16*>(k_cache.raw()),
      .v_cache = static_cast<const __nv_bfloat16*>(v_cache.raw()),
      .seqs = static_cast<const int32_t*>(seqs.raw()),
      .block_tables = static_cast<const int32_t*>(block_tables.raw()),
      .row_seq = static_cast<const int32_t*>(row_seq.raw()),
      .rows = rows != nullptr ? static_cast<const int32_t*>(rows->raw()) : nullptr,
      .num_heads = static_cast<int>(q.dim(1)),
      .kv_heads = static_cast<int>(k_cache.dim(2)),
      .heads_per_kv_head = static_cast<int>(q.dim(1) / k_cache.dim(2)),
      .block_size = static_cast<int>(k_cache.dim(1)),
      .max_blocks_per_seq = static_cast<int>(block_tables.dim(1)),
      .scale_log2 = scale * kLog2E,
  };
  const cudaStream_t cuda_stream = static_cast<cudaStream_t>(stream);
  // Real Qwen models use 128 (64 for the smallest Qwen2.5); 16 and 32 serve small test models.
  switch (k_cache.dim(3)) {
    case 16: return launch_for_head_dim<16>(args, num_rows, way, cuda_stream);
    case 32: return launch_for_head_dim<32>(args, num_rows, way, cuda_stream);
    case 64: return launch_for_head_dim<64>(args, num_rows, way, cuda_stream);
    default: return launch_for_head_dim<128>(args, num_rows, way, cuda_stream);
  }
}

}  // namespace

void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     const Tensor& seqs, const Tensor& block_tables, const Tensor& row_seq, float scale,
                     AttentionWay way, Stream stream) {
  launch_attention(out, q, k_cache, v_cache, seqs, block_tables, row_seq, nullptr, scale, way, stream);
}

void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     const Tensor& seqs, const Tensor& block_tables, const Tensor& row_seq, const Tensor& rows,
                     float scale, AttentionWay way, Stream stream) {
  launch_attention(out, q, k_cache, v_cache, seqs, block_tables, row_seq, &rows, scale, way, stream);
}

}  // namespace hanlin::cuda
