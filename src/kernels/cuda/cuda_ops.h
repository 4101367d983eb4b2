// The CUDA backend's ops: the same computations as kernels/ref (the oracle), over device
// tensors, bf16 activations with f32 arithmetic inside each kernel, launched on a stream.
// Integer inputs (token ids, positions, slots) are device tensors of int32 too: a step uploads
// them once. Launchers check shapes and dtypes (Error(kInternal) on a caller bug) and every
// CUDA call (Error(kInternal) naming the call, or kResourceExhausted when out of memory).
//
// Compiled only when the build has CUDA (HANLIN_CUDA); this header needs no CUDA headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace hanlin::cuda {

using Stream = void*;  // a cudaStream_t; nullptr is the default stream

// Devices present (0 when there is no driver or GPU).
int device_count();
// Streaming multiprocessors of the current device.
int multiprocessor_count();

// A zero-filled device tensor; freed when its last copy goes.
Tensor device_zeros(Shape shape, DType dtype);
// Copies between host and device (synchronous).
Tensor to_device(const Tensor& host);
Tensor to_host(const Tensor& device);
void synchronize(Stream stream);
// Device to device, ordered on `stream`.
void copy_device_bytes(void* destination, const void* source, size_t bytes, Stream stream);

// A zero-filled host tensor in page-locked memory, so copies to and from the device can run
// asynchronously (per-step staging buffers).
Tensor pinned_host_zeros(Shape shape, DType dtype);
// Asynchronous copies of a tensor's bytes on `stream`; the sizes must match. The host side
// should be pinned, or the copy is synchronous.
void copy_to_device_async(Tensor& device, const Tensor& host, Stream stream);
void copy_to_host_async(Tensor& host, const Tensor& device, Stream stream);

// A stream of its own (non-blocking: it does not wait for the legacy default stream). Freed with
// the last copy of the handle.
std::shared_ptr<void> create_stream();

// CUDA graphs: everything issued on `stream` between begin_capture and end_capture is recorded
// instead of run; launch_graph replays it (same kernels, same pointers, same shapes).
class Graph;
void begin_capture(Stream stream);
std::shared_ptr<Graph> end_capture(Stream stream);
void launch_graph(const Graph& graph, Stream stream);

struct MemoryInfo {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
MemoryInfo memory_info();

// out[T, H] (bf16) = table[ids[t], :]; table [V, H] bf16; ids int32 [T], each in [0, V).
void embedding(Tensor& out, const Tensor& table, const Tensor& ids, Stream stream);

// out[T, H] = in / sqrt(mean(in²) + eps) * weight; in/out bf16 [T, H], weight bf16 [H]. out may alias in.
void rms_norm(Tensor& out, const Tensor& in, const Tensor& weight, float eps, Stream stream);

// residual[T, H] += x; out = rms_norm(residual) (all bf16; the sum is rounded to bf16 before
// the norm, as a bf16 model's residual stream is).
void add_rms_norm(Tensor& out, Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Stream stream);
// The same with the sum written to residual_out: residual_out = residual + x, out =
// rms_norm(residual_out). residual_out may be residual or x itself, but must not partly overlap either.
void add_rms_norm(Tensor& out, Tensor& residual_out, const Tensor& residual, const Tensor& x, const Tensor& weight,
                  float eps, Stream stream);

// A pre-norm layer's input to a product: rms_norm(residual + delta) with `weight`, where the sum,
// rounded to bf16, is the residual stream's next value and goes to residual_out. Without delta
// the input is rms_norm(residual), and residual_out is neither needed nor written. All bf16 [T, H]
// (weight [H]). The products that take a PreNorm (linear, gated_linear) fold the norm into their
// own launch at one or two token rows: each block recomputes the rows' norms, and block 0 writes
// residual_out, so residual_out must not overlap residual or delta. Beyond that they run pre_norm
// into `normed` first. The numbers are those of add_rms_norm (or rms_norm) either way.
struct PreNorm {
  Tensor residual;
  const Tensor* delta = nullptr;
  Tensor residual_out;
  Tensor weight;
  float eps = 0;
  Tensor normed;  // written only where the norm runs on its own
};
// The norm on its own: normed = rms_norm(residual + delta), residual_out = residual + delta.
void pre_norm(const PreNorm& in, Stream stream);

// In place over the last dimension of x [T, heads, head_dim] bf16; weight bf16 [head_dim].
void head_rms_norm(Tensor& x, const Tensor& weight, float eps, Stream stream);

// Neox rotary embedding in place on x [T, heads, head_dim] bf16: angle = positions[t] *
// inv_freq[i] in f32, cos/sin scaled by attention_scaling. positions int32 [T]; inv_freq f32 [head_dim / 2].
void rope(Tensor& x, const Tensor& positions, const Tensor& inv_freq, float attention_scaling, Stream stream);

// The step between a fused q/k/v projection and attention, in one pass. qkv [T, (heads + 2 ·
// kv_heads) · head_dim] holds each token's q heads, then its k heads, then its v heads. A q head
// gets head_rms_norm with q_norm (when given) and rope, and goes to q [T, heads, head_dim]; a k
// head the same with k_norm, and goes to k_cache at slot_mapping[t]; a v head goes to v_cache
// there as it is. A slot of -1 writes no K/V (q is still written). The numbers are those of
// head_rms_norm, rope and kv_cache_write run in turn. head_dim even, at most 256.
void qkv_rope_cache_write(Tensor& q, Tensor& k_cache, Tensor& v_cache, const Tensor& qkv, const Tensor* q_norm,
                          const Tensor* k_norm, float eps, const Tensor& positions, const Tensor& inv_freq,
                          float attention_scaling, const Tensor& slot_mapping, Stream stream);

// out[T, I] = silu(gate) * up, all bf16.
void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up, Stream stream);
// The same over the halves of each row of gate_up [T, 2I] (gate first): out [T, I].
void silu_mul_halves(Tensor& out, const Tensor& gate_up, Stream stream);

// k, v [T, kv_heads, head_dim] bf16 into the caches [num_blocks, block_size, kv_heads, head_dim]
// bf16 at slot_mapping[t] (int32 [T]); -1 skips the row.
void kv_cache_write(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v, const Tensor& slot_mapping,
                    Stream stream);

// out[T, N] = in[T, K] · weight[N, K]ᵀ (+ bias[N]), bf16 in and out, f32 accumulation: our own
// kernel for one or two token rows (decode), cuBLASLt beyond. bias may be null.
void linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, Stream stream);
// The same over a pre-norm layer's input (PreNorm above).
void linear(Tensor& out, const PreNorm& in, const Tensor& weight, const Tensor* bias, Stream stream);

// The MLP's gated half with the gate and up projections fused: gate_up [2I, K] holds gate_proj's
// rows then up_proj's; out[T, I] = silu(g) · u, where g and u are in · gate_up's halvesᵀ rounded
// to bf16 (the numbers linear, linear, silu_mul give). in [T, K]. scratch [≥ T, 2I] holds the
// product when T is past the decode kernel's reach.
void gated_linear(Tensor& out, const Tensor& in, const Tensor& gate_up, Tensor& scratch, Stream stream);
// The same over a pre-norm layer's input (PreNorm above).
void gated_linear(Tensor& out, const PreNorm& in, const Tensor& gate_up, Tensor& scratch, Stream stream);

// Causal attention of q [T, heads, head_dim] bf16 over the paged caches [num_blocks,
// block_size, kv_heads, head_dim] bf16, written to out [T, heads, head_dim] bf16 (the
// semantics of ops::paged_attention, ops.h). Per sequence s: seqs[s] = (q_start, q_len,
// context_len) (int32 [S, 3]); its rows [q_start, q_start + q_len) sit at positions
// context_len - q_len + i and attend to positions 0..that one; block_tables int32 [S,
// max_blocks] maps position p to slot block_tables[s][p / block_size] * block_size + p %
// block_size. row_seq int32 [T] names each row's sequence (-1: a row no sequence owns, left
// as is). Query head h reads kv head h / (heads / kv_heads). All on the device.
//
// `way` picks how the launch walks the contexts; every way sums in f32 from the bf16 inputs, so
// they give the same numbers up to the order of rounding. attention_way is the choice for a
// launch's rows and the longest context among its sequences, as measured on an H100
// (bench/RESULTS.md, 2026-11-27):
// - kTensorCores: the block's query heads as a dimension of tensor-core products, each context split
//   over enough blocks to fill the GPU, merged through a cluster from batch 8 (Qwen3's 8 kv heads)
//   and through the workspace below; for small launches, whose cost is the walk's latency.
// - kTensorCoresShort: the same at contexts up to kShortAttentionContext, below batch 8 in blocks
//   that fit the shared-memory carve-out of the step's other kernels, so that the SMs need not drain
//   to change it before and after attention.
// - kTensorCoresWide: the same walk, the rows' keys cut into parts of about equal length that one
//   wave of blocks shares out (measured on an H200, 2026-11-28); from kWideAttentionMinRows rows at
//   long contexts, where the rows' contexts differ most.
// - kClusters: CUDA cores, a context split over a thread-block cluster; wide batches at short
//   contexts.
// - kWorkspace: CUDA cores, a context split over many blocks; long contexts.
// The tensor-core ways (at small batch, and wide) and the workspace way merge the blocks' states
// through one fixed workspace per device, so such calls on one device must not run at the same time
// (hanlin issues a model's kernels on one stream). A captured launch replays its way.
enum class AttentionWay { kTensorCoresShort, kTensorCores, kTensorCoresWide, kClusters, kWorkspace };

inline const char* attention_way_name(AttentionWay way) {
  switch (way) {
    case AttentionWay::kTensorCoresShort: return "tensor cores, short";
    case AttentionWay::kTensorCores: return "tensor cores";
    case AttentionWay::kTensorCoresWide: return "tensor cores, wide";
    case AttentionWay::kClusters: return "clusters";
    case AttentionWay::kWorkspace: return "workspace";
  }
  return "?";
}

// From this longest context on, launches past the tensor-core way's reach split over the workspace.
inline constexpr int64_t kSplitAttentionContext = 2048;

// The tensor-core way takes launches of up to 16 rows whose contexts sum to at most 32,768 keys, and
// of 17–32 rows up to 24,576, while rows × the longest context stays within 1.5 times that.
// Measured on an H100 at Qwen3-8B's shapes, kernel alone, equal contexts, with its splits merged
// through clusters (then from batch 4): faster than the CUDA-core ways up to about 64K
// row-keys at up to 16 rows (batch 8 at 4K 13 %, 16 at 4K 5 %, 8 at 8K 3.5 %), slower beyond (16 at
// 8K 3 %, 16 at 12K 5.5 %); at 32 rows faster at 1K–2K only (3–10 %). Whole decode steps (two
// rounds each): batch 8 at 4K 3.7 % faster; batch 16 at 4K 1.0 %, 32 at 1K 0.9 % and 8 at 8K 1.3 %
// slower, within about twice the runs' spread: hence the edges. (Before the clusters, steps had been
// 1.4–1.5 % faster at batch 4 with 4K and 16 with 1K contexts, and 1.2 % slower at 32 with 768.) At
// batch 1 it is kept for the shortest contexts too, because a row whose context fits one split then
// gets the same numbers alone as in a small crowd, where clusters and tensor cores round
// differently: with batch 1 under 1,024 keys left on clusters, the engine's seeded-reproducibility
// test on CUDA parted after 22 of 96 tokens (it asks for half).
// Each block of the way reads an even share of its row, so the longest row sets its time; yet with
// contexts spread ±50 % around the mean (H200, kernel alone) it was still the fastest way at 2 × 16K
// (62 against 77 µs), 6 × 4K (50 against 57) and 16 × 2K (59 against 64), and level at 4 × 8K and
// 8 × 4K, while the rule by the longest context sent those to the workspace. Past 1.5 times, a long
// row among short ones would leave its blocks reading alone.
inline constexpr int64_t kTensorCoreAttentionMaxRows = 32;
inline constexpr int64_t kTensorCoreAttentionMaxKeys = 32768;  // the rows' contexts summed, up to 16 rows
inline constexpr int64_t kTensorCoreAttentionMaxWideRows = 16;
inline constexpr int64_t kTensorCoreAttentionMaxWideKeys = 24576;  // from 17 rows

// Up to this longest context the tensor-core way takes its short form. Measured on an H100 (decode_ab)
// with that form at every context and the rope kernel at the same carve-out: Qwen3-14B 1x128 −0.6 %
// (two rounds); Qwen3-8B 1x1024 −0.4 %, 4x1024 −0.2 %, but 1x4096 +0.9 % (one round each). With this
// edge, in another call: Qwen3-14B 1x128 −0.8 % (two rounds), Qwen3-8B 1x1024 +0.4 % (one round).
inline constexpr int64_t kShortAttentionContext = 1024;

// Batches of these many rows split over the workspace whatever their contexts: Qwen3-8B decode
// steps took 6–7 % less time than with clusters at batch 8 and 16 with 1K contexts, but 2.4 % more
// at batch 32 with 128.
inline constexpr int64_t kSplitAttentionMinRows = 8;
inline constexpr int64_t kSplitAttentionMaxRows = 31;

// From this many rows, up to kWideAttentionMaxRows, contexts from kSplitAttentionContext keys take the
// wide tensor-core walk. Measured on an H200 (Qwen3-8B, kernel alone and decode steps,
// bench/RESULTS.md 2026-11-28) against the ways below: alone it was faster from 4 rows at 4K–16K
// keys (16 × 4K 86.5 against 103 µs, 64 × 16K 1,319 against 1,426) and far faster where the rows'
// contexts spread ±50 % (64 × 16K 1,396 against 1,980, 2 × 16K 46.7 against 61.6); in steps it took
// 0.8 % less time at 16x4096 and 3.4 % less at 32x4096, but 0.9–3.3 % more at 1x2048, 1x16384 and
// 4x4096, and 0.9 % more at 64x1024 (one round each).
inline constexpr int64_t kWideAttentionMinRows = 16;
inline constexpr int64_t kWideAttentionMaxRows = 256;

// total_context: the rows' contexts summed.
inline AttentionWay attention_way(int64_t num_rows, int64_t longest_context, int64_t total_context) {
  if (num_rows >= kWideAttentionMinRows && num_rows <= kWideAttentionMaxRows &&
      longest_context >= kSplitAttentionContext) {
    return AttentionWay::kTensorCoresWide;
  }
  const int64_t max_keys =
      num_rows <= kTensorCoreAttentionMaxWideRows ? kTensorCoreAttentionMaxKeys : kTensorCoreAttentionMaxWideKeys;
  if (num_rows <= kTensorCoreAttentionMaxRows && total_context <= max_keys &&
      2 * num_rows * longest_context <= 3 * max_keys) {
    return longest_context <= kShortAttentionContext ? AttentionWay::kTensorCoresShort : AttentionWay::kTensorCores;
  }
  const bool split_rows = num_rows >= kSplitAttentionMinRows && num_rows <= kSplitAttentionMaxRows;
  return longest_context >= kSplitAttentionContext || split_rows ? AttentionWay::kWorkspace : AttentionWay::kClusters;
}

// The same for rows of equal contexts.
inline AttentionWay attention_way(int64_t num_rows, int64_t context) {
  return attention_way(num_rows, context, num_rows * context);
}

void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& seqs,
                     const Tensor& block_tables, const Tensor& row_seq, float scale, AttentionWay way,
                     Stream stream);

// The same for only the rows that `rows` (int32 [R], on the device) lists; out's other rows are left
// as they are. The launch, its splits and `way` are then sized by R, not by q's rows: a step that
// mixes prefill chunks (their rows left to prefill_attention) with a few decode rows lists those.
void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& seqs,
                     const Tensor& block_tables, const Tensor& row_seq, const Tensor& rows, float scale,
                     AttentionWay way, Stream stream);

}  // namespace hanlin::cuda
