// Server-sent events of an OpenAI streamed response; see stream_reader.h.
#include "bench/stream_reader.h"

#include <nlohmann/json.hpp>

namespace hanlin::bench {
namespace {

using Json = nlohmann::json;

void append_string(const Json& object, const char* key, std::string& out) {
  const auto value = object.find(key);
  if (value != object.end() && value->is_string()) out += value->get_ref<const std::string&>();
}

// The output a choice carries: completions' "text", chat's delta content, reasoning and tool
// call pieces (their names and argument text count as output: the server generated them).
std::string choice_output(const Json& choice) {
  std::string output;
  append_string(choice, "text", output);
  const auto delta = choice.find("delta");
  if (delta == choice.end() || !delta->is_object()) return output;
  append_string(*delta, "reasoning_content", output);
  append_string(*delta, "reasoning", output);
  append_string(*delta, "content", output);
  const auto calls = delta->find("tool_calls");
  if (calls == delta->end() || !calls->is_array()) return output;
  for (const Json& call : *calls) {
    const auto function = call.find("function");
    if (function == call.end() || !function->is_object()) continue;
    append_string(*function, "name", output);
    append_string(*function, "arguments", output);
  }
  return output;
}

std::string error_text(const Json& error) {
  if (error.is_object() && error.contains("message") && error["message"].is_string()) {
    return error["message"].get<std::string>();
  }
  return error.is_string() ? error.get<std::string>() : error.dump();
}

std::optional<int64_t> usage_count(const Json& usage, const char* key) {
  const auto value = usage.find(key);
  if (value == usage.end() || !value->is_number_integer()) return std::nullopt;
  return value->get<int64_t>();
}

}  // namespace

void SseParser::take_line() {
  if (line_.front() == ':') return;  // a comment (keep-alive ping)
  const std::string_view line(line_);
  if (line.substr(0, 5) != "data:") return;  // event:, id:, retry: carry nothing we measure
  std::string_view value = line.substr(5);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (has_data_) data_.push_back('\n');
  data_.append(value);
  has_data_ = true;
}

void StreamReader::consume(std::string_view bytes, double seconds_since_send) {
  parser_.feed(bytes, [&](std::string_view data) { on_event(data, seconds_since_send); });
}

void StreamReader::on_event(std::string_view data, double seconds_since_send) {
  if (!record_.error.empty() || record_.saw_done) return;
  if (data == "[DONE]") {
    record_.saw_done = true;
    return;
  }
  const Json chunk = Json::parse(data, nullptr, false);
  if (chunk.is_discarded() || !chunk.is_object()) {
    record_.error = "unreadable stream chunk: " + std::string(data.substr(0, 200));
    return;
  }
  if (const auto error = chunk.find("error"); error != chunk.end() && !error->is_null()) {
    record_.error = error_text(*error);
    return;
  }
  if (const auto choices = chunk.find("choices"); choices != chunk.end() && choices->is_array() && !choices->empty()) {
    if (!record_.first_choice_time) record_.first_choice_time = seconds_since_send;
    const std::string output = choice_output(choices->front());
    if (!output.empty()) {
      record_.output_times.push_back(seconds_since_send);
      record_.text += output;
    }
  }
  if (const auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
    if (auto count = usage_count(*usage, "completion_tokens")) record_.completion_tokens = count;
    if (auto count = usage_count(*usage, "prompt_tokens")) record_.prompt_tokens = count;
  }
}

}  // namespace hanlin::bench
