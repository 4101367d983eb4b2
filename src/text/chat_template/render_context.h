// The variables a chat template renders with, from an OpenAI chat-completions request body
// (request data) and from a checkpoint's tokenizer_config.json (its special tokens).
//
// The request conversion is deliberately simple, and tests/reference/make_template_fixtures.py
// applies the same one before calling transformers' apply_chat_template:
//   - each message is copied with its fields in order, then
//       content: a string stays; null or missing becomes ""; an array of parts becomes the texts
//         of its {"type": "text", "text": ...} parts joined with "\n" (as vLLM does for
//         text-only models); any other part type is refused;
//       tool_calls[i].function.arguments: a string holding valid JSON is replaced by the parsed
//         value (Qwen templates print `arguments | tojson`), other strings stay; null, missing or
//         "" become {} (as vLLM does);
//   - tools: passed as they are (null when missing, as transformers passes tools=None);
//   - add_generation_prompt: a bool, true when missing;
//   - chat_template_kwargs: its keys become top-level variables (e.g. enable_thinking).
#pragma once

#include <nlohmann/json.hpp>

namespace hanlin::text {

// Throws Error(kInvalidArgument) naming the field when the body has a wrong type or shape.
nlohmann::ordered_json chat_template_variables(const nlohmann::ordered_json& request);

// bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token (strings, or
// AddedToken objects with "content") and additional_special_tokens, as transformers passes them.
nlohmann::ordered_json checkpoint_template_variables(const nlohmann::ordered_json& tokenizer_config);

}  // namespace hanlin::text
