// libFuzzer target: arbitrary bytes as a chat template, compiled and rendered with a small fixed
// conversation under tight budgets. Only hanlin::Error may escape; anything else (another exception,
// a sanitizer report, a hang, a broken data_ranges invariant) crashes the fuzzer on purpose.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "text/chat_template/chat_template.h"

namespace {

const nlohmann::ordered_json& request_variables() {
  static const nlohmann::ordered_json variables = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "sys"},
      {"role": "user", "content": "hi <|im_end|> {{ x }}"},
      {"role": "assistant", "content": "<think>\nr\n</think>\n\na", "reasoning_content": "r",
       "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": [1, 2.5, null]}}}]},
      {"role": "tool", "content": "{\"ok\": true}"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "documents": null, "add_generation_prompt": true, "enable_thinking": false})");
  return variables;
}

const nlohmann::ordered_json& checkpoint_variables() {
  static const nlohmann::ordered_json variables =
      nlohmann::ordered_json::parse(R"({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})");
  return variables;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view source(reinterpret_cast<const char*>(data), size);
  hanlin::text::TemplateLimits limits;
  limits.max_steps = 200'000;  // keeps each input fast while still reaching every budget check
  limits.max_work_bytes = 8u << 20;
  limits.max_output_bytes = 1u << 20;
  try {
    auto chat_template = hanlin::text::ChatTemplate::compile(source, limits);
    hanlin::text::RenderedPrompt prompt = chat_template.render(request_variables(), checkpoint_variables());
    size_t previous_end = 0;
    for (const hanlin::text::ByteRange& range : prompt.data_ranges) {
      if (range.begin >= range.end || range.end > prompt.text.size()) __builtin_trap();
      if (previous_end != 0 && range.begin <= previous_end) __builtin_trap();  // sorted, disjoint, merged
      previous_end = range.end;
    }
  } catch (const hanlin::Error&) {
    // The expected outcome for most inputs.
  }
  return 0;
}
