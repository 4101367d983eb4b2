// Causal prefill attention on the tensor cores (FlashAttention-2's scheme) over the paged bf16 KV
// cache: cuda::paged_attention's result for the rows of the listed query tiles.
//
// Layout of the work. One thread block per (query tile of kTileRows rows, group of kHeads query
// heads of one kv head): kHeads = 2 where the GQA ratio is even (8 warps, one block per SM), else
// 1 (4 warps, two blocks per SM). Warp w owns rows 32·(w % 4)..+31 of the tile for head
// first_head + w / 4 as two m16 row tiles, so a row's scores, softmax state and output stay in
// one warp's registers and the softmax needs only shuffles within a quad of lanes. The block
// walks the keys 0..(its last row's position) in tiles of kKeyTileRows: Q·Kᵀ and P·V are
// mma.sync m16n8k16 (bf16 in, f32 accumulate), operands read from shared memory with ldmatrix (V
// transposed on the way), P passed from the score accumulators to the A operand in registers.
// The scale and log2 e are applied to the f32 scores, so the softmax runs on exp2; the output is
// rescaled only when a row's maximum moved, which in a long row is rare after its first keys.
//
// Why these sizes (H100 SXM, head dim 128, 32/8 heads, one 16K-token prompt, median of 11):
// a warp of two row tiles loads each K or V fragment once for both, half the shared-memory
// reads per multiply of a warp with one row tile and its query in registers (8 warps of 16 rows:
// 249 TFLOP/s; 4 warps of 32 rows, two blocks per SM: 263). The 128 output accumulators then
// leave registers for the scores of 48 keys at a time: 274 TFLOP/s, against 260 for 64 (which
// spills) and 263 for 32; the query's fragments are re-read from shared memory each step.
// That kernel was bound by the paged K/V gather (without it, on stale tiles: 412 TFLOP/s), each
// thread reading the block table and dividing by the block size for every 16 bytes it copied.
// Now each key row's table lookup is done once per tile (below), and a gathered tile serves two
// query heads: on an H200, same prompt and heads, 271 → 363 TFLOP/s with the lookup once per
// row, 375 with two heads a block as well (4K: 245 → 320; 8K: 262 → 356; head dim 64 with 14/2
// heads, one head a block, 16K: 228 → 284). On the H100: 377 at 16K, 357 at 8K, 319 at 4K.
//
// Shared memory holds the Q tiles of the block's heads, kStages K/V tiles and the cache offsets
// of kStages tiles' rows. Threads 0..kKeyTileRows−1 look up one key row each in the block table
// kStages tiles ahead and leave its byte offset in the caches in shared memory; a key tile is then
// gathered with cp.async (16 bytes a copy, a cache row per kHeadDim / 8 consecutive threads),
// kStages − 1 tiles ahead of the one in use, so the loads overlap the matrix work with one
// barrier per tile. Rows of 16-byte pieces are XOR-swizzled by the row's low three bits so that
// ldmatrix's eight rows hit eight different bank groups.
//
// Few tiles over long contexts (a short chunk after a long cached prefix) would leave most SMs idle:
// there the launch splits each tile's key tiles into num_splits consecutive ranges, a block each
// (grid y), which leave their rows' unnormalised outputs, maxima and sums in a workspace; a second
// kernel merges them into the output.
//
// Causality: key tiles wholly before the block's first row need no mask; only the tiles on the
// diagonal are masked, and tiles wholly after the last row are never loaded. Query heads that
// share a kv head are neighbours in the grid, so their blocks run together and a K/V tile is read
// from memory once and from L2 by the others. The grid lists the tiles in reverse order: a
// sequence's last tiles have the most keys and start first, so the short ones fill the tail.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "kernels/cuda/async_copy.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch_checks.h"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/prefill_attention.h"

namespace hanlin::cuda {
namespace {

constexpr int kTileRows = kPrefillTileRows;  // query rows per tile
constexpr int kRowTiles = 2;                 // m16 tiles of rows per warp
constexpr int kWarpRows = 16 * kRowTiles;
constexpr int kWarpsPerHead = kTileRows / kWarpRows;  // warps of one head's rows
constexpr int kThreadsPerHead = kWarpsPerHead * 32;
constexpr int kWarpsPerSm = 2 * kWarpsPerHead;  // two blocks of one head or one block of two heads
constexpr int kKeyTileRows = 48;  // keys per step: three cache blocks of 16
constexpr int kStages = 3;        // K/V tiles in shared memory: one in use, two in flight
constexpr float kLog2E = 1.4426950408889634f;

// The launch's shapes and pointers; the kernel trusts them (the launcher checked the tensors).
struct PrefillArgs {
  __nv_bfloat16* out;            // [T, num_heads, head_dim]
  const __nv_bfloat16* q;        // [T, num_heads, head_dim]
  const __nv_bfloat16* k_cache;  // [num_blocks, block_size, kv_heads, head_dim]
  const __nv_bfloat16* v_cache;  // [num_blocks, block_size, kv_heads, head_dim]
  const int32_t* seqs;           // [S, 3]: q_start, q_len, context_len
  const int32_t* block_tables;   // [S, max_blocks_per_seq]
  const int32_t* tiles;          // [num_tiles, 2]: sequence, first row offset
  float* partials;               // num_splits > 1: [blocks, splits, kHeads, kTileRows] partial rows
  int num_tiles;
  int num_splits;                // key ranges per tile (grid y); 1: the block writes out itself
  int num_heads;
  int kv_heads;
  int heads_per_kv_head;  // num_heads / kv_heads
  int block_size;
  int max_blocks_per_seq;
  float scale_log2;  // scale · log2 e
};

// ---- Shared-memory tiles ------------------------------------------------------------------

// A tile of rows × kHeadDim bf16 in shared memory, in 16-byte pieces; piece c of row r sits at
// r * kPieces + (c ^ (r % 8)).
template <int kHeadDim>
struct SwizzledTile {
  static constexpr int kPieces = kHeadDim / 8;
  static_assert(kPieces >= 8, "the swizzle needs at least eight pieces a row");
  uint32_t base;  // shared address

  __device__ __forceinline__ uint32_t address(int row, int piece) const {
    return base + 16u * static_cast<uint32_t>(row * kPieces + (piece ^ (row & 7)));
  }
};

// A lane's ldmatrix addresses in a SwizzledTile: the lane reads rows first_row + 8k, first_row
// ≡ lane (mod 8) in every view (so the swizzle's row bits are the lane's low three bits), and
// pieces 2·step + half. Piece 2·step + half of such a row sits at 2·(step ^ (lane % 8) / 2) +
// (half ^ lane % 2); pieces eight apart are swizzled alike. So four step offsets per lane
// (LaneSteps, shared by the views) and one row offset per view serve every step; the rest is a
// constant offset that the compiler folds into the instruction.
struct LaneSteps {
  uint32_t offset[4];  // bytes, for steps 0..3

  __device__ __forceinline__ explicit LaneSteps(int lane) {
#pragma unroll
    for (int j = 0; j < 4; ++j) offset[j] = 32u * static_cast<uint32_t>(j ^ ((lane & 7) >> 1));
  }
};

template <int kHeadDim>
struct LaneView {
  static constexpr int kPieces = kHeadDim / 8;
  uint32_t row_offset;  // bytes: first_row and the half
  const LaneSteps& steps;

  __device__ __forceinline__ LaneView(int first_row, int half, const LaneSteps& lane_steps)
      : row_offset(16u * static_cast<uint32_t>(first_row * kPieces + (half ^ (first_row & 1)))),
        steps(lane_steps) {}

  // rows_below: rows past first_row, a multiple of 8.
  __device__ __forceinline__ uint32_t address(uint32_t base, int rows_below, int step) const {
    return base + row_offset + steps.offset[step % 4] +
           16u * static_cast<uint32_t>(rows_below * kPieces + (step / 4) * 8);
  }
};

// Where one block works: its sequence, rows, query heads (kHeads from first_head, all of one kv
// head) and key range.
struct TileWork {
  int seq;
  int q_start;
  int first_row;       // offset of the tile's first row within the sequence's q rows
  int num_rows;        // rows of the tile inside the sequence (≤ kTileRows)
  int first_position;  // position of the tile's first row
  int context_len;
  int first_head;
  int kv_head;
};

template <int kHeads>
__device__ __forceinline__ TileWork tile_work(const PrefillArgs& args) {
  const int head_groups = args.num_heads / kHeads;
  const int tile = args.num_tiles - 1 - static_cast<int>(blockIdx.x) / head_groups;
  TileWork work;
  work.first_head = (static_cast<int>(blockIdx.x) % head_groups) * kHeads;
  work.kv_head = work.first_head / args.heads_per_kv_head;
  work.seq = args.tiles[2 * tile];
  work.first_row = args.tiles[2 * tile + 1];
  work.q_start = args.seqs[3 * work.seq];
  const int q_len = args.seqs[3 * work.seq + 1];
  work.context_len = args.seqs[3 * work.seq + 2];
  work.num_rows = min(kTileRows, q_len - work.first_row);
  work.first_position = work.context_len - q_len + work.first_row;
  return work;
}

// The tile's query rows of the block's heads → shared memory, head after head (zeros past the
// sequence's rows).
template <int kHeadDim, int kHeads>
__device__ __forceinline__ void load_query_tile(const PrefillArgs& args, const TileWork& work,
                                                SwizzledTile<kHeadDim> tile) {
  constexpr int kPieces = kHeadDim / 8;
  constexpr int kThreads = kHeads * kThreadsPerHead;
#pragma unroll
  for (int i = 0; i < kHeads * kTileRows * kPieces / kThreads; ++i) {
    const int index = static_cast<int>(threadIdx.x) + i * kThreads;
    const int head_row = index / kPieces;  // kTileRows rows a head
    const int piece = index % kPieces;
    const int row = head_row % kTileRows;
    const int head = work.first_head + head_row / kTileRows;
    const bool is_valid = row < work.num_rows;
    const int64_t token = work.q_start + work.first_row + (is_valid ? row : 0);
    const __nv_bfloat16* source = args.q + (token * args.num_heads + head) * kHeadDim + piece * 8;
    copy_async_16(tile.address(head_row, piece), source, is_valid);
  }
}

// Where the cache rows of a key tile lie: the block-table lookup, once per row and tile.
// KeyTable holds what it needs; it stays in shared memory through the main loop, whose registers
// are taken by the accumulators. Thread r < kKeyTileRows looks up the tile's row r and writes the
// row's byte offset in the caches for every thread's copies. Positions past the context take the
// context's last one: such keys are masked, so they need only be finite.
struct KeyTable {
  const int32_t* block_table;  // the sequence's row of block_tables
  int context_len;
  int kv_head;
};

template <int kHeadDim>
__device__ __forceinline__ void write_key_offset(const PrefillArgs& args, const KeyTable& table, int key_tile,
                                                 uint32_t offsets) {
  const int position = min(key_tile * kKeyTileRows + static_cast<int>(threadIdx.x), table.context_len - 1);
  const int64_t slot = static_cast<int64_t>(__ldg(table.block_table + position / args.block_size)) *
                           args.block_size +
                       position % args.block_size;
  const int64_t offset = (slot * args.kv_heads + table.kv_head) * (kHeadDim * 2);
  asm volatile("st.shared.b64 [%0], %1;\n" ::"r"(offsets + 8u * threadIdx.x), "l"(offset) : "memory");
}

// The key tile's K and V rows of the kv head → shared memory, from the row offsets that
// write_key_offset left in `offsets`.
template <int kHeadDim, int kThreads>
__device__ __forceinline__ void load_key_value_tile(const PrefillArgs& args, uint32_t offsets,
                                                    SwizzledTile<kHeadDim> k_tile,
                                                    SwizzledTile<kHeadDim> v_tile) {
  constexpr int kPieces = kHeadDim / 8;
  constexpr int kCopies = kKeyTileRows * kPieces;
  // Two copies of each at a time: fully unrolled, the offsets in flight take registers that the
  // main loop needs and ptxas spills at head dim 128.
#pragma unroll 2
  for (int i = 0; i < (kCopies + kThreads - 1) / kThreads; ++i) {
    const int index = static_cast<int>(threadIdx.x) + i * kThreads;
    if (kCopies % kThreads != 0 && index >= kCopies) break;
    const int row = index / kPieces;
    const int piece = index % kPieces;
    int64_t offset;
    asm volatile("ld.shared.b64 %0, [%1];\n" : "=l"(offset) : "r"(offsets + 8u * row) : "memory");
    offset += piece * 16;
    copy_async_16(k_tile.address(row, piece), reinterpret_cast<const char*>(args.k_cache) + offset);
    copy_async_16(v_tile.address(row, piece), reinterpret_cast<const char*>(args.v_cache) + offset);
  }
}

// ---- One warp's rows ----------------------------------------------------------------------

// A warp's kRowTiles·16 rows: the output accumulators (C fragments over the head dim) and each
// row's softmax state. In row tile m, lane l holds rows l/4 and l/4 + 8.
template <int kHeadDim>
struct WarpRows {
  float output[kRowTiles][kHeadDim / 8][4];
  float running_max[kRowTiles][2];  // log2 domain, scaled; -inf before any key
  float running_sum[kRowTiles][2];  // this lane's share of Σ 2^(score − max); the quad's sum at the end
};

template <int kHeadDim>
using Scores = float[kRowTiles][kKeyTileRows / 8][4];

// scores[rows × kKeyTileRows] = Q · Kᵀ for the warp's rows and the tile's keys (unscaled).
// The query's A fragments are read from shared memory a 16-dim step at a time; each K fragment
// serves every row tile.
template <int kHeadDim>
__device__ __forceinline__ void compute_scores(Scores<kHeadDim>& scores, uint32_t q_base, uint32_t k_base,
                                               const LaneView<kHeadDim>& query_view,
                                               const LaneView<kHeadDim>& key_view) {
#pragma unroll
  for (int m = 0; m < kRowTiles; ++m) {
#pragma unroll
    for (int n = 0; n < kKeyTileRows / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) scores[m][n][i] = 0.0f;
    }
  }
#pragma unroll
  for (int step = 0; step < kHeadDim / 16; ++step) {
    uint32_t query[kRowTiles][4];
#pragma unroll
    for (int m = 0; m < kRowTiles; ++m) load_matrices(query[m], query_view.address(q_base, m * 16, step));
#pragma unroll
    for (int pair = 0; pair < kKeyTileRows / 16; ++pair) {
      uint32_t keys[4];
      load_matrices(keys, key_view.address(k_base, pair * 16, step));
#pragma unroll
      for (int m = 0; m < kRowTiles; ++m) {
        mma_bf16(scores[m][2 * pair], query[m], keys[0], keys[1]);
        mma_bf16(scores[m][2 * pair + 1], query[m], keys[2], keys[3]);
      }
    }
  }
}

// Sets scores of keys past each row's position to -inf (the diagonal tiles only); row_position
// is that of the lane's first row in row tile 0.
template <int kHeadDim>
__device__ __forceinline__ void mask_future_keys(Scores<kHeadDim>& scores, int key_start, int row_position,
                                                 int lane) {
  // Element i of n-tile n: row +8 for i ≥ 2, key n·8 + 2·(lane % 4) + i % 2.
#pragma unroll
  for (int m = 0; m < kRowTiles; ++m) {
#pragma unroll
    for (int n = 0; n < kKeyTileRows / 8; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int key = key_start + n * 8 + 2 * (lane % 4) + i % 2;
        const int position = row_position + m * 16 + (i / 2) * 8;
        if (key > position) scores[m][n][i] = -INFINITY;
      }
    }
  }
}

__device__ __forceinline__ float quad_max(float value) {
  value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, 1));
  return fmaxf(value, __shfl_xor_sync(0xffffffffu, value, 2));
}

__device__ __forceinline__ float quad_sum(float value) {
  value += __shfl_xor_sync(0xffffffffu, value, 1);
  return value + __shfl_xor_sync(0xffffffffu, value, 2);
}

// Online softmax over one key step: raises each row's maximum, rescales its sum and output by
// 2^(old − new), and turns the scores into probabilities packed as the A fragments of P · V
// (two n-tiles of scores are one 16-key A fragment). Once a row's maximum has settled the
// correction is exactly 1, so the warp skips rescaling the output when none of its rows moved.
template <int kHeadDim>
__device__ __forceinline__ void softmax_step(WarpRows<kHeadDim>& rows, Scores<kHeadDim>& scores,
                                             uint32_t (&probabilities)[kRowTiles][kKeyTileRows / 16][4],
                                             float scale_log2) {
  float correction[kRowTiles][2];
  float base[kRowTiles][2];
  bool has_moved = false;
#pragma unroll
  for (int m = 0; m < kRowTiles; ++m) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float step_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < kKeyTileRows / 8; ++n)
        step_max = fmaxf(step_max, fmaxf(scores[m][n][2 * half], scores[m][n][2 * half + 1]));
      const float new_max = fmaxf(rows.running_max[m][half], quad_max(step_max) * scale_log2);
      // A row that has seen only masked keys stays at -inf; subtracting 0 keeps exp2 at 0, not NaN.
      base[m][half] = new_max == -INFINITY ? 0.0f : new_max;
      correction[m][half] = fast_exp2(rows.running_max[m][half] - base[m][half]);
      has_moved |= new_max != rows.running_max[m][half];
      rows.running_max[m][half] = new_max;
      rows.running_sum[m][half] *= correction[m][half];
    }
  }
  if (__any_sync(0xffffffffu, has_moved)) {
#pragma unroll
    for (int m = 0; m < kRowTiles; ++m) {
#pragma unroll
      for (int d = 0; d < kHeadDim / 8; ++d) {
#pragma unroll
        for (int i = 0; i < 4; ++i) rows.output[m][d][i] *= correction[m][i / 2];
      }
    }
  }
#pragma unroll
  for (int m = 0; m < kRowTiles; ++m) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
#pragma unroll
      for (int n = 0; n < kKeyTileRows / 8; ++n) {
        const float p0 = fast_exp2(fmaf(scores[m][n][2 * half], scale_log2, -base[m][half]));
        const float p1 = fast_exp2(fmaf(scores[m][n][2 * half + 1], scale_log2, -base[m][half]));
        rows.running_sum[m][half] += p0 + p1;
        // A fragment registers: 0 rows +0 keys +0..7, 1 rows +8, 2 rows +0 keys +8..15, 3 rows +8 keys
        // +8..15.
        probabilities[m][n / 2][(n % 2) * 2 + half] = pack_bf16(p0, p1);
      }
    }
  }
}

// output[rows × kHeadDim] += P · V over the tile's keys; each V fragment serves every
// row tile.
template <int kHeadDim>
__device__ __forceinline__ void accumulate_values(
    WarpRows<kHeadDim>& rows, const uint32_t (&probabilities)[kRowTiles][kKeyTileRows / 16][4],
    uint32_t v_base, const LaneView<kHeadDim>& value_view) {
#pragma unroll
  for (int step = 0; step < kKeyTileRows / 16; ++step) {
#pragma unroll
    for (int pair = 0; pair < kHeadDim / 16; ++pair) {
      uint32_t values[4];
      load_matrices_transposed(values, value_view.address(v_base, step * 16, pair));
#pragma unroll
      for (int m = 0; m < kRowTiles; ++m) {
        mma_bf16(rows.output[m][2 * pair], probabilities[m][step], values[0], values[1]);
        mma_bf16(rows.output[m][2 * pair + 1], probabilities[m][step], values[2], values[3]);
      }
    }
  }
}

// Divides by each row's sum and writes the warp's rows that lie inside the sequence. The tile's
// place is read again rather than kept in registers through the main loop.
template <int kHeadDim, int kHeads>
__device__ __forceinline__ void store_rows(const PrefillArgs& args, WarpRows<kHeadDim>& rows, int warp,
                                           int lane) {
  const TileWork work = tile_work<kHeads>(args);
  const int head = work.first_head + warp / kWarpsPerHead;
#pragma unroll
  for (int m = 0; m < kRowTiles; ++m) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = (warp % kWarpsPerHead) * kWarpRows + m * 16 + lane / 4 + half * 8;
      const float inverse_sum = 1.0f / quad_sum(rows.running_sum[m][half]);
      if (row >= work.num_rows) continue;
      const int64_t token = work.q_start + work.first_row + row;
      __nv_bfloat16* out_row = args.out + (token * args.num_heads + head) * kHeadDim + 2 * (lane % 4);
#pragma unroll
      for (int d = 0; d < kHeadDim / 8; ++d) {
        const uint32_t pair = pack_bf16(rows.output[m][d][2 * half] * inverse_sum,
                                        rows.output[m][d][2 * half + 1] * inverse_sum);
        *reinterpret_cast<uint32_t*>(out_row + d * 8) = pair;
      }
    }
  }
}

// A partial row in the workspace: the unnormalised output, then the row's maximum (log2 domain,
// scaled; -inf where the range held no key of the row) and sum; padded to 16 bytes.
template <int kHeadDim>
constexpr int kPartialFloats = kHeadDim + 4;

template <int kHeadDim, int kHeads>
__device__ __forceinline__ float* partial_row(const PrefillArgs& args, int block, int split, int head, int row) {
  const int64_t index = ((static_cast<int64_t>(block) * args.num_splits + split) * kHeads + head) * kTileRows + row;
  return args.partials + index * kPartialFloats<kHeadDim>;
}

// A split block's end: leaves the warp's rows, not yet divided by their sums, in the workspace.
template <int kHeadDim, int kHeads>
__device__ __forceinline__ void store_partial_rows(const PrefillArgs& args, WarpRows<kHeadDim>& rows, int warp,
                                                   int lane) {
  const TileWork work = tile_work<kHeads>(args);
  const int head = warp / kWarpsPerHead;
#pragma unroll
  for (int m = 0; m < kRowTiles; ++m) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = (warp % kWarpsPerHead) * kWarpRows + m * 16 + lane / 4 + half * 8;
      const float sum = quad_sum(rows.running_sum[m][half]);
      if (row >= work.num_rows) continue;
      float* partial = partial_row<kHeadDim, kHeads>(args, blockIdx.x, blockIdx.y, head, row);
#pragma unroll
      for (int d = 0; d < kHeadDim / 8; ++d) {
        *reinterpret_cast<float2*>(partial + d * 8 + 2 * (lane % 4)) =
            make_float2(rows.output[m][d][2 * half], rows.output[m][d][2 * half + 1]);
      }
      if (lane % 4 == 0) {
        partial[kHeadDim] = rows.running_max[m][half];
        partial[kHeadDim + 1] = sum;
      }
    }
  }
}

// Key splits: a launch of fewer blocks than the GPU has SMs splits each tile's keys, into as many
// ranges as give about two blocks an SM, each range at least kMinKeyTilesPerSplit key tiles, at most
// kMaxPrefillSplits, and within the workspace.
constexpr int kMaxPrefillSplits = 16;
constexpr int kMinKeyTilesPerSplit = 8;  // 384 keys
constexpr int64_t kWorkspaceFloats = kPrefillSplitWorkspaceBytes / sizeof(float);

// The merge: a thread per four output dimensions of one row of one head, a warp's threads on
// consecutive pieces of one row. Every split's vector, maximum and sum are loaded before any is used
// (and before the tile's rows are known), so a thread waits on one round trip to L2, not one per
// split: with a loop over splits and items a thread, the merge took 46 µs a layer for 15 splits of
// one tile of 16 head pairs (H100, Qwen3-8B), a fifth of the attention it finished.
constexpr int kMergeThreads = 256;

template <int kHeadDim, int kHeads>
constexpr int merge_blocks_per_tile() {
  return (kHeads * kTileRows * (kHeadDim / 4) + kMergeThreads - 1) / kMergeThreads;
}

// Grid (blocks of the split launch, merge_blocks_per_tile); kMergeThreads threads.
template <int kHeadDim, int kHeads>
__global__ void __launch_bounds__(kMergeThreads) merge_split_rows_kernel(const PrefillArgs args) {
  constexpr int kQuads = kHeadDim / 4;
  const int item = static_cast<int>(blockIdx.y) * kMergeThreads + static_cast<int>(threadIdx.x);
  const int quad = item % kQuads;
  const int row = (item / kQuads) % kTileRows;
  const int head = item / (kQuads * kTileRows);
  if (head >= kHeads) return;
  float4 outputs[kMaxPrefillSplits];
  float maxima[kMaxPrefillSplits];
  float sums[kMaxPrefillSplits];
#pragma unroll
  for (int split = 0; split < kMaxPrefillSplits; ++split) {
    maxima[split] = -INFINITY;
    if (split >= args.num_splits) continue;
    const float* partial = partial_row<kHeadDim, kHeads>(args, blockIdx.x, split, head, row);
    outputs[split] = reinterpret_cast<const float4*>(partial)[quad];
    maxima[split] = partial[kHeadDim];
    sums[split] = partial[kHeadDim + 1];
  }
  const TileWork work = tile_work<kHeads>(args);
  if (row >= work.num_rows) return;  // past the sequence's rows: no partial row was written
  float overall_max = -INFINITY;
#pragma unroll
  for (int split = 0; split < kMaxPrefillSplits; ++split) overall_max = fmaxf(overall_max, maxima[split]);
  float sum = 0.0f;
  float4 total = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
  for (int split = 0; split < kMaxPrefillSplits; ++split) {
    // -inf: a split past the row's keys (or past num_splits), which adds nothing.
    if (maxima[split] == -INFINITY) continue;
    const float weight = exp2f(maxima[split] - overall_max);
    sum = fmaf(weight, sums[split], sum);
    total.x = fmaf(weight, outputs[split].x, total.x);
    total.y = fmaf(weight, outputs[split].y, total.y);
    total.z = fmaf(weight, outputs[split].z, total.z);
    total.w = fmaf(weight, outputs[split].w, total.w);
  }
  const float inverse_sum = 1.0f / sum;
  const int64_t token = work.q_start + work.first_row + row;
  __nv_bfloat16* out = args.out + (token * args.num_heads + work.first_head + head) * kHeadDim + 4 * quad;
  *reinterpret_cast<uint2*>(out) = make_uint2(pack_bf16(total.x * inverse_sum, total.y * inverse_sum),
                                              pack_bf16(total.z * inverse_sum, total.w * inverse_sum));
}

template <int kHeadDim>
__device__ __forceinline__ void init_rows(WarpRows<kHeadDim>& rows) {
#pragma unroll
  for (int m = 0; m < kRowTiles; ++m) {
#pragma unroll
    for (int d = 0; d < kHeadDim / 8; ++d) {
#pragma unroll
      for (int i = 0; i < 4; ++i) rows.output[m][d][i] = 0.0f;
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      rows.running_max[m][half] = -INFINITY;
      rows.running_sum[m][half] = 0.0f;
    }
  }
}

template <int kHeadDim, int kHeads>
constexpr int shared_bytes() {
  return (kHeads * kTileRows + 2 * kStages * kKeyTileRows) * kHeadDim * 2 +
         kStages * kKeyTileRows * static_cast<int>(sizeof(int64_t));
}

// Grid: num_tiles × (num_heads / kHeads) blocks of kHeads · kThreadsPerHead threads, head groups
// fastest; shared_bytes<kHeadDim, kHeads>() of dynamic shared memory. Warp w computes rows
// 32·(w % 4).. of head first_head + w / 4.
template <int kHeadDim, int kHeads>
__global__ void __launch_bounds__(kHeads* kThreadsPerHead, kWarpsPerSm / (kHeads * kWarpsPerHead))
    prefill_attention_kernel(const PrefillArgs args) {
  constexpr int kThreads = kHeads * kThreadsPerHead;
  extern __shared__ __align__(128) unsigned char shared[];
  const TileWork work = tile_work<kHeads>(args);
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  constexpr uint32_t kKeyTileBytes = kKeyTileRows * kHeadDim * 2;
  constexpr uint32_t kQueryBytes = kHeads * kTileRows * kHeadDim * 2;
  const uint32_t q_base = shared_address(shared);
  const uint32_t kv_base = q_base + kQueryBytes;
  // The cache byte offsets of the rows of kStages key tiles, tile t's at t % kStages.
  const uint32_t key_offsets = kv_base + 2 * kStages * kKeyTileBytes;
  const auto offsets_of = [&](int key_tile) {
    return key_offsets + static_cast<uint32_t>((key_tile % kStages) * kKeyTileRows * 8);
  };
  const auto k_tile = [&](int stage) { return SwizzledTile<kHeadDim>{kv_base + 2 * stage * kKeyTileBytes}; };
  const auto v_tile = [&](int stage) {
    return SwizzledTile<kHeadDim>{kv_base + (2 * stage + 1) * kKeyTileBytes};
  };
  // Which of ldmatrix's four matrices a lane addresses: for Q (an A operand) and V (a B operand
  // read transposed) rows +8 in lanes 8–15 and 24–31 and pieces +1 in lanes 16–31; for K (a B
  // operand) rows +8 in lanes 16–31 and pieces +1 in lanes 8–15 and 24–31. One view serves Q and
  // V, the warp's query rows being a whole number of 8-row groups further on.
  const LaneSteps lane_steps(lane);
  const LaneView<kHeadDim> query_value_view(lane % 8 + ((lane / 8) % 2) * 8, lane / 16, lane_steps);
  const LaneView<kHeadDim> key_view(lane % 8 + (lane / 16) * 8, (lane / 8) % 2, lane_steps);
  // The heads' tiles follow each other, so warp w's rows start w · kWarpRows rows in.
  const uint32_t q_warp_base = q_base + 16u * static_cast<uint32_t>(warp * kWarpRows * (kHeadDim / 8));

  // Keys 0..the last row's position; only the tiles with keys past first_position need a mask. A
  // split block takes its range of those key tiles, [first_key_tile, end_key_tile).
  const int last_position = work.first_position + work.num_rows - 1;
  const int num_key_tiles = last_position / kKeyTileRows + 1;
  const int tiles_per_split = (num_key_tiles + args.num_splits - 1) / args.num_splits;
  const int first_key_tile = static_cast<int>(blockIdx.y) * tiles_per_split;
  const int end_key_tile = min(num_key_tiles, first_key_tile + tiles_per_split);
  const bool is_offset_writer = static_cast<int>(threadIdx.x) < kKeyTileRows;
  __shared__ KeyTable shared_table;
  if (threadIdx.x == 0) {
    shared_table = {args.block_tables + static_cast<int64_t>(work.seq) * args.max_blocks_per_seq,
                    work.context_len, work.kv_head};
  }

  load_query_tile<kHeadDim, kHeads>(args, work, SwizzledTile<kHeadDim>{q_base});
  commit_copies();
  if (is_offset_writer) {
    const KeyTable table{args.block_tables + static_cast<int64_t>(work.seq) * args.max_blocks_per_seq,
                         work.context_len, work.kv_head};
#pragma unroll
    for (int i = 0; i < kStages; ++i) {
      const int key_tile = first_key_tile + i;
      if (key_tile < end_key_tile) write_key_offset<kHeadDim>(args, table, key_tile, offsets_of(key_tile));
    }
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    const int key_tile = first_key_tile + i;
    if (key_tile < end_key_tile) {
      load_key_value_tile<kHeadDim, kThreads>(args, offsets_of(key_tile), k_tile(key_tile % kStages),
                                              v_tile(key_tile % kStages));
    }
    commit_copies();  // an empty group keeps the count of groups per tile fixed
  }

  WarpRows<kHeadDim> rows;
  init_rows<kHeadDim>(rows);
  for (int tile = first_key_tile; tile < end_key_tile; ++tile) {
    wait_copies<kStages - 2>();  // this thread's copies of the query and of key tile `tile` landed
    __syncthreads();             // everyone's did, and everyone is done with the stage refilled next
    const int next = tile + kStages - 1;
    if (next < end_key_tile) {
      load_key_value_tile<kHeadDim, kThreads>(args, offsets_of(next), k_tile(next % kStages),
                                              v_tile(next % kStages));
    }
    commit_copies();
    // The offsets of key tile tile + kStages, in the place of tile's (read when tile's copies were
    // issued, kStages − 1 steps ago); the barrier at the top of the next step publishes them.
    if (is_offset_writer && tile + kStages < end_key_tile)
      write_key_offset<kHeadDim>(args, shared_table, tile + kStages, offsets_of(tile + kStages));
    Scores<kHeadDim> scores;
    compute_scores<kHeadDim>(scores, q_warp_base, k_tile(tile % kStages).base, query_value_view, key_view);
    if ((tile + 1) * kKeyTileRows > work.first_position + 1) {
      // A tile that reaches past the block's first row: the lane's first row and its position.
      const int lane_row = (static_cast<int>(threadIdx.x) / 32 % kWarpsPerHead) * kWarpRows + lane / 4;
      mask_future_keys<kHeadDim>(scores, tile * kKeyTileRows, work.first_position + lane_row, lane);
    }
    uint32_t probabilities[kRowTiles][kKeyTileRows / 16][4];
    softmax_step<kHeadDim>(rows, scores, probabilities, args.scale_log2);
    accumulate_values<kHeadDim>(rows, probabilities, v_tile(tile % kStages).base, query_value_view);
  }
  wait_copies<0>();
  if (args.num_splits == 1) {
    store_rows<kHeadDim, kHeads>(args, rows, warp, lane);
  } else {
    store_partial_rows<kHeadDim, kHeads>(args, rows, warp, lane);
  }
}

// Key splits (see kMaxPrefillSplits).
template <int kHeadDim, int kHeads>
int key_splits(int64_t num_blocks, int64_t longest_context) {
  const int num_sms = multiprocessor_count();
  if (longest_context <= 0 || num_blocks >= num_sms) return 1;
  const int64_t key_tiles = (longest_context + kKeyTileRows - 1) / kKeyTileRows;
  const int64_t floats_per_split = num_blocks * kHeads * kTileRows * kPartialFloats<kHeadDim>;
  const int64_t splits = std::min({(2 * int64_t{num_sms} + num_blocks - 1) / num_blocks,
                                   key_tiles / kMinKeyTilesPerSplit, int64_t{kMaxPrefillSplits},
                                   kWorkspaceFloats / floats_per_split});
  return static_cast<int>(std::max<int64_t>(splits, 1));
}

// The partial rows' workspace of the current device, allocated on the first split launch (never
// inside a captured graph: prefill steps are not captured) and kept.
float* split_workspace() {
  static std::mutex mutex;
  static std::map<int, Tensor> workspaces;
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(mutex);
  auto [at, inserted] = workspaces.try_emplace(device);
  if (inserted) at->second = device_zeros({kWorkspaceFloats}, DType::kF32);
  return static_cast<float*>(at->second.raw());
}

template <int kHeadDim, int kHeads>
void launch(PrefillArgs args, int64_t longest_context, cudaStream_t stream) {
  constexpr int bytes = shared_bytes<kHeadDim, kHeads>();
  CUDA_CHECK(cudaFuncSetAttribute(prefill_attention_kernel<kHeadDim, kHeads>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  const int64_t num_blocks = static_cast<int64_t>(args.num_tiles) * (args.num_heads / kHeads);
  args.num_splits = key_splits<kHeadDim, kHeads>(num_blocks, longest_context);
  if (args.num_splits > 1) args.partials = split_workspace();
  const dim3 grid(static_cast<unsigned>(num_blocks), static_cast<unsigned>(args.num_splits));
  prefill_attention_kernel<kHeadDim, kHeads><<<grid, kHeads * kThreadsPerHead, bytes, stream>>>(args);
  CUDA_CHECK_LAUNCH();
  if (args.num_splits == 1) return;
  const dim3 merge_grid(static_cast<unsigned>(num_blocks), merge_blocks_per_tile<kHeadDim, kHeads>());
  merge_split_rows_kernel<kHeadDim, kHeads><<<merge_grid, kMergeThreads, 0, stream>>>(args);
  CUDA_CHECK_LAUNCH();
}

void check_prefill_inputs(const Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                          const Tensor& seqs, const Tensor& block_tables, const Tensor& tiles) {
  constexpr const char* op = "prefill_attention";
  check_paged_attention_inputs(op, out, q, k_cache, v_cache, seqs, block_tables);
  check_device_tensor(op, "tiles", tiles, DType::kI32);
  check_rank(op, "tiles", tiles, 2);
  check_shape(op, "tiles", tiles, {tiles.dim(0), 2});
  const int64_t head_dim = k_cache.dim(3);
  if (!prefill_attention_supports(head_dim)) {
    fail_check(op, "head_dim " + std::to_string(head_dim) + " is not supported (64 or 128)");
  }
  const int64_t num_heads = q.dim(1);
  // One grid dimension of num_tiles × heads blocks; 32-bit indices for tokens and cache blocks.
  if (tiles.dim(0) * num_heads > INT_MAX || q.dim(0) > INT_MAX || k_cache.dim(1) > INT_MAX ||
      block_tables.dim(1) > INT_MAX) {
    fail_check(op, "q " + shape_to_string(q.shape()) + ", the caches " + shape_to_string(k_cache.shape()) +
                       " or tiles " + shape_to_string(tiles.shape()) + " exceed the launch's limits");
  }
  // Every row the kernel touches starts at a multiple of head_dim elements, so base alignment suffices.
  if (bf16_vector_width(kBf16PerVector, {out.raw(), q.raw(), k_cache.raw(), v_cache.raw()}) !=
      kBf16PerVector) {
    fail_check(op, "out, q and the caches must be 16-byte aligned");
  }
}

}  // namespace

bool prefill_attention_supports(int64_t head_dim) {
  return head_dim == 64 || head_dim == 128;
}

std::vector<int32_t> prefill_tiles(std::span<const std::array<int32_t, 3>> seqs, int32_t min_q_len) {
  std::vector<int32_t> tiles;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int32_t q_len = seqs[s][1];
    if (q_len < std::max(min_q_len, 1)) continue;
    for (int32_t first_row = 0; first_row < q_len; first_row += kPrefillTileRows) {
      tiles.push_back(static_cast<int32_t>(s));
      tiles.push_back(first_row);
    }
  }
  return tiles;
}

void prefill_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                       const Tensor& seqs, const Tensor& block_tables, const Tensor& tiles, float scale,
                       Stream stream, int64_t longest_context) {
  check_prefill_inputs(out, q, k_cache, v_cache, seqs, block_tables, tiles);
  if (tiles.dim(0) == 0 || q.dim(1) == 0) return;
  const PrefillArgs args{
      .out = static_cast<__nv_bfloat16*>(out.raw()),
      .q = static_cast<const __nv_bfloat16*>(q.raw()),
      .k_cache = static_cast<const __nv_bfloat16*>(k_cache.raw()),
      .v_cache = static_cast<const __nv_bfloat16*>(v_cache.raw()),
      .seqs = static_cast<const int32_t*>(seqs.raw()),
      .block_tables = static_cast<const int32_t*>(block_tables.raw()),
      .tiles = static_cast<const int32_t*>(tiles.raw()),
      .partials = nullptr,
      .num_tiles = static_cast<int>(tiles.dim(0)),
      .num_splits = 1,
      .num_heads = static_cast<int>(q.dim(1)),
      .kv_heads = static_cast<int>(k_cache.dim(2)),
      .heads_per_kv_head = static_cast<int>(q.dim(1) / k_cache.dim(2)),
      .block_size = static_cast<int>(k_cache.dim(1)),
      .max_blocks_per_seq = static_cast<int>(block_tables.dim(1)),
      .scale_log2 = scale * kLog2E,
  };
  const cudaStream_t cuda_stream = static_cast<cudaStream_t>(stream);
  // Two query heads a block where they share a kv head (an even GQA ratio), else one.
  const bool two_heads = args.heads_per_kv_head % 2 == 0;
  if (k_cache.dim(3) == 64) {
    return two_heads ? launch<64, 2>(args, longest_context, cuda_stream)
                     : launch<64, 1>(args, longest_context, cuda_stream);
  }
  return two_heads ? launch<128, 2>(args, longest_context, cuda_stream)
                   : launch<128, 1>(args, longest_context, cuda_stream);
}

}  // namespace hanlin::cuda
