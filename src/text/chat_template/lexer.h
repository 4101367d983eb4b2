// Splits a chat template into tokens the way jinja2's lexer does with the settings transformers
// uses (trim_blocks=True, lstrip_blocks=True): text between tags, {{ }} and {% %} tags with
// their expression tokens, comments dropped, whitespace control (-, +) applied, {% raw %} kept.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hanlin::text::jinja {

enum class TokenKind : uint8_t {
  kText,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEnd,
};

struct Token {
  TokenKind kind;
  std::string_view text;  // a view of the normalised source
  uint32_t offset;        // where it starts in the normalised source, for error messages
};

// jinja2 reads a template with every \r\n and \r turned into \n and, without
// keep_trailing_newline, one final newline dropped.
std::string normalize_template_source(std::string_view source);

// Tokens of a normalised source, ending with kEnd. Throws Error(kInvalidFile) naming the line and
// column of the first thing it cannot read.
std::vector<Token> tokenize(std::string_view source);

// Throws Error(kInvalidFile, "chat template line L, column C: message").
[[noreturn]] void throw_syntax_error(std::string_view source, uint32_t offset, const std::string& message);

}  // namespace hanlin::text::jinja
