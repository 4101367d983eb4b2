// EngineCore: the step loop without a thread. step() = schedule → run the model → sample →
// stop checks → outputs, the shape nano-vllm made familiar. Engine (engine.h) runs it on its
// own thread; tests drive it step by step.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include "core/thread_pool.h"
#include "engine/block_manager.h"
#include "engine/model_runner.h"
#include "engine/request.h"
#include "engine/request_validation.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"
#include "text/tokenizer.h"

namespace hanlin::engine {

struct EngineConfig {
  SchedulerConfig scheduler;
  bool enable_prefix_caching = true;
  int32_t max_waiting_requests = 1024;  // beyond it, submit() answers "overloaded"
  int64_t max_model_len = 0;            // 0: the model's max_position_embeddings
  int32_t max_n = 16;
  size_t max_stop_strings = 64;
  // On the GPU, draw tokens there, logprobs included (cuda::sample_rows); off copies every row to
  // the host sampler (the reference the device draws are checked against).
  bool sample_on_device = true;
};

// Wall time of the step loop's parts, summed over steps: scheduling; the model (on a GPU: the
// batch's upload, the kernels and the logits' copy back, so its excess over the GPU's own time
// is host work); sampling, stop checks and the outputs' delivery. Host work per step is what
// schedule + sample add to every step's critical path.
struct StepTimes {
  double schedule_seconds = 0;
  double model_seconds = 0;
  double sample_seconds = 0;
};

struct EngineStats {
  int64_t num_running_requests = 0;
  int64_t num_waiting_requests = 0;  // not yet started (queued or admitted but never scheduled)
  int64_t num_running_sequences = 0;
  int64_t num_waiting_sequences = 0;
  int64_t num_blocks = 0;
  int64_t num_free_blocks = 0;
  double kv_cache_usage = 0;  // share of blocks referenced by a sequence, 0..1
  PrefixCacheCounters prefix_cache;
  int64_t num_preemptions = 0;
  int64_t num_prompt_tokens = 0;     // of every request started
  int64_t num_generated_tokens = 0;  // every sampled token
  int64_t num_steps = 0;
  StepTimes step_times;  // summed over every step
};

// The limits requests are validated against for this model, cache and configuration.
RequestLimits request_limits(const io::ModelConfig& model_config, const model::KvCache& cache, const EngineConfig& config,
                             bool has_tokenizer);

class EngineCore {
 public:
  // model, cache, tokenizer (may be null: no text, no stop strings) and pool must outlive the
  // core. eos_token_ids end a completion unless the request ignores eos.
  EngineCore(model::Qwen3Model& model, model::KvCache& cache, const text::Tokenizer* tokenizer,
             std::vector<int32_t> eos_token_ids, const EngineConfig& config, ThreadPool* pool);
  ~EngineCore();

  // Checks `request` (Error(kInvalidArgument) naming the field) and returns the new tokens it
  // may make. Reads only what construction fixed, so any thread may call it.
  int64_t validate(Request& request) const;
  // validate(), then add_validated() under the next id.
  RequestId add(Request request, OutputCallback on_output);
  void add_validated(RequestId id, Request request, int64_t max_tokens, OutputCallback on_output);

  // Finishes the request's completions with FinishReason::kAbort and frees their blocks at
  // once. Unknown or finished ids are ignored.
  void abort(RequestId id);
  void abort_all();

  bool has_work() const { return !requests_.empty(); }
  size_t num_requests() const { return requests_.size(); }
  // One step; outputs go to the requests' callbacks before it returns. False when there was
  // nothing to run.
  bool step();

  // Runs the model's warm-up for this engine's largest step and batch (max_num_batched_tokens,
  // max_num_seqs), so that the first requests find the GPU's kernels loaded and its decode graphs
  // captured; nothing on the CPU. Call it once, before the first request, after graphs are on or
  // off for good.
  model::WarmUp warm_up() {
    return runner_.warm_up(config_.scheduler.max_num_batched_tokens, config_.scheduler.max_num_seqs);
  }

  EngineStats stats() const;
  const RequestLimits& limits() const { return limits_; }
  const BlockManager& block_manager() const { return blocks_; }

 private:
  struct StepOutputs;
  // One token a step samples: its logits row, and the device draw that makes it (-1: the host
  // samples it from the row).
  struct PlannedSample {
    int32_t row = 0;
    int32_t draw = -1;
  };
  struct StepPlan {
    std::vector<PlannedSample> samples;  // in the order sample_and_stop meets them
    model::StepSampling sampling;
  };

  void note_queue_times(const SchedulerOutput& step);
  // Fills plan_ (its buffers are reused: a step's edits can run to megabytes).
  const StepPlan& plan_samples(const SchedulerOutput& step);
  void sample_and_stop(const SchedulerOutput& step, const StepPlan& plan, const model::StepLogits& logits,
                       StepOutputs& outputs);
  bool forks_now(const Sequence& seq) const;
  void fork_completions(Sequence& first);
  SampleInput sample_input(const Sequence& seq, std::span<const float> logits) const;
  void append_token(Sequence& seq, const SampleResult& result, StepOutputs& outputs);
  void finish(Sequence& seq, FinishReason reason, StepOutputs& outputs);
  void finish_request(RequestState& request, FinishReason reason, StepOutputs& outputs);
  void deliver(StepOutputs& outputs);
  RequestOutput& touch(RequestState& request, StepOutputs& outputs);
  CompletionDelta& delta_for(Sequence& seq, StepOutputs& outputs);
  std::unique_ptr<Sequence> make_sequence(RequestState& request, int32_t index) const;
  bool is_stop_token(const RequestState& request, int32_t token) const;

  ModelRunner runner_;
  const text::Tokenizer* tokenizer_;
  std::vector<int32_t> eos_token_ids_;
  EngineConfig config_;
  RequestLimits limits_;
  BlockManager blocks_;
  BlockHasher hasher_;
  Scheduler scheduler_;
  Sampler sampler_;
  std::unordered_map<RequestId, std::unique_ptr<RequestState>> requests_;
  RequestId next_id_ = 1;
  uint64_t next_arrival_ = 0;
  std::mt19937_64 seed_source_;
  int64_t num_prompt_tokens_ = 0;
  int64_t num_generated_tokens_ = 0;
  int64_t num_steps_ = 0;
  StepTimes step_times_;
  StepPlan plan_;  // the current step's, see plan_samples
};

}  // namespace hanlin::engine
