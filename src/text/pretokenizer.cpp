// The Qwen2 split scanner. Each alternative of the regex is a small function returning the end
// of its match at a position (or no match); split_pretokens tries them in the regex's order.
#include "text/pretokenizer.h"

#include <array>
#include <cstdint>

#include "text/unicode.h"

namespace hanlin::text {
namespace {

constexpr size_t kNoMatch = static_cast<size_t>(-1);

constexpr std::array<CharClass, 128> make_ascii_classes() {
  std::array<CharClass, 128> classes{};
  for (int c = 0; c < 128; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      classes[c] = CharClass::kLetter;
    } else if (c >= '0' && c <= '9') {
      classes[c] = CharClass::kNumber;
    } else if ((c >= 0x09 && c <= 0x0D) || c == ' ') {
      classes[c] = CharClass::kWhitespace;
    } else {
      classes[c] = CharClass::kOther;
    }
  }
  return classes;
}

constexpr std::array<CharClass, 128> kAsciiClasses = make_ascii_classes();

struct Char {
  char32_t code_point;
  uint32_t length;
  CharClass char_class;
};

bool is_line_break(char32_t code_point) { return code_point == '\r' || code_point == '\n'; }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  size_t size() const { return text_.size(); }

  // The character at `offset` (< size()); the text is valid UTF-8, so no checks here.
  Char at(size_t offset) const {
    const auto* bytes = reinterpret_cast<const uint8_t*>(text_.data()) + offset;
    const uint8_t lead = bytes[0];
    if (lead < 0x80) return {lead, 1, kAsciiClasses[lead]};
    char32_t code_point;
    uint32_t length;
    if (lead < 0xE0) {
      code_point = (static_cast<char32_t>(lead & 0x1F) << 6) | (bytes[1] & 0x3F);
      length = 2;
    } else if (lead < 0xF0) {
      code_point = (static_cast<char32_t>(lead & 0x0F) << 12) | (static_cast<char32_t>(bytes[1] & 0x3F) << 6) |
                   (bytes[2] & 0x3F);
      length = 3;
    } else {
      code_point = (static_cast<char32_t>(lead & 0x07) << 18) | (static_cast<char32_t>(bytes[1] & 0x3F) << 12) |
                   (static_cast<char32_t>(bytes[2] & 0x3F) << 6) | (bytes[3] & 0x3F);
      length = 4;
    }
    return {code_point, length, char_class(code_point)};
  }

  bool class_at_is(size_t offset, CharClass wanted) const {
    return offset < text_.size() && at(offset).char_class == wanted;
  }

  // Alternative 1: `offset` is just after an apostrophe.
  size_t contraction_end(size_t offset) const {
    if (offset >= text_.size()) return kNoMatch;
    const char first = ascii_lower(text_[offset]);
    const char second = offset + 1 < text_.size() ? text_[offset + 1] : '\0';
    switch (first) {
      case 's': case 't': case 'm': case 'd':
        return offset + 1;
      case 'r': case 'v':
        return ascii_lower(second) == 'e' ? offset + 2 : kNoMatch;
      case 'l':
        return ascii_lower(second) == 'l' ? offset + 2 : kNoMatch;
      case '\xC5':  // U+017F LATIN SMALL LETTER LONG S case-folds to 's'
        return second == '\xBF' ? offset + 2 : kNoMatch;
      default:
        return kNoMatch;
    }
  }

  size_t run_end(size_t offset, CharClass wanted) const {
    while (offset < text_.size()) {
      const Char c = at(offset);
      if (c.char_class != wanted) break;
      offset += c.length;
    }
    return offset;
  }

  // Alternative 4 from the first [^\s\p{L}\p{N}] character: the run, then [\r\n]*.
  size_t symbols_then_line_breaks_end(size_t offset) const {
    offset = run_end(offset, CharClass::kOther);
    while (offset < text_.size() && is_line_break(static_cast<unsigned char>(text_[offset]))) ++offset;
    return offset;
  }

  // Alternatives 5–7 at the start of a whitespace run.
  size_t whitespace_end(size_t offset) const {
    size_t last_line_break_end = kNoMatch;
    size_t last_char_start = offset;
    size_t num_chars = 0;
    while (offset < text_.size()) {
      const Char c = at(offset);
      if (c.char_class != CharClass::kWhitespace) break;
      if (is_line_break(c.code_point)) last_line_break_end = offset + 1;
      last_char_start = offset;
      offset += c.length;
      ++num_chars;
    }
    if (last_line_break_end != kNoMatch) return last_line_break_end;  // \s*[\r\n]+
    if (offset == text_.size()) return offset;                         // \s+(?!\S) at the end
    if (num_chars >= 2) return last_char_start;                        // \s+(?!\S) backtracked
    return offset;                                                     // \s+
  }

  // The end of the match that starts at `offset`.
  size_t match_end(size_t offset) const {
    const Char c = at(offset);
    const size_t next = offset + c.length;
    if (c.code_point == '\'') {
      const size_t end = contraction_end(next);
      if (end != kNoMatch) return end;
    }
    switch (c.char_class) {
      case CharClass::kLetter:
        return run_end(next, CharClass::kLetter);
      case CharClass::kNumber:
        return next;
      case CharClass::kOther:
        if (class_at_is(next, CharClass::kLetter)) return run_end(next, CharClass::kLetter);
        return symbols_then_line_breaks_end(offset);
      case CharClass::kWhitespace:
        if (!is_line_break(c.code_point) && class_at_is(next, CharClass::kLetter)) {
          return run_end(next, CharClass::kLetter);
        }
        if (c.code_point == ' ' && class_at_is(next, CharClass::kOther)) {
          return symbols_then_line_breaks_end(next);
        }
        return whitespace_end(offset);
    }
    return next;
  }

 private:
  std::string_view text_;
};

}  // namespace

void split_pretokens(std::string_view text, std::vector<size_t>& piece_ends) {
  const Scanner scanner(text);
  size_t offset = 0;
  while (offset < scanner.size()) {
    offset = scanner.match_end(offset);
    piece_ends.push_back(offset);
  }
}

}  // namespace hanlin::text
