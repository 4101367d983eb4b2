// A checkpoint's chat template (the Jinja2 `chat_template` of tokenizer_config.json), compiled
// once and rendered many times into the exact prompt text Hugging Face's apply_chat_template
// produces. The interpreter is sandboxed: it sees only the values it is given, and budgets on
// steps, text, output size and call depth end a runaway template with an Error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hanlin::text {

namespace jinja {
struct CompiledTemplate;
}

// A byte range [begin, end) of rendered text.
struct ByteRange {
  size_t begin;
  size_t end;
};

struct RenderedPrompt {
  std::string text;
  // The bytes of `text` that came from request data (message contents, tool schemas and
  // arguments, dict keys, ...) rather than from the template or the checkpoint: sorted, disjoint.
  // A tokenizer must not recognise a special token that overlaps one of them, so a user who
  // types "<|im_end|>" cannot inject a control token.
  std::vector<ByteRange> data_ranges;
};

struct TemplateLimits {
  uint64_t max_steps = 10'000'000;         // statements, expressions and loop iterations
  uint64_t max_work_bytes = 256ull << 20;  // all text built while rendering
  size_t max_output_bytes = 16u << 20;     // the rendered text, and any one string
  int max_call_depth = 64;                 // nested macro calls
};

class ChatTemplate {
 public:
  // Parses `source`. Throws Error(kInvalidFile, "chat template line L, column C: ...") when it
  // is not a template this interpreter can run.
  static ChatTemplate compile(std::string_view source, TemplateLimits limits = {});

  // Renders with the top-level variables of two JSON objects: `request_variables` (messages,
  // tools, add_generation_prompt, chat_template_kwargs; every string in it is request data) and
  // `checkpoint_variables` (bos_token, eos_token, ... from the checkpoint: trusted text). A name
  // in both takes the request's value, as in transformers. Objects keep their key order (hence
  // ordered_json: tojson must print keys as the client sent them). Throws Error naming the
  // template line: kInvalidArgument when the template fails on this input (including
  // raise_exception(message)), kResourceExhausted when a budget runs out. Thread-safe.
  RenderedPrompt render(
      const nlohmann::ordered_json& request_variables,
      const nlohmann::ordered_json& checkpoint_variables = nlohmann::ordered_json::object()) const;

 private:
  ChatTemplate(std::shared_ptr<const jinja::CompiledTemplate> compiled, TemplateLimits limits)
      : compiled_(std::move(compiled)), limits_(limits) {}
  std::shared_ptr<const jinja::CompiledTemplate> compiled_;
  TemplateLimits limits_;
};

}  // namespace hanlin::text
