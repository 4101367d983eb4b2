// An incremental JSON scanner for one top-level object, fed a byte at a time: it validates the
// text as it arrives and tells where each top-level member's key and value begin and end, so a
// caller can stream one member's raw value while the rest of the object is still being written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hanlin::text {

// What one byte was, as far as the members of the top-level object go.
struct JsonStep {
  bool is_valid = true;       // false: no JSON object begins like this; the scanner stays failed
  bool starts_value = false;  // the first byte of a top-level member's value
  bool in_value = false;      // a byte of a top-level member's value (its raw text)
  bool ends_key = false;      // closes a top-level key: string_value() holds it, decoded
  // The member's value is complete: with this byte when in_value is set, else just before it (a
  // number ends at the byte that follows it). A string value is in string_value(), decoded.
  bool ends_value = false;
  bool ends_object = false;  // closes the top-level object: the document is complete
};

class JsonScanner {
 public:
  // Leading whitespace, then exactly one object (RFC 8259 grammar; bytes ≥ 0x80 inside strings
  // are taken as they are). Feeding a byte after the object closed or after a failure returns
  // an invalid step.
  JsonStep feed(char byte);

  bool is_complete() const { return expect_ == Expect::kDone; }
  // The decoded text of the top-level key or string value being scanned; it grows only by whole
  // characters (a \uD83D waits for its low surrogate; a lone surrogate decodes to U+FFFD).
  const std::string& string_value() const { return string_; }

 private:
  enum class Expect : uint8_t {
    kObjectStart,  // whitespace, then '{'
    kKeyOrEnd,     // just after '{'
    kKey,          // after ',' in an object
    kColon,
    kValue,       // after ':', or after ',' in an array
    kValueOrEnd,  // just after '['
    kCommaOrEnd,  // after a value
    kString,
    kNumber,
    kLiteral,
    kDone,
    kFailed,
  };
  // Where a number is, in the grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  enum class NumberPart : uint8_t {
    kSign,
    kZero,
    kInteger,
    kPoint,
    kFraction,
    kExponent,
    kExponentSign,
    kExponentDigits,
  };

  bool dispatch(char byte, JsonStep& step);
  bool on_object_start(char byte);
  bool on_key(char byte, bool may_close, JsonStep& step);
  bool on_colon(char byte);
  bool on_value(char byte, bool may_close, JsonStep& step);
  bool on_comma_or_end(char byte, JsonStep& step);
  bool on_number(char byte, JsonStep& step);
  std::optional<NumberPart> next_number_part(char byte) const;
  bool on_literal(char byte, JsonStep& step);

  bool start_value(char byte, JsonStep& step);
  void open_container(char bracket);
  bool close_container(char bracket, JsonStep& step);
  void start_string(bool is_key);
  void end_value(JsonStep& step);

  bool on_string(char byte, JsonStep& step);
  bool on_escape(char byte);
  bool on_unicode_digit(char byte);
  void append_code_unit(uint32_t unit);
  void flush_high_surrogate();
  void append_decoded(uint32_t code_point);
  bool is_decoding() const { return containers_.size() == 1; }

  Expect expect_ = Expect::kObjectStart;
  std::vector<char> containers_;  // the open '{' and '[', outermost first
  bool in_member_value_ = false;  // scanning a value of the top-level object
  bool string_is_key_ = false;
  std::string string_;  // decoded top-level string (key or value)

  enum class Escape : uint8_t { kNone, kBackslash, kUnicode };
  Escape escape_ = Escape::kNone;
  int num_hex_digits_ = 0;
  uint32_t code_unit_ = 0;
  uint32_t high_surrogate_ = 0;  // 0: none waiting

  NumberPart number_part_ = NumberPart::kSign;
  const char* literal_ = nullptr;  // "true", "false" or "null" while one is scanned
  int literal_length_ = 0;
  int literal_matched_ = 0;
};

}  // namespace hanlin::text
