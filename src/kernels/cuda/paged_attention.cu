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
// one row) would leave most SMs idle and the read far below the memory's bandwidth, so the
// launcher then splits each row's context over a thread-block cluster of up to kMaxSplits blocks
// (sm_90): block r of the cluster takes every num_splits-th step of keys, and the blocks' partial
// softmax states are merged through distributed shared memory; no workspace in global memory.
//
// Not done here: tensor-core tiles over several query rows for long prefills (each row reads its
// own context, from L2 in practice, and the dot products run on the CUDA cores).
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch_checks.h"

namespace hanlin::cuda {
namespace {

constexpr int kMaxThreads = 256;
constexpr int kMinThreads = 128;
constexpr int kMaxHeadsPerBlock = 8;
constexpr int kKeysPerStep = 4;
constexpr int kMaxSplits = 8;  // the largest portable cluster
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

__device__ __forceinline__ void bf16x8_to_f32(const uint4& raw, float (&values)[8]) {
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 pair = __bfloat1622float2(pairs[k]);
    values[2 * k] = pair.x;
    values[2 * k + 1] = pair.y;
  }
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
    bf16x8_to_f32(v_raw[j], v);
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

// Merges the block's teams into `block` through shared memory; every thread must call it.
template <int kHeadDim, int kHeads>
__device__ void merge_teams(const SoftmaxState<kHeads>& state, BlockState<kHeadDim, kHeads>& block,
                            int num_heads_here) {
  constexpr int kTeam = kHeadDim / 8;
  constexpr int kMaxTeams = kMaxThreads / kTeam;
  __shared__ float team_max[kMaxTeams][kHeads];
  __shared__ float team_sum_of[kMaxTeams][kHeads];
  __shared__ float team_output[kMaxTeams][kHeadDim];
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
  for (int h = 0; h < kHeads; ++h) {
    if (h >= num_heads_here) break;  // uniform across the block
    float block_max = -INFINITY;
    for (int t = 0; t < num_teams; ++t) block_max = fmaxf(block_max, team_max[t][h]);
    const float weight = rescale(state.running_max[h], block_max);
#pragma unroll
    for (int i = 0; i < 8; ++i) team_output[team][lane * 8 + i] = state.accumulator[h][i] * weight;
    __syncthreads();
    for (int d = threadIdx.x; d < kHeadDim; d += blockDim.x) {
      float numerator = 0.0f;
      for (int t = 0; t < num_teams; ++t) numerator += team_output[t][d];
      block.output[h][d] = numerator;
    }
    if (threadIdx.x == 0) {
      float sum = 0.0f;
      for (int t = 0; t < num_teams; ++t) sum += team_sum_of[t][h] * rescale(team_max[t][h], block_max);
      block.max[h] = block_max;
      block.sum[h] = sum;
    }
    __syncthreads();  // team_output is rewritten for the next head; `block` is complete after the last
  }
}

// Writes out[h][d] = output / sum for the block's heads; with a cluster, first merges the states
// of its num_splits blocks, each block writing an interleaved share of the elements.
template <int kHeadDim, int kHeads>
__device__ void store_output(BlockState<kHeadDim, kHeads>& block, __nv_bfloat16* out,  // [kHeads, kHeadDim]
                             int num_heads_here, int num_splits) {
  const int num_elements = num_heads_here * kHeadDim;
  if (num_splits == 1) {
    for (int e = threadIdx.x; e < num_elements; e += blockDim.x) {
      const int h = e / kHeadDim;
      out[e] = __float2bfloat16_rn(block.output[h][e % kHeadDim] / block.sum[h]);
    }
    return;
  }
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();  // every block's state is complete
  for (int e = static_cast<int>(cluster.block_rank()) * blockDim.x + threadIdx.x; e < num_elements;
       e += num_splits * blockDim.x) {
    const int h = e / kHeadDim;
    const int d = e % kHeadDim;
    float overall_max = -INFINITY;
    for (int r = 0; r < num_splits; ++r)
      overall_max = fmaxf(overall_max, cluster.map_shared_rank(&block, r)->max[h]);
    float numerator = 0.0f;
    float denominator = 0.0f;
    for (int r = 0; r < num_splits; ++r) {
      const BlockState<kHeadDim, kHeads>* part = cluster.map_shared_rank(&block, r);
      const float weight = rescale(part->max[h], overall_max);
      numerator += part->output[h][d] * weight;
      denominator += part->sum[h] * weight;
    }
    out[e] = __float2bfloat16_rn(numerator / denominator);
  }
  cluster.sync();  // no block leaves while another still reads its shared memory
}

// Grid (T, kv_heads, head chunks × num_splits), clusters of (1, 1, num_splits) when num_splits > 1;
// blockDim.x a multiple of 32 up to kMaxThreads.
template <int kHeadDim, int kHeads>
__global__ void __launch_bounds__(kMaxThreads)
    paged_attention_kernel(const AttentionArgs args, int num_splits) {
  constexpr int kTeam = kHeadDim / 8;  // threads per K/V row, 16 bytes each
  static_assert(kTeam <= kWarpSize && kWarpSize % kTeam == 0, "a key team must sit inside one warp");
  allow_next_kernel();
  wait_for_previous_kernel();
  const int row = blockIdx.x;
  const int seq = args.row_seq[row];
  // A row no sequence owns keeps its values. A cluster shares one row, so its blocks leave together
  // and none waits at a cluster barrier for a sibling that left.
  if (seq < 0) return;
  const int q_start = args.seqs[3 * seq];
  const int q_len = args.seqs[3 * seq + 1];
  const int context_len = args.seqs[3 * seq + 2];
  const int num_keys = context_len - q_len + (row - q_start) + 1;  // positions 0..row's own, causal

  const int kv_head = blockIdx.y;
  const int chunk = blockIdx.z / num_splits;
  // A cluster is num_splits consecutive blocks along z, so this is the block's rank in it.
  const int split = blockIdx.z % num_splits;
  const int first_head = kv_head * args.heads_per_kv_head + chunk * kHeads;
  const int num_heads_here = min(kHeads, args.heads_per_kv_head - chunk * kHeads);
  const int team = threadIdx.x / kTeam;
  const int num_teams = blockDim.x / kTeam;
  const int dim = (threadIdx.x % kTeam) * 8;

  // This thread's 8 query dimensions for each head, scaled into the log2 domain; absent heads are 0.
  float query[kHeads][8];
  const __nv_bfloat16* q_row =
      args.q + (static_cast<int64_t>(row) * args.num_heads + first_head) * kHeadDim + dim;
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    if (h < num_heads_here) {
      bf16x8_to_f32(*reinterpret_cast<const uint4*>(q_row + h * kHeadDim), query[h]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) query[h][i] = 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) query[h][i] *= args.scale_log2;
  }

  SoftmaxState<kHeads> state;
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    state.running_max[h] = -INFINITY;
    state.running_sum[h] = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) state.accumulator[h][i] = 0.0f;
  }

  const int32_t* block_table = args.block_tables + static_cast<int64_t>(seq) * args.max_blocks_per_seq;
  const int64_t slot_stride = static_cast<int64_t>(args.kv_heads) * kHeadDim;  // elements per cache slot
  const __nv_bfloat16* k_base = args.k_cache + kv_head * kHeadDim + dim;
  const __nv_bfloat16* v_base = args.v_cache + kv_head * kHeadDim + dim;
  const int keys_per_step = num_teams * kKeysPerStep;

  // num_keys is the same for the whole block, so every lane runs every step (the shuffles need it).
  for (int step_start = split * keys_per_step; step_start < num_keys;
       step_start += num_splits * keys_per_step) {
    uint4 k_raw[kKeysPerStep];
    uint4 v_raw[kKeysPerStep];
    bool is_valid[kKeysPerStep];
#pragma unroll
    for (int j = 0; j < kKeysPerStep; ++j) {
      // Neighbouring teams take neighbouring positions: usually one cache block, so one table entry.
      const int position = step_start + j * num_teams + team;
      is_valid[j] = position < num_keys;
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
      bf16x8_to_f32(k_raw[j], k);
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

  __shared__ BlockState<kHeadDim, kHeads> block;
  merge_teams<kHeadDim, kHeads>(state, block, num_heads_here);
  __nv_bfloat16* out_row = args.out + (static_cast<int64_t>(row) * args.num_heads + first_head) * kHeadDim;
  store_output<kHeadDim, kHeads>(block, out_row, num_heads_here, num_splits);
}

// The smallest supported heads-per-block that covers `heads_per_kv_head`, up to kMaxHeadsPerBlock
// (more heads per kv head take several chunks, each reading the kv head's rows once).
int heads_per_block(int heads_per_kv_head) {
  int heads = 1;
  while (heads < heads_per_kv_head && heads < kMaxHeadsPerBlock) heads *= 2;
  return heads;
}

int multiprocessor_count() {
  int device = 0;
  int count = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

// How many blocks share each row's context: enough to give the grid about two blocks per SM, a
// power of two up to kMaxSplits; 1 when the rows alone do. (Measured on an H200 against targets of
// one, four and eight blocks per SM: two was best or level at batch 1–128, e.g. batch-32 decode of
// Qwen3-8B at 4K context in 192 µs against 273 µs unsplit.)
int context_splits(int64_t num_blocks, int num_sms) {
  int splits = 1;
  while (splits < kMaxSplits && num_blocks * splits < 2 * static_cast<int64_t>(num_sms)) splits *= 2;
  return splits;
}

template <int kHeadDim, int kHeads>
void launch(const AttentionArgs& args, int64_t num_rows, cudaStream_t stream) {
  const int chunks = (args.heads_per_kv_head + kHeads - 1) / kHeads;
  const int64_t num_blocks = num_rows * args.kv_heads * chunks;
  const int num_sms = multiprocessor_count();
  const int splits = context_splits(num_blocks, num_sms);
  const dim3 grid(static_cast<unsigned>(num_rows), static_cast<unsigned>(args.kv_heads),
                  static_cast<unsigned>(chunks * splits));
  // A grid narrower than the GPU (decode at small batch) also gets more key teams per block, so
  // that each context is walked with more loads in flight; a wide grid fills the GPU with small blocks.
  const dim3 threads(num_blocks < num_sms ? kMaxThreads : kMinThreads);
  launch_dependent(paged_attention_kernel<kHeadDim, kHeads>, grid, threads, 0, stream,
                   static_cast<unsigned>(splits), args, splits);
}

template <int kHeadDim>
void launch_for_head_dim(const AttentionArgs& args, int64_t num_rows, cudaStream_t stream) {
  switch (heads_per_block(args.heads_per_kv_head)) {
    case 1:
      return launch<kHeadDim, 1>(args, num_rows, stream);
    case 2:
      return launch<kHeadDim, 2>(args, num_rows, stream);
    case 4:
      return launch<kHeadDim, 4>(args, num_rows, stream);
    default:
      return launch<kHeadDim, kMaxHeadsPerBlock>(args, num_rows, stream);
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

}  // namespace

void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     const Tensor& seqs, const Tensor& block_tables, const Tensor& row_seq, float scale,
                     Stream stream) {
  check_attention_inputs(out, q, k_cache, v_cache, seqs, block_tables, row_seq);
  const int64_t num_rows = q.dim(0);
  if (num_rows == 0 || q.dim(1) == 0) return;
  const AttentionArgs args{
      .out = static_cast<__nv_bfloat16*>(out.raw()),
      .q = static_cast<const __nv_bfloat16*>(q.raw()),
      .k_cache = static_cast<const __nv_bfloat16*>(k_cache.raw()),
      .v_cache = static_cast<const __nv_bfloat16*>(v_cache.raw()),
      .seqs = static_cast<const int32_t*>(seqs.raw()),
      .block_tables = static_cast<const int32_t*>(block_tables.raw()),
      .row_seq = static_cast<const int32_t*>(row_seq.raw()),
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
    case 16: return launch_for_head_dim<16>(args, num_rows, cuda_stream);
    case 32: return launch_for_head_dim<32>(args, num_rows, cuda_stream);
    case 64: return launch_for_head_dim<64>(args, num_rows, cuda_stream);
    default: return launch_for_head_dim<128>(args, num_rows, cuda_stream);
  }
}

}  // namespace hanlin::cuda
