// The chat-template lexer: a hand-written scanner with the semantics of jinja2's regex lexer.
#include "text/chat_template/lexer.h"

#include "core/error.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

std::string normalize_template_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void throw_syntax_error(std::string_view source, uint32_t offset, const std::string& message) {
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  size_t column = count_code_points(source.substr(line_start, offset - line_start)) + 1;
  throw Error(ErrorKind::kInvalidFile, "chat template line " + std::to_string(line) + ", column " +
                                           std::to_string(column) + ": " + message);
}

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

// Length of Python whitespace (\s) at text[pos...].
size_t space_length_at(std::string_view text, size_t pos) {
  size_t next = pos;
  char32_t c = decode_utf8(text, next);
  return is_python_space(c) ? next - pos : 0;
}

std::string_view rstrip_python_space(std::string_view text) {
  size_t keep = 0;  // the end of the last code point that is not whitespace
  for (size_t pos = 0; pos < text.size();) {
    if (!is_python_space(decode_utf8(text, pos))) keep = pos;
  }
  return text.substr(0, keep);
}

bool is_all_space(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    if (!is_python_space(decode_utf8(text, pos))) return false;
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : source_(source) {}

  std::vector<Token> run() {
    while (pos_ < source_.size()) lex_text_and_tag();
    tokens_.push_back({TokenKind::kEnd, {}, static_cast<uint32_t>(source_.size())});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(size_t offset, const std::string& message) {
    throw_syntax_error(source_, static_cast<uint32_t>(offset), message);
  }

  void emit(TokenKind kind, size_t begin, size_t end) {
    tokens_.push_back({kind, source_.substr(begin, end - begin), static_cast<uint32_t>(begin)});
  }

  size_t find_tag(size_t from) const {
    for (size_t i = source_.find('{', from); i != std::string_view::npos; i = source_.find('{', i + 1)) {
      if (i + 1 < source_.size() && (source_[i + 1] == '{' || source_[i + 1] == '%' || source_[i + 1] == '#'))
        return i;
    }
    return std::string_view::npos;
  }

  // Applies the whitespace control of a tag that opens with `sign` to the text before it.
  std::string_view control_text_before(std::string_view text, char sign, bool is_variable) const {
    if (sign == '-') return rstrip_python_space(text);
    if (sign == '+' || is_variable) return text;
    // lstrip_blocks: drop spaces and tabs between the start of the line and a block or comment.
    size_t line_start = text.rfind('\n');
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    if ((line_start > 0 || line_starting_) && line_start < text.size() &&
        is_all_space(text.substr(line_start))) {
      return text.substr(0, line_start);
    }
    return text;
  }

  void emit_text(size_t begin, std::string_view text) {
    if (!text.empty()) tokens_.push_back({TokenKind::kText, text, static_cast<uint32_t>(begin)});
  }

  void lex_text_and_tag() {
    size_t tag = find_tag(pos_);
    if (tag == std::string_view::npos) {
      emit_text(pos_, source_.substr(pos_));
      pos_ = source_.size();
      return;
    }
    char kind = source_[tag + 1];
    char sign = tag + 2 < source_.size() && (source_[tag + 2] == '-' || source_[tag + 2] == '+')
                    ? source_[tag + 2]
                    : 0;
    size_t raw_content = kind == '%' ? match_raw_begin(tag + 2 + (sign ? 1 : 0)) : std::string_view::npos;
    emit_text(pos_, control_text_before(source_.substr(pos_, tag - pos_), sign, kind == '{'));
    pos_ = tag + 2 + (sign ? 1 : 0);
    if (raw_content != std::string_view::npos) {
      lex_raw(tag, raw_content);
    } else if (kind == '#') {
      lex_comment(tag);
    } else {
      lex_tag(tag, kind == '{');
    }
  }

  // After "{%" and its sign: `\s* raw \s* (-%}\s* | %})`. Returns where the raw text starts.
  size_t match_raw_begin(size_t at) {
    size_t p = skip_spaces(at);
    if (source_.compare(p, 3, "raw") != 0 || (p + 3 < source_.size() && is_name_char(source_[p + 3]))) {
      return std::string_view::npos;
    }
    p = skip_spaces(p + 3);
    if (source_.compare(p, 3, "-%}") == 0) {
      size_t end = skip_spaces(p + 3);
      set_line_starting(p + 3, end);
      return end;
    }
    if (source_.compare(p, 2, "%}") == 0) {
      set_line_starting(p, p + 2);
      return p + 2;
    }
    return std::string_view::npos;
  }

  size_t skip_spaces(size_t p) const {
    while (p < source_.size()) {
      size_t length = space_length_at(source_, p);
      if (length == 0) break;
      p += length;
    }
    return p;
  }

  void set_line_starting(size_t match_begin, size_t match_end) {
    line_starting_ = match_end > match_begin && source_[match_end - 1] == '\n';
  }

  void lex_raw(size_t tag, size_t content) {
    for (size_t p = source_.find("{%", content); p != std::string_view::npos; p = source_.find("{%", p + 1)) {
      size_t after = p + 2;
      char sign =
          after < source_.size() && (source_[after] == '-' || source_[after] == '+') ? source_[after] : 0;
      size_t q = skip_spaces(after + (sign ? 1 : 0));
      if (source_.compare(q, 6, "endraw") != 0) continue;
      q = skip_spaces(q + 6);
      size_t end = match_tag_end(q, '%');
      if (end == std::string_view::npos) continue;
      emit_text(content, control_text_before(source_.substr(content, p - content), sign, false));
      set_line_starting(q, end);
      pos_ = end;
      return;
    }
    fail(tag, "missing end of raw directive");
  }

  // At `p`, the end of a tag closing with `delimiter` ('%' for %}, '}' for }}) and its whitespace
  // control; returns the position after it (and any whitespace it removes), or npos.
  size_t match_tag_end(size_t p, char delimiter) {
    auto at = [&](size_t q, std::string_view text) { return source_.compare(q, text.size(), text) == 0; };
    std::string end = std::string(1, delimiter) + "}";
    if (at(p, "-" + end)) return skip_spaces(p + 3);
    if (delimiter == '%' && at(p, "+" + end)) return p + 3;
    if (at(p, end)) {
      size_t after = p + 2;
      bool trims_newline = delimiter == '%' || delimiter == '#';  // trim_blocks
      if (trims_newline && after < source_.size() && source_[after] == '\n') ++after;
      return after;
    }
    return std::string_view::npos;
  }

  void lex_comment(size_t tag) {
    for (size_t p = source_.find("#}", pos_); p != std::string_view::npos; p = source_.find("#}", p + 1)) {
      size_t begin = p;
      if (p > pos_ && (source_[p - 1] == '-' || source_[p - 1] == '+')) begin = p - 1;
      size_t end = match_tag_end(begin, '#');
      if (end == std::string_view::npos) continue;
      set_line_starting(begin, end);
      pos_ = end;
      return;
    }
    fail(tag, "missing end of comment tag");
  }

  void lex_tag(size_t tag, bool is_variable) {
    emit(is_variable ? TokenKind::kVariableBegin : TokenKind::kBlockBegin, tag, pos_);
    char delimiter = is_variable ? '}' : '%';
    int open_brackets = 0;
    while (true) {
      if (pos_ >= source_.size()) {
        fail(tag, is_variable ? "unexpected end of template, expected '}}'"
                              : "unexpected end of template, expected '%}'");
      }
      if (open_brackets == 0) {
        size_t end = match_tag_end(pos_, delimiter);
        if (end != std::string_view::npos) {
          size_t marker = source_[pos_] == '-' || source_[pos_] == '+' ? pos_ + 1 : pos_;
          emit(is_variable ? TokenKind::kVariableEnd : TokenKind::kBlockEnd, marker, marker + 2);
          set_line_starting(pos_, end);
          pos_ = end;
          return;
        }
      }
      size_t spaces = space_length_at(source_, pos_);
      if (spaces > 0) {
        pos_ += spaces;
        continue;
      }
      lex_expression_token(open_brackets);
    }
  }

  // `(\d+_)*\d+` at p: the end, or npos.
  size_t match_digits(size_t p) const {
    if (p >= source_.size() || !is_digit(source_[p])) return std::string_view::npos;
    while (true) {
      while (p < source_.size() && is_digit(source_[p])) ++p;
      if (p + 1 < source_.size() && source_[p] == '_' && is_digit(source_[p + 1])) {
        ++p;
        continue;
      }
      return p;
    }
  }

  size_t match_float(size_t p) const {
    if (p > 0 && source_[p - 1] == '.') return std::string_view::npos;
    size_t q = match_digits(p);
    if (q == std::string_view::npos) return q;
    size_t fraction = std::string_view::npos;
    if (q < source_.size() && source_[q] == '.') fraction = match_digits(q + 1);
    size_t mantissa_end = fraction != std::string_view::npos ? fraction : q;
    if (mantissa_end < source_.size() && (source_[mantissa_end] == 'e' || source_[mantissa_end] == 'E')) {
      size_t e = mantissa_end + 1;
      if (e < source_.size() && (source_[e] == '+' || source_[e] == '-')) ++e;
      size_t exponent_end = match_digits(e);
      if (exponent_end != std::string_view::npos) return exponent_end;
    }
    return fraction;
  }

  size_t match_integer(size_t p) const {
    auto is_in_base = [](char c, int base) {
      if (base == 2) return c == '0' || c == '1';
      if (base == 8) return c >= '0' && c <= '7';
      return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    };
    if (source_[p] == '0' && p + 1 < source_.size()) {
      char prefix = static_cast<char>(source_[p + 1] | 0x20);
      int base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : prefix == 'x' ? 16 : 0;
      if (base != 0) {
        size_t q = p + 2;
        size_t end = std::string_view::npos;
        while (true) {
          size_t r = q < source_.size() && source_[q] == '_' ? q + 1 : q;
          if (r >= source_.size() || !is_in_base(source_[r], base)) break;
          q = end = r + 1;
        }
        if (end != std::string_view::npos) return end;
      }
    }
    char digit = source_[p];
    if (!is_digit(digit)) return std::string_view::npos;
    size_t q = p + 1;
    while (true) {
      size_t r = q < source_.size() && source_[q] == '_' ? q + 1 : q;
      if (r >= source_.size() || !is_digit(source_[r]) || (digit == '0' && source_[r] != '0')) break;
      q = r + 1;
    }
    return q;
  }

  size_t match_string(size_t p) const {
    char quote = source_[p];
    for (size_t q = p + 1; q < source_.size(); ++q) {
      if (source_[q] == '\\') {
        ++q;
      } else if (source_[q] == quote) {
        return q + 1;
      }
    }
    return std::string_view::npos;
  }

  size_t match_operator(size_t p) const {
    static constexpr std::string_view kTwoChar[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwoChar) {
      if (source_.compare(p, 2, op) == 0) return p + 2;
    }
    static constexpr std::string_view kOneChar = "+-/*%~[](){}><=.:|,;";
    return kOneChar.find(source_[p]) != std::string_view::npos ? p + 1 : std::string_view::npos;
  }

  void lex_expression_token(int& open_brackets) {
    char c = source_[pos_];
    size_t end;
    if ((end = match_float(pos_)) != std::string_view::npos) {
      emit(TokenKind::kFloat, pos_, end);
    } else if (is_digit(c)) {
      end = match_integer(pos_);
      emit(TokenKind::kInteger, pos_, end);
    } else if (is_name_start(c)) {
      end = pos_ + 1;
      while (end < source_.size() && is_name_char(source_[end])) ++end;
      emit(TokenKind::kName, pos_, end);
    } else if (c == '\'' || c == '"') {
      end = match_string(pos_);
      if (end == std::string_view::npos) fail(pos_, "unterminated string");
      emit(TokenKind::kString, pos_, end);
    } else if ((end = match_operator(pos_)) != std::string_view::npos) {
      if (c == '(' || c == '[' || c == '{') ++open_brackets;
      if ((c == ')' || c == ']' || c == '}') && end == pos_ + 1) {
        if (open_brackets == 0) fail(pos_, std::string("unexpected '") + c + "'");
        --open_brackets;
      }
      emit(TokenKind::kOperator, pos_, end);
    } else {
      size_t next = pos_;
      decode_utf8(source_, next);
      fail(pos_, "unexpected char '" + std::string(source_.substr(pos_, next - pos_)) + "'");
    }
    pos_ = end;
  }

  std::string_view source_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  return Lexer(source).run();
}

}  // namespace hanlin::text::jinja
