// The engine on the CPU at a real model shape (dummy bf16 weights): output tokens/s with 1, 8
// and 32 concurrent requests, and time to first token behind a long shared system prompt with
// the prefix cache on and off. Requests go through the threaded Engine, as the server's will.
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "engine/engine.h"
#include "model/kv_cache.h"
#include "model/presets.h"
#include "model/qwen3.h"

namespace {

using hanlin::ThreadPool;
using hanlin::engine::Engine;
using hanlin::engine::EngineConfig;
using hanlin::engine::Request;
using hanlin::engine::RequestOutput;
using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

std::vector<int32_t> random_ids(size_t count, uint32_t seed, int64_t vocab) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(std::min<int64_t>(vocab, 150000) - 1));
  std::vector<int32_t> ids(count);
  for (int32_t& id : ids) id = pick(generator);
  return ids;
}

Request greedy(std::vector<int32_t> prompt, int64_t max_tokens) {
  Request request;
  request.prompt_ids = std::move(prompt);
  request.sampling.temperature = 0;
  request.stopping.max_tokens = max_tokens;
  request.stopping.ignore_eos = true;
  return request;
}

// Submits requests and waits for them; records when each produced its first token and ended.
class Batch {
 public:
  explicit Batch(Engine& engine) : engine_(&engine) {}

  void submit(Request request) {
    size_t slot = 0;
    {
      std::lock_guard lock(mutex_);
      slot = first_token_.size();
      first_token_.emplace_back();
      seen_.push_back(0);
      submitted_.push_back(Clock::now());
    }
    engine_->submit(std::move(request), [this, slot](const RequestOutput& output) { on_output(slot, output); });
  }

  void wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return num_finished_ == first_token_.size(); });
  }

  // Read after wait().
  double time_to_first_token(size_t slot) const { return seconds_between(submitted_[slot], first_token_[slot]); }
  int64_t num_generated() const { return num_generated_; }

 private:
  void on_output(size_t slot, const RequestOutput& output) {
    std::lock_guard lock(mutex_);
    for (const auto& completion : output.completions) {
      if (!completion.token_ids.empty() && seen_[slot] == 0) first_token_[slot] = Clock::now();
      num_generated_ += static_cast<int64_t>(completion.token_ids.size());
      seen_[slot] += static_cast<int64_t>(completion.token_ids.size());
    }
    if (output.finished) {
      ++num_finished_;
      done_.notify_all();
    }
  }

  Engine* engine_;
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<Clock::time_point> submitted_, first_token_;
  std::vector<int64_t> seen_;  // tokens so far, per request
  int64_t num_generated_ = 0;
  size_t num_finished_ = 0;
};

struct Options {
  std::string preset = "qwen3-0.6b";
  std::string device = "cpu";
  bool cuda_graphs = true;
  int threads = 0;
  double kv_cache_gb = 2.0;
  std::vector<int> concurrency = {1, 8, 32};
  int prompt_tokens = 32;
  int output_tokens = 32;
  int system_prompt_tokens = 2000;
  int question_tokens = 24;
};

struct Setup {
  hanlin::io::ModelConfig config;
  ThreadPool pool;
  hanlin::model::Qwen3Model model;
  hanlin::Device device;
  explicit Setup(const Options& options)
      : config(hanlin::model::preset_config(options.preset)),
        pool(options.threads),
        model(hanlin::model::Qwen3Model::dummy(config, 1, pool)),
        device(options.device == "cuda" ? hanlin::Device::kCuda : hanlin::Device::kCpu) {
    if (device == hanlin::Device::kCuda) {
      model.move_to_gpu();
      model.set_cuda_graphs(options.cuda_graphs);
    }
  }
  std::unique_ptr<hanlin::model::KvCache> cache(double gigabytes) const {
    return std::make_unique<hanlin::model::KvCache>(
        config, hanlin::model::KvCache::num_blocks_for_budget(config, gigabytes, device), device);
  }
};

void throughput(Setup& setup, const Options& options) {
  std::printf("| concurrent requests | output tokens | wall time | output tok/s | per request tok/s |\n|---|---|---|---|---|\n");
  for (int concurrency : options.concurrency) {
    const auto cache = setup.cache(options.kv_cache_gb);
    Engine engine(setup.model, *cache, nullptr, {}, EngineConfig{}, &setup.pool);
    auto submit_all = [&](Batch& batch, uint32_t seed) {
      for (int i = 0; i < concurrency; ++i) {
        batch.submit(greedy(random_ids(static_cast<size_t>(options.prompt_tokens), seed + static_cast<uint32_t>(i),
                                       setup.config.vocab_size),
                            options.output_tokens));
      }
      batch.wait();
    };
    Batch warm_up(engine);  // first steps of each size pay one-time costs (CUDA graph capture, plans)
    submit_all(warm_up, 5000);
    Batch batch(engine);
    const Clock::time_point start = Clock::now();
    submit_all(batch, 1000);
    const double seconds = seconds_between(start, Clock::now());
    const double rate = static_cast<double>(batch.num_generated()) / seconds;
    std::printf("| %d | %lld | %.2f s | %.2f | %.2f |\n", concurrency, static_cast<long long>(batch.num_generated()), seconds,
                rate, rate / concurrency);
    std::fflush(stdout);
  }
}

// TTFT of a question behind the shared system prompt, after another question warmed the cache.
void shared_prefix(Setup& setup, const Options& options) {
  const std::vector<int32_t> system = random_ids(static_cast<size_t>(options.system_prompt_tokens), 7, setup.config.vocab_size);
  auto ask = [&](uint32_t seed) {
    std::vector<int32_t> prompt = system;
    const std::vector<int32_t> question = random_ids(static_cast<size_t>(options.question_tokens), seed, setup.config.vocab_size);
    prompt.insert(prompt.end(), question.begin(), question.end());
    return greedy(prompt, 1);
  };
  std::printf("\n| prefix cache | TTFT, first question | TTFT, second question (same system prompt) | cached prompt tokens |\n|---|---|---|---|\n");
  double ttft[2] = {0, 0};
  for (bool caching : {false, true}) {
    const auto cache = setup.cache(options.kv_cache_gb);
    EngineConfig config;
    config.enable_prefix_caching = caching;
    Engine engine(setup.model, *cache, nullptr, {}, config, &setup.pool);
    Batch first(engine);
    first.submit(ask(1));
    first.wait();
    Batch second(engine);
    second.submit(ask(2));
    second.wait();
    ttft[caching] = second.time_to_first_token(0);
    std::printf("| %s | %.3f s | %.3f s | %lld |\n", caching ? "on" : "off", first.time_to_first_token(0), ttft[caching],
                static_cast<long long>(engine.stats().prefix_cache.hit_tokens));
    std::fflush(stdout);
  }
  std::printf("\nTTFT off ÷ on: %.1f×\n", ttft[0] / ttft[1]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Engine throughput and prefix-cache TTFT on the CPU (dummy weights at a real shape)"};
  Options options;
  app.add_option("--preset", options.preset, "Model shape")->capture_default_str();
  app.add_option("--device", options.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  app.add_option("--threads", options.threads, "CPU threads; 0: all")->capture_default_str();
  app.add_option("--kv-cache-gb", options.kv_cache_gb, "KV cache GiB")->capture_default_str();
  app.add_option("--concurrency", options.concurrency, "Concurrent requests, one run each")->capture_default_str();
  app.add_option("--prompt-tokens", options.prompt_tokens, "Prompt length in the throughput runs")->capture_default_str();
  app.add_option("--output-tokens", options.output_tokens, "New tokens per request in the throughput runs")->capture_default_str();
  app.add_option("--system-prompt-tokens", options.system_prompt_tokens, "Shared system prompt length")->capture_default_str();
  app.add_option("--question-tokens", options.question_tokens, "Tokens after the system prompt")->capture_default_str();
  bool skip_throughput = false, skip_prefix = false, no_graphs = false;
  app.add_flag("--no-cuda-graphs", no_graphs, "Run every GPU step eagerly");
  app.add_flag("--skip-throughput", skip_throughput);
  app.add_flag("--skip-prefix", skip_prefix);
  CLI11_PARSE(app, argc, argv);
  options.cuda_graphs = !no_graphs;
  Setup setup(options);
  std::printf("model %s (dummy bf16 weights) on %s, %d CPU threads\n\n", options.preset.c_str(), options.device.c_str(),
              setup.pool.num_threads());
  if (!skip_throughput) throughput(setup, options);
  if (!skip_prefix) shared_prefix(setup, options);
  return 0;
}
