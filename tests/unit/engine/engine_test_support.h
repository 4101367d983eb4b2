// Shared setup for the engine tests: a transformers fixture model with the real Qwen3
// tokenizer, output collection, and helpers to run requests to completion.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/thread_pool.h"
#include "engine/engine_core.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"
#include "text/tokenizer.h"

namespace hanlin::engine::test_support {

// Everything one completion produced, deltas joined.
struct Completion {
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<std::string> text_deltas;
  std::vector<SampledLogprobs> logprobs;
  std::optional<FinishReason> finish_reason;
  std::optional<std::string> stop_string;
  std::optional<int32_t> stop_token_id;
};

struct Result {
  std::vector<Completion> completions;
  bool finished = false;
  int num_outputs = 0;
  int64_t num_prompt_tokens = 0;
  int64_t num_cached_prompt_tokens = 0;
  std::string error;
};

// Collects outputs per request; thread-safe, so the threaded Engine can write into it.
class Collector {
 public:
  OutputCallback callback_for(size_t slot);
  Result result(size_t slot) const;
  size_t num_finished() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<size_t, Result> results_;
};

// The fixture model qwen3-gqa-untied (vocab 2048) and the real Qwen3 tokenizer: ids below 2048
// are Qwen3's byte tokens and first merges, so its text is real text.
struct TestModel {
  explicit TestModel(Device device);
  ThreadPool pool{2};
  std::optional<model::Qwen3Model> model;
  text::Tokenizer tokenizer;
  std::vector<int32_t> eos_token_ids;
};

// The device the engine tests run on: the CPU unless a test chose the GPU. The shared model and
// the fixtures' caches follow it.
void use_device(Device device);
Device test_device();
TestModel& shared_model();

// A core over a fresh cache of `num_blocks` blocks on test_device().
struct CoreFixture {
  CoreFixture(int64_t num_blocks, const EngineConfig& config, std::vector<int32_t> eos_token_ids = {},
              bool with_tokenizer = true);
  std::unique_ptr<model::KvCache> cache;
  std::unique_ptr<EngineCore> core;
};

// Adds every request, steps until the core is idle, returns results in request order.
std::vector<Result> run_all(EngineCore& core, const std::vector<Request>& requests);
// Each request alone on a fresh core with prefix caching off: the reference. On the GPU each
// carries its top-2 logprobs, so a comparison can tell where bf16 noise may flip a token.
std::vector<Result> run_one_at_a_time(const std::vector<Request>& requests, int64_t num_blocks = 256);

std::vector<int32_t> random_prompt(size_t length, uint32_t seed, int32_t vocab = 2048);
Request greedy_request(std::vector<int32_t> prompt, int64_t max_tokens);

}  // namespace hanlin::engine::test_support
