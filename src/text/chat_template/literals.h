// Values of literal tokens in chat templates: strings with Python's escape rules, and integer and
// float literals with jinja2's syntax (underscores, 0b/0o/0x prefixes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hanlin::text::jinja {

// Decodes a quoted literal ('...' or "...") the way Python's unicode-escape codec does; unknown
// escapes keep their backslash. Sets `error` and returns nullopt for a malformed escape.
std::optional<std::string> decode_string_literal(std::string_view quoted, std::string& error);

// nullopt when the value does not fit in 64 bits.
std::optional<int64_t> integer_literal_value(std::string_view text);
double float_literal_value(std::string_view text);

}  // namespace hanlin::text::jinja
