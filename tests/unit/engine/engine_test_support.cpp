// Engine test setup: the fixture model, the tokenizer, result collection.
#include "engine_test_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <random>

namespace hanlin::engine::test_support {

OutputCallback Collector::callback_for(size_t slot) {
  return [this, slot](const RequestOutput& output) {
    std::lock_guard lock(mutex_);
    Result& result = results_[slot];
    ++result.num_outputs;
    result.finished = output.finished;
    result.num_prompt_tokens = output.num_prompt_tokens;
    result.num_cached_prompt_tokens = output.num_cached_prompt_tokens;
    if (!output.error.empty()) result.error = output.error;
    for (const CompletionDelta& delta : output.completions) {
      if (result.completions.size() <= static_cast<size_t>(delta.index)) result.completions.resize(static_cast<size_t>(delta.index) + 1);
      Completion& completion = result.completions[static_cast<size_t>(delta.index)];
      completion.token_ids.insert(completion.token_ids.end(), delta.token_ids.begin(), delta.token_ids.end());
      completion.text += delta.text;
      if (!delta.text.empty()) completion.text_deltas.push_back(delta.text);
      completion.logprobs.insert(completion.logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
      if (delta.finish_reason) completion.finish_reason = delta.finish_reason;
      if (delta.stop_string) completion.stop_string = delta.stop_string;
      if (delta.stop_token_id) completion.stop_token_id = delta.stop_token_id;
    }
  };
}

Result Collector::result(size_t slot) const {
  std::lock_guard lock(mutex_);
  const auto found = results_.find(slot);
  return found == results_.end() ? Result{} : found->second;
}

size_t Collector::num_finished() const {
  std::lock_guard lock(mutex_);
  size_t count = 0;
  for (const auto& [slot, result] : results_) count += result.finished ? 1 : 0;
  return count;
}

namespace {

// The built-in paths, unless the environment names others (a test binary run from a copy of the
// tree on another machine).
std::string path_from_environment(const char* name, const char* built_in) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : built_in;
}

Device current_device = Device::kCpu;

}  // namespace

TestModel::TestModel(Device device)
    : tokenizer(text::Tokenizer::load(path_from_environment("HANLIN_TOKENIZER_DIR", HANLIN_TOKENIZER_DIR))) {
  const std::string dir =
      (std::filesystem::path(path_from_environment("HANLIN_FIXTURES_DIR", HANLIN_FIXTURES_DIR)) / "models" /
       "qwen3-gqa-untied")
          .string();
  model.emplace(model::Qwen3Model::load(dir, pool));
  if (device == Device::kCuda) {
    model->move_to_gpu();
    // HANLIN_TEST_CUDA_GRAPHS=0 runs every step eagerly, to tell a graph's fault from a kernel's.
    const char* graphs = std::getenv("HANLIN_TEST_CUDA_GRAPHS");
    model->set_cuda_graphs(graphs == nullptr || std::string(graphs) != "0");
  }
  for (int64_t id : model->config().eos_token_ids) eos_token_ids.push_back(static_cast<int32_t>(id));
}

void use_device(Device device) { current_device = device; }
Device test_device() { return current_device; }

TestModel& shared_model() {
  static TestModel cpu(Device::kCpu);
  if (current_device == Device::kCpu) return cpu;
  static TestModel gpu(Device::kCuda);
  return gpu;
}

CoreFixture::CoreFixture(int64_t num_blocks, const EngineConfig& config, std::vector<int32_t> eos_token_ids,
                         bool with_tokenizer) {
  TestModel& test_model = shared_model();
  EngineConfig chosen = config;
  // HANLIN_TEST_DEVICE_SAMPLING=0 sends every row to the host sampler, to tell a draw's fault
  // from the forward's.
  const char* device_sampling = std::getenv("HANLIN_TEST_DEVICE_SAMPLING");
  if (device_sampling != nullptr && std::string(device_sampling) == "0") chosen.sample_on_device = false;
  cache = std::make_unique<model::KvCache>(test_model.model->config(), num_blocks, test_device());
  core = std::make_unique<EngineCore>(*test_model.model, *cache, with_tokenizer ? &test_model.tokenizer : nullptr,
                                      std::move(eos_token_ids), chosen, &test_model.pool);
}

std::vector<Result> run_all(EngineCore& core, const std::vector<Request>& requests) {
  Collector collector;
  for (size_t i = 0; i < requests.size(); ++i) core.add(requests[i], collector.callback_for(i));
  for (int guard = 0; core.has_work(); ++guard) {
    core.step();
    if (guard > 100000) ADD_FAILURE() << "the engine did not finish";
  }
  std::vector<Result> results;
  for (size_t i = 0; i < requests.size(); ++i) results.push_back(collector.result(i));
  return results;
}

std::vector<Result> run_one_at_a_time(const std::vector<Request>& requests, int64_t num_blocks) {
  std::vector<Result> results;
  EngineConfig config;
  config.enable_prefix_caching = false;
  for (Request request : requests) {
    // On the GPU the reference carries its top-2 logprobs: the margins tell where bf16 noise may
    // flip a token (the logprobs make these rows go through the host sampler).
    if (test_device() == Device::kCuda && !request.sampling.logprobs) request.sampling.logprobs = 2;
    CoreFixture fixture(num_blocks, config);
    results.push_back(run_all(*fixture.core, {request}).front());
  }
  return results;
}

std::vector<int32_t> random_prompt(size_t length, uint32_t seed, int32_t vocab) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> prompt(length);
  for (int32_t& id : prompt) id = pick(generator);
  return prompt;
}

Request greedy_request(std::vector<int32_t> prompt, int64_t max_tokens) {
  Request request;
  request.prompt_ids = std::move(prompt);
  request.sampling.temperature = 0;
  request.stopping.max_tokens = max_tokens;
  request.stopping.ignore_eos = true;
  return request;
}

}  // namespace hanlin::engine::test_support
