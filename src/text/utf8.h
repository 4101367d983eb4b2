// UTF-8 decoding, validation and lossy repair, with the exact rules Hugging Face tokenizers
// follow (Rust's String::from_utf8_lossy: one U+FFFD per maximal invalid subpart).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hanlin::text {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr size_t kNoInvalidByte = static_cast<size_t>(-1);

// One decoded character: `length` is its size in bytes, or the size of the maximal invalid
// subpart (≥ 1) when `valid` is false. Never reads past the end of `text`.
struct Utf8Char {
  char32_t code_point = 0;
  uint32_t length = 0;
  bool valid = false;
};

// Decodes the character that starts at `text[offset]` (offset < text.size()).
Utf8Char decode_utf8_slow(std::string_view text, size_t offset);
inline Utf8Char decode_utf8(std::string_view text, size_t offset) {
  const auto lead = static_cast<uint8_t>(text[offset]);
  if (lead < 0x80) return {lead, 1, true};  // most text is mostly ASCII: keep that inline
  return decode_utf8_slow(text, offset);
}

// The offset of the first byte that does not start a valid sequence, or kNoInvalidByte.
size_t find_invalid_utf8(std::string_view text);

// Throws Error(kInvalidArgument) naming the byte offset when `text` is not valid UTF-8;
// `what` names the input in the message ("text", "line 3").
void require_valid_utf8(std::string_view text, std::string_view what);

void append_utf8(std::string& out, char32_t code_point);

// Appends `bytes` to `out`, each maximal invalid subpart replaced by U+FFFD.
void append_utf8_lossy(std::string& out, std::string_view bytes);

// The number of bytes at the end of `bytes` that are the start of a valid but unfinished
// sequence (0–3): a streaming decoder must wait for more bytes before deciding them.
size_t unfinished_utf8_suffix(std::string_view bytes);

// The number of code points in valid UTF-8 `text`.
size_t count_code_points(std::string_view text);

}  // namespace hanlin::text
