// `hanlin generate`: greedy continuation of a prompt given as token ids, through a minimal
// single-sequence driver over BatchView (the engine replaces this loop with its scheduler).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "io/model_config.h"
#include "model/batch_view.h"
#include "model/kv_cache.h"
#include "model/presets.h"
#include "model/qwen3.h"

namespace hanlin::cli {
namespace {

using model::KvCache;
using model::Qwen3Model;

struct GenerateOptions {
  std::string model_dir;
  std::string prompt_ids;
  int64_t max_tokens = 16;
  double temperature = 0.0;
  bool ignore_eos = false;
  bool json = false;
  std::string load_format = "auto";
  std::string preset;
  int threads = 0;
  double kv_cache_gb = 4.0;
};

// 0.7 → "0.7", 1e-05 → "1e-05": numbers as the user typed them, not std::to_string's "0.700000".
std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

// "1,2,3" → {1, 2, 3}; spaces around ids are allowed, anything else is an error naming the item.
std::vector<int32_t> parse_prompt_ids(const std::string& text) {
  require(text.find_first_not_of(' ') != std::string::npos, ErrorKind::kInvalidArgument,
          "--prompt-ids: the prompt is empty");
  std::vector<int32_t> ids;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    std::string item = text.substr(begin, comma - begin);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    int32_t id = -1;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), id);
    require(!item.empty() && error == std::errc() && end == item.data() + item.size() && id >= 0,
            ErrorKind::kInvalidArgument,
            "--prompt-ids: '" + item + "' is not a token id (expected non-negative integers like 1,2,3)");
    ids.push_back(id);
    begin = comma + 1;
  }
  return ids;
}

void check_options(const GenerateOptions& options) {
  require(options.temperature == 0.0, ErrorKind::kInvalidArgument,
          "--temperature " + format_number(options.temperature) +
              ": only greedy decoding (--temperature 0) is available; sampling arrives with the engine");
  require(options.max_tokens >= 1, ErrorKind::kInvalidArgument,
          "--max-tokens must be at least 1, got " + std::to_string(options.max_tokens));
  require(std::isfinite(options.kv_cache_gb) && options.kv_cache_gb > 0, ErrorKind::kInvalidArgument,
          "--kv-cache-gb must be a positive number of GiB, got " + format_number(options.kv_cache_gb));
  require(options.threads >= 0, ErrorKind::kInvalidArgument,
          "--threads must be 0 (all cores) or more, got " + std::to_string(options.threads));
  require(!options.preset.empty() || !options.model_dir.empty(), ErrorKind::kInvalidArgument,
          "--model DIR is required (or --load-format dummy --preset NAME)");
  require(options.preset.empty() || options.load_format == "dummy", ErrorKind::kInvalidArgument,
          "--preset gives shapes for random weights and needs --load-format dummy");
  if (!options.model_dir.empty()) {
    require(std::filesystem::is_directory(options.model_dir), ErrorKind::kNotFound,
            "--model: '" + options.model_dir + "' is not a directory");
  }
}

std::string model_file(const std::string& model_dir, const char* name) {
  return (std::filesystem::path(model_dir) / name).string();
}

// The config the run will use: a preset's, or the model folder's config.json.
io::ModelConfig load_config(const GenerateOptions& options) {
  if (!options.preset.empty()) return model::preset_config(options.preset);
  return io::load_model_config(model_file(options.model_dir, "config.json"));
}

Qwen3Model load_model(const GenerateOptions& options, const io::ModelConfig& config, ThreadPool& pool) {
  if (options.load_format == "auto") return Qwen3Model::load(options.model_dir, pool);
  return Qwen3Model::dummy(config, /*seed=*/0, pool);
}

// generation_config.json's eos ids win over config.json's, as in transformers' generate().
std::vector<int64_t> eos_token_ids(const GenerateOptions& options, const io::ModelConfig& config) {
  if (!options.model_dir.empty()) {
    const io::GenerationConfig generation =
        io::load_generation_config(model_file(options.model_dir, "generation_config.json"));
    if (!generation.eos_token_ids.empty()) return generation.eos_token_ids;
  }
  return config.eos_token_ids;
}

int64_t blocks_for(int64_t num_tokens) { return (num_tokens + KvCache::kBlockSize - 1) / KvCache::kBlockSize; }

void check_request(const io::ModelConfig& config, const std::vector<int32_t>& prompt, const GenerateOptions& options) {
  for (int32_t id : prompt) {
    require(id < config.vocab_size, ErrorKind::kInvalidArgument,
            "--prompt-ids: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                std::to_string(config.vocab_size) + ")");
  }
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  require(options.max_tokens <= config.max_position_embeddings - prompt_len, ErrorKind::kInvalidArgument,
          "prompt (" + std::to_string(prompt.size()) + " tokens) + --max-tokens (" +
              std::to_string(options.max_tokens) + ") exceeds the model's context of " +
              std::to_string(config.max_position_embeddings) + " tokens (max_position_embeddings)");
  const int64_t total = prompt_len + options.max_tokens;
  const int64_t budget_blocks = KvCache::num_blocks_for_budget(config, options.kv_cache_gb);
  require(blocks_for(total) <= budget_blocks, ErrorKind::kInvalidArgument,
          std::to_string(total) + " tokens need " + std::to_string(blocks_for(total)) +
              " KV cache blocks but --kv-cache-gb " + format_number(options.kv_cache_gb) + " holds " +
              std::to_string(budget_blocks));
}

// One sequence's next rows: `tokens` at positions [context_len, context_len + n), blocks
// allocated in order, so a position's cache slot is the position itself.
model::BatchView single_sequence_view(const std::vector<int32_t>& tokens, int32_t context_len,
                                      const std::vector<int32_t>& block_table) {
  model::BatchView view;
  view.token_ids = tokens;
  const int32_t num_new = static_cast<int32_t>(tokens.size());
  view.positions.resize(tokens.size());
  std::iota(view.positions.begin(), view.positions.end(), context_len);
  view.slot_mapping = view.positions;
  view.seqs.push_back({0, num_new, context_len + num_new, block_table});
  view.logits_rows = {num_new - 1};
  return view;
}

// The first highest logit, as torch.argmax picks it.
int32_t argmax(const Tensor& logits) {
  const float* row = logits.data<float>();
  return static_cast<int32_t>(std::max_element(row, row + logits.dim(1)) - row);
}

std::vector<int32_t> greedy_generate(Qwen3Model& model, const std::vector<int32_t>& prompt,
                                     const GenerateOptions& options, const std::vector<int64_t>& eos_ids) {
  const int64_t positions_needed = static_cast<int64_t>(prompt.size()) + options.max_tokens - 1;
  KvCache cache(model.config(), blocks_for(positions_needed));
  std::vector<int32_t> block_table(static_cast<size_t>(cache.num_blocks()));
  std::iota(block_table.begin(), block_table.end(), 0);
  std::vector<int32_t> generated;
  std::vector<int32_t> next_rows = prompt;
  int32_t context_len = 0;
  while (static_cast<int64_t>(generated.size()) < options.max_tokens) {
    const Tensor logits = model.forward(single_sequence_view(next_rows, context_len, block_table), cache);
    context_len += static_cast<int32_t>(next_rows.size());
    const int32_t token = argmax(logits);
    generated.push_back(token);
    if (!options.ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end()) break;
    next_rows = {token};
  }
  return generated;
}

void print_tokens(const std::vector<int32_t>& tokens, bool as_json) {
  std::string line;
  if (as_json) {
    line = nlohmann::json{{"token_ids", tokens}}.dump();
  } else {
    for (int32_t token : tokens) {
      if (!line.empty()) line += ' ';
      line += std::to_string(token);
    }
  }
  std::printf("%s\n", line.c_str());
}

void run_generate(const GenerateOptions& options) {
  check_options(options);
  const std::vector<int32_t> prompt = parse_prompt_ids(options.prompt_ids);
  const io::ModelConfig config = load_config(options);
  check_request(config, prompt, options);  // before loading: dummy weights take seconds to make
  ThreadPool pool(options.threads);
  Qwen3Model model = load_model(options, config, pool);
  print_tokens(greedy_generate(model, prompt, options, eos_token_ids(options, model.config())), options.json);
}

std::string preset_list() {
  std::string names;
  for (const std::string& name : model::preset_names()) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  return names;
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* command = app.add_subcommand(
      "generate", "Greedy continuation of a prompt given as token ids (a test driver; `serve` is the real thing)");
  command->add_option("--model", options->model_dir,
                      "Model folder: config.json, generation_config.json and safetensors (one file or shards)");
  command->add_option("--prompt-ids", options->prompt_ids, "Prompt token ids, comma separated, e.g. 151644,872,198")
      ->required();
  command->add_option("--max-tokens", options->max_tokens, "Most new tokens to generate (>= 1)")
      ->capture_default_str();
  command->add_option("--temperature", options->temperature,
                      "Sampling temperature; only 0 (greedy) for now, sampling arrives with the engine")
      ->capture_default_str();
  command->add_flag("--ignore-eos", options->ignore_eos,
                    "Keep going past end-of-sequence ids (generation_config.json's, else config.json's)");
  command->add_flag("--json", options->json, "Print one JSON line {\"token_ids\": [...]} instead of plain ids");
  command->add_option("--load-format", options->load_format,
                      "auto: weights from the safetensors; dummy: random bf16 weights of the config's shapes")
      ->check(CLI::IsMember({"auto", "dummy"}))
      ->capture_default_str();
  command->add_option("--preset", options->preset,
                      "With --load-format dummy: model shapes by name instead of --model's config.json (" +
                          preset_list() + ")");
  command->add_option("--threads", options->threads, "CPU threads; 0 means one per hardware thread")
      ->capture_default_str();
  command->add_option("--kv-cache-gb", options->kv_cache_gb,
                      "Most KV cache memory in GiB; prompt + max tokens must fit in it")
      ->capture_default_str();
  command->callback([options] { run_generate(*options); });
}

}  // namespace hanlin::cli
