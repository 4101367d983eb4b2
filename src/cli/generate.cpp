// `hanlin generate`: runs prompts through the engine, one from the flags or many from a
// --batch JSONL file, all submitted at once so they are batched together.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/generate_requests.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "engine/engine_core.h"
#include "model/qwen3.h"
#include "text/tokenizer.h"

namespace hanlin::cli {
namespace {

using model::Qwen3Model;

struct GenerateOptions {
  ModelOptions model;
  std::optional<std::string> prompt;
  std::optional<std::string> prompt_ids;
  std::optional<std::string> batch_file;
  int64_t max_tokens = 16;
  int64_t min_tokens = 0;
  double temperature = 0.0;
  double top_p = 1.0;
  int32_t top_k = 0;
  double min_p = 0.0;
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  double repetition_penalty = 1.0;
  std::optional<uint64_t> seed;
  int32_t n = 1;
  std::optional<int32_t> logprobs;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool json = false;
};

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
  const int num_prompts = options.prompt.has_value() + options.prompt_ids.has_value() + options.batch_file.has_value();
  require(num_prompts == 1, ErrorKind::kInvalidArgument,
          "give exactly one of --prompt TEXT, --prompt-ids IDS and --batch FILE.jsonl");
  require(options.max_tokens >= 1, ErrorKind::kInvalidArgument,
          "--max-tokens must be at least 1, got " + std::to_string(options.max_tokens));
  check_model_options(options.model);
}

// The request the flags describe; batch lines start from it.
engine::Request request_from_flags(const GenerateOptions& options) {
  engine::Request request;
  request.sampling.temperature = options.temperature;
  request.sampling.top_p = options.top_p;
  request.sampling.top_k = options.top_k;
  request.sampling.min_p = options.min_p;
  request.sampling.presence_penalty = options.presence_penalty;
  request.sampling.frequency_penalty = options.frequency_penalty;
  request.sampling.repetition_penalty = options.repetition_penalty;
  request.sampling.seed = options.seed;
  request.sampling.logprobs = options.logprobs;
  request.stopping.max_tokens = options.max_tokens;
  request.stopping.min_tokens = options.min_tokens;
  request.stopping.stop = options.stop;
  request.stopping.ignore_eos = options.ignore_eos;
  request.n = options.n;
  return request;
}

// One request per input; a batch line that cannot be read becomes an error result instead.
struct Inputs {
  std::vector<engine::Request> requests;
  std::vector<std::string> errors;  // per request: "" or why it failed
  std::vector<int> line_numbers;    // per request, in the batch file
};

Inputs read_batch(const GenerateOptions& options, const text::Tokenizer* tokenizer) {
  std::ifstream file(*options.batch_file);
  require(file.good(), ErrorKind::kNotFound, "--batch: cannot read '" + *options.batch_file + "'");
  const engine::Request defaults = request_from_flags(options);
  Inputs inputs;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    inputs.requests.emplace_back();
    inputs.errors.emplace_back();
    inputs.line_numbers.push_back(number);
    try {
      const nlohmann::json parsed = nlohmann::json::parse(line);
      inputs.requests.back() = request_from_json(parsed, defaults, tokenizer);
    } catch (const nlohmann::json::exception& error) {
      inputs.errors.back() = "line " + std::to_string(number) + ": not valid JSON (" + error.what() + ")";
    } catch (const Error& error) {
      inputs.errors.back() = "line " + std::to_string(number) + ": " + error.what();
    }
  }
  return inputs;
}

Inputs read_inputs(const GenerateOptions& options, const text::Tokenizer* tokenizer) {
  if (options.batch_file) return read_batch(options, tokenizer);
  engine::Request request = request_from_flags(options);
  if (options.prompt_ids) {
    request.prompt_ids = parse_prompt_ids(*options.prompt_ids);
  } else {
    require(tokenizer != nullptr, ErrorKind::kInvalidArgument,
            "--prompt needs the model's tokenizer: the model folder has no tokenizer.json (give --tokenizer DIR)");
    request.prompt_ids = tokenizer->encode(*options.prompt);
  }
  return {{std::move(request)}, {""}, {0}};
}

// Every request is checked before the weights load (dummy weights take seconds to make). A
// single request's problem is the command's error; a batch line's is that line's result.
void validate_inputs(Inputs& inputs, const engine::RequestLimits& limits, bool single) {
  for (size_t i = 0; i < inputs.requests.size(); ++i) {
    if (!inputs.errors[i].empty()) continue;
    try {
      engine::validate_request(inputs.requests[i], limits);
    } catch (const Error& error) {
      if (single) throw;
      inputs.errors[i] = "line " + std::to_string(inputs.line_numbers[i]) + ": " + error.what();
    }
  }
}

// Submits every valid request at once and steps until all are done.
std::vector<GeneratedResult> run_requests(engine::EngineCore& core, Inputs& inputs) {
  std::vector<GeneratedResult> results(inputs.requests.size());
  for (size_t i = 0; i < inputs.requests.size(); ++i) {
    if (!inputs.errors[i].empty()) {
      results[i].error = inputs.errors[i];
      continue;
    }
    core.add(std::move(inputs.requests[i]), [&results, i](const engine::RequestOutput& output) { add_output(results[i], output); });
  }
  while (core.has_work()) core.step();
  return results;
}

void print_result(const GeneratedResult& result, bool as_json, bool with_text) {
  std::string line;
  if (as_json || !result.error.empty()) {
    line = result_json(result, with_text).dump();
  } else {
    for (const GeneratedCompletion& completion : result.completions) {
      if (!line.empty()) line += '\n';
      if (with_text) {
        line += completion.text;
        continue;
      }
      std::string ids;
      for (int32_t token : completion.token_ids) ids += (ids.empty() ? "" : " ") + std::to_string(token);
      line += ids;
    }
  }
  std::printf("%s\n", line.c_str());
}

void run_generate(const GenerateOptions& options) {
  check_options(options);
  ModelSetup setup = prepare_model(options.model);
  const text::Tokenizer* tokenizer = setup.tokenizer_or_null();
  Inputs inputs = read_inputs(options, tokenizer);
  validate_inputs(inputs, setup.limits(), !options.batch_file.has_value());
  ThreadPool pool(options.model.threads);
  Qwen3Model model = load_weights(options.model, setup, pool);
  engine::EngineCore core(model, *setup.cache, tokenizer, setup.eos_token_ids, setup.engine_config, &pool);
  const std::vector<GeneratedResult> results = run_requests(core, inputs);
  bool any_failed = false;
  for (const GeneratedResult& result : results) {
    print_result(result, options.json, tokenizer != nullptr);
    any_failed = any_failed || !result.error.empty();
  }
  require(!any_failed, ErrorKind::kInvalidArgument, "some requests failed; their lines hold the errors");
}

void add_sampling_flags(CLI::App& command, GenerateOptions& options) {
  command.add_option("--temperature", options.temperature, "Sampling temperature; 0 is greedy")->capture_default_str();
  command.add_option("--top-p", options.top_p, "Nucleus sampling: keep the most likely tokens up to this mass (0, 1]")
      ->capture_default_str();
  command.add_option("--top-k", options.top_k, "Keep the k most likely tokens; 0 or -1: off")->capture_default_str();
  command.add_option("--min-p", options.min_p, "Keep tokens at least this share of the most likely one's probability")
      ->capture_default_str();
  command.add_option("--presence-penalty", options.presence_penalty, "OpenAI's presence penalty [-2, 2]")
      ->capture_default_str();
  command.add_option("--frequency-penalty", options.frequency_penalty, "OpenAI's frequency penalty [-2, 2]")
      ->capture_default_str();
  command.add_option("--repetition-penalty", options.repetition_penalty,
                     "Hugging Face's repetition penalty (> 0; 1: off)")
      ->capture_default_str();
  command.add_option("--seed", options.seed, "Seed: the same seed gives the same tokens, whatever else runs");
  command.add_option("--n", options.n, "Completions per prompt, sharing the prompt's KV blocks")->capture_default_str();
  command.add_option("--logprobs", options.logprobs, "Report each token's logprob and this many top alternatives (0-20)");
  command.add_option("--stop", options.stop, "Stop string (repeatable); the matched text is not printed");
  command.add_option("--min-tokens", options.min_tokens, "No stop before this many new tokens")->capture_default_str();
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  CLI::App* command = app.add_subcommand(
      "generate", "Continue prompts through the engine: one from the flags, or many from a JSONL file, batched together");
  add_model_flags(*command, options->model);
  command->add_option("--prompt", options->prompt, "Prompt text, tokenized as is (no chat template)");
  command->add_option("--prompt-ids", options->prompt_ids, "Prompt token ids, comma separated, e.g. 151644,872,198");
  command->add_option("--batch", options->batch_file,
                      "JSONL file: one request per line ({\"prompt\": ...} or {\"prompt_ids\": [...]}, max_tokens, "
                      "temperature, top_p, top_k, seed, stop, n, ...); results print in input order");
  command->add_option("--max-tokens", options->max_tokens, "Most new tokens to generate (>= 1)")->capture_default_str();
  command->add_flag("--ignore-eos", options->ignore_eos,
                    "Keep going past end-of-sequence ids (generation_config.json's, else config.json's)");
  command->add_flag("--json", options->json,
                    "Print one JSON line per request: {\"token_ids\": [...], \"text\": ..., \"finish_reason\": ...}");
  add_sampling_flags(*command, *options);
  add_engine_flags(*command, options->model);
  command->callback([options] { run_generate(*options); });
}

}  // namespace hanlin::cli
