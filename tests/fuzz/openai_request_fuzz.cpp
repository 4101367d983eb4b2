// libFuzzer target for the request bodies `hanlin serve` reads: any bytes go through body
// parsing, the chat and completion field readers, and the chat-template variable conversion
// with the Qwen3 template. Only hanlin::Error may come out (a 400, never a crash), and an
// accepted request's numbers are what the engine's validation then checks.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/error.h"
#include "server/openai_request.h"
#include "text/chat_template/chat_template.h"
#include "text/chat_template/render_context.h"

namespace {

// A small template in Qwen's shape: enough to walk messages, tools and tool calls.
const hanlin::text::ChatTemplate& chat_template() {
  static const hanlin::text::ChatTemplate compiled = hanlin::text::ChatTemplate::compile(
      "{%- if tools %}{{- tools | tojson }}{%- endif %}"
      "{%- for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}"
      "{%- if message.tool_calls %}{%- for call in message.tool_calls %}{{ call.function.name }}"
      "{{ call.function.arguments | tojson }}{%- endfor %}{%- endif %}<|im_end|>\n{%- endfor %}"
      "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}");
  return compiled;
}

template <class Parse>
void try_parse(Parse parse) {
  try {
    parse();
  } catch (const hanlin::Error&) {
    // A clear 400: fine.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::optional<hanlin::server::Json> body;
  try_parse([&] { body = hanlin::server::parse_body(text); });
  if (!body) return 0;
  try_parse([&] { (void)hanlin::server::parse_completion_params(*body, {}); });
  try_parse([&] {
    (void)hanlin::server::parse_chat_params(*body, {});
    (void)chat_template().render(hanlin::text::chat_template_variables(*body));
  });
  return 0;
}
