// Typed reads of OpenAI request fields, then the two endpoints' own fields.
#include "server/openai_request.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace hanlin::server {
namespace {

void check(bool condition, const std::string& message) { require(condition, ErrorKind::kInvalidArgument, message); }

// Optional fields of one JSON object; null is absent.
class Fields {
 public:
  explicit Fields(const Json& body) : body_(&body) {}

  const Json* find(const char* name) const {
    const auto found = body_->find(name);
    return found == body_->end() || found->is_null() ? nullptr : &*found;
  }
  std::optional<double> number(const char* name) const {
    const Json* value = find(name);
    if (!value) return std::nullopt;
    check(value->is_number(), std::string(name) + " must be a number");
    return value->get<double>();
  }
  std::optional<int64_t> integer(const char* name) const {
    const Json* value = find(name);
    if (!value) return std::nullopt;
    check(value->is_number_integer() || (value->is_number_float() && is_whole(value->get<double>())),
          std::string(name) + " must be an integer");
    if (value->is_number_unsigned()) {
      check(value->get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()}, std::string(name) + " is too large");
    }
    return value->is_number_float() ? static_cast<int64_t>(value->get<double>()) : value->get<int64_t>();
  }
  std::optional<int32_t> int32(const char* name) const {
    const std::optional<int64_t> value = integer(name);
    if (!value) return std::nullopt;
    check(*value >= std::numeric_limits<int32_t>::min() && *value <= std::numeric_limits<int32_t>::max(),
          std::string(name) + " is out of range");
    return static_cast<int32_t>(*value);
  }
  std::optional<bool> boolean(const char* name) const {
    const Json* value = find(name);
    if (!value) return std::nullopt;
    check(value->is_boolean(), std::string(name) + " must be true or false");
    return value->get<bool>();
  }
  std::optional<std::string> string(const char* name) const {
    const Json* value = find(name);
    if (!value) return std::nullopt;
    check(value->is_string(), std::string(name) + " must be a string");
    return value->get<std::string>();
  }

 private:
  static bool is_whole(double value) {
    return value == static_cast<double>(static_cast<int64_t>(value)) && std::abs(value) < 9.0e18;
  }
  const Json* body_;
};

std::vector<int32_t> token_ids(const Json& value, const std::string& field) {
  check(value.is_array(), field + " must be a list of token ids");
  std::vector<int32_t> ids;
  ids.reserve(value.size());
  // Each message is built only when its check fails: a long prompt has tens of thousands of ids.
  for (const Json& id : value) {
    if (!id.is_number_integer()) check(false, field + " must be a list of integer token ids");
    const int64_t number = id.get<int64_t>();
    if (number < std::numeric_limits<int32_t>::min() || number > std::numeric_limits<int32_t>::max())
      check(false, field + ": token id " + id.dump() + " is out of range");
    ids.push_back(static_cast<int32_t>(number));
  }
  return ids;
}

std::vector<std::string> stop_strings(const Json& value) {
  if (value.is_string()) return {value.get<std::string>()};
  check(value.is_array(), "stop must be a string or a list of strings");
  std::vector<std::string> stops;
  for (const Json& stop : value) {
    check(stop.is_string(), "stop must be a string or a list of strings");
    stops.push_back(stop.get<std::string>());
  }
  return stops;
}

// {"token id": bias}, as OpenAI sends it.
std::vector<std::pair<int32_t, float>> logit_bias(const Json& value) {
  check(value.is_object(), "logit_bias must be an object mapping token ids to numbers");
  std::vector<std::pair<int32_t, float>> bias;
  for (const auto& [key, entry] : value.items()) {
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(key, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == key.size() && !key.empty() && id >= 0 && id <= std::numeric_limits<int32_t>::max(),
          "logit_bias: '" + key + "' is not a token id");
    check(entry.is_number(), "logit_bias values must be numbers");
    bias.emplace_back(static_cast<int32_t>(id), entry.get<float>());
  }
  return bias;
}

void read_sampling(const Fields& fields, engine::SamplingParams& sampling) {
  if (auto v = fields.number("temperature")) sampling.temperature = *v;
  if (auto v = fields.number("top_p")) sampling.top_p = *v;
  if (auto v = fields.int32("top_k")) sampling.top_k = *v;
  if (auto v = fields.number("min_p")) sampling.min_p = *v;
  if (auto v = fields.number("presence_penalty")) sampling.presence_penalty = *v;
  if (auto v = fields.number("frequency_penalty")) sampling.frequency_penalty = *v;
  if (auto v = fields.number("repetition_penalty")) sampling.repetition_penalty = *v;
  if (const Json* v = fields.find("logit_bias")) sampling.logit_bias = logit_bias(*v);
  if (auto v = fields.integer("seed")) sampling.seed = static_cast<uint64_t>(*v);
}

void read_stopping(const Fields& fields, engine::StoppingParams& stopping) {
  if (const Json* v = fields.find("stop")) stopping.stop = stop_strings(*v);
  if (const Json* v = fields.find("stop_token_ids")) stopping.stop_token_ids = token_ids(*v, "stop_token_ids");
  if (auto v = fields.integer("min_tokens")) stopping.min_tokens = *v;
  if (auto v = fields.boolean("ignore_eos")) stopping.ignore_eos = *v;
  if (auto v = fields.boolean("include_stop_str_in_output")) stopping.include_stop_str_in_output = *v;
}

CommonParams read_common(const Json& body, const engine::SamplingParams& defaults) {
  check(body.is_object(), "the request body must be a JSON object");
  const Fields fields(body);
  CommonParams common;
  common.request.sampling = defaults;
  read_sampling(fields, common.request.sampling);
  read_stopping(fields, common.request.stopping);
  if (auto v = fields.string("model")) common.model = *v;
  if (auto v = fields.int32("n")) common.request.n = *v;
  if (auto v = fields.int32("priority")) common.request.priority = *v;
  if (auto v = fields.integer("truncate_prompt_tokens")) common.request.truncate_prompt_tokens = *v;
  if (auto v = fields.boolean("skip_special_tokens")) common.request.skip_special_tokens = *v;
  if (auto v = fields.boolean("stream")) common.stream = *v;
  if (auto v = fields.string("user")) (void)v;  // accepted for accounting; not used yet
  if (const Json* options = fields.find("stream_options")) {
    check(options->is_object(), "stream_options must be an object");
    if (auto v = Fields(*options).boolean("include_usage")) common.include_usage = *v;
  }
  return common;
}

void read_tool_choice(const Json& value, ChatParams& chat) {
  if (value.is_string()) {
    const std::string choice = value.get<std::string>();
    check(choice == "auto" || choice == "none" || choice == "required",
          "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
    chat.tool_choice = choice == "auto" ? ToolChoice::kAuto : choice == "none" ? ToolChoice::kNone : ToolChoice::kRequired;
    return;
  }
  check(value.is_object() && value.contains("function") && value["function"].is_object() &&
            value["function"].contains("name") && value["function"]["name"].is_string(),
        "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
  chat.tool_choice = ToolChoice::kNamed;
  chat.named_tool = value["function"]["name"].get<std::string>();
}

// A named tool_choice must name one of the tools.
void check_named_tool(const Json& body, const ChatParams& chat) {
  if (chat.tool_choice != ToolChoice::kNamed) return;
  bool found = false;
  for (const Json& tool : body["tools"]) {
    found = found || (tool.is_object() && tool.contains("function") && tool["function"].is_object() &&
                      tool["function"].value("name", "") == chat.named_tool);
  }
  check(found, "tool_choice names \"" + chat.named_tool + "\", which is not among the tools");
}

}  // namespace

Json parse_body(const std::string& text) {
  Json body = Json::parse(text, nullptr, false);
  check(!body.is_discarded(), "the request body is not valid JSON");
  check(body.is_object(), "the request body must be a JSON object");
  return body;
}

ChatParams parse_chat_params(const Json& body, const engine::SamplingParams& defaults) {
  ChatParams chat;
  chat.common = read_common(body, defaults);
  const Fields fields(body);
  const Json* messages = fields.find("messages");
  check(messages != nullptr, "messages is required");
  check(messages->is_array() && !messages->empty(), "messages must be a non-empty list");
  if (const Json* tools = fields.find("tools")) {
    check(tools->is_array(), "tools must be a list");
    chat.has_tools = !tools->empty();
  }
  if (const Json* choice = fields.find("tool_choice")) read_tool_choice(*choice, chat);
  check(chat.has_tools || chat.tool_choice == ToolChoice::kAuto || chat.tool_choice == ToolChoice::kNone,
        "tool_choice \"required\" or a named function needs tools");
  check_named_tool(body, chat);
  if (auto v = fields.boolean("parallel_tool_calls")) (void)v;  // Qwen decides; every call it makes is returned
  if (auto v = fields.boolean("logprobs")) chat.logprobs = *v;
  if (auto v = fields.int32("top_logprobs")) {
    check(chat.logprobs, "top_logprobs needs logprobs: true");
    chat.common.request.sampling.logprobs = *v;
  } else if (chat.logprobs) {
    chat.common.request.sampling.logprobs = 0;
  }
  std::optional<int64_t> max_tokens = fields.integer("max_completion_tokens");
  if (!max_tokens) max_tokens = fields.integer("max_tokens");
  chat.common.request.stopping.max_tokens = max_tokens;
  if (const Json* format = fields.find("response_format")) {
    check(format->is_object() && format->contains("type") && (*format)["type"].is_string(),
          "response_format must be an object with a \"type\"");
    const std::string type = (*format)["type"].get<std::string>();
    check(type == "text", "response_format: type \"" + type + "\" is not supported yet (only \"text\")");
  }
  if (const Json* kwargs = fields.find("chat_template_kwargs")) {
    check(kwargs->is_object(), "chat_template_kwargs must be an object");
  }
  return chat;
}

CompletionParams parse_completion_params(const Json& body, const engine::SamplingParams& defaults) {
  CompletionParams completion;
  completion.common = read_common(body, defaults);
  const Fields fields(body);
  const Json* prompt = fields.find("prompt");
  check(prompt != nullptr, "prompt is required");
  if (prompt->is_string()) {
    completion.prompt_text = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    completion.prompt_text = (*prompt)[0].get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_array()) {
    completion.prompt_ids = token_ids((*prompt)[0], "prompt");
  } else {
    check(prompt->is_array() && (prompt->empty() || (*prompt)[0].is_number()),
          "prompt must be a string, a list of token ids, or a list holding one of these (several prompts in one "
          "request are not supported yet)");
    completion.prompt_ids = token_ids(*prompt, "prompt");
  }
  // The legacy API's default, as OpenAI and vLLM have it.
  completion.common.request.stopping.max_tokens = fields.integer("max_tokens").value_or(16);
  if (auto v = fields.int32("logprobs")) completion.common.request.sampling.logprobs = *v;
  check(!fields.boolean("echo").value_or(false), "echo is not supported yet");
  check(!fields.find("suffix"), "suffix is not supported");
  if (auto best_of = fields.int32("best_of")) {
    check(*best_of == completion.common.request.n, "best_of other than n is not supported");
  }
  return completion;
}

}  // namespace hanlin::server
