// Model flags and loading shared by `generate` and `serve`.
#include "cli/model_loading.h"

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
  command.add_option("--kv-cache-gb", options.kv_cache_gb, "KV cache memory in GiB")->capture_default_str();
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
  setup.cache = std::make_unique<model::KvCache>(setup.config, kv_cache_blocks(options, setup.config, setup.device),
                                                 setup.device);
  return setup;
}

model::Qwen3Model load_weights(const ModelOptions& options, const ModelSetup& setup, ThreadPool& pool) {
  model::Qwen3Model model = options.load_format == "auto" ? model::Qwen3Model::load(options.model_dir, pool)
                                                          : model::Qwen3Model::dummy(setup.config, /*seed=*/0, pool);
  if (setup.device == Device::kCuda) model.move_to_gpu();
  return model;
}

}  // namespace hanlin::cli
