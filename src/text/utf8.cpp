// UTF-8 per RFC 3629 / Unicode §3.9: no overlongs, no surrogates, nothing above U+10FFFF.
#include "text/utf8.h"

#include "core/error.h"

namespace hanlin::text {
namespace {

// The valid range of the second byte for each lead byte (Unicode Table 3-7); other
// continuation bytes are always 0x80–0xBF.
struct LeadInfo {
  uint32_t length;  // 0: not a lead byte
  uint8_t second_min;
  uint8_t second_max;
};

LeadInfo lead_info(uint8_t byte) {
  if (byte < 0x80) return {1, 0, 0};
  if (byte < 0xC2) return {0, 0, 0};  // continuation byte or overlong C0/C1
  if (byte < 0xE0) return {2, 0x80, 0xBF};
  if (byte == 0xE0) return {3, 0xA0, 0xBF};
  if (byte == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates
  if (byte < 0xF0) return {3, 0x80, 0xBF};
  if (byte == 0xF0) return {4, 0x90, 0xBF};
  if (byte < 0xF4) return {4, 0x80, 0xBF};
  if (byte == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

bool is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

Utf8Char decode_utf8_slow(std::string_view text, size_t offset) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const uint8_t lead = bytes[offset];
  if (lead < 0x80) return {lead, 1, true};
  const LeadInfo info = lead_info(lead);
  if (info.length == 0) return {0, 1, false};
  const size_t available = text.size() - offset;
  // The maximal subpart: as many bytes as continue a valid prefix of a sequence.
  if (available < 2 || bytes[offset + 1] < info.second_min || bytes[offset + 1] > info.second_max) {
    return {0, 1, false};
  }
  char32_t code_point = lead & (0xFF >> (info.length + 1));
  code_point = (code_point << 6) | (bytes[offset + 1] & 0x3F);
  for (uint32_t index = 2; index < info.length; ++index) {
    if (index >= available || !is_continuation(bytes[offset + index])) return {0, index, false};
    code_point = (code_point << 6) | (bytes[offset + index] & 0x3F);
  }
  return {code_point, info.length, true};
}

size_t find_invalid_utf8(std::string_view text) {
  size_t offset = 0;
  while (offset < text.size()) {
    if (static_cast<uint8_t>(text[offset]) < 0x80) {
      ++offset;
      continue;
    }
    const Utf8Char decoded = decode_utf8(text, offset);
    if (!decoded.valid) return offset;
    offset += decoded.length;
  }
  return kNoInvalidByte;
}

void require_valid_utf8(std::string_view text, std::string_view what) {
  const size_t offset = find_invalid_utf8(text);
  if (offset == kNoInvalidByte) return;
  static constexpr char kHex[] = "0123456789abcdef";
  const auto byte = static_cast<uint8_t>(text[offset]);
  throw Error(ErrorKind::kInvalidArgument, std::string(what) + " is not valid UTF-8: byte 0x" +
                                               kHex[byte >> 4] + kHex[byte & 15] + " at byte offset " +
                                               std::to_string(offset));
}

void append_utf8(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

void append_utf8_lossy(std::string& out, std::string_view bytes) {
  size_t offset = 0;
  size_t clean_start = 0;  // copy valid runs in one piece
  while (offset < bytes.size()) {
    if (static_cast<uint8_t>(bytes[offset]) < 0x80) {
      ++offset;
      continue;
    }
    const Utf8Char decoded = decode_utf8(bytes, offset);
    if (decoded.valid) {
      offset += decoded.length;
      continue;
    }
    out.append(bytes.substr(clean_start, offset - clean_start));
    append_utf8(out, kReplacementChar);
    offset += decoded.length;
    clean_start = offset;
  }
  out.append(bytes.substr(clean_start));
}

size_t unfinished_utf8_suffix(std::string_view bytes) {
  // A lead byte at most 3 bytes from the end whose sequence is cut short by the end.
  const size_t size = bytes.size();
  for (size_t back = 1; back <= 3 && back <= size; ++back) {
    const auto byte = static_cast<uint8_t>(bytes[size - back]);
    if (is_continuation(byte)) continue;
    const LeadInfo info = lead_info(byte);
    if (info.length <= back) return 0;  // ASCII, invalid, or a complete sequence
    const Utf8Char decoded = decode_utf8(bytes, size - back);
    // Valid so far when the subpart reaches the end of the bytes.
    return decoded.length == back ? back : 0;
  }
  return 0;
}

size_t count_code_points(std::string_view text) {
  size_t count = 0;
  for (const char byte : text) count += !is_continuation(static_cast<uint8_t>(byte));
  return count;
}

}  // namespace hanlin::text
