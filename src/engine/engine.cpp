// The engine thread: take what arrived, run one step, publish stats; sleep when idle.
#include "engine/engine.h"

#include <cstdio>
#include <exception>
#include <future>

#include "core/error.h"

namespace hanlin::engine {

Engine::Engine(model::Qwen3Model& model, model::KvCache& cache, const text::Tokenizer* tokenizer,
               std::vector<int32_t> eos_token_ids, const EngineConfig& config, ThreadPool* pool)
    : core_(model, cache, tokenizer, std::move(eos_token_ids), config, pool),
      max_waiting_requests_(config.max_waiting_requests),
      snapshot_(core_.stats()) {
  // The warm-up runs on the engine thread, where the steps will: the GEMM library keeps its plans
  // per thread.
  std::promise<model::WarmUp> warmed;
  std::future<model::WarmUp> warm_up = warmed.get_future();
  thread_ = std::thread([this, warmed = std::move(warmed)]() mutable {
    try {
      warmed.set_value(core_.warm_up());
    } catch (...) {
      warmed.set_exception(std::current_exception());
      return;
    }
    run();
  });
  try {
    warm_up_ = warm_up.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

Engine::~Engine() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

RequestId Engine::submit(Request request, OutputCallback on_output) {
  const int64_t max_tokens = core_.validate(request);
  std::lock_guard lock(mutex_);
  require(num_unstarted_ < max_waiting_requests_, ErrorKind::kResourceExhausted,
          "overloaded: " + std::to_string(num_unstarted_) + " requests are already waiting; try again later");
  const RequestId id = next_id_++;
  inbox_.push_back({id, std::move(request), max_tokens, std::move(on_output)});
  ++num_unstarted_;
  wake_.notify_one();
  return id;
}

void Engine::abort(RequestId id) {
  std::lock_guard lock(mutex_);
  aborts_.push_back(id);
  wake_.notify_one();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

bool Engine::has_input() const { return stopping_ || !inbox_.empty() || !aborts_.empty(); }

void Engine::run() {
  bool busy = false;  // the last step ran something: step again without waiting
  for (;;) {
    std::vector<Submission> submissions;
    std::vector<RequestId> aborts;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return has_input() || busy; });
      if (stopping_) break;
      submissions.swap(inbox_);
      aborts.swap(aborts_);
    }
    for (Submission& submission : submissions) {
      core_.add_validated(submission.id, std::move(submission.request), submission.max_tokens,
                          std::move(submission.on_output));
    }
    for (RequestId id : aborts) core_.abort(id);
    try {
      busy = core_.step();
    } catch (const std::exception& error) {
      // A broken invariant inside the step: end what is in flight rather than the process.
      std::fprintf(stderr, "hanlin: engine step failed, aborting %zu requests: %s\n", core_.num_requests(), error.what());
      core_.abort_all();
      busy = false;
    }
    std::lock_guard lock(mutex_);
    snapshot_ = core_.stats();
    num_unstarted_ = snapshot_.num_waiting_requests + static_cast<int64_t>(inbox_.size());
  }
  // Requests still queued never started: they end as aborted too.
  std::vector<Submission> submissions;
  {
    std::lock_guard lock(mutex_);
    submissions.swap(inbox_);
  }
  for (Submission& submission : submissions) {
    core_.add_validated(submission.id, std::move(submission.request), submission.max_tokens,
                        std::move(submission.on_output));
  }
  core_.abort_all();
  std::lock_guard lock(mutex_);
  snapshot_ = core_.stats();
}

}  // namespace hanlin::engine
