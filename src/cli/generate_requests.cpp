// Batch lines → engine::Request, one small reader per field type; results → JSON lines.
#include "cli/generate_requests.h"

#include <functional>
#include <map>

#include "core/error.h"

namespace hanlin::cli {
namespace {

using nlohmann::json;

void check(bool condition, const std::string& message) { require(condition, ErrorKind::kInvalidArgument, message); }

int64_t read_integer(const json& value, const std::string& field) {
  check(value.is_number_integer(), field + " must be an integer, got " + value.dump());
  check(value.is_number_unsigned() ? value.get<uint64_t>() <= INT64_MAX : true, field + " is too large: " + value.dump());
  return value.get<int64_t>();
}

int32_t read_int32(const json& value, const std::string& field) {
  const int64_t number = read_integer(value, field);
  check(number >= INT32_MIN && number <= INT32_MAX, field + " is out of range: " + value.dump());
  return static_cast<int32_t>(number);
}

double read_number(const json& value, const std::string& field) {
  check(value.is_number(), field + " must be a number, got " + value.dump());
  return value.get<double>();
}

bool read_bool(const json& value, const std::string& field) {
  check(value.is_boolean(), field + " must be true or false, got " + value.dump());
  return value.get<bool>();
}

std::vector<int32_t> read_ids(const json& value, const std::string& field) {
  check(value.is_array(), field + " must be a list of token ids");
  std::vector<int32_t> ids;
  for (const json& id : value) ids.push_back(read_int32(id, field + " item"));
  return ids;
}

std::vector<std::string> read_stop(const json& value) {
  if (value.is_string()) return {value.get<std::string>()};
  check(value.is_array(), "stop must be a string or a list of strings");
  std::vector<std::string> stops;
  for (const json& stop : value) {
    check(stop.is_string(), "stop must be a string or a list of strings, got an item " + stop.dump());
    stops.push_back(stop.get<std::string>());
  }
  return stops;
}

// logit_bias as OpenAI sends it: {"token id as a string": bias}.
std::vector<std::pair<int32_t, float>> read_logit_bias(const json& value) {
  check(value.is_object(), "logit_bias must be an object of token id → bias");
  std::vector<std::pair<int32_t, float>> bias;
  for (const auto& [key, entry] : value.items()) {
    int32_t id = -1;
    try {
      size_t used = 0;
      id = std::stoi(key, &used);
      check(used == key.size(), "");
    } catch (const std::exception&) {
      check(false, "logit_bias: '" + key + "' is not a token id");
    }
    bias.emplace_back(id, static_cast<float>(read_number(entry, "logit_bias['" + key + "']")));
  }
  return bias;
}

using FieldReader = std::function<void(const json&, engine::Request&)>;

const std::map<std::string, FieldReader>& field_readers() {
  static const std::map<std::string, FieldReader> readers = {
      {"max_tokens", [](const json& v, engine::Request& r) { r.stopping.max_tokens = read_integer(v, "max_tokens"); }},
      {"min_tokens", [](const json& v, engine::Request& r) { r.stopping.min_tokens = read_integer(v, "min_tokens"); }},
      {"temperature", [](const json& v, engine::Request& r) { r.sampling.temperature = read_number(v, "temperature"); }},
      {"top_p", [](const json& v, engine::Request& r) { r.sampling.top_p = read_number(v, "top_p"); }},
      {"top_k", [](const json& v, engine::Request& r) { r.sampling.top_k = read_int32(v, "top_k"); }},
      {"min_p", [](const json& v, engine::Request& r) { r.sampling.min_p = read_number(v, "min_p"); }},
      {"presence_penalty", [](const json& v, engine::Request& r) { r.sampling.presence_penalty = read_number(v, "presence_penalty"); }},
      {"frequency_penalty", [](const json& v, engine::Request& r) { r.sampling.frequency_penalty = read_number(v, "frequency_penalty"); }},
      {"repetition_penalty", [](const json& v, engine::Request& r) { r.sampling.repetition_penalty = read_number(v, "repetition_penalty"); }},
      {"logit_bias", [](const json& v, engine::Request& r) { r.sampling.logit_bias = read_logit_bias(v); }},
      {"seed", [](const json& v, engine::Request& r) { r.sampling.seed = static_cast<uint64_t>(read_integer(v, "seed")); }},
      {"n", [](const json& v, engine::Request& r) { r.n = read_int32(v, "n"); }},
      {"logprobs", [](const json& v, engine::Request& r) { r.sampling.logprobs = read_int32(v, "logprobs"); }},
      {"stop", [](const json& v, engine::Request& r) { r.stopping.stop = read_stop(v); }},
      {"stop_token_ids", [](const json& v, engine::Request& r) { r.stopping.stop_token_ids = read_ids(v, "stop_token_ids"); }},
      {"ignore_eos", [](const json& v, engine::Request& r) { r.stopping.ignore_eos = read_bool(v, "ignore_eos"); }},
      {"include_stop_str_in_output",
       [](const json& v, engine::Request& r) { r.stopping.include_stop_str_in_output = read_bool(v, "include_stop_str_in_output"); }},
      {"skip_special_tokens", [](const json& v, engine::Request& r) { r.skip_special_tokens = read_bool(v, "skip_special_tokens"); }},
      {"priority", [](const json& v, engine::Request& r) { r.priority = read_int32(v, "priority"); }},
      {"truncate_prompt_tokens",
       [](const json& v, engine::Request& r) { r.truncate_prompt_tokens = read_integer(v, "truncate_prompt_tokens"); }},
  };
  return readers;
}

std::vector<int32_t> read_prompt(const json& line, const text::Tokenizer* tokenizer) {
  const bool has_text = line.contains("prompt");
  const bool has_ids = line.contains("prompt_ids");
  check(has_text != has_ids, "each line needs exactly one of \"prompt\" (text) and \"prompt_ids\" (token ids)");
  if (has_ids) return read_ids(line.at("prompt_ids"), "prompt_ids");
  check(line.at("prompt").is_string(), "prompt must be a string");
  check(tokenizer != nullptr, "prompt: text prompts need the model's tokenizer (tokenizer.json), and none was found");
  return tokenizer->encode(line.at("prompt").get<std::string>());
}

json logprobs_json(const engine::SampledLogprobs& entry) {
  json top = json::array();
  for (const engine::TokenLogprob& item : entry.top) top.push_back({{"token_id", item.token_id}, {"logprob", item.logprob}});
  return {{"token_id", entry.sampled.token_id}, {"logprob", entry.sampled.logprob}, {"top_logprobs", top}};
}

json completion_json(const GeneratedCompletion& completion, bool with_text) {
  json out = {{"token_ids", completion.token_ids}};
  if (with_text) out["text"] = completion.text;
  out["finish_reason"] = completion.finish_reason;
  if (!completion.logprobs.empty()) {
    json entries = json::array();
    for (const engine::SampledLogprobs& entry : completion.logprobs) entries.push_back(logprobs_json(entry));
    out["logprobs"] = entries;
  }
  return out;
}

}  // namespace

engine::Request request_from_json(const json& line, const engine::Request& defaults, const text::Tokenizer* tokenizer) {
  check(line.is_object(), "each line must be a JSON object");
  engine::Request request = defaults;
  for (const auto& [key, value] : line.items()) {
    if (key == "prompt" || key == "prompt_ids") continue;
    const auto reader = field_readers().find(key);
    check(reader != field_readers().end(), "unknown field \"" + key + "\"");
    reader->second(value, request);
  }
  request.prompt_ids = read_prompt(line, tokenizer);
  return request;
}

void add_output(GeneratedResult& result, const engine::RequestOutput& output) {
  if (!output.error.empty()) result.error = output.error;
  for (const engine::CompletionDelta& delta : output.completions) {
    const auto index = static_cast<size_t>(delta.index);
    if (result.completions.size() <= index) result.completions.resize(index + 1);
    GeneratedCompletion& completion = result.completions[index];
    completion.token_ids.insert(completion.token_ids.end(), delta.token_ids.begin(), delta.token_ids.end());
    completion.text += delta.text;
    completion.logprobs.insert(completion.logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
    if (delta.finish_reason) completion.finish_reason = engine::finish_reason_name(*delta.finish_reason);
  }
}

json result_json(const GeneratedResult& result, bool with_text) {
  if (!result.error.empty()) return {{"error", result.error}};
  if (result.completions.size() == 1) return completion_json(result.completions.front(), with_text);
  json choices = json::array();
  for (const GeneratedCompletion& completion : result.completions) choices.push_back(completion_json(completion, with_text));
  return {{"choices", choices}};
}

}  // namespace hanlin::cli
