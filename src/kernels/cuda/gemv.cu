// Products with a few token rows: each weight row is read once, in 16-byte pieces, with many
// loads in flight, and multiplied by every token row while it is in registers.
//
// Layout of the work. A warp takes two weight rows at a time, an item (two outputs; or, gated, the
// gate row j and the up row I + j of one output; warp_items says which). Its 32 lanes walk the
// rows' K elements 8 at a time, lane l taking pieces l, l + 32, …, so each step reads 512
// contiguous bytes per row. kUnroll steps' weight loads are issued before any is used (12 or 16
// loads of 16 bytes per lane in flight), which is what keeps the memory busy: at batch 1 the whole
// step is weight reads. The token rows are read through L1 (every warp of an SM wants the same
// ones); the weights bypass it. Each lane keeps f32 partial sums per (row, token), the warp adds
// them with shuffles, and lane r·kTokens + t writes output (r, t).
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
// Why not cuBLASLt here: its kernels for T ≤ 8 reached 26–58 % of the bandwidth on Qwen3-8B's
// shapes when this kernel was written (bench/RESULTS.md), and a gated form saves the [T, 2I] round
// trip and a launch. Measured again on 2026-11-27, cuBLASLt reached 72–90 % on the large shapes
// from T = 3, which is where this kernel stops (kMaxGemvTokens).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

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

struct GemvArgs {
  __nv_bfloat16* out;            // [T, num_outputs]
  const __nv_bfloat16* in;       // [T, K]
  const __nv_bfloat16* weight;   // [rows, K]
  const __nv_bfloat16* bias;     // [num_outputs] or null (plain form only)
  int64_t num_outputs;           // N, or I for the gated form
  int64_t num_pieces;            // K / 8
};

// A weight piece read once: not kept in L1, where the token rows live.
__device__ __forceinline__ uint4 load_streaming(const __nv_bfloat16* address) {
  uint4 value;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(value.x), "=r"(value.y), "=r"(value.z), "=r"(value.w)
               : "l"(address));
  return value;
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

// sums[r][t] += Σ over this lane's pieces of weight row r · token row t. The first kUnroll steps'
// weight loads are issued before waiting for the previous kernel (launch_dependent): the weights
// stream in while that kernel finishes, and only the token rows have to wait for it.
template <int kTokens>
__device__ __forceinline__ void accumulate_rows(const GemvArgs& args, const __nv_bfloat16* (&rows)[kRowsPerWarp],
                                                const bool (&row_valid)[kRowsPerWarp], int lane,
                                                float (&sums)[kRowsPerWarp][kTokens]) {
  const int64_t width = args.num_pieces * kPieceElements;
  constexpr int kSteps = kUnroll<kTokens>;
  for (int64_t first = 0; first < args.num_pieces; first += kSteps * kWarpSize) {
    uint4 pieces[kRowsPerWarp][kSteps];
#pragma unroll
    for (int u = 0; u < kSteps; ++u) {
      const int64_t piece = first + u * kWarpSize + lane;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        pieces[r][u] = row_valid[r] && piece < args.num_pieces ? load_streaming(rows[r] + piece * kPieceElements)
                                                                : make_uint4(0, 0, 0, 0);
      }
    }
    if (first == 0) wait_for_previous_kernel();
#pragma unroll
    for (int u = 0; u < kSteps; ++u) {
      const int64_t piece = first + u * kWarpSize + lane;
      if (piece >= args.num_pieces) break;
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        float x[kPieceElements];
        load_bf16<kPieceElements>(args.in + t * width + piece * kPieceElements, x);
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) sums[r][t] += dot8(pieces[r][u], x);
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
// passes the wait.
struct ItemRange {
  int64_t first;  // this warp's first item
  int64_t end;    // the block's end
};

__device__ __forceinline__ ItemRange warp_items(int64_t num_items) {
  const int64_t block = blockIdx.x;
  const int64_t first = block * num_items / gridDim.x + threadIdx.x / kWarpSize;
  return {first, (block + 1) * num_items / gridDim.x};
}

// Plain form: item i is outputs 2i and 2i + 1.
template <int kTokens>
__global__ void __launch_bounds__(kWarpsPerBlock* kWarpSize, kMinBlocksPerSm<kTokens>)
    gemv_kernel(const GemvArgs args) {
  allow_next_kernel();
  const int lane = static_cast<int>(threadIdx.x % kWarpSize);
  const int64_t width = args.num_pieces * kPieceElements;
  const ItemRange items = warp_items((args.num_outputs + kRowsPerWarp - 1) / kRowsPerWarp);
  for (int64_t item = items.first; item < items.end; item += kWarpsPerBlock) {
    const int64_t first_output = item * kRowsPerWarp;
    const __nv_bfloat16* rows[kRowsPerWarp];
    bool row_valid[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      row_valid[r] = first_output + r < args.num_outputs;
      rows[r] = args.weight + (row_valid[r] ? first_output + r : first_output) * width;
    }
    float sums[kRowsPerWarp][kTokens] = {};
    accumulate_rows<kTokens>(args, rows, row_valid, lane, sums);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
      for (int t = 0; t < kTokens; ++t) {
        if (lane != r * kTokens + t || !row_valid[r]) continue;
        const int64_t output = first_output + r;
        const float bias = args.bias ? __bfloat162float(args.bias[output]) : 0.0f;
        args.out[t * args.num_outputs + output] = __float2bfloat16_rn(sums[r][t] + bias);
      }
    }
  }
}

// Gated form: item j reads gate row j and up row I + j and writes output j.
template <int kTokens>
__global__ void __launch_bounds__(kWarpsPerBlock* kWarpSize, kMinBlocksPerSm<kTokens>)
    gated_gemv_kernel(const GemvArgs args) {
  allow_next_kernel();
  const int lane = static_cast<int>(threadIdx.x % kWarpSize);
  const int64_t width = args.num_pieces * kPieceElements;
  const ItemRange items = warp_items(args.num_outputs);
  for (int64_t output = items.first; output < items.end; output += kWarpsPerBlock) {
    const __nv_bfloat16* rows[kRowsPerWarp] = {args.weight + output * width,
                                               args.weight + (args.num_outputs + output) * width};
    const bool row_valid[kRowsPerWarp] = {true, true};
    float sums[kRowsPerWarp][kTokens] = {};
    accumulate_rows<kTokens>(args, rows, row_valid, lane, sums);
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      if (lane != t) continue;
      const float gate = round_to_bf16(sums[0][t]);
      const float up = round_to_bf16(sums[1][t]);
      args.out[t * args.num_outputs + output] = __float2bfloat16_rn(silu(gate) * up);
    }
  }
}

// How many blocks of `kernel` an SM holds (its registers' bound), asked once per kernel.
int resident_blocks(void (*kernel)(GemvArgs)) {
  int blocks = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kWarpsPerBlock * kWarpSize, 0));
  return blocks > 0 ? blocks : 1;
}

template <int kTokens>
void launch(const GemvArgs& args, bool gated, cudaStream_t stream) {
  void (*kernel)(GemvArgs) = gated ? gated_gemv_kernel<kTokens> : gemv_kernel<kTokens>;
  static const int plain_per_sm = resident_blocks(gemv_kernel<kTokens>);
  static const int gated_per_sm = resident_blocks(gated_gemv_kernel<kTokens>);
  const int64_t wave = static_cast<int64_t>(gated ? gated_per_sm : plain_per_sm) * multiprocessor_count();
  const int64_t items = gated ? args.num_outputs : (args.num_outputs + kRowsPerWarp - 1) / kRowsPerWarp;
  const int64_t blocks_of_one_item = (items + kWarpsPerBlock - 1) / kWarpsPerBlock;
  // Up to kMaxWavesSpread waves of blocks of one item a warp, one wave takes them all (warp_items).
  // Past that the GPU's own scheduling of many blocks balanced better (Qwen3-8B's gate_up and
  // lm_head were 2–5 % slower in one wave). At T = 2 whole decode steps were slower with it
  // (Qwen3-8B, batch 2: +1.4 %), though alone most shapes gained.
  const int64_t grid = blocks_of_one_item <= kMaxWavesSpread<kTokens> * wave ? std::min(items, wave)
                                                                             : blocks_of_one_item;
  const dim3 blocks(static_cast<unsigned>(grid));
  launch_dependent(kernel, blocks, dim3(kWarpsPerBlock * kWarpSize), 0, stream, 1, args);
}

void dispatch(const GemvArgs& args, int64_t num_tokens, bool gated, cudaStream_t stream) {
  static_assert(kMaxGemvTokens == 2);
  if (num_tokens == 1) return launch<1>(args, gated, stream);
  launch<2>(args, gated, stream);
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

void gemv(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, int64_t num_tokens,
          Stream stream) {
  const GemvArgs args{
      .out = static_cast<__nv_bfloat16*>(out.raw()),
      .in = static_cast<const __nv_bfloat16*>(in.raw()),
      .weight = static_cast<const __nv_bfloat16*>(weight.raw()),
      .bias = bias ? static_cast<const __nv_bfloat16*>(bias->raw()) : nullptr,
      .num_outputs = weight.dim(0),
      .num_pieces = weight.dim(1) / kPieceElements,
  };
  dispatch(args, num_tokens, false, static_cast<cudaStream_t>(stream));
}

void gated_gemv(Tensor& out, const Tensor& in, const Tensor& gate_up, int64_t num_tokens, Stream stream) {
  const GemvArgs args{
      .out = static_cast<__nv_bfloat16*>(out.raw()),
      .in = static_cast<const __nv_bfloat16*>(in.raw()),
      .weight = static_cast<const __nv_bfloat16*>(gate_up.raw()),
      .bias = nullptr,
      .num_outputs = gate_up.dim(0) / 2,
      .num_pieces = gate_up.dim(1) / kPieceElements,
  };
  dispatch(args, num_tokens, true, static_cast<cudaStream_t>(stream));
}

}  // namespace hanlin::cuda
