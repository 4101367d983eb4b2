// Qwen3 dense (also Qwen2 / Qwen2.5: q/k/v biases, no q/k norm): a forward over a BatchView
// that reads and writes a paged KvCache, computed in f32 through ops::.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/batch_view.h"
#include "model/kv_cache.h"
#include "model/qwen3_cuda.h"
#include "model/qwen3_weights.h"
#include "model/rope_frequencies.h"
#include "model/step_logits.h"

namespace hanlin::model {

class Qwen3Model {
 public:
  // Loads config.json and the safetensors of `model_dir`; weights stay mapped, not copied.
  // Throws Error (kNotFound / kInvalidFile / kUnsupported) naming the file at fault.
  static Qwen3Model load(const std::string& model_dir, ThreadPool& pool);
  // Random weights of `config`'s shapes (--load-format dummy).
  static Qwen3Model dummy(const io::ModelConfig& config, uint64_t seed, ThreadPool& pool);

  const io::ModelConfig& config() const { return config_; }
  const Qwen3Weights& weights() const { return weights_; }
  const RopeFrequencies& rope() const { return rope_; }

  // Runs every row of `batch`, writing its K/V rows into `cache` at batch.slot_mapping, and
  // returns logits f32 [batch.logits_rows.size(), vocab]. Token ids outside the vocabulary
  // throw Error(kInvalidArgument); a malformed view throws Error(kInternal). Reuses scratch
  // buffers, so one forward at a time per model.
  Tensor forward(const BatchView& batch, KvCache& cache);
  // The same forward, then what `sampling` asks of the logits rows: on the GPU its draws are
  // made there and only the rows wanted (or left to the host) come back; on the CPU every row
  // comes back and every draw is left to the host.
  StepLogits forward(const BatchView& batch, KvCache& cache, const StepSampling& sampling);

  // From now on the forward runs on the GPU: the weights are copied there as bf16 and the
  // cache passed to forward() must be a GPU one. Throws Error naming what is missing (no GPU,
  // a build without CUDA, too little GPU memory).
  void move_to_gpu();
  Device device() const { return cuda_ ? Device::kCuda : Device::kCpu; }
  // On the GPU, Qwen3CudaForward::reserve (the activations for steps of up to `max_tokens` rows and
  // `max_seqs` sequences, sized once); on the CPU nothing.
  void reserve(const KvCache& cache, int64_t max_tokens, int64_t max_seqs) {
    if (cuda_) cuda_->reserve(cache, max_tokens, max_seqs);
  }
  // On the GPU, the rows of a step its activations hold now; on the CPU 0.
  int64_t activation_rows() const { return cuda_ ? cuda_->activation_rows() : 0; }
  // On the GPU, Qwen3CudaForward::warm_up for steps of up to `max_tokens` rows and `max_seqs`
  // sequences, returning what ran; on the CPU nothing.
  WarmUp warm_up(KvCache& cache, int64_t max_tokens, int64_t max_seqs) {
    return cuda_ ? cuda_->warm_up(cache, max_tokens, max_seqs) : WarmUp{};
  }
  // On the GPU: decode steps replay captured CUDA graphs (the default) or run eagerly.
  void set_cuda_graphs(bool enabled) {
    if (cuda_) cuda_->set_graphs_enabled(enabled);
  }

 private:
  // Activations of one forward; buffers hold `capacity` rows and are row-sliced per call.
  struct Scratch {
    int64_t capacity = 0;
    Tensor residual, normed, attn_out, mlp_out;  // [T, H]
    Tensor q, attn;                              // [T, Nq·D]
    Tensor k, v;                                 // [T, Nkv·D]
    Tensor gate, up, activated;                  // [T, I]; activated = silu(gate)·up
  };

  Qwen3Model(io::ModelConfig config, std::optional<io::WeightStore> store, Qwen3Weights weights,
             ThreadPool& pool);

  void ensure_scratch(int64_t num_tokens);
  void check_token_ids(const BatchView& batch) const;
  void attention_block(int64_t layer, const BatchView& batch, KvCache& cache, int64_t num_tokens);
  void mlp_block(int64_t layer, int64_t num_tokens);
  Tensor final_logits(const BatchView& batch, int64_t num_tokens);

  io::ModelConfig config_;
  std::optional<io::WeightStore> store_;  // keeps the mapped checkpoint alive
  Qwen3Weights weights_;
  RopeFrequencies rope_;
  ThreadPool* pool_;
  Scratch scratch_;
  std::unique_ptr<Qwen3CudaForward> cuda_;  // set once the model runs on the GPU
};

}  // namespace hanlin::model
