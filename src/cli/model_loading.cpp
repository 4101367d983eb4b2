// Model flags and loading shared by `generate` and `serve`.
#include "cli/model_loading.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "kernels/cuda/cuda_ops.h"
#include "model/presets.h"

namespace hanlin::cli {
namespace {

std::string model_file(const std::string& model_dir, const char* name) {
  return (std::filesystem::path(model_dir) / name).string();
}

std::string preset_list() {
  std::string names;
  for (const std::string& name : model::preset_names()) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  return names;
}

io::ModelConfig load_config(const ModelOptions& options) {
  if (!options.preset.empty()) return model::preset_config(options.preset);
  return io::load_model_config(model_file(options.model_dir, "config.json"));
}

std::optional<text::Tokenizer> load_tokenizer(const ModelOptions& options) {
  std::string dir = options.tokenizer_dir;
  if (dir.empty() && !options.model_dir.empty() && std::filesystem::exists(model_file(options.model_dir, "tokenizer.json"))) {
    dir = options.model_dir;
  }
  if (dir.empty()) return std::nullopt;
  return text::Tokenizer::load(dir);
}

io::GenerationConfig load_generation_config(const ModelOptions& options) {
  if (options.model_dir.empty()) return {};
  return io::load_generation_config(model_file(options.model_dir, "generation_config.json"));
}

// generation_config.json's eos ids win over config.json's, as in transformers' generate().
std::vector<int32_t> eos_token_ids(const io::GenerationConfig& generation, const io::ModelConfig& config) {
  const std::vector<int64_t>& ids = generation.eos_token_ids.empty() ? config.eos_token_ids : generation.eos_token_ids;
  return std::vector<int32_t>(ids.begin(), ids.end());
}

// The checkpoint's own sampling defaults, used where a request is silent (as vLLM does).
engine::SamplingParams default_sampling(const io::GenerationConfig& generation) {
  engine::SamplingParams sampling;
  if (generation.temperature) sampling.temperature = *generation.temperature;
  if (generation.top_p) sampling.top_p = *generation.top_p;
  if (generation.top_k) sampling.top_k = static_cast<int32_t>(*generation.top_k);
  if (generation.min_p) sampling.min_p = *generation.min_p;
  if (generation.repetition_penalty) sampling.repetition_penalty = *generation.repetition_penalty;
  return sampling;
}

int64_t kv_cache_blocks(const ModelOptions& options, const io::ModelConfig& config, Device device) {
  const int64_t blocks = model::KvCache::num_blocks_for_budget(config, options.kv_cache_gb, device);
  require(blocks >= 1, ErrorKind::kInvalidArgument,
          "--kv-cache-gb " + format_number(options.kv_cache_gb) + " holds no KV block (one takes " +
              std::to_string(model::KvCache::bytes_per_block(config, device)) + " bytes)");
  return blocks;
}

// The KV cache's share of the GPU: what --gpu-memory-utilization leaves after the weights and
// activations; it must hold at least one sequence of the context length, as vLLM requires.
model::GpuMemoryPlan plan_gpu_cache(const ModelOptions& options, const io::ModelConfig& config) {
  const cuda::MemoryInfo memory = cuda::memory_info();
  const model::GpuMemoryPlan plan =
      model::plan_gpu_memory(config, options.gpu_memory_utilization, options.max_num_batched_tokens,
                             options.max_num_seqs, static_cast<int64_t>(memory.total_bytes),
                             static_cast<int64_t>(memory.free_bytes));
  const int64_t block_bytes = model::KvCache::bytes_per_block(config, Device::kCuda);
  const int64_t tokens = plan.kv_cache_bytes / block_bytes * model::KvCache::kBlockSize;
  const int64_t context = options.max_model_len > 0 ? options.max_model_len : config.max_position_embeddings;
  require(tokens >= context, ErrorKind::kResourceExhausted,
          "the KV cache left on the GPU holds " + std::to_string(tokens) + " tokens, fewer than one " +
              std::to_string(context) + "-token context: raise --gpu-memory-utilization (now " +
              format_number(options.gpu_memory_utilization) + ") or lower --max-model-len");
  return plan;
}

Device choose_device(const std::string& device) {
  if (device == "cpu") return Device::kCpu;
  const bool has_gpu = cuda::device_count() > 0;
  require(has_gpu || device == "auto", ErrorKind::kUnsupported,
          "--device cuda: no GPU found (or this hanlin was built without CUDA)");
  return has_gpu ? Device::kCuda : Device::kCpu;
}

}  // namespace

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

void add_model_flags(CLI::App& command, ModelOptions& options) {
  command.add_option("--model", options.model_dir,
                     "Model folder: config.json, generation_config.json, safetensors (one file or shards), tokenizer.json");
  command.add_option("--tokenizer", options.tokenizer_dir, "Folder with tokenizer.json, when --model has none");
  command.add_option("--load-format", options.load_format,
                     "auto: weights from the safetensors; dummy: random bf16 weights of the config's shapes")
      ->check(CLI::IsMember({"auto", "dummy"}))
      ->capture_default_str();
  command.add_option("--device", options.device, "cuda, cpu, or auto (cuda when a GPU is present)")
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}))
      ->capture_default_str();
  command.add_option("--preset", options.preset,
                     "With --load-format dummy: model shapes by name instead of --model's config.json (" + preset_list() + ")");
}

void add_engine_flags(CLI::App& command, ModelOptions& options) {
  command.add_option("--threads", options.threads, "CPU threads; 0 means one per hardware thread")->capture_default_str();
  command
      .add_option("--kv-cache-gb", options.kv_cache_gb,
                  "KV cache memory in GiB (on a GPU the default is what --gpu-memory-utilization leaves)")
      ->each([&options](const std::string&) { options.kv_cache_gb_given = true; })
      ->capture_default_str();
  command
      .add_option("--gpu-memory-utilization", options.gpu_memory_utilization,
                  "Share of the GPU's memory this process may use (weights, activations, KV cache), others' use included")
      ->capture_default_str();
  command.add_option("--max-num-seqs", options.max_num_seqs, "Most sequences in one step")->capture_default_str();
  command.add_option("--max-num-batched-tokens", options.max_num_batched_tokens,
                     "Most tokens in one step (long prompts are prefilled in chunks of this)")
      ->capture_default_str();
  command.add_option("--max-model-len", options.max_model_len, "Context length; 0: the model's max_position_embeddings")
      ->capture_default_str();
  command.add_flag("--no-prefix-caching", options.no_prefix_caching, "Do not reuse the KV blocks of shared prefixes");
}

void check_model_options(const ModelOptions& options) {
  require(std::isfinite(options.kv_cache_gb) && options.kv_cache_gb > 0, ErrorKind::kInvalidArgument,
          "--kv-cache-gb must be a positive number of GiB, got " + format_number(options.kv_cache_gb));
  require(std::isfinite(options.gpu_memory_utilization) && options.gpu_memory_utilization > 0 &&
              options.gpu_memory_utilization <= 1,
          ErrorKind::kInvalidArgument,
          "--gpu-memory-utilization must be above 0 and at most 1, got " + format_number(options.gpu_memory_utilization));
  require(options.threads >= 0, ErrorKind::kInvalidArgument,
          "--threads must be 0 (all cores) or more, got " + std::to_string(options.threads));
  require(options.max_num_seqs >= 1 && options.max_num_batched_tokens >= 1, ErrorKind::kInvalidArgument,
          "--max-num-seqs and --max-num-batched-tokens must be at least 1");
  require(options.max_model_len >= 0, ErrorKind::kInvalidArgument, "--max-model-len must be 0 or more");
  require(!options.preset.empty() || !options.model_dir.empty(), ErrorKind::kInvalidArgument,
          "--model DIR is required (or --load-format dummy --preset NAME)");
  require(options.preset.empty() || options.load_format == "dummy", ErrorKind::kInvalidArgument,
          "--preset gives shapes for random weights and needs --load-format dummy");
  if (!options.model_dir.empty()) {
    require(std::filesystem::is_directory(options.model_dir), ErrorKind::kNotFound,
            "--model: '" + options.model_dir + "' is not a directory");
  }
}

engine::RequestLimits ModelSetup::limits() const {
  return engine::request_limits(config, *cache, engine_config, tokenizer.has_value());
}

ModelSetup prepare_model(const ModelOptions& options) {
  ModelSetup setup;
  setup.config = load_config(options);
  setup.tokenizer = load_tokenizer(options);
  const io::GenerationConfig generation = load_generation_config(options);
  setup.eos_token_ids = eos_token_ids(generation, setup.config);
  setup.default_sampling = default_sampling(generation);
  setup.engine_config.scheduler.max_num_seqs = options.max_num_seqs;
  setup.engine_config.scheduler.max_num_batched_tokens = options.max_num_batched_tokens;
  setup.engine_config.enable_prefix_caching = !options.no_prefix_caching;
  setup.engine_config.max_model_len = options.max_model_len;
  setup.device = choose_device(options.device);
  int64_t blocks = 0;
  if (setup.device == Device::kCuda && !options.kv_cache_gb_given) {
    setup.gpu_memory = plan_gpu_cache(options, setup.config);
    blocks = setup.gpu_memory->kv_cache_bytes / model::KvCache::bytes_per_block(setup.config, setup.device);
  } else {
    blocks = kv_cache_blocks(options, setup.config, setup.device);
  }
  setup.cache = std::make_unique<model::KvCache>(setup.config, blocks, setup.device);
  return setup;
}

void print_gpu_memory(const model::GpuMemoryPlan& plan, const model::KvCache& cache) {
  const auto gib = [](int64_t bytes) { return static_cast<double>(bytes) / double(int64_t{1} << 30); };
  std::fprintf(stderr,
               "hanlin: GPU memory %.2f GiB (%.2f free): weights %.2f GiB, activations up to %.2f GiB, KV cache %.2f "
               "GiB (%lld tokens)\n",
               gib(plan.total_bytes), gib(plan.free_bytes), gib(plan.weight_bytes), gib(plan.activation_bytes),
               gib(plan.kv_cache_bytes), static_cast<long long>(cache.num_blocks() * cache.block_size()));
}

model::Qwen3Model load_weights(const ModelOptions& options, const ModelSetup& setup, ThreadPool& pool) {
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  const Clock::time_point start = Clock::now();
  const bool dummy = options.load_format != "auto";
  model::Qwen3Model model = dummy ? model::Qwen3Model::dummy(setup.config, /*seed=*/0, pool)
                                  : model::Qwen3Model::load(options.model_dir, pool);
  const double host_seconds = seconds_since(start);
  if (setup.device == Device::kCuda) {
    const Clock::time_point copy_start = Clock::now();
    model.move_to_gpu();
    std::fprintf(stderr, "hanlin: weights %s in %.2f s, on the GPU %.2f s later\n", dummy ? "made" : "read",
                 host_seconds, seconds_since(copy_start));
  } else {
    std::fprintf(stderr, "hanlin: weights %s in %.2f s\n", dummy ? "made" : "read", host_seconds);
  }
  return model;
}

void print_warm_up(const model::Qwen3Model& model, const model::WarmUp& done) {
  if (model.device() != Device::kCuda) return;
  std::fprintf(stderr, "hanlin: warmed up in %.2f s: %lld prefill steps, %lld decode steps, %lld decode graphs\n",
               done.seconds, static_cast<long long>(done.prefill_steps), static_cast<long long>(done.decode_steps),
               static_cast<long long>(done.decode_graphs));
}

}  // namespace hanlin::cli
