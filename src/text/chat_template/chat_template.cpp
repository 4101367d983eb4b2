// ChatTemplate: compiles a template (lexer → parser → name table) and renders it by converting
// the JSON variables to values and running the interpreter.
#include "text/chat_template/chat_template.h"

#include <algorithm>

#include "core/error.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/interpreter.h"
#include "text/chat_template/lexer.h"
#include "text/chat_template/parser.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text {

namespace {

using jinja::Value;

[[noreturn]] void throw_context_error(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "chat template variables: " + message);
}

Value string_from_json(const std::string& text, bool is_data) {
  if (!jinja::is_valid_utf8(text)) throw_context_error("a string is not valid UTF-8");
  return jinja::make_string(text, is_data);
}

Value value_from_json(const nlohmann::ordered_json& json, bool is_data, int depth) {
  if (depth > jinja::kMaxNestingDepth) {
    throw_context_error("JSON nests deeper than " + std::to_string(jinja::kMaxNestingDepth) + " levels");
  }
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      auto value = json.get<uint64_t>();
      // Python would keep the exact integer; beyond 64 signed bits we keep the nearest double.
      return value <= static_cast<uint64_t>(INT64_MAX) ? Value::integer(static_cast<int64_t>(value))
                                                       : Value::number(static_cast<double>(value));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::number(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return string_from_json(json.get_ref<const std::string&>(), is_data);
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(value_from_json(item, is_data, depth + 1));
      return jinja::make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      jinja::DictData dict;
      for (const auto& [key, item] : json.items())
        dict.set(string_from_json(key, is_data), value_from_json(item, is_data, depth + 1));
      return jinja::make_dict(std::move(dict));
    }
    default:
      throw_context_error("binary JSON values are not supported");
  }
}

// Adds the variables of `object` the template refers to (a name it never uses cannot matter).
void add_variables(const jinja::CompiledTemplate& compiled, const nlohmann::ordered_json& object,
                   bool is_data, std::vector<std::pair<int, Value>>& variables) {
  if (!object.is_object()) throw_context_error("the variables must be a JSON object");
  for (const auto& [name, json] : object.items()) {
    int id = compiled.parsed.names.find(name);
    if (id < 0) continue;
    Value value = value_from_json(json, is_data, 0);
    bool replaced = false;
    for (auto& [known, known_value] : variables) {
      if (known == id) {
        known_value = value;
        replaced = true;
      }
    }
    if (!replaced) variables.emplace_back(id, std::move(value));
  }
}

size_t line_of(std::string_view source, uint32_t offset) {
  size_t line = 1;
  for (size_t i = 0; i < offset && i < source.size(); ++i) line += source[i] == '\n';
  return line;
}

}  // namespace

ChatTemplate ChatTemplate::compile(std::string_view source, TemplateLimits limits) {
  if (!jinja::is_valid_utf8(source)) throw Error(ErrorKind::kInvalidFile, "chat template: not valid UTF-8");
  // Provenance spans hold 32-bit offsets.
  limits.max_output_bytes = std::min<size_t>(limits.max_output_bytes, size_t{1} << 31);
  if (source.size() > limits.max_output_bytes)
    throw Error(ErrorKind::kInvalidFile, "chat template: the template is too large");
  auto compiled = std::make_shared<jinja::CompiledTemplate>();
  compiled->source = jinja::normalize_template_source(source);
  std::vector<jinja::Token> tokens = jinja::tokenize(compiled->source);
  compiled->parsed = jinja::parse_template(compiled->source, tokens);
  jinja::NameTable& names = compiled->parsed.names;
  compiled->loop_id = names.intern("loop");
  compiled->caller_id = names.intern("caller");
  compiled->varargs_id = names.intern("varargs");
  compiled->kwargs_id = names.intern("kwargs");
  for (std::string_view name : names.names) compiled->globals.push_back(jinja::find_global(name));
  return ChatTemplate(std::move(compiled), limits);
}

RenderedPrompt ChatTemplate::render(const nlohmann::ordered_json& request_variables,
                                    const nlohmann::ordered_json& checkpoint_variables) const {
  std::vector<std::pair<int, Value>> variables;
  add_variables(*compiled_, checkpoint_variables, false, variables);
  add_variables(*compiled_, request_variables, true, variables);
  jinja::Limits limits{limits_.max_steps, limits_.max_work_bytes, limits_.max_output_bytes,
                       limits_.max_call_depth};
  jinja::Interpreter interpreter(*compiled_, limits);
  jinja::Output output;
  try {
    output = interpreter.render(std::move(variables));
  } catch (const Error& error) {
    throw Error(error.kind(), "chat template line " +
                                  std::to_string(line_of(compiled_->source, interpreter.current_offset())) +
                                  ": " + error.what());
  }
  RenderedPrompt prompt;
  prompt.text = std::move(output.text);
  for (const jinja::Span& span : output.data.spans()) prompt.data_ranges.push_back({span.begin, span.end});
  return prompt;
}

}  // namespace hanlin::text
