// The Qwen3 / Qwen2 forward on one GPU: the weights copied to the device as bf16 once, bf16
// activations (f32 inside each kernel), the KV cache in bf16, and the requested logits rows
// returned to the host as f32 for the sampler. The same layer structure as the CPU forward in
// qwen3.cpp, through hanlin::cuda ops.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "io/model_config.h"
#include "kernels/cuda/cuda_ops.h"
#include "model/batch_view.h"
#include "model/kv_cache.h"
#include "model/qwen3_weights.h"
#include "model/rope_frequencies.h"
#include "model/step_logits.h"

namespace hanlin::model {

// One decoder layer's weights on the device, bf16, with the projections that read the same
// input stacked into one matrix: one product instead of three (q, k, v) and two (gate, up).
struct Qwen3CudaLayer {
  Tensor input_norm;
  Tensor qkv, qkv_bias;  // [(heads + 2 kv_heads) head_dim, H]: q_proj's rows, then k_proj's, then v_proj's
  Tensor q_norm, k_norm;
  Tensor o_proj, o_bias;
  Tensor post_attention_norm;
  Tensor gate_up;  // [2I, H]: gate_proj's rows, then up_proj's
  Tensor down_proj;
};

struct Qwen3CudaWeights {
  Tensor embed_tokens, final_norm, lm_head;
  std::vector<Qwen3CudaLayer> layers;
};

// What a warm-up ran (Qwen3CudaForward::warm_up).
struct WarmUp {
  int64_t prefill_steps = 0;
  int64_t decode_steps = 0;
  int64_t decode_graphs = 0;  // captured by its end, those of earlier steps included
  double seconds = 0;
};

class Qwen3CudaForward {
 public:
  // Copies every weight to the device (converting f32/f16 ones to bf16). Throws
  // Error(kResourceExhausted) naming the bytes needed when the GPU has too little memory.
  // `pool` (may be null) converts the logits rows to f32 in parallel.
  Qwen3CudaForward(const io::ModelConfig& config, const Qwen3Weights& host_weights, const RopeFrequencies& rope,
                   ThreadPool* pool);

  // As Qwen3Model::forward with a StepSampling: the draws are made on the GPU, and the rows
  // wanted or left to the host come back as f32. `cache` must be on the GPU.
  StepLogits forward(const BatchView& batch, KvCache& cache, const StepSampling& sampling);

  // Sizes the activations and the logits buffers for steps of up to `max_tokens` rows (at most what
  // `cache` holds) and `max_seqs` sequences, once: later steps within those bounds never grow them,
  // so the GPU memory plan reserves them once (gpu_memory.h) and no captured graph is dropped.
  void reserve(const KvCache& cache, int64_t max_tokens, int64_t max_seqs);
  // Rows of a step the activations hold now.
  int64_t activation_rows() const { return scratch_.capacity; }

  // Runs once what a serving engine would otherwise meet in its first requests: reserve();
  // prefill chunks of 16, 32, … rows up to max_tokens or 8,192, at the end of a context that long
  // (the GEMM library and the kernels load their code on first use); and decode steps of every
  // padded batch size up to `max_seqs`, at contexts that take each of attention's ways, each
  // captured as a graph when graphs are on. The steps write nothing to `cache` (every slot -1).
  WarmUp warm_up(KvCache& cache, int64_t max_tokens, int64_t max_seqs);

  // Bytes of weights on the device.
  int64_t weight_bytes() const { return weight_bytes_; }
  // Decode steps replay CUDA graphs (on by default); off runs every step eagerly.
  void set_graphs_enabled(bool enabled) { graphs_enabled_ = enabled; }

 private:
  // The batch's integers on the device: one upload per step.
  struct DeviceBatch {
    int64_t used = 0;  // int32 elements of the staging buffer it takes
    Tensor token_ids, positions, slot_mapping;  // int32 [T]
    Tensor seqs;                                // int32 [S, 3]: q_start, q_len, context_len
    Tensor block_tables;                        // int32 [S, max_blocks]
    Tensor row_seq;                             // int32 [T]
    Tensor logits_rows;                         // int32 [R]
    // Attention's split: rows the decode kernel takes (row_seq with -1 for the rows of tiled
    // sequences), and the tensor-core kernel's query tiles, int32 [num_tiles, 2]. A step with tiles
    // also lists the decode kernel's rows (int32 [D]), so that its launch is sized by them; a
    // captured step (no tiles) launches over all its rows.
    Tensor decode_row_seq;
    Tensor decode_rows;
    Tensor tiles;
    bool has_decode_rows = true;
    bool lists_decode_rows = false;
    int64_t longest_tiled_context = 0;  // among the tiled sequences: lets prefill attention split keys
    cuda::AttentionWay attention_way = cuda::AttentionWay::kClusters;  // for the decode rows and their contexts
  };
  struct Scratch {
    int64_t capacity = 0;
    Tensor residual, next_residual;              // [T, H]: the residual stream (issue_step)
    Tensor normed, attn_out, mlp_out;            // [T, H]
    Tensor q, attn;                              // [T, Nq·D]
    Tensor qkv;                                  // [T, (Nq + 2 Nkv)·D]
    Tensor gate_up;                              // [T, 2I]
    Tensor activated;                            // [T, I]
  };

  // Per-step staging: the batch's integers packed into one pinned host buffer and copied in one
  // transfer; the logits rows gathered, projected and copied back through fixed buffers. They
  // grow when a step needs more, and are reused otherwise (no allocation per step).
  struct Staging {
    int64_t capacity = 0;  // int32 elements
    Tensor host;           // pinned int32 [capacity]
    Tensor device;         // int32 [capacity]
  };
  struct LogitsBuffers {
    int64_t capacity = 0;  // rows
    Tensor rows;           // bf16 [capacity, H] on the device
    Tensor device;         // bf16 [capacity, V] on the device
    Tensor host;           // pinned bf16 [capacity, V]: the rows returned, packed in order
  };
  // The draws of a step, their edits and their results, as raw bytes (cuda::DrawParams,
  // cuda::LogitEdit, cuda::DrawResult, cuda::DrawLogprobs).
  struct DrawBuffers {
    int64_t capacity = 0;       // draws
    int64_t edit_capacity = 0;  // edits
    Tensor host_params, device_params;    // pinned / device
    Tensor host_results, device_results;  // pinned / device
    Tensor host_edits, device_edits;      // pinned / device
    Tensor host_logprobs, device_logprobs;  // pinned / device, per draw
  };

  // Packs the batch into `staging` (growing it if needed; `graph_rows` > 0 lays it out for a
  // captured decode step of that many rows: fixed offsets, block tables `graph_blocks` wide,
  // padding rows no sequence owns) and returns the device views. Copies nothing.
  DeviceBatch pack(const BatchView& batch, Staging& staging, int64_t graph_rows);
  void ensure_logits_buffers(int64_t num_rows);
  // Everything a step runs on the GPU up to the logits rows in logits_buffers_.device; issued
  // on stream_, nothing waited for.
  void issue_step(const DeviceBatch& batch, KvCache& cache, int64_t num_tokens, int64_t num_rows);
  void eager_step(const BatchView& batch, KvCache& cache);
  void graph_step(const BatchView& batch, KvCache& cache);
  bool can_use_graph(const BatchView& batch) const;
  // After a step was issued: its draws on the GPU, then the rows the host needs.
  StepLogits sample_and_collect(int64_t num_rows, const StepSampling& sampling);
  void ensure_draw_buffers(int64_t num_draws, int64_t num_edits);
  // Issues the copies of the step's draws and edits to the device and the sampling kernel.
  void issue_draws(int64_t num_rows, const StepSampling& sampling);
  void copy_rows_to_host(const std::vector<int32_t>& rows, int64_t first_slot, int64_t num_rows);
  Tensor logits_to_f32(int64_t num_rows);
  void ensure_scratch(int64_t num_tokens);
  void attention_block(int64_t layer, const DeviceBatch& batch, KvCache& cache, int64_t num_tokens,
                       const cuda::PreNorm& input);
  void mlp_block(int64_t layer, int64_t num_tokens, const cuda::PreNorm& input);
  void final_logits(const DeviceBatch& batch, Tensor& residual, int64_t num_tokens, int64_t num_rows);

  // Host buffers for the f32 logits handed back, recycled once the caller lets go of a step's
  // tensor: a fresh buffer per step costs its pages' faults (≈ 30 ms a step for the 39 MB of 64
  // rows on the H100 host). Shared with the tensors' owners, so it outlives them.
  struct HostBuffers {
    std::mutex mutex;
    std::vector<std::pair<void*, size_t>> free;  // buffer, bytes
    ~HostBuffers();
  };
  Tensor host_logits(int64_t num_rows);

  io::ModelConfig config_;
  ThreadPool* pool_ = nullptr;
  std::shared_ptr<HostBuffers> host_buffers_ = std::make_shared<HostBuffers>();
  Qwen3CudaWeights weights_;
  Tensor inv_freq_;       // f32 [head_dim / 2] on the device
  float attention_scaling_ = 1.0f;
  int64_t weight_bytes_ = 0;
  Scratch scratch_;
  Staging staging_;        // eager steps
  Staging graph_staging_;  // captured decode steps: never reallocated once graphs exist
  LogitsBuffers logits_buffers_;
  DrawBuffers draw_buffers_;
  std::shared_ptr<void> stream_owner_;
  cuda::Stream stream_ = nullptr;
  // Decode steps captured per padded batch size and attention's way (cuda::attention_way);
  // dropped whenever a buffer they use moves.
  using GraphKey = std::pair<int64_t, cuda::AttentionWay>;
  std::map<GraphKey, std::shared_ptr<cuda::Graph>> graphs_;
  int64_t graph_blocks_ = 0;  // block-table width of captured steps
  std::vector<const void*> graph_cache_buffers_;  // the KV buffers captured steps write, per layer
  bool graphs_enabled_ = true;
};

}  // namespace hanlin::model
