// Products with a few token rows: each weight row is read once, in 16-byte pieces, with many
// loads in flight, and multiplied by every token row while it is in registers.
//
// Layout of the work. A warp takes two weight rows at a time, an item (two outputs; or, gated, the
// gate row j and the up row I + j of one output; warp_items says which). Its 32 lanes walk the
// rows' K elements 8 at a time, lane l taking pieces l, l + 32, …, so each step reads 512
// contiguous bytes per row. kUnroll steps' weight loads are issued before any is used (12 or 16
// loads of 16 bytes per lane in flight), which is what keeps the memory busy: at batch 1 the whole
// step is weight reads. The token rows come through L1 (every warp of an SM wants the same ones):
// staged in shared memory a round or half a round at a time (stage_token_rows), or in the normed
// form below built in shared memory once a block. The weights bypass L1. Each lane keeps f32
// partial sums per (row, token), the warp adds them with shuffles, and lane r·kTokens + t writes
// output (r, t).
//
// At T = 1, kUnroll = 6 rather than 8 keeps a thread within 80 registers, so that 3 blocks share
// an SM instead of 2: launches of 2–3 blocks an SM then run as one wave instead of two. Kernel
// alone on an H200: Qwen3-14B's o_proj (320 blocks on 132 SMs) 19.7 → 15.5 µs and down_proj 64.9 →
// 52.5, Qwen3-8B's q/k/v (384 blocks) 18.9 → 14.2; but 8B's o_proj and down_proj (256 blocks),
// which fit 2 an SM, took 11.4 → 12.0 and 30.0 → 35.8 µs alone. In whole decode steps, where each
// launch overlaps the kernel before it, it beat both kUnroll = 8 and a choice between the two by
// block count; at T = 2 it lost (bench/RESULTS.md, 2026-11-27). A lane sums the same pieces in the
// same order either way, so the numbers do not change.
//
// The normed form (cuda::PreNorm) takes the token rows as a pre-norm layer makes them, from the
// residual stream: each block first builds rms_norm(residual + delta) in shared memory, exactly as
// the unfused norm would (normalize_rows), and block 0 writes the new residual. That saves the norm
// kernel and its place in the chain of dependent launches: two per layer. Measured against
// add_rms_norm then the plain form, on an H100: Qwen3-14B 1x128 −0.5 % and −0.9 % in two calls,
// Qwen3-8B 2x1024 −2.0 %, 1x128 −0.2 % (bench/RESULTS.md, 2026-11-28).
//
// Why not cuBLASLt here: its kernels for T ≤ 8 reached 26–58 % of the bandwidth on Qwen3-8B's
// shapes when this kernel was written (bench/RESULTS.md), and a gated form saves the [T, 2I] round
// trip and a launch. Measured again on 2026-11-27, cuBLASLt reached 72–90 % on the large shapes
// from T = 3, which is where this kernel stops (kMaxGemvTokens).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/bf16_vector.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/gemv.h"

namespace hanlin::cuda {
namespace {

constexpr int kWarpSize = 32;
constexpr int kWarpsPerBlock = 8;
constexpr int kRowsPerWarp = 2;
// Steps of loads in flight, and the blocks an SM must hold (the registers' bound), by token rows
// (above): at T = 2 no bound, and its 120 registers a thread allow 2.
template <int kTokens>
constexpr int kUnroll = kTokens == 1 ? 6 : 8;
template <int kTokens>
constexpr int kMinBlocksPerSm = kTokens == 1 ? 3 : 1;
constexpr int kPieceElements = 8;  // bf16 per 16-byte load
template <int kTokens>
constexpr int64_t kMaxWavesSpread = kTokens == 1 ? 2 : 0;  // waves of blocks run as one (launch)

// The product's token rows given as a pre-norm layer makes them (the normed form): row t is
// rms_norm(residual[t] + delta[t]) with `weight`, and the sum, rounded to bf16, is the residual
// stream's next value.
struct NormArgs {
  const __nv_bfloat16* residual;  // [T, K]
  const __nv_bfloat16* delta;     // [T, K], or null: the rows are rms_norm(residual)
  __nv_bfloat16* residual_out;    // [T, K]: residual + delta, written by block 0 (with delta only)
  const __nv_bfloat16* weight;    // [K]
  float eps;
};

struct GemvArgs {
  __nv_bfloat16* out;            // [T, num_outputs]
  const __nv_bfloat16* in;       // [T, K]; the plain input only
  const __nv_bfloat16* weight;   // [rows, K]
  const __nv_bfloat16* bias;     // [num_outputs] or null (plain form only)
  NormArgs norm;                 // the normed input only
  int64_t num_outputs;           // N, or I for the gated form
  int64_t num_pieces;            // K / 8
};

template <int kTokens>
using Pieces = uint4[kRowsPerWarp][kUnroll<kTokens>];

// The two weight rows of an item (gated: gate row j and up row I + j; plain: rows 2i and 2i + 1,
// the second absent past N).
struct ItemRows {
  const __nv_bfloat16* rows[kRowsPerWarp];
  bool valid[kRowsPerWarp];
};

template <bool kGated>
__device__ __forceinline__ ItemRows item_rows(const GemvArgs& args, int64_t item) {
  const int64_t width = args.num_pieces * kPieceElements;
  if constexpr (kGated) {
    return {{args.weight + item * width, args.weight + (args.num_outputs + item) * width}, {true, true}};
  } else {
    const int64_t first_output = item * kRowsPerWarp;
    const bool second = first_output + 1 < args.num_outputs;
    return {{args.weight + first_output * width, args.weight + (second ? first_output + 1 : first_output) * width},
            {true, second}};
  }
}

// A weight piece read once: not kept in L1, where the token rows live.
__device__ __forceinline__ uint4 load_streaming(const __nv_bfloat16* address) {
  uint4 value;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(value.x), "=r"(value.y), "=r"(value.z), "=r"(value.w)
               : "l"(address));
  return value;
}

// Issues the loads of kUnroll steps of the item's rows from piece `first` on (zeros past the row).
template <int kTokens>
__device__ __forceinline__ void load_steps(const GemvArgs& args, const ItemRows& item, int64_t first, int lane,
                                           Pieces<kTokens>& pieces) {
#pragma unroll
  for (int u = 0; u < kUnroll<kTokens>; ++u) {
    const int64_t piece = first + u * kWarpSize + lane;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      pieces[r][u] = item.valid[r] && piece < args.num_pieces ? load_streaming(item.rows[r] + piece * kPieceElements)
                                                              : make_uint4(0, 0, 0, 0);
    }
  }
}

__device__ __forceinline__ float dot8(const uint4& a_raw, const float (&b)[8]) {
  const __nv_bfloat162* a = reinterpret_cast<const __nv_bfloat162*>(&a_raw);
  float sum = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 pair = __bfloat1622float2(a[k]);
    sum = fmaf(pair.x, b[2 * k], sum);
    sum = fmaf(pair.y, b[2 * k + 1], sum);
  }
  return sum;
}

// The normed form's norm, done by a block's threads: rms_norm_kernel gives a row up to
// kRmsNormMaxThreadsPerRow threads (bf16_vector.cuh), so a block thread plays at most kNormTrips of
// them.
constexpr int kBlockThreads = kWarpsPerBlock * kWarpSize;
constexpr int kNormTrips = kRmsNormMaxThreadsPerRow / kBlockThreads;

// Copies the norm's scales into shared memory `scales` (bf16 [K]), a thread the pieces it scales in
// pass two. No kernel of the step writes them, so the copies are issued before the wait.
__device__ __forceinline__ void stage_norm_scales(const GemvArgs& args, __nv_bfloat16* scales) {
  for (int64_t piece = threadIdx.x; piece < args.num_pieces; piece += kBlockThreads) {
    copy_async_16_through_l1(shared_address(scales + piece * kPieceElements),
                             args.norm.weight + piece * kPieceElements);
  }
}

// Pass one's work on a piece of token row t, given its residual and delta bytes: stores the sum,
// rounded to bf16, to `rows` (and residual_out) and adds its squares to sum_squares.
__device__ __forceinline__ void sum_piece(const GemvArgs& args, __nv_bfloat16* rows, int64_t offset,
                                          const uint4& residual, const uint4& delta, bool store_residual,
                                          float& sum_squares) {
  float values[kPieceElements];
  unpack_bf16x8(residual, values);
  if (args.norm.delta != nullptr) {
    float deltas[kPieceElements];
    unpack_bf16x8(delta, deltas);
#pragma unroll
    for (int k = 0; k < kPieceElements; ++k) values[k] = round_to_bf16(values[k] + deltas[k]);
  }
  store_bf16<kPieceElements>(rows + offset, values);
  if (store_residual) store_bf16<kPieceElements>(args.norm.residual_out + offset, values);
#pragma unroll
  for (int k = 0; k < kPieceElements; ++k) sum_squares += values[k] * values[k];
}

__device__ __forceinline__ uint4 load_piece(const __nv_bfloat16* source, int64_t offset) {
  return source != nullptr ? *reinterpret_cast<const uint4*>(source + offset) : make_uint4(0, 0, 0, 0);
}

// The normed form's token rows, built once a block into shared memory `rows` (bf16 [T, K]) as the
// unfused norm writes them. Pass one stores each row's sum residual + delta (rounded to bf16, as
// the residual stream is; block 0 also stores it to residual_out) and sums its squares in the order
// rms_norm_kernel does: that kernel gives a row `row_threads` threads, each a running sum over
// pieces i, i + row_threads, …, then adds each warp's sums, then the warps' sums in order; here
// the block's threads play those row threads in turn. Pass two scales the rows in place. Every
// thread of the block calls it. A thread's first piece of each row thread it plays (its only one up
// to kRmsNormMaxThreadsPerRow pieces, K = 8,192) is loaded before any is used, so that pass one
// waits on one round trip rather than one a row thread, and pass two reads the scales that
// stage_norm_scales copied before the wait. Against loads in turn and scales read after the wait, decode steps on an
// H200, two runs each: Qwen3-8B 1x128 4.263 → 4.225 ms, 2x1024 4.674 → 4.617, Qwen3-14B 1x128 7.457
// → 7.405 (bench/RESULTS.md, 2026-11-28).
template <int kTokens>
__device__ void normalize_rows(const GemvArgs& args, const __nv_bfloat16* scales, __nv_bfloat16* rows) {
  __shared__ float warp_sums[kTokens][kRmsNormMaxThreadsPerRow / kWarpSize];
  const int64_t pieces = args.num_pieces;
  const int64_t width = pieces * kPieceElements;
  const int row_threads = rms_norm_threads_per_row(pieces);
  const bool store_residual = blockIdx.x == 0 && args.norm.delta != nullptr;
#pragma unroll
  for (int t = 0; t < kTokens; ++t) {
    uint4 residual[kNormTrips];
    uint4 delta[kNormTrips];
#pragma unroll
    for (int k = 0; k < kNormTrips; ++k) {
      const int64_t piece = threadIdx.x + k * kBlockThreads;
      if (piece >= pieces) break;
      residual[k] = load_piece(args.norm.residual, t * width + piece * kPieceElements);
      delta[k] = load_piece(args.norm.delta, t * width + piece * kPieceElements);
    }
#pragma unroll
    for (int k = 0; k < kNormTrips; ++k) {
      // row_threads is a multiple of 32, so all of a warp's lanes take the same trips.
      const int row_thread = threadIdx.x + k * kBlockThreads;
      if (row_thread >= row_threads) break;
      float sum_squares = 0;
      if (row_thread < pieces) {
        sum_piece(args, rows, t * width + row_thread * kPieceElements, residual[k], delta[k], store_residual,
                  sum_squares);
      }
      for (int64_t piece = row_thread + row_threads; piece < pieces; piece += row_threads) {
        const int64_t offset = t * width + piece * kPieceElements;
        sum_piece(args, rows, offset, load_piece(args.norm.residual, offset), load_piece(args.norm.delta, offset),
                  store_residual, sum_squares);
      }
      sum_squares = warp_sum(sum_squares);
      if (row_thread % kWarpSize == 0) warp_sums[t][row_thread / kWarpSize] = sum_squares;
    }
  }
  wait_own_copies();  // this thread's scales (stage_norm_scales)
  __syncthreads();
#pragma unroll
  for (int t = 0; t < kTokens; ++t) {
    float total = 0;
    for (int warp = 0; warp < row_threads / kWarpSize; ++warp) total += warp_sums[t][warp];
    const float inverse_rms = rsqrtf(total / static_cast<float>(width) + args.norm.eps);
    for (int64_t piece = threadIdx.x; piece < pieces; piece += kBlockThreads) {
      float values[kPieceElements];
      float scale[kPieceElements];
      load_bf16<kPieceElements>(rows + t * width + piece * kPieceElements, values);
      load_bf16<kPieceElements>(scales + piece * kPieceElements, scale);
#pragma unroll
      for (int k = 0; k < kPieceElements; ++k) values[k] = values[k] * inverse_rms * scale[k];
      store_bf16<kPieceElements>(rows + t * width + piece * kPieceElements, values);
    }
  }
  __syncthreads();
}

// Asks L2 for the first kUnroll steps of the item's rows (lane 0, one bulk prefetch a row),
// without holding registers: the normed form's loads before its wait.
template <int kTokens>
__device__ __forceinline__ void prefetch_steps(const GemvArgs& args, const ItemRows& item, int lane) {
  if (lane != 0) return;
  constexpr int64_t kStepBytes = int64_t{kWarpSize} * kPieceElements * sizeof(__nv_bfloat16);
  const int64_t bytes = std::min<int64_t>(kUnroll<kTokens> * kStepBytes, args.num_pieces * 16);
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (!item.valid[r]) continue;
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(item.rows[r]), "r"(static_cast<uint32_t>(bytes))
                 : "memory");
  }
}

// The plain form copies the token rows' pieces of each round into shared memory (cp.async through
// L1, where the SM's warps share them), a lane its own steps' pieces into its own slots, right after
// the round's weight loads, and waits for them once (twice at T = 2). Read from global memory
// instead, each step's load of the token rows waited behind the step before it (the compiler keeps
// a load behind the check of its step), so a round whose piece of the rows was not yet in L1 waited
// on six or eight L2 round trips in turn, with none of the warp's loads in flight. Decode steps on
// an H200, two runs each: Qwen3-8B 1x128 4.470 → 4.264 ms, 1x4096 4.822 → 4.562, Qwen3-14B 1x128
// 7.785 → 7.420 (T = 1 staged); Qwen3-8B 2x1024 4.835 → 4.649 (T = 2 too). Alone, Qwen3-14B's
// down_proj 48.0 → 42.4 µs at T = 1 and 69.7 → 60.0 at T = 2 (bench/RESULTS.md, 2026-11-28). Asking
// L1 to prefetch each round's lines instead (prefetch.global.L1) made Qwen3-8B's steps 23 % slower.
//
// A warp's stage holds kStageSteps steps of the token rows: a round at T = 1 (3 KB), half a round
// at T = 2 (4 KB), so that the stages of the blocks an SM holds (3 at T = 1, 2 at T = 2) fit the
// chain's carve-out.
template <int kTokens>
constexpr int kStageSteps = kTokens == 1 ? kUnroll<1> : kUnroll<kTokens> / 2;
template <int kTokens>
using TokenStage = uint4[kTokens][kStageSteps<kTokens>][kWarpSize];

// Copies kStageSteps steps of the token rows from piece `first` on into the lane's slots.
template <int kTokens>
__device__ __forceinline__ void stage_token_rows(const GemvArgs& args, const __nv_bfloat16* in, int64_t first,
                                                 int lane, TokenStage<kTokens>& stage) {
  const uint32_t slots = shared_address(&stage[0][0][lane]);
#pragma unroll
  for (int step = 0; step < kStageSteps<kTokens>; ++step) {
    const int64_t piece = first + step * kWarpSize + lane;
    if (piece >= args.num_pieces) break;
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      copy_async_16_through_l1(slots + (t * kStageSteps<kTokens> + step) * sizeof(stage[0][0]),
                               in + (t * args.num_pieces + piece) * kPieceElements);
    }
  }
}

// sums[r][t] += Σ over this lane's pieces of the item's weight row r · token row t, the token rows
// copied from `in` into the warp's `stage` (plain form) or read from the normed form's shared rows
// (`in`). In the plain form the first kUnroll steps' weight loads are issued before waiting for the
// previous kernel (launch_dependent): the weights stream in while that kernel finishes, and only
// the token rows have to wait for it. (The normed form asks L2 for its first steps before the wait
// instead, so that no registers are held across its norm; a first form that held them, and built
// each piece of the normed rows in the dot loop, spilled at 80 registers.)
template <int kTokens, bool kNormed>
__device__ __forceinline__ void accumulate_rows(const GemvArgs& args, const __nv_bfloat16* in, const ItemRows& item,
                                                int lane, TokenStage<kTokens>* stage,
                                                float (&sums)[kRowsPerWarp][kTokens]) {
  constexpr int kSteps = kUnroll<kTokens>;
  constexpr int kGroupSteps = kNormed ? kSteps : kStageSteps<kTokens>;  // steps a token-row read serves
  for (int64_t first = 0; first < args.num_pieces; first += kSteps * kWarpSize) {
    Pieces<kTokens> pieces;
    load_steps<kTokens>(args, item, first, lane, pieces);
    if (!kNormed && first == 0) wait_for_previous_kernel();
#pragma unroll
    for (int group = 0; group < kSteps; group += kGroupSteps) {
      if constexpr (!kNormed) {
        const int64_t group_first = first + group * kWarpSize;
        if (group > 0 && group_first >= args.num_pieces) break;
        stage_token_rows<kTokens>(args, in, group_first, lane, *stage);
        wait_own_copies();
      }
#pragma unroll
      for (int step = 0; step < kGroupSteps; ++step) {
        const int u = group + step;
        const int64_t piece = first + u * kWarpSize + lane;
        if (piece >= args.num_pieces) break;
#pragma unroll
        for (int t = 0; t < kTokens; ++t) {
          float x[kPieceElements];
          if constexpr (kNormed) {
            load_bf16<kPieceElements>(in + t * args.num_pieces * kPieceElements + piece * kPieceElements, x);
          } else {
            load_bf16<kPieceElements>(reinterpret_cast<const __nv_bfloat16*>(&(*stage)[t][step][lane]), x);
          }
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r) sums[r][t] += dot8(pieces[r][u], x);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
    for (int t = 0; t < kTokens; ++t) sums[r][t] = warp_sum(sums[r][t]);
  }
}

// The launch's items (pairs of weight rows, or gated outputs) in contiguous ranges, one a block, as
// even as whole items allow; a block's warps take its items in turn. A grid of ⌈items / 8⌉ blocks
// gives each warp at most one item. A grid of one wave of resident blocks (launch) gives every SM as
// many items as any other, give or take one a warp: at one item a warp, a launch of 320 blocks on
// 132 SMs held 3 blocks on some SMs and 2 on others (Qwen3-14B's o_proj and down_proj) and waited
// on the busier ones. Every block has an item (the grid is at most the item count), so every block
// passes the wait. A warp may have none; in the normed form it still takes its part in the norm.
struct ItemRange {
  int64_t first;  // this warp's first item
  int64_t end;    // the block's end
};

__device__ __forceinline__ ItemRange warp_items(int64_t num_items) {
  const int64_t block = blockIdx.x;
  const int64_t first = block * num_items / gridDim.x + threadIdx.x / kWarpSize;
  return {first, (block + 1) * num_items / gridDim.x};
}

// Lane r·kTokens + t writes output (r, t) of the item: plain, output 2i + r plus the bias; gated
// (r = 0 only), silu(gate) · up with each product rounded to bf16 first.
template <int kTokens, bool kGated>
__device__ __forceinline__ void write_item(const GemvArgs& args, int64_t item, int lane,
                                           const float (&sums)[kRowsPerWarp][kTokens]) {
#pragma unroll
  for (int t = 0; t < kTokens; ++t) {
    if constexpr (kGated) {
      if (lane != t) continue;
      const float gate = round_to_bf16(sums[0][t]);
      const float up = round_to_bf16(sums[1][t]);
      args.out[t * args.num_outputs + item] = __float2bfloat16_rn(silu(gate) * up);
    } else {
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int64_t output = item * kRowsPerWarp + r;
        if (lane != r * kTokens + t || output >= args.num_outputs) continue;
        const float bias = args.bias ? __bfloat162float(args.bias[output]) : 0.0f;
        args.out[t * args.num_outputs + output] = __float2bfloat16_rn(sums[r][t] + bias);
      }
    }
  }
}

template <bool kGated>
__host__ __device__ __forceinline__ int64_t item_count(const GemvArgs& args) {
  return kGated ? args.num_outputs : (args.num_outputs + kRowsPerWarp - 1) / kRowsPerWarp;
}

// Plain form: the block's contiguous range of items (warp_items). Normed form: the same over one
// wave of blocks (launch), each first building the normed token rows in shared memory. (Handing
// the normed form's items out through a queue in global memory, so that warps finish together, was
// slower on an H100: Qwen3-14B 1x128 10.45 and 10.44 ms against 10.40 and 10.42, Qwen3-8B 1x128
// +1 %.)
template <int kTokens, bool kGated, bool kNormed>
__global__ void __launch_bounds__(kWarpsPerBlock* kWarpSize, kMinBlocksPerSm<kTokens>)
    gemv_kernel(const GemvArgs args) {
  allow_next_kernel();
  const int lane = static_cast<int>(threadIdx.x % kWarpSize);
  const ItemRange items = warp_items(item_count<kGated>(args));
  extern __shared__ uint4 normed_rows[];  // the normed form's token rows, bf16 [T, K], then its scales [K]
  const __nv_bfloat16* in = args.in;
  if constexpr (kNormed) {
    if (items.first < items.end) prefetch_steps<kTokens>(args, item_rows<kGated>(args, items.first), lane);
    __nv_bfloat16* scales = reinterpret_cast<__nv_bfloat16*>(normed_rows + kTokens * args.num_pieces);
    stage_norm_scales(args, scales);
    wait_for_previous_kernel();
    normalize_rows<kTokens>(args, scales, reinterpret_cast<__nv_bfloat16*>(normed_rows));
    in = reinterpret_cast<const __nv_bfloat16*>(normed_rows);
  }
  TokenStage<kTokens>* stage = nullptr;
  if constexpr (!kNormed) {
    __shared__ TokenStage<kTokens> stages[kWarpsPerBlock];
    stage = &stages[threadIdx.x / kWarpSize];
  }
  for (int64_t item = items.first; item < items.end; item += kWarpsPerBlock) {
    float sums[kRowsPerWarp][kTokens] = {};
    accumulate_rows<kTokens, kNormed>(args, in, item_rows<kGated>(args, item), lane, stage, sums);
    write_item<kTokens, kGated>(args, item, lane, sums);
  }
}

// Every GEMV kernel asks for the chain's carve-out (dependent_launch.cuh): room for three blocks'
// normed rows and scales at Qwen3-14B's width (3 × 21 KB with the driver's reserve) or the plain
// form's token stages (3 × 24 KB at T = 1, 2 × 32 KB at T = 2), and the same size for the plain and
// the normed forms, so that an SM need not drain between their launches to change it.
// Qwen3-14B decode steps at 1x128 on an H200, two runs each: 7.98 and 7.95 ms before the normed
// form; with it, 8.33 and 8.35 ms at the default carve-outs and blocks of one item a warp, 8.09 and
// 8.11 with this carve-out, and 7.74 and 7.78 with this carve-out and one wave of blocks (launch).

// How many blocks of `kernel` an SM holds with `shared_bytes` of dynamic shared memory each (the
// registers' bound, or the normed rows' at large K). The first call for a kernel sets its
// carve-out; each kernel and size is asked once.
int resident_blocks(void (*kernel)(GemvArgs), size_t shared_bytes) {
  static std::mutex mutex;
  static std::map<std::pair<void (*)(GemvArgs), size_t>, int> known;
  std::lock_guard lock(mutex);
  const auto found = known.find({kernel, shared_bytes});
  if (found != known.end()) return found->second;
  use_chain_carveout(reinterpret_cast<const void*>(kernel));
  int blocks = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kWarpsPerBlock * kWarpSize,
                                                           shared_bytes));
  blocks = std::max(blocks, 1);
  known.emplace(std::make_pair(kernel, shared_bytes), blocks);
  return blocks;
}

template <int kTokens, bool kGated, bool kNormed>
void launch(const GemvArgs& args, cudaStream_t stream) {
  void (*kernel)(GemvArgs) = gemv_kernel<kTokens, kGated, kNormed>;
  const size_t shared_bytes = kNormed ? (kTokens + 1) * args.num_pieces * sizeof(uint4) : 0;
  const int64_t wave = static_cast<int64_t>(resident_blocks(kernel, shared_bytes)) * multiprocessor_count();
  const int64_t items = item_count<kGated>(args);
  const int64_t blocks_of_one_item = (items + kWarpsPerBlock - 1) / kWarpsPerBlock;
  // The normed form runs one wave at every size, so that each SM builds the normed rows as few
  // times as it can (measured above). The plain form does so up to kMaxWavesSpread waves of blocks
  // of one item a warp (warp_items); past that the GPU's own scheduling of many blocks balanced
  // better (Qwen3-8B's gate_up and lm_head were 2–5 % slower in one wave). At T = 2 whole decode
  // steps were slower with it (Qwen3-8B, batch 2: +1.4 %), though alone most shapes gained.
  const bool one_wave = kNormed || blocks_of_one_item <= kMaxWavesSpread<kTokens> * wave;
  const int64_t grid = one_wave ? std::min(items, wave) : blocks_of_one_item;
  const dim3 blocks(static_cast<unsigned>(grid));
  launch_dependent(kernel, blocks, dim3(kWarpsPerBlock * kWarpSize), shared_bytes, stream, 1, args);
}

template <bool kGated, bool kNormed>
void dispatch(const GemvArgs& args, int64_t num_tokens, Stream stream) {
  static_assert(kMaxGemvTokens == 2);
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  if (num_tokens == 1) return launch<1, kGated, kNormed>(args, cuda_stream);
  launch<2, kGated, kNormed>(args, cuda_stream);
}

bool aligned16(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 16 == 0; }

// One thread per output: out[t, n] = in[t] · weight[n] (+ bias[n]) with scalar loads, for any K.
__global__ void scalar_linear_kernel(__nv_bfloat16* out, const __nv_bfloat16* in, const __nv_bfloat16* weight,
                                     const __nv_bfloat16* bias, int64_t num_outputs, int64_t num_inputs) {
  const int64_t output = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t token = blockIdx.y;
  if (output >= num_outputs) return;
  const __nv_bfloat16* row = weight + output * num_inputs;
  const __nv_bfloat16* x = in + token * num_inputs;
  float sum = 0;
  for (int64_t k = 0; k < num_inputs; ++k) sum = fmaf(__bfloat162float(row[k]), __bfloat162float(x[k]), sum);
  if (bias) sum += __bfloat162float(bias[output]);
  out[token * num_outputs + output] = __float2bfloat16_rn(sum);
}

}  // namespace

void scalar_linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, int64_t num_tokens,
                   Stream stream) {
  constexpr int kThreads = 256;
  const int64_t num_outputs = weight.dim(0);
  const dim3 grid(static_cast<unsigned>((num_outputs + kThreads - 1) / kThreads), static_cast<unsigned>(num_tokens));
  scalar_linear_kernel<<<grid, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<__nv_bfloat16*>(out.raw()), static_cast<const __nv_bfloat16*>(in.raw()),
      static_cast<const __nv_bfloat16*>(weight.raw()), bias ? static_cast<const __nv_bfloat16*>(bias->raw()) : nullptr,
      num_outputs, weight.dim(1));
  CUDA_CHECK_LAUNCH();
}

bool gemv_applies(int64_t num_tokens, const Tensor& in, const Tensor& weight) {
  const int64_t num_inputs = weight.dim(1);
  return num_tokens >= 1 && num_tokens <= kMaxGemvTokens && num_inputs % kPieceElements == 0 &&
         aligned16(in.raw()) && aligned16(weight.raw());
}

bool gemv_applies(int64_t num_tokens, const PreNorm& in, const Tensor& weight) {
  // The normed rows and scales: at most the dynamic shared memory a launch may take without opting in.
  constexpr int64_t kMaxNormedRowsBytes = 48 << 10;
  return gemv_applies(num_tokens, in.residual, weight) && aligned16(in.weight.raw()) &&
         (num_tokens + 1) * weight.dim(1) * static_cast<int64_t>(sizeof(__nv_bfloat16)) <= kMaxNormedRowsBytes &&
         (in.delta == nullptr || (aligned16(in.delta->raw()) && aligned16(in.residual_out.raw())));
}

namespace {

GemvArgs plain_args(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, int64_t rows) {
  return GemvArgs{
      .out = static_cast<__nv_bfloat16*>(out.raw()),
      .in = static_cast<const __nv_bfloat16*>(in.raw()),
      .weight = static_cast<const __nv_bfloat16*>(weight.raw()),
      .bias = bias ? static_cast<const __nv_bfloat16*>(bias->raw()) : nullptr,
      .norm = {},
      .num_outputs = rows,
      .num_pieces = weight.dim(1) / kPieceElements,
  };
}

GemvArgs normed_args(Tensor& out, const PreNorm& in, const Tensor& weight, const Tensor* bias, int64_t rows) {
  GemvArgs args = plain_args(out, in.residual, weight, bias, rows);
  args.in = nullptr;
  Tensor residual_out = in.residual_out;  // a handle on the same buffer, which the kernel writes
  args.norm = NormArgs{
      .residual = static_cast<const __nv_bfloat16*>(in.residual.raw()),
      .delta = in.delta ? static_cast<const __nv_bfloat16*>(in.delta->raw()) : nullptr,
      .residual_out = in.delta ? static_cast<__nv_bfloat16*>(residual_out.raw()) : nullptr,
      .weight = static_cast<const __nv_bfloat16*>(in.weight.raw()),
      .eps = in.eps,
  };
  return args;
}

}  // namespace

void gemv(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, int64_t num_tokens,
          Stream stream) {
  dispatch<false, false>(plain_args(out, in, weight, bias, weight.dim(0)), num_tokens, stream);
}

void gemv(Tensor& out, const PreNorm& in, const Tensor& weight, const Tensor* bias, int64_t num_tokens,
          Stream stream) {
  dispatch<false, true>(normed_args(out, in, weight, bias, weight.dim(0)), num_tokens, stream);
}

void gated_gemv(Tensor& out, const Tensor& in, const Tensor& gate_up, int64_t num_tokens, Stream stream) {
  dispatch<true, false>(plain_args(out, in, gate_up, nullptr, gate_up.dim(0) / 2), num_tokens, stream);
}

void gated_gemv(Tensor& out, const PreNorm& in, const Tensor& gate_up, int64_t num_tokens, Stream stream) {
  dispatch<true, true>(normed_args(out, in, gate_up, nullptr, gate_up.dim(0) / 2), num_tokens, stream);
}

}  // namespace hanlin::cuda
