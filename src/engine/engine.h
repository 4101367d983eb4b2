// Engine: EngineCore on its own thread (ARCHITECTURE.md, "Engine API"). Any thread may
// submit, abort or read stats; outputs arrive through each request's callback on the engine
// thread, which must not block.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine_core.h"

namespace hanlin::engine {

class Engine {
 public:
  // Starts the engine thread, which first runs the model's warm-up (EngineCore::warm_up) and
  // returns once that is done: the first requests then find the GPU ready. Throws what the warm-up
  // threw (the thread joined). The arguments are EngineCore's and must outlive the engine.
  Engine(model::Qwen3Model& model, model::KvCache& cache, const text::Tokenizer* tokenizer,
         std::vector<int32_t> eos_token_ids, const EngineConfig& config, ThreadPool* pool);
  // Aborts what is left (each callback gets its abort output) and joins the thread.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates on the calling thread and queues the request: Error(kInvalidArgument) naming
  // the field, or Error(kResourceExhausted) when max_waiting_requests are already waiting.
  // Nothing is scheduled for a request that throws.
  RequestId submit(Request request, OutputCallback on_output);
  // What submit() checks first, without queuing: Error(kInvalidArgument) naming the field.
  // Returns the new tokens the request may make.
  int64_t validate(Request& request) const { return core_.validate(request); }
  // The request ends with FinishReason::kAbort within one step; its blocks are freed then.
  void abort(RequestId id);
  // As of the end of the last step.
  EngineStats stats() const;
  // What the warm-up at start ran.
  const model::WarmUp& warm_up() const { return warm_up_; }

 private:
  struct Submission {
    RequestId id;
    Request request;
    int64_t max_tokens;
    OutputCallback on_output;
  };

  void run();
  bool has_input() const;

  EngineCore core_;
  int32_t max_waiting_requests_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Submission> inbox_;
  std::vector<RequestId> aborts_;
  bool stopping_ = false;
  EngineStats snapshot_;
  // Submitted but not yet scheduled once: the inbox and the core's waiting requests. Counted
  // up at submit, recounted after each step, so it never undercounts.
  int64_t num_unstarted_ = 0;
  std::atomic<RequestId> next_id_{1};
  model::WarmUp warm_up_;
  std::thread thread_;
};

}  // namespace hanlin::engine
