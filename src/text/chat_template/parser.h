// Parses chat-template tokens into the syntax tree (ast.h), following jinja2's grammar: operator
// precedence, filters and tests, and the statements chat templates use (if, for, set, macro,
// call, filter, with, break/continue, generation).
#pragma once

#include <string_view>
#include <vector>

#include "text/chat_template/ast.h"
#include "text/chat_template/lexer.h"

namespace hanlin::text::jinja {

// Interned identifiers: ids are indexes into `names`.
struct NameTable {
  std::vector<std::string_view> names;
  int intern(std::string_view name);
  int find(std::string_view name) const;  // -1 when the template never uses it
};

struct ParsedTemplate {
  Body body;
  NameTable names;
};

// Nesting (of blocks, brackets and operators) deeper than this is refused, so parsing and
// evaluation can never exhaust the stack.
inline constexpr int kMaxParseNesting = 200;

// Throws Error(kInvalidFile) with the line and column of the first syntax error.
ParsedTemplate parse_template(std::string_view source, const std::vector<Token>& tokens);

}  // namespace hanlin::text::jinja
