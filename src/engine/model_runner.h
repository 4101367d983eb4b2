// ModelRunner: turns a scheduled step into a BatchView, runs the model over the KV cache, and
// returns the logits rows the step samples from. The only engine piece that touches the model.
#pragma once

#include "core/tensor.h"
#include "engine/scheduler.h"
#include "model/batch_view.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"

namespace hanlin::engine {

class ModelRunner {
 public:
  // Both must outlive the runner.
  ModelRunner(model::Qwen3Model& model, model::KvCache& cache) : model_(&model), cache_(&cache) {}

  // Applies the step's block copies, then runs its chunks. The logits rows are one per chunk
  // with `samples`, in chunk order; `sampling` says which are drawn on the device and which
  // come back (model::Qwen3Model::forward).
  model::StepLogits run(const SchedulerOutput& step, const model::StepSampling& sampling);
  // The model's activations for steps of up to these bounds (model::Qwen3Model::reserve).
  void reserve(int64_t max_tokens, int64_t max_seqs) { model_->reserve(*cache_, max_tokens, max_seqs); }
  // The model's warm-up (model::Qwen3Model::warm_up) over the runner's cache.
  model::WarmUp warm_up(int64_t max_tokens, int64_t max_seqs) { return model_->warm_up(*cache_, max_tokens, max_seqs); }
  // Whether draws are made on the device (the model runs on the GPU).
  bool draws_on_device() const { return model_->device() == Device::kCuda; }

  // The view of a step: each chunk's tokens, positions, slots and block table (exposed for tests).
  static model::BatchView build_view(const SchedulerOutput& step, int64_t block_size);

  const io::ModelConfig& config() const { return model_->config(); }
  model::KvCache& cache() { return *cache_; }

 private:
  model::Qwen3Model* model_;
  model::KvCache* cache_;
};

}  // namespace hanlin::engine
