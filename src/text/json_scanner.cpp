// The incremental JSON scanner: a byte-driven state machine with an explicit container stack
// (no recursion, so deep nesting costs memory in proportion to the text, never stack).
#include "text/json_scanner.h"

#include <optional>

#include "text/utf8.h"

namespace hanlin::text {
namespace {

bool is_json_space(char byte) {
  return byte == ' ' || byte == '\t' || byte == '\n' || byte == '\r';
}
bool is_digit(char byte) {
  return byte >= '0' && byte <= '9';
}

std::optional<uint32_t> hex_value(char byte) {
  if (byte >= '0' && byte <= '9') return byte - '0';
  if (byte >= 'a' && byte <= 'f') return byte - 'a' + 10;
  if (byte >= 'A' && byte <= 'F') return byte - 'A' + 10;
  return std::nullopt;
}

// The byte a one-character escape (\n, \", …) stands for; nullopt for anything else.
std::optional<char> simple_escape(char byte) {
  switch (byte) {
    case '"':
      return '"';
    case '\\':
      return '\\';
    case '/':
      return '/';
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
    default:
      return std::nullopt;
  }
}

}  // namespace

JsonStep JsonScanner::feed(char byte) {
  if (expect_ == Expect::kDone || expect_ == Expect::kFailed) return JsonStep{.is_valid = false};
  JsonStep step;
  step.in_value = in_member_value_;
  if (!dispatch(byte, step)) {
    expect_ = Expect::kFailed;
    return JsonStep{.is_valid = false};
  }
  return step;
}

bool JsonScanner::dispatch(char byte, JsonStep& step) {
  switch (expect_) {
    case Expect::kObjectStart:
      return on_object_start(byte);
    case Expect::kKeyOrEnd:
      return on_key(byte, /*may_close=*/true, step);
    case Expect::kKey:
      return on_key(byte, /*may_close=*/false, step);
    case Expect::kColon:
      return on_colon(byte);
    case Expect::kValue:
      return on_value(byte, /*may_close=*/false, step);
    case Expect::kValueOrEnd:
      return on_value(byte, /*may_close=*/true, step);
    case Expect::kCommaOrEnd:
      return on_comma_or_end(byte, step);
    case Expect::kString:
      return on_string(byte, step);
    case Expect::kNumber:
      return on_number(byte, step);
    case Expect::kLiteral:
      return on_literal(byte, step);
    case Expect::kDone:
    case Expect::kFailed:
      return false;
  }
  return false;
}

bool JsonScanner::on_object_start(char byte) {
  if (is_json_space(byte)) return true;
  if (byte != '{') return false;
  open_container('{');
  return true;
}

bool JsonScanner::on_key(char byte, bool may_close, JsonStep& step) {
  if (is_json_space(byte)) return true;
  if (byte == '"') {
    start_string(/*is_key=*/true);
    return true;
  }
  return may_close && byte == '}' && close_container(byte, step);
}

bool JsonScanner::on_colon(char byte) {
  if (is_json_space(byte)) return true;
  if (byte != ':') return false;
  expect_ = Expect::kValue;
  return true;
}

bool JsonScanner::on_value(char byte, bool may_close, JsonStep& step) {
  if (is_json_space(byte)) return true;
  if (may_close && byte == ']') return close_container(byte, step);
  return start_value(byte, step);
}

bool JsonScanner::on_comma_or_end(char byte, JsonStep& step) {
  if (is_json_space(byte)) return true;
  if (byte == ',') {
    expect_ = containers_.back() == '{' ? Expect::kKey : Expect::kValue;
    return true;
  }
  return (byte == '}' || byte == ']') && close_container(byte, step);
}

// Where the number goes with one more byte; nullopt when the byte cannot continue it.
std::optional<JsonScanner::NumberPart> JsonScanner::next_number_part(char byte) const {
  const bool is_exponent_mark = byte == 'e' || byte == 'E';
  switch (number_part_) {
    case NumberPart::kSign:
      if (byte == '0') return NumberPart::kZero;
      if (is_digit(byte)) return NumberPart::kInteger;
      return std::nullopt;
    case NumberPart::kInteger:
      if (is_digit(byte)) return NumberPart::kInteger;
      [[fallthrough]];
    case NumberPart::kZero:
      if (byte == '.') return NumberPart::kPoint;
      if (is_exponent_mark) return NumberPart::kExponent;
      return std::nullopt;
    case NumberPart::kPoint:
    case NumberPart::kFraction:
      if (is_digit(byte)) return NumberPart::kFraction;
      if (is_exponent_mark && number_part_ == NumberPart::kFraction) return NumberPart::kExponent;
      return std::nullopt;
    case NumberPart::kExponent:
      if (byte == '+' || byte == '-') return NumberPart::kExponentSign;
      [[fallthrough]];
    case NumberPart::kExponentSign:
    case NumberPart::kExponentDigits:
      if (is_digit(byte)) return NumberPart::kExponentDigits;
      return std::nullopt;
  }
  return std::nullopt;
}

// A number ends at the first byte that cannot continue it, which is then scanned as what
// follows the value (a comma, a bracket, whitespace).
bool JsonScanner::on_number(char byte, JsonStep& step) {
  if (const std::optional<NumberPart> next = next_number_part(byte)) {
    number_part_ = *next;
    return true;
  }
  const bool can_end = number_part_ == NumberPart::kZero || number_part_ == NumberPart::kInteger ||
                       number_part_ == NumberPart::kFraction || number_part_ == NumberPart::kExponentDigits;
  if (!can_end) return false;
  if (containers_.size() == 1) step.in_value = false;  // the delimiter is not part of a member's number
  end_value(step);
  return on_comma_or_end(byte, step);
}

bool JsonScanner::on_literal(char byte, JsonStep& step) {
  if (byte != literal_[literal_matched_]) return false;
  if (++literal_matched_ == literal_length_) end_value(step);
  return true;
}

bool JsonScanner::start_value(char byte, JsonStep& step) {
  const bool is_member = containers_.size() == 1;
  if (byte == '{' || byte == '[') {
    open_container(byte);
  } else if (byte == '"') {
    start_string(/*is_key=*/false);
  } else if (byte == '-' || is_digit(byte)) {
    expect_ = Expect::kNumber;
    number_part_ = byte == '-' ? NumberPart::kSign : byte == '0' ? NumberPart::kZero : NumberPart::kInteger;
  } else if (byte == 't' || byte == 'f' || byte == 'n') {
    expect_ = Expect::kLiteral;
    literal_ = byte == 't' ? "true" : byte == 'f' ? "false" : "null";
    literal_length_ = byte == 'f' ? 5 : 4;
    literal_matched_ = 1;
  } else {
    return false;
  }
  if (is_member) {
    in_member_value_ = true;
    step.starts_value = true;
    step.in_value = true;
  }
  return true;
}

void JsonScanner::open_container(char bracket) {
  containers_.push_back(bracket);
  expect_ = bracket == '{' ? Expect::kKeyOrEnd : Expect::kValueOrEnd;
}

bool JsonScanner::close_container(char bracket, JsonStep& step) {
  const char opener = bracket == '}' ? '{' : '[';
  if (containers_.empty() || containers_.back() != opener) return false;
  containers_.pop_back();
  if (containers_.empty()) {
    expect_ = Expect::kDone;
    step.ends_object = true;
    return true;
  }
  end_value(step);  // the closed container was itself a value of the one around it
  return true;
}

void JsonScanner::end_value(JsonStep& step) {
  if (containers_.size() == 1 && in_member_value_) {
    step.ends_value = true;
    in_member_value_ = false;
  }
  expect_ = Expect::kCommaOrEnd;
}

void JsonScanner::start_string(bool is_key) {
  expect_ = Expect::kString;
  string_is_key_ = is_key;
  escape_ = Escape::kNone;
  high_surrogate_ = 0;
  if (is_decoding()) string_.clear();
}

bool JsonScanner::on_string(char byte, JsonStep& step) {
  if (escape_ == Escape::kBackslash) return on_escape(byte);
  if (escape_ == Escape::kUnicode) return on_unicode_digit(byte);
  if (byte == '\\') {
    escape_ = Escape::kBackslash;  // a waiting high surrogate may still meet its \u pair
    return true;
  }
  flush_high_surrogate();
  if (static_cast<unsigned char>(byte) < 0x20) return false;  // raw control characters
  if (byte != '"') {
    if (is_decoding()) string_.push_back(byte);
    return true;
  }
  if (!string_is_key_) {
    end_value(step);
    return true;
  }
  step.ends_key = is_decoding();
  expect_ = Expect::kColon;
  return true;
}

bool JsonScanner::on_escape(char byte) {
  escape_ = Escape::kNone;
  if (byte == 'u') {
    escape_ = Escape::kUnicode;
    num_hex_digits_ = 0;
    code_unit_ = 0;
    return true;
  }
  const std::optional<char> decoded = simple_escape(byte);
  if (!decoded) return false;
  flush_high_surrogate();
  if (is_decoding()) string_.push_back(*decoded);
  return true;
}

bool JsonScanner::on_unicode_digit(char byte) {
  const std::optional<uint32_t> digit = hex_value(byte);
  if (!digit) return false;
  code_unit_ = code_unit_ * 16 + *digit;
  if (++num_hex_digits_ < 4) return true;
  escape_ = Escape::kNone;
  append_code_unit(code_unit_);
  return true;
}

// UTF-16 code units from \u escapes: a high surrogate waits for the low one that completes it.
void JsonScanner::append_code_unit(uint32_t unit) {
  const bool is_high = unit >= 0xD800 && unit < 0xDC00;
  const bool is_low = unit >= 0xDC00 && unit < 0xE000;
  if (is_low && high_surrogate_ != 0) {
    const uint32_t code_point = 0x10000 + ((high_surrogate_ - 0xD800) << 10) + (unit - 0xDC00);
    high_surrogate_ = 0;
    append_decoded(code_point);
    return;
  }
  flush_high_surrogate();
  if (is_high) {
    high_surrogate_ = unit;
  } else {
    append_decoded(is_low ? kReplacementChar : unit);
  }
}

void JsonScanner::flush_high_surrogate() {
  if (high_surrogate_ == 0) return;
  high_surrogate_ = 0;
  append_decoded(kReplacementChar);
}

void JsonScanner::append_decoded(uint32_t code_point) {
  if (is_decoding()) append_utf8(string_, static_cast<char32_t>(code_point));
}

}  // namespace hanlin::text
