// Decoding of string and number literals in chat templates.
#include "text/chat_template/literals.h"

#include <charconv>
#include <cstdlib>

#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(c | 0x20);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// raw[i] is the escape letter (x, u or U); reads `digits` hex digits after it.
bool append_hex_escape(std::string& out, std::string_view raw, size_t& i, int digits, std::string& error) {
  char letter = raw[i];
  char32_t value = 0;
  for (int d = 0; d < digits; ++d) {
    int v = i + 1 < raw.size() ? hex_value(raw[i + 1]) : -1;
    if (v < 0) {
      error = std::string("truncated \\") + letter + " escape in a string";
      return false;
    }
    value = value * 16 + static_cast<char32_t>(v);
    ++i;
  }
  if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    error = "string escape outside Unicode's range";
    return false;
  }
  append_utf8(out, value);
  return true;
}

// raw[i] is the first of up to three octal digits.
void append_octal_escape(std::string& out, std::string_view raw, size_t& i) {
  char32_t value = 0;
  for (size_t digits = 0; digits < 3 && i < raw.size() && raw[i] >= '0' && raw[i] <= '7'; ++digits, ++i) {
    value = value * 8 + static_cast<char32_t>(raw[i] - '0');
  }
  --i;
  append_utf8(out, value);
}

char simple_escape(char c) {
  switch (c) {
    case '\\':
      return '\\';
    case '\'':
      return '\'';
    case '"':
      return '"';
    case 'a':
      return '\a';
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'v':
      return '\v';
    default:
      return 0;
  }
}

std::string without_underscores(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != '_') out.push_back(c);
  }
  return out;
}

}  // namespace

std::optional<std::string> decode_string_literal(std::string_view quoted, std::string& error) {
  std::string_view raw = quoted.substr(1, quoted.size() - 2);
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      out.push_back(raw[i]);
      continue;
    }
    char c = raw[++i];
    if (c == '\n') continue;  // a backslash before a newline continues the line
    if (char simple = simple_escape(c)) {
      out.push_back(simple);
    } else if (c == 'x' || c == 'u' || c == 'U') {
      if (!append_hex_escape(out, raw, i, c == 'x' ? 2 : c == 'u' ? 4 : 8, error)) return std::nullopt;
    } else if (c == 'N') {
      error = "\\N{...} escapes are not supported in chat templates";
      return std::nullopt;
    } else if (c >= '0' && c <= '7') {
      append_octal_escape(out, raw, i);
    } else {  // an unknown escape keeps its backslash, as in Python
      out.push_back('\\');
      out.push_back(c);
    }
  }
  return out;
}

std::optional<int64_t> integer_literal_value(std::string_view text) {
  std::string digits = without_underscores(text);
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0') {
    char prefix = static_cast<char>(digits[1] | 0x20);
    base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : prefix == 'x' ? 16 : 10;
    if (base != 10) digits = digits.substr(2);
  }
  int64_t value = 0;
  auto result = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (result.ec != std::errc() || result.ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

double float_literal_value(std::string_view text) {
  return std::strtod(without_underscores(text).c_str(), nullptr);
}

}  // namespace hanlin::text::jinja
