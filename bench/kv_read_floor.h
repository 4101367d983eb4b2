// The least time a decode attention call can take at a shape, measured: a kernel that reads exactly
// the K and V bytes the call reads (each row's context through its block table, every kv head) and
// does nothing else.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/tensor.h"

namespace hanlin::cuda_bench {

// Whether the read may start before the dependent-launch wait (overlapping the kernel before it on
// the stream, as decode attention may for keys of earlier steps) or only after it.
enum class FloorReads { kAfterWait, kBeforeWait };

// Reads the first `context` slots of each of the batch's rows (block_tables [batch, blocks]) from
// both caches [num_blocks, block_size, kv_heads, head_dim]; `sink` (≥ kFloorSinkWords u32 on the
// device) takes a word per warp so the reads are kept.
constexpr int64_t kFloorSinkWords = 1 << 16;
void read_kv_floor(const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables, int64_t context,
                   FloorReads reads, Tensor& sink, cudaStream_t stream);

}  // namespace hanlin::cuda_bench
