// Converts an OpenAI chat-completions request into chat-template variables (see the header for
// the exact rules, which the fixture generator mirrors).
#include "text/chat_template/render_context.h"

#include <string>

#include "core/error.h"

namespace hanlin::text {

namespace {

using Json = nlohmann::ordered_json;

[[noreturn]] void throw_field_error(const std::string& field, const std::string& problem) {
  throw Error(ErrorKind::kInvalidArgument, "request field '" + field + "' " + problem);
}

std::string flatten_content_parts(const Json& parts, const std::string& field) {
  std::string text;
  for (size_t j = 0; j < parts.size(); ++j) {
    const Json& part = parts[j];
    std::string part_field = field + "[" + std::to_string(j) + "]";
    if (!part.is_object()) throw_field_error(part_field, "must be an object");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) throw_field_error(part_field + ".type", "must be a string");
    if (*type != "text") {
      throw Error(ErrorKind::kInvalidArgument,
                  "request field '" + part_field + ".type': content parts of type '" +
                      type->get<std::string>() + "' are not supported (text only)");
    }
    auto part_text = part.find("text");
    if (part_text == part.end() || !part_text->is_string())
      throw_field_error(part_field + ".text", "must be a string");
    if (j > 0) text += "\n";
    text += part_text->get_ref<const std::string&>();
  }
  return text;
}

Json normalize_content(const Json& message, const std::string& field) {
  auto content = message.find("content");
  if (content == message.end() || content->is_null()) return "";
  if (content->is_string()) return *content;
  if (content->is_array()) return flatten_content_parts(*content, field + ".content");
  throw_field_error(field + ".content", "must be a string, an array of content parts or null");
}

Json normalize_arguments(const Json& arguments, const std::string& field) {
  if (arguments.is_null() || (arguments.is_string() && arguments.get_ref<const std::string&>().empty())) {
    return Json::object();
  }
  if (arguments.is_string()) {
    Json parsed = Json::parse(arguments.get_ref<const std::string&>(), nullptr, false);
    return parsed.is_discarded() ? arguments : parsed;
  }
  if (arguments.is_object() || arguments.is_array()) return arguments;
  throw_field_error(field, "must be a JSON string or an object");
}

Json normalize_tool_calls(const Json& tool_calls, const std::string& field) {
  if (tool_calls.is_null()) return tool_calls;
  if (!tool_calls.is_array()) throw_field_error(field, "must be an array");
  Json normalized = Json::array();
  for (size_t k = 0; k < tool_calls.size(); ++k) {
    std::string call_field = field + "[" + std::to_string(k) + "]";
    const Json& call = tool_calls[k];
    if (!call.is_object()) throw_field_error(call_field, "must be an object");
    Json copy = call;
    auto function = copy.find("function");
    if (function == copy.end() || !function->is_object())
      throw_field_error(call_field + ".function", "must be an object");
    auto name = function->find("name");
    if (name == function->end() || !name->is_string())
      throw_field_error(call_field + ".function.name", "must be a string");
    auto arguments = function->find("arguments");
    Json parsed = normalize_arguments(arguments == function->end() ? Json() : *arguments,
                                      call_field + ".function.arguments");
    (*function)["arguments"] = std::move(parsed);
    normalized.push_back(std::move(copy));
  }
  return normalized;
}

void require_optional_string(const Json& message, const char* key, const std::string& field,
                             bool allow_null) {
  auto value = message.find(key);
  if (value == message.end() || value->is_string() || (allow_null && value->is_null())) return;
  throw_field_error(field + "." + key, allow_null ? "must be a string or null" : "must be a string");
}

Json normalize_message(const Json& message, const std::string& field) {
  if (!message.is_object()) throw_field_error(field, "must be an object");
  auto role = message.find("role");
  if (role == message.end() || !role->is_string()) throw_field_error(field + ".role", "must be a string");
  require_optional_string(message, "name", field, false);
  require_optional_string(message, "tool_call_id", field, false);
  require_optional_string(message, "reasoning_content", field, true);
  Json copy = message;
  copy["content"] = normalize_content(message, field);
  if (auto tool_calls = message.find("tool_calls"); tool_calls != message.end()) {
    copy["tool_calls"] = normalize_tool_calls(*tool_calls, field + ".tool_calls");
  }
  return copy;
}

}  // namespace

Json chat_template_variables(const Json& request) {
  if (!request.is_object())
    throw Error(ErrorKind::kInvalidArgument, "the request body must be a JSON object");
  auto messages = request.find("messages");
  if (messages == request.end() || !messages->is_array() || messages->empty()) {
    throw_field_error("messages", "must be a non-empty array");
  }
  Json variables = Json::object();
  Json normalized = Json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    normalized.push_back(normalize_message((*messages)[i], "messages[" + std::to_string(i) + "]"));
  }
  variables["messages"] = std::move(normalized);
  auto tools = request.find("tools");
  if (tools != request.end() && !tools->is_null() && !tools->is_array())
    throw_field_error("tools", "must be an array");
  if (tools != request.end() && tools->is_array()) {
    for (size_t i = 0; i < tools->size(); ++i) {
      if (!(*tools)[i].is_object())
        throw_field_error("tools[" + std::to_string(i) + "]", "must be an object");
    }
  }
  variables["tools"] = tools == request.end() ? Json() : *tools;
  variables["documents"] = nullptr;
  auto add_generation_prompt = request.find("add_generation_prompt");
  if (add_generation_prompt != request.end() && !add_generation_prompt->is_boolean()) {
    throw_field_error("add_generation_prompt", "must be a boolean");
  }
  variables["add_generation_prompt"] =
      add_generation_prompt == request.end() ? true : add_generation_prompt->get<bool>();
  auto kwargs = request.find("chat_template_kwargs");
  if (kwargs != request.end() && !kwargs->is_null()) {
    if (!kwargs->is_object()) throw_field_error("chat_template_kwargs", "must be an object");
    for (const auto& [name, value] : kwargs->items()) {
      if (name == "messages" || name == "tools" || name == "documents" || name == "add_generation_prompt") {
        throw_field_error("chat_template_kwargs." + name,
                          "is reserved: set it at the top level of the request");
      }
      variables[name] = value;
    }
  }
  return variables;
}

Json checkpoint_template_variables(const Json& tokenizer_config) {
  Json variables = Json::object();
  if (!tokenizer_config.is_object()) return variables;
  static constexpr const char* kTokenNames[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                "pad_token", "cls_token", "mask_token"};
  auto token_text = [](const Json& token) -> Json {
    if (token.is_string()) return token;
    if (token.is_object() && token.contains("content") && token["content"].is_string())
      return token["content"];
    return nullptr;
  };
  for (const char* name : kTokenNames) {
    auto token = tokenizer_config.find(name);
    if (token == tokenizer_config.end()) continue;
    Json text = token_text(*token);
    if (!text.is_null()) variables[name] = std::move(text);
  }
  auto additional = tokenizer_config.find("additional_special_tokens");
  if (additional != tokenizer_config.end() && additional->is_array()) {
    Json tokens = Json::array();
    for (const Json& token : *additional) {
      Json text = token_text(token);
      if (!text.is_null()) tokens.push_back(std::move(text));
    }
    variables["additional_special_tokens"] = std::move(tokens);
  }
  return variables;
}

}  // namespace hanlin::text
