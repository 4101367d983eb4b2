// Helpers shared by the chat-template tests: render a template source with a JSON context.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "text/chat_template/chat_template.h"

namespace hanlin::text::testing {

inline nlohmann::ordered_json parse_context(std::string_view json) {
  return nlohmann::ordered_json::parse(json);
}

// Renders `source` with the variables of `context_json` (all request data).
inline RenderedPrompt render_prompt(std::string_view source, std::string_view context_json = "{}",
                                    TemplateLimits limits = {}) {
  return ChatTemplate::compile(source, limits).render(parse_context(context_json));
}

inline std::string render(std::string_view source, std::string_view context_json = "{}") {
  return render_prompt(source, context_json).text;
}

// The Error compiling or rendering throws, or nullopt when it succeeds.
inline std::optional<Error> render_error(std::string_view source, std::string_view context_json = "{}",
                                         TemplateLimits limits = {}) {
  try {
    render_prompt(source, context_json, limits);
  } catch (const Error& error) {
    return error;
  }
  return std::nullopt;
}

}  // namespace hanlin::text::testing
