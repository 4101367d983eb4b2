// `hanlin bench latency` and `hanlin bench throughput`: the engine in-process (no HTTP, no
// tokenizer) on seeded random prompt ids, greedy and ignoring eos so that every request makes
// exactly --output-len tokens, as vLLM's commands of the same names do; vLLM's JSON keys.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/bench_limits.h"
#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/engine_core.h"
#include "engine/request_validation.h"
#include "model/kv_cache.h"
#include "model/presets.h"
#include "model/qwen3.h"

namespace hanlin::cli {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Flags both commands share; the lengths' defaults differ per command.
struct RunOptions {
  RunOptions(int64_t default_input_len, int64_t default_output_len)
      : input_len(default_input_len), output_len(default_output_len) {}

  ModelOptions model;
  int64_t input_len = 0;
  int64_t output_len = 0;
  uint64_t seed = 0;
  // How tokens are chosen: greedy by default; vLLM's latency benchmark samples at temperature 1.
  double temperature = 0;
  double top_p = 1;
  int32_t top_k = 0;
  double repetition_penalty = 1;  // Qwen2.5's generation_config.json sets 1.05
  int32_t logprobs = -1;          // -1: none; k: the drawn token's logprob and the k most likely
  bool sample_on_host = false;    // copy every logits row to the host sampler, as a baseline
  std::string output_json;
  bool no_cuda_graphs = false;
  double peak_bandwidth_tb_per_s = GpuPeaks{}.bandwidth_bytes_per_second / 1e12;
  double peak_tflops = GpuPeaks{}.matrix_flops_per_second / 1e12;

  GpuPeaks peaks() const { return {peak_bandwidth_tb_per_s * 1e12, peak_tflops * 1e12}; }
};

struct LatencyOptions {
  RunOptions run{32, 128};
  int64_t batch_size = 1;
  int64_t num_iters_warmup = 2;
  int64_t num_iters = 10;
  int64_t shared_prefix_len = 0;
  bool limits_only = false;
};

struct ThroughputOptions {
  RunOptions run{1024, 256};
  int64_t num_prompts = 1000;
};

// ---- Checks: each names the flag at fault ----

// Far beyond any context or batch, and small enough that products of them cannot overflow.
constexpr int64_t kMostTokens = int64_t{1} << 30;
constexpr int64_t kMostRequests = int64_t{1} << 24;

void require_in_range(int64_t value, int64_t least, int64_t most, const std::string& flag) {
  require(value >= least, ErrorKind::kInvalidArgument,
          flag + " must be at least " + std::to_string(least) + ", got " + std::to_string(value));
  require(value <= most, ErrorKind::kInvalidArgument,
          flag + " must be at most " + std::to_string(most) + ", got " + std::to_string(value));
}

void check_run_options(const RunOptions& options) {
  require_in_range(options.input_len, 1, kMostTokens, "--input-len");
  require_in_range(options.output_len, 1, kMostTokens, "--output-len");
  require(std::isfinite(options.temperature) && options.temperature >= 0, ErrorKind::kInvalidArgument,
          "--temperature must be 0 (greedy) or more");
  require(std::isfinite(options.top_p) && options.top_p > 0 && options.top_p <= 1, ErrorKind::kInvalidArgument,
          "--top-p must be in (0, 1]");
  require(options.top_k >= -1, ErrorKind::kInvalidArgument, "--top-k must be -1, 0 (off) or a token count");
  require(std::isfinite(options.repetition_penalty) && options.repetition_penalty > 0, ErrorKind::kInvalidArgument,
          "--repetition-penalty must be a positive number");
  const int32_t most_logprobs = engine::RequestLimits{}.max_top_logprobs;
  require(options.logprobs >= -1 && options.logprobs <= most_logprobs, ErrorKind::kInvalidArgument,
          "--logprobs must be -1 (off) or 0 to " + std::to_string(most_logprobs) + ", got " +
              std::to_string(options.logprobs));
  require(std::isfinite(options.peak_bandwidth_tb_per_s) && options.peak_bandwidth_tb_per_s > 0 &&
              std::isfinite(options.peak_tflops) && options.peak_tflops > 0,
          ErrorKind::kInvalidArgument, "--peak-bandwidth-tbs and --peak-tflops must be positive numbers");
  // Fail before the run, not after it, when the result could not be saved.
  const std::filesystem::path folder = std::filesystem::path(options.output_json).parent_path();
  require(folder.empty() || std::filesystem::is_directory(folder), ErrorKind::kNotFound,
          "--output-json: folder '" + folder.string() + "' does not exist");
  check_model_options(options.model);
}

void check_latency_options(const LatencyOptions& options) {
  check_run_options(options.run);
  require_in_range(options.batch_size, 1, kMostRequests, "--batch-size");
  require_in_range(options.num_iters, 1, kMostRequests, "--num-iters");
  require_in_range(options.num_iters_warmup, 0, kMostRequests, "--num-iters-warmup");
  require_in_range(options.shared_prefix_len, 0, kMostTokens, "--shared-prefix-len");
}

// A latency prefill should be one step, not chunks: unless the user chose them, the token
// budget and the sequence cap grow to hold the whole batch.
void size_engine_for_batch(LatencyOptions& options, const CLI::App& command) {
  ModelOptions& model = options.run.model;
  const int64_t prompt_tokens = options.batch_size * (options.shared_prefix_len + options.run.input_len);
  constexpr int64_t kMost = std::numeric_limits<int32_t>::max();
  if (command.count("--max-num-batched-tokens") == 0) {
    model.max_num_batched_tokens =
        static_cast<int32_t>(std::clamp<int64_t>(prompt_tokens, model.max_num_batched_tokens, kMost));
  }
  if (command.count("--max-num-seqs") == 0) {
    model.max_num_seqs =
        static_cast<int32_t>(std::clamp<int64_t>(options.batch_size, model.max_num_seqs, kMost));
  }
  require(options.batch_size <= model.max_num_seqs, ErrorKind::kInvalidArgument,
          "--batch-size " + std::to_string(options.batch_size) + " exceeds --max-num-seqs " +
              std::to_string(model.max_num_seqs) + ": the batch would not run as one");
}

// `description` says which flags add up to `num_tokens`, for the message.
void check_context(const ModelSetup& setup, int64_t num_tokens, const std::string& description) {
  const int64_t context = setup.limits().max_model_len;
  require(num_tokens <= context, ErrorKind::kInvalidArgument,
          description + " = " + std::to_string(num_tokens) + " tokens exceed the context length " +
              std::to_string(context) + " (the model's max_position_embeddings, or --max-model-len)");
}

int64_t blocks_for(int64_t num_tokens) {
  return (num_tokens + model::KvCache::kBlockSize - 1) / model::KvCache::kBlockSize;
}

// Which flag sized the KV cache: --kv-cache-gb, or on a GPU by default what
// --gpu-memory-utilization leaves after the weights.
std::string kv_cache_source(const ModelSetup& setup, const ModelOptions& options) {
  if (setup.gpu_memory)
    return "what --gpu-memory-utilization " + format_number(options.gpu_memory_utilization) + " leaves";
  return "--kv-cache-gb " + format_number(options.kv_cache_gb);
}

void check_kv_cache(const ModelSetup& setup, const RunOptions& options, int64_t num_blocks,
                    const std::string& need) {
  const int64_t have = setup.cache->num_blocks();
  require(num_blocks <= have, ErrorKind::kInvalidArgument,
          "the KV cache is too small: " + need + " needs " + std::to_string(num_blocks) + " blocks of " +
              std::to_string(model::KvCache::kBlockSize) + " tokens, " +
              kv_cache_source(setup, options.model) + " holds " + std::to_string(have) +
              "; raise --kv-cache-gb");
}

double kv_cache_gib(const ModelSetup& setup) {
  const int64_t bytes =
      setup.cache->num_blocks() * model::KvCache::bytes_per_block(setup.config, setup.device);
  return static_cast<double>(bytes) / static_cast<double>(int64_t{1} << 30);
}

// ---- Requests ----

// Prompts of random token ids, the same for the same seed; each starts with the shared prefix.
class PromptSource {
 public:
  PromptSource(uint64_t seed, int64_t vocab_size, int64_t shared_prefix_len)
      : generator_(seed),
        pick_(0, static_cast<int32_t>(vocab_size - 1)),
        prefix_(random_ids(shared_prefix_len)) {}

  std::vector<int32_t> next(int64_t input_len) {
    std::vector<int32_t> prompt = prefix_;
    const std::vector<int32_t> rest = random_ids(input_len);
    prompt.insert(prompt.end(), rest.begin(), rest.end());
    return prompt;
  }

 private:
  std::vector<int32_t> random_ids(int64_t count) {
    std::vector<int32_t> ids(static_cast<size_t>(count));
    for (int32_t& id : ids) id = pick_(generator_);
    return ids;
  }

  std::mt19937_64 generator_;
  std::uniform_int_distribution<int32_t> pick_;
  std::vector<int32_t> prefix_;
};

engine::Request bench_request(std::vector<int32_t> prompt, const RunOptions& options) {
  engine::Request request;
  request.prompt_ids = std::move(prompt);
  request.sampling.temperature = options.temperature;
  request.sampling.top_p = options.top_p;
  request.sampling.top_k = options.top_k;
  request.sampling.repetition_penalty = options.repetition_penalty;
  if (options.logprobs >= 0) request.sampling.logprobs = options.logprobs;
  request.stopping.max_tokens = options.output_len;
  request.stopping.ignore_eos = true;
  return request;
}

nlohmann::json sampling_json(const RunOptions& options) {
  return {{"temperature", options.temperature},
          {"top_p", options.top_p},
          {"top_k", options.top_k},
          {"repetition_penalty", options.repetition_penalty},
          {"logprobs", options.logprobs},
          {"sampled_on", options.sample_on_host ? "host" : "device where possible"}};
}

std::vector<engine::Request> bench_requests(PromptSource& prompts, int64_t count, const RunOptions& options) {
  std::vector<engine::Request> requests;
  for (int64_t i = 0; i < count; ++i)
    requests.push_back(bench_request(prompts.next(options.input_len), options));
  return requests;
}

// ---- Running ----

engine::EngineConfig engine_config(const RunOptions& options, const ModelSetup& setup) {
  engine::EngineConfig config = setup.engine_config;
  config.sample_on_device = !options.sample_on_host;
  return config;
}

// The model and an engine over it; built in place, since the engine keeps references.
struct LoadedEngine {
  LoadedEngine(const RunOptions& options, ModelSetup& setup)
      : pool(options.model.threads),
        model(load_weights(options.model, setup, pool)),
        core(model, *setup.cache, /*tokenizer=*/nullptr, setup.eos_token_ids, engine_config(options, setup), &pool) {
    model.set_cuda_graphs(!options.no_cuda_graphs);
    if (setup.gpu_memory) print_gpu_memory(*setup.gpu_memory, *setup.cache);
    print_warm_up(model, core.warm_up());
  }

  ThreadPool pool;
  model::Qwen3Model model;
  engine::EngineCore core;
};

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

// When each request's tokens came back: written by the output callbacks, which run inside
// EngineCore::step() on this thread.
struct Timeline {
  explicit Timeline(size_t num_requests)
      : first_token(num_requests),
        last_token(num_requests),
        num_output_tokens(num_requests, 0),
        num_prompt_tokens(num_requests, 0),
        num_cached_tokens(num_requests, 0) {}

  Clock::time_point start, end;
  std::vector<Clock::time_point> first_token, last_token;
  std::vector<int64_t> num_output_tokens, num_prompt_tokens, num_cached_tokens;
  std::string error;  // the first failed request's
};

void record_output(Timeline& timeline, size_t index, const engine::RequestOutput& output) {
  const Clock::time_point now = Clock::now();
  for (const engine::CompletionDelta& completion : output.completions) {
    if (completion.token_ids.empty()) continue;
    if (timeline.num_output_tokens[index] == 0) timeline.first_token[index] = now;
    timeline.num_output_tokens[index] += static_cast<int64_t>(completion.token_ids.size());
    timeline.last_token[index] = now;
  }
  timeline.num_prompt_tokens[index] = output.num_prompt_tokens;
  timeline.num_cached_tokens[index] =
      std::max(timeline.num_cached_tokens[index], output.num_cached_prompt_tokens);
  if (!output.error.empty() && timeline.error.empty()) timeline.error = output.error;
}

// Adds every request at once and steps until all have finished.
Timeline run_requests(engine::EngineCore& core, std::vector<engine::Request> requests, int64_t output_len) {
  Timeline timeline(requests.size());
  timeline.start = Clock::now();
  for (size_t i = 0; i < requests.size(); ++i) {
    core.add(std::move(requests[i]),
             [&timeline, i](const engine::RequestOutput& output) { record_output(timeline, i, output); });
  }
  while (core.has_work()) core.step();
  timeline.end = Clock::now();
  require(timeline.error.empty(), ErrorKind::kInternal, "a benchmark request failed: " + timeline.error);
  for (int64_t count : timeline.num_output_tokens) {
    require(count == output_len, ErrorKind::kInternal,
            "a benchmark request made " + std::to_string(count) + " tokens instead of " +
                std::to_string(output_len));
  }
  return timeline;
}

int64_t sum(const std::vector<int64_t>& values) {
  int64_t total = 0;
  for (int64_t value : values) total += value;
  return total;
}

// ---- Statistics ----

double mean(const std::vector<double>& values) {
  double total = 0;
  for (double value : values) total += value;
  return total / static_cast<double>(values.size());
}

// numpy's default percentile (linear between the closest ranks), as vLLM reports them.
double percentile(std::vector<double> values, double percent) {
  std::sort(values.begin(), values.end());
  const double rank = percent / 100 * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (rank - static_cast<double>(below)) * (values[above] - values[below]);
}

// One measured iteration of `bench latency`.
struct Iteration {
  double latency_seconds = 0;
  double prefill_seconds = 0;      // until every request of the batch had its first token
  double decode_step_seconds = 0;  // per step after that; 0 with --output-len 1
  int64_t num_cached_tokens = 0;   // prompt tokens served from the prefix cache, whole batch
};

Iteration measure(const Timeline& timeline, int64_t output_len) {
  const Clock::time_point prefill_done =
      *std::max_element(timeline.first_token.begin(), timeline.first_token.end());
  const Clock::time_point decode_done =
      *std::max_element(timeline.last_token.begin(), timeline.last_token.end());
  Iteration iteration;
  iteration.latency_seconds = seconds_between(timeline.start, timeline.end);
  iteration.prefill_seconds = seconds_between(timeline.start, prefill_done);
  if (output_len > 1)
    iteration.decode_step_seconds =
        seconds_between(prefill_done, decode_done) / static_cast<double>(output_len - 1);
  iteration.num_cached_tokens = sum(timeline.num_cached_tokens);
  return iteration;
}

std::vector<double> column(const std::vector<Iteration>& iterations, double Iteration::*member) {
  std::vector<double> values;
  for (const Iteration& iteration : iterations) values.push_back(iteration.*member);
  return values;
}

// ---- Describing the run ----

std::string model_name(const ModelOptions& options) {
  return options.preset.empty() ? options.model_dir : options.preset;
}

// The shape, without weights or cache: what --limits-only needs.
io::ModelConfig load_shape(const ModelOptions& options) {
  if (!options.preset.empty()) return model::preset_config(options.preset);
  return io::load_model_config((std::filesystem::path(options.model_dir) / "config.json").string());
}

json model_json(const ModelOptions& options, const io::ModelConfig& config) {
  return {{"name", model_name(options)},
          {"load_format", options.load_format},
          {"num_hidden_layers", config.num_hidden_layers},
          {"hidden_size", config.hidden_size},
          {"num_attention_heads", config.num_attention_heads},
          {"num_key_value_heads", config.num_key_value_heads},
          {"head_dim", config.head_dim},
          {"intermediate_size", config.intermediate_size},
          {"vocab_size", config.vocab_size}};
}

const char* device_name(Device device) {
  return device == Device::kCuda ? "cuda" : "cpu";
}

bool uses_cuda_graphs(const RunOptions& options, const ModelSetup& setup) {
  return setup.device == Device::kCuda && !options.no_cuda_graphs;
}

json engine_json(const RunOptions& options, const ModelSetup& setup, const LoadedEngine& engine) {
  return {{"device", device_name(setup.device)},
          {"threads", engine.pool.num_threads()},
          {"max_num_batched_tokens", setup.engine_config.scheduler.max_num_batched_tokens},
          {"max_num_seqs", setup.engine_config.scheduler.max_num_seqs},
          {"kv_cache_gb", kv_cache_gib(setup)},
          {"kv_cache_blocks", setup.cache->num_blocks()},
          {"prefix_caching", setup.engine_config.enable_prefix_caching},
          {"cuda_graphs", uses_cuda_graphs(options, setup)},
          {"seed", options.seed}};
}

void print_header(const char* command, const RunOptions& options, const ModelSetup& setup,
                  const LoadedEngine& engine, const std::string& workload) {
  const io::ModelConfig& config = setup.config;
  std::printf("hanlin bench %s\n", command);
  std::printf(
      "model     %s: %lld layers, hidden %lld, heads %lld/%lld x %lld, intermediate %lld, vocab %lld (%s "
      "weights)\n",
      model_name(options.model).c_str(), static_cast<long long>(config.num_hidden_layers),
      static_cast<long long>(config.hidden_size), static_cast<long long>(config.num_attention_heads),
      static_cast<long long>(config.num_key_value_heads), static_cast<long long>(config.head_dim),
      static_cast<long long>(config.intermediate_size), static_cast<long long>(config.vocab_size),
      options.model.load_format == "dummy" ? "random bf16" : "checkpoint");
  std::printf("device    %s, %d CPU threads%s\n", device_name(setup.device), engine.pool.num_threads(),
              uses_cuda_graphs(options, setup) ? ", CUDA graphs on" : "");
  std::printf(
      "engine    max-num-batched-tokens %d, max-num-seqs %d, KV cache %.2f GiB = %lld blocks, prefix caching "
      "%s\n",
      setup.engine_config.scheduler.max_num_batched_tokens, setup.engine_config.scheduler.max_num_seqs,
      kv_cache_gib(setup), static_cast<long long>(setup.cache->num_blocks()),
      setup.engine_config.enable_prefix_caching ? "on" : "off");
  std::printf("workload  %s, seed %llu\n\n", workload.c_str(), static_cast<unsigned long long>(options.seed));
}

void write_json(const std::string& path, const json& result) {
  if (path.empty()) return;
  std::ofstream file(path);
  file << result.dump(2) << '\n';
  require(file.good(), ErrorKind::kNotFound, "--output-json: cannot write '" + path + "'");
}

void save_result(const std::string& path, const json& result) {
  if (path.empty()) return;
  write_json(path, result);
  std::printf("\nsaved %s\n", path.c_str());
}

// 83.4 → "83%": share of the physical limit reached.
std::string percent_of(double limit, double measured) {
  return std::to_string(static_cast<int>(std::lround(100 * limit / measured))) + "%";
}

// ---- bench latency ----

// The measured iterations and the engine's step-time split over them (warm-up excluded).
struct LatencyRun {
  std::vector<Iteration> iterations;
  engine::StepTimes step_times;
  int64_t num_steps = 0;
};

LatencyRun run_latency_iterations(engine::EngineCore& core, const LatencyOptions& options, int64_t vocab_size) {
  PromptSource prompts(options.run.seed, vocab_size, options.shared_prefix_len);
  for (int64_t i = 0; i < options.num_iters_warmup; ++i) {
    std::fprintf(stderr, "warm-up %lld/%lld\n", static_cast<long long>(i + 1),
                 static_cast<long long>(options.num_iters_warmup));
    run_requests(core, bench_requests(prompts, options.batch_size, options.run), options.run.output_len);
  }
  const engine::EngineStats before = core.stats();
  LatencyRun run;
  for (int64_t i = 0; i < options.num_iters; ++i) {
    Timeline timeline =
        run_requests(core, bench_requests(prompts, options.batch_size, options.run), options.run.output_len);
    run.iterations.push_back(measure(timeline, options.run.output_len));
    std::fprintf(stderr, "iteration %lld/%lld: %.2f ms\n", static_cast<long long>(i + 1),
                 static_cast<long long>(options.num_iters), 1e3 * run.iterations.back().latency_seconds);
  }
  const engine::EngineStats after = core.stats();
  run.num_steps = after.num_steps - before.num_steps;
  run.step_times.schedule_seconds = after.step_times.schedule_seconds - before.step_times.schedule_seconds;
  run.step_times.model_seconds = after.step_times.model_seconds - before.step_times.model_seconds;
  run.step_times.sample_seconds = after.step_times.sample_seconds - before.step_times.sample_seconds;
  return run;
}

// Mean milliseconds per engine step of each part: the host work around the model is schedule +
// sample (and the host side of model, which includes the GPU's time).
json step_times_json(const LatencyRun& run) {
  const double steps = static_cast<double>(std::max<int64_t>(run.num_steps, 1));
  return {{"num_steps", run.num_steps},
          {"schedule_ms_per_step", 1e3 * run.step_times.schedule_seconds / steps},
          {"model_ms_per_step", 1e3 * run.step_times.model_seconds / steps},
          {"sample_ms_per_step", 1e3 * run.step_times.sample_seconds / steps}};
}

void print_step_times(const json& times) {
  std::printf("steps     %lld; per step: schedule %.3f ms, model %.3f ms, sample + stop checks %.3f ms\n",
              static_cast<long long>(times["num_steps"].get<int64_t>()), times["schedule_ms_per_step"].get<double>(),
              times["model_ms_per_step"].get<double>(), times["sample_ms_per_step"].get<double>());
}

json latency_json(const LatencyOptions& options, const std::vector<Iteration>& iterations) {
  const std::vector<double> latencies = column(iterations, &Iteration::latency_seconds);
  const std::vector<double> prefills = column(iterations, &Iteration::prefill_seconds);
  const std::vector<double> decode_steps = column(iterations, &Iteration::decode_step_seconds);
  const double batch = static_cast<double>(options.batch_size);
  json result = {
      {"avg_latency", mean(latencies)},
      {"latencies", latencies},
      {"percentiles", json::object()},
      {"median_latency", percentile(latencies, 50)},
      {"p90_latency", percentile(latencies, 90)},
      {"p99_latency", percentile(latencies, 99)},
      {"mean_prefill_ms", 1e3 * mean(prefills)},
      {"median_prefill_ms", 1e3 * percentile(prefills, 50)},
      {"prefill_tokens_per_second",
       batch * static_cast<double>(options.run.input_len) / percentile(prefills, 50)},
      {"output_tokens_per_second",
       batch * static_cast<double>(options.run.output_len) / percentile(latencies, 50)},
      {"cached_prompt_tokens", iterations.back().num_cached_tokens},
      {"mean_decode_ms_per_step", nullptr},
      {"median_decode_ms_per_step", nullptr},
      {"decode_tokens_per_second", nullptr},
  };
  for (int percent : {10, 25, 50, 75, 90, 99})
    result["percentiles"][std::to_string(percent)] = percentile(latencies, percent);
  if (options.run.output_len > 1) {
    result["mean_decode_ms_per_step"] = 1e3 * mean(decode_steps);
    result["median_decode_ms_per_step"] = 1e3 * percentile(decode_steps, 50);
    result["decode_tokens_per_second"] = batch / percentile(decode_steps, 50);
  }
  return result;
}

json latency_limits(const LatencyOptions& options, const io::ModelConfig& config) {
  return limits_json(shape_costs(config), options.run.peaks(), options.run.input_len, options.run.output_len,
                     options.shared_prefix_len, options.batch_size);
}

void print_table_row(const char* name, const std::vector<double>& seconds) {
  std::printf("| %s | %.3f ms | %.3f ms | %.3f ms | %.3f ms |\n", name, 1e3 * mean(seconds),
              1e3 * percentile(seconds, 50), 1e3 * percentile(seconds, 90), 1e3 * percentile(seconds, 99));
}

void print_latency_table(const std::vector<Iteration>& iterations, int64_t output_len) {
  std::printf("| over the iterations | mean | median | p90 | p99 |\n|---|---|---|---|---|\n");
  print_table_row("end-to-end latency", column(iterations, &Iteration::latency_seconds));
  print_table_row("prefill (first token)", column(iterations, &Iteration::prefill_seconds));
  if (output_len > 1) print_table_row("decode step", column(iterations, &Iteration::decode_step_seconds));
}

void print_latency_figures(const json& result, const LatencyOptions& options) {
  const json& limits = result["limits"];
  const double prefill_ms = result["median_prefill_ms"];
  std::printf("\nprefill   %lld x %lld tokens: %.2f ms median, %.0f tok/s; limit %.2f ms (%s of it)\n",
              static_cast<long long>(options.batch_size), static_cast<long long>(options.run.input_len),
              prefill_ms, result["prefill_tokens_per_second"].get<double>(),
              limits["prefill_floor_ms"].get<double>(),
              percent_of(limits["prefill_floor_ms"], prefill_ms).c_str());
  if (options.shared_prefix_len > 0) {
    std::printf("          after a %lld-token shared prefix; %lld prompt tokens came from the prefix cache\n",
                static_cast<long long>(options.shared_prefix_len),
                static_cast<long long>(result["cached_prompt_tokens"].get<int64_t>()));
  }
  if (options.run.output_len > 1) {
    const double step_ms = result["median_decode_ms_per_step"];
    std::printf("decode    %.3f ms per step median, %.1f tok/s; limit %.3f ms (%s of it)\n", step_ms,
                result["decode_tokens_per_second"].get<double>(),
                limits["decode_step_floor_ms"].get<double>(),
                percent_of(limits["decode_step_floor_ms"], step_ms).c_str());
  }
  std::printf("limits    at %s TB/s and %s TFLOP/s (GPU.md; --peak-bandwidth-tbs, --peak-tflops)\n",
              format_number(options.run.peak_bandwidth_tb_per_s).c_str(),
              format_number(options.run.peak_tflops).c_str());
}

void print_limits_only(const LatencyOptions& options) {
  const io::ModelConfig config = load_shape(options.run.model);
  const json result = {{"model", model_json(options.run.model, config)},
                       {"limits", latency_limits(options, config)}};
  std::printf("%s\n", result.dump(2).c_str());
  write_json(options.run.output_json, result);
}

std::string latency_workload(const LatencyOptions& options) {
  std::string text = "input " + std::to_string(options.run.input_len) + ", output " +
                     std::to_string(options.run.output_len) + ", batch " + std::to_string(options.batch_size);
  if (options.shared_prefix_len > 0) text += ", shared prefix " + std::to_string(options.shared_prefix_len);
  return text + ", warm-up " + std::to_string(options.num_iters_warmup) + ", iterations " +
         std::to_string(options.num_iters);
}

void run_latency(LatencyOptions& options, const CLI::App& command) {
  check_latency_options(options);
  if (options.limits_only) return print_limits_only(options);
  size_engine_for_batch(options, command);
  ModelSetup setup = prepare_model(options.run.model);
  const int64_t tokens = options.shared_prefix_len + options.run.input_len + options.run.output_len;
  std::string sum_of_flags = "--input-len " + std::to_string(options.run.input_len) + " + --output-len " +
                             std::to_string(options.run.output_len);
  if (options.shared_prefix_len > 0)
    sum_of_flags += " + --shared-prefix-len " + std::to_string(options.shared_prefix_len);
  check_context(setup, tokens, sum_of_flags);
  check_kv_cache(
      setup, options.run, options.batch_size * blocks_for(tokens),
      "--batch-size " + std::to_string(options.batch_size) + " x " + std::to_string(tokens) + " tokens");
  LoadedEngine engine(options.run, setup);
  print_header("latency", options.run, setup, engine, latency_workload(options));
  const LatencyRun run = run_latency_iterations(engine.core, options, setup.config.vocab_size);
  const std::vector<Iteration>& iterations = run.iterations;
  json result = latency_json(options, iterations);
  result["step_times"] = step_times_json(run);
  result["model"] = model_json(options.run.model, setup.config);
  result["engine"] = engine_json(options.run, setup, engine);
  result["workload"] = {{"input_len", options.run.input_len},
                        {"output_len", options.run.output_len},
                        {"sampling", sampling_json(options.run)},
                        {"batch_size", options.batch_size},
                        {"shared_prefix_len", options.shared_prefix_len},
                        {"num_iters_warmup", options.num_iters_warmup},
                        {"num_iters", options.num_iters}};
  result["limits"] = latency_limits(options, setup.config);
  print_latency_table(iterations, options.run.output_len);
  print_latency_figures(result, options);
  print_step_times(result["step_times"]);
  save_result(options.run.output_json, result);
}

// ---- bench throughput ----

json throughput_json(const ThroughputOptions& options, const Timeline& timeline) {
  const double elapsed = seconds_between(timeline.start, timeline.end);
  const int64_t prompt_tokens = sum(timeline.num_prompt_tokens);
  const int64_t output_tokens = sum(timeline.num_output_tokens);
  return {{"elapsed_time", elapsed},
          {"num_requests", options.num_prompts},
          {"total_num_tokens", prompt_tokens + output_tokens},
          {"total_prompt_tokens", prompt_tokens},
          {"total_output_tokens", output_tokens},
          {"requests_per_second", static_cast<double>(options.num_prompts) / elapsed},
          {"tokens_per_second", static_cast<double>(prompt_tokens + output_tokens) / elapsed},
          {"output_tokens_per_second", static_cast<double>(output_tokens) / elapsed}};
}

void print_throughput_table(const json& result) {
  std::printf(
      "| requests | elapsed | requests/s | total tokens/s | output tokens/s |\n|---|---|---|---|---|\n");
  std::printf("| %lld | %.2f s | %.2f | %.1f | %.1f |\n",
              static_cast<long long>(result["num_requests"].get<int64_t>()),
              result["elapsed_time"].get<double>(), result["requests_per_second"].get<double>(),
              result["tokens_per_second"].get<double>(), result["output_tokens_per_second"].get<double>());
}

void run_throughput(ThroughputOptions& options) {
  check_run_options(options.run);
  require_in_range(options.num_prompts, 1, kMostRequests, "--num-prompts");
  ModelSetup setup = prepare_model(options.run.model);
  const int64_t tokens = options.run.input_len + options.run.output_len;
  check_context(setup, tokens,
                "--input-len " + std::to_string(options.run.input_len) + " + --output-len " +
                    std::to_string(options.run.output_len));
  // More requests than the cache holds wait or are preempted; one must fit on its own.
  check_kv_cache(setup, options.run, blocks_for(tokens),
                 "one request of " + std::to_string(tokens) + " tokens");
  LoadedEngine engine(options.run, setup);
  print_header("throughput", options.run, setup, engine,
               std::to_string(options.num_prompts) + " requests of input " +
                   std::to_string(options.run.input_len) + ", output " +
                   std::to_string(options.run.output_len) + ", all submitted at once");
  PromptSource prompts(options.run.seed, setup.config.vocab_size, 0);
  const Timeline timeline = run_requests(
      engine.core, bench_requests(prompts, options.num_prompts, options.run), options.run.output_len);
  json result = throughput_json(options, timeline);
  result["model"] = model_json(options.run.model, setup.config);
  result["engine"] = engine_json(options.run, setup, engine);
  result["workload"] = {{"input_len", options.run.input_len},
                        {"output_len", options.run.output_len},
                        {"num_prompts", options.num_prompts}};
  result["workload"]["sampling"] = sampling_json(options.run);
  print_throughput_table(result);
  save_result(options.run.output_json, result);
}

// ---- Flags ----

void add_run_flags(CLI::App& command, RunOptions& options) {
  add_model_flags(command, options.model);
  command.add_option("--input-len", options.input_len, "Prompt tokens per request (random ids)")
      ->capture_default_str();
  command.add_option("--output-len", options.output_len, "New tokens per request (eos ignored)")
      ->capture_default_str();
  command.add_option("--seed", options.seed, "Seed of the random prompts")->capture_default_str();
  command.add_option("--temperature", options.temperature, "Sampling temperature; 0 is greedy")->capture_default_str();
  command.add_option("--top-p", options.top_p, "Nucleus sampling mass; 1 is off")->capture_default_str();
  command.add_option("--top-k", options.top_k, "Keep the k most likely tokens; 0 or -1 is off")->capture_default_str();
  command.add_option("--repetition-penalty", options.repetition_penalty, "Over prompt and output; 1 is off")
      ->capture_default_str();
  command.add_option("--logprobs", options.logprobs,
                     "Each token's logprob and this many most likely (0 to 20); -1 is off")
      ->capture_default_str();
  command.add_flag("--sample-on-host", options.sample_on_host, "Copy every logits row to the host sampler");
  command.add_option("--output-json", options.output_json, "Also write the results to this JSON file");
  command.add_flag("--no-cuda-graphs", options.no_cuda_graphs, "Run every GPU step eagerly");
  command
      .add_option("--peak-bandwidth-tbs", options.peak_bandwidth_tb_per_s,
                  "Memory bandwidth the limits assume, TB/s (H100 SXM measured: 3.0; H200: 4.3)")
      ->capture_default_str();
  command.add_option("--peak-tflops", options.peak_tflops, "bf16 matrix rate the limits assume, TFLOP/s")
      ->capture_default_str();
  add_engine_flags(command, options.model);
}

}  // namespace

void add_bench_latency_command(CLI::App& bench) {
  auto options = std::make_shared<LatencyOptions>();
  CLI::App* command = bench.add_subcommand(
      "latency",
      "Time batches in-process: end-to-end latency, prefill (time to first token) and ms per decode step, "
      "with the physical limit of each. Unless set, --max-num-batched-tokens and --max-num-seqs grow to "
      "hold the whole batch, so a prefill is one step (--output-len 1 times prefill alone)");
  add_run_flags(*command, options->run);
  command->add_option("--batch-size", options->batch_size, "Requests run together in each iteration")
      ->capture_default_str();
  command
      ->add_option("--num-iters-warmup", options->num_iters_warmup, "Iterations run first and not measured")
      ->capture_default_str();
  command->add_option("--num-iters", options->num_iters, "Iterations measured")->capture_default_str();
  command
      ->add_option(
          "--shared-prefix-len", options->shared_prefix_len,
          "Random tokens every prompt starts with, before its --input-len own: with the prefix cache on, "
          "prefill after the warm-up times the uncached part only")
      ->capture_default_str();
  command->add_flag(
      "--limits-only", options->limits_only,
      "Print the physical limits of this shape and workload as JSON and exit, without loading weights");
  command->callback([options, command] { run_latency(*options, *command); });
}

void add_bench_throughput_command(CLI::App& bench) {
  auto options = std::make_shared<ThroughputOptions>();
  CLI::App* command = bench.add_subcommand(
      "throughput",
      "Submit every request at once in-process and time until all are done: requests/s and tokens/s");
  add_run_flags(*command, options->run);
  command->add_option("--num-prompts", options->num_prompts, "Requests to run")->capture_default_str();
  command->callback([options] { run_throughput(*options); });
}

}  // namespace hanlin::cli
