// Prefill attention on the tensor cores: causal attention of many query rows of a sequence over
// the paged KV cache, in tiles of kPrefillTileRows rows (cuda::paged_attention's semantics for
// those rows). Decode rows (q_len 1) and unsupported head dims stay with cuda::paged_attention.
//
// Compiled only when the build has CUDA (HANLIN_CUDA); this header needs no CUDA headers.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::cuda {

// Query rows per tile: one thread block computes one tile of one query head, or of two query
// heads that share a kv head.
inline constexpr int32_t kPrefillTileRows = 128;

// The device memory that split launches share (see prefill_attention), allocated on the first one:
// 16 splits of one tile of 16 head pairs at head dim 128 (a 128-token chunk of Qwen3-8B) take 34.6 MB.
inline constexpr int64_t kPrefillSplitWorkspaceBytes = int64_t{40} << 20;

// Whether prefill_attention takes this head dim (64 and 128).
bool prefill_attention_supports(int64_t head_dim);

// The tiles of every sequence with q_len ≥ min_q_len (and ≥ 1), as the int32 [num_tiles, 2] rows
// (sequence index, first row offset within the sequence's q rows), flattened; seqs are the
// (q_start, q_len, context_len) rows of the launch. Empty when no sequence qualifies.
std::vector<int32_t> prefill_tiles(std::span<const std::array<int32_t, 3>> seqs, int32_t min_q_len);

// For each tile in `tiles` (int32 [num_tiles, 2], as prefill_tiles builds) and each query head,
// out[rows of the tile] = causal attention of q over the caches, exactly as
// cuda::paged_attention defines it: q/out [T, heads, head_dim] bf16; caches [num_blocks,
// block_size, kv_heads, head_dim] bf16; seqs int32 [S, 3] = (q_start, q_len, context_len), the
// rows [q_start, q_start + q_len) at positions context_len − q_len + i; block_tables int32 [S,
// max_blocks]. Rows no tile covers are left as they are. The K/V of the tiles' own rows must be
// in the caches already. head_dim must be one prefill_attention_supports takes.
//
// longest_context, the longest context_len among the tiles' sequences, lets a launch of few tiles
// split each tile's keys over several blocks and merge them in a second kernel (a short chunk
// after a long cached prefix); 0 never splits. Split launches share one workspace per device, so
// they must not run at the same time on one device.
void prefill_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                       const Tensor& seqs, const Tensor& block_tables, const Tensor& tiles, float scale,
                       Stream stream, int64_t longest_context = 0);

}  // namespace hanlin::cuda
