// Per-code-point flags in a two-stage table built once from utf8proc (Unicode 15), and NFC
// that only hands the spans that can change to utf8proc.
#include "text/unicode.h"

#include <utf8proc.h>

#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include "core/error.h"
#include "text/utf8.h"

namespace hanlin::text {
namespace {

constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr uint8_t kClassMask = 0x03;
constexpr uint8_t kNfcInert = 0x04;
constexpr uint8_t kWordChar = 0x08;

// The White_Space property; Oniguruma's \s and Rust's char::is_whitespace both use it.
bool is_white_space_property(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

CharClass classify(char32_t code_point, utf8proc_category_t category) {
  if (is_white_space_property(code_point)) return CharClass::kWhitespace;
  switch (category) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

bool is_word_category(char32_t code_point, utf8proc_category_t category) {
  switch (category) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return code_point == 0x200C || code_point == 0x200D;  // joiners
  }
}

bool has_canonical_decomposition(const utf8proc_property_t* property) {
  return property->decomp_seqindex != UINT16_MAX && property->decomp_type == 0;
}

// Characters that can be the non-first part of a canonical decomposition: the only ones
// (besides marks with a combining class) that can compose with what precedes them. Derived
// from decompositions rather than utf8proc's internal composition encoding; a superset is safe.
std::vector<bool> composition_followers() {
  std::vector<bool> followers(kMaxCodePoint + 1, false);
  for (char32_t c = 0; c <= kMaxCodePoint; ++c) {
    const utf8proc_property_t* property = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
    if (!has_canonical_decomposition(property)) continue;
    std::array<utf8proc_int32_t, 32> parts{};
    int boundclass = 0;
    const utf8proc_ssize_t count = utf8proc_decompose_char(
        static_cast<utf8proc_int32_t>(c), parts.data(), parts.size(), UTF8PROC_DECOMPOSE, &boundclass);
    for (utf8proc_ssize_t index = 1; index < count && index < static_cast<utf8proc_ssize_t>(parts.size()); ++index) {
      followers[static_cast<size_t>(parts[index])] = true;
    }
  }
  // Hangul vowel and trailing jamo compose algorithmically with what precedes them.
  for (char32_t c = 0x1161; c <= 0x11C2; ++c) followers[c] = true;
  return followers;
}

uint8_t flags_of(char32_t code_point, const std::vector<bool>& followers) {
  const utf8proc_property_t* property = utf8proc_get_property(static_cast<utf8proc_int32_t>(code_point));
  const auto category = static_cast<utf8proc_category_t>(property->category);
  uint8_t flags = static_cast<uint8_t>(classify(code_point, category));
  const bool inert = property->combining_class == 0 && !has_canonical_decomposition(property) &&
                     !followers[code_point];
  if (inert) flags |= kNfcInert;
  if (is_word_category(code_point, category)) flags |= kWordChar;
  return flags;
}

// Two-stage lookup: a block index per 256 code points, identical blocks stored once.
class PropertyTable {
 public:
  PropertyTable() {
    const std::vector<bool> followers = composition_followers();
    std::map<std::array<uint8_t, 256>, uint16_t> seen_blocks;
    for (char32_t block = 0; block < kNumBlocks; ++block) {
      std::array<uint8_t, 256> flags{};
      for (char32_t low = 0; low < 256; ++low) flags[low] = flags_of((block << 8) | low, followers);
      auto [where, inserted] = seen_blocks.emplace(flags, static_cast<uint16_t>(seen_blocks.size()));
      if (inserted) blocks_.insert(blocks_.end(), flags.begin(), flags.end());
      block_index_[block] = where->second;
    }
  }

  uint8_t flags(char32_t code_point) const {
    if (code_point > kMaxCodePoint) return static_cast<uint8_t>(CharClass::kOther);
    return blocks_[(static_cast<size_t>(block_index_[code_point >> 8]) << 8) | (code_point & 0xFF)];
  }

 private:
  static constexpr char32_t kNumBlocks = (kMaxCodePoint + 1) >> 8;
  std::array<uint16_t, kNumBlocks> block_index_{};
  std::vector<uint8_t> blocks_;
};

const PropertyTable& property_table() {
  static const PropertyTable table;  // immutable Unicode data, built on first use
  return table;
}

// NFC of one span through utf8proc; the span is valid UTF-8, so failure is an internal error.
void append_nfc_span(std::string& out, std::string_view span) {
  utf8proc_uint8_t* normalized = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(span.data()), static_cast<utf8proc_ssize_t>(span.size()),
                   &normalized, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(normalized, &std::free);
  if (length < 0) {
    throw Error(ErrorKind::kInternal, std::string("NFC normalisation failed: ") +
                                          utf8proc_errmsg(length));
  }
  out.append(reinterpret_cast<const char*>(normalized), static_cast<size_t>(length));
}

}  // namespace

CharClass char_class(char32_t code_point) {
  return static_cast<CharClass>(property_table().flags(code_point) & kClassMask);
}

bool is_nfc_inert(char32_t code_point) { return (property_table().flags(code_point) & kNfcInert) != 0; }

bool is_word_char(char32_t code_point) { return (property_table().flags(code_point) & kWordChar) != 0; }

bool may_change_under_nfc(std::string_view text) {
  const PropertyTable& table = property_table();
  for (size_t offset = 0; offset < text.size();) {
    if (static_cast<uint8_t>(text[offset]) < 0x80) {
      ++offset;
      continue;
    }
    const Utf8Char decoded = decode_utf8(text, offset);
    if ((table.flags(decoded.code_point) & kNfcInert) == 0) return true;
    offset += decoded.length;
  }
  return false;
}

void append_nfc(std::string& out, std::string_view text) {
  // NFC(x + y) == NFC(x) + NFC(y) when y starts with an inert character, so only the spans
  // from the inert character before a non-inert run to the next inert character are
  // normalised; the rest is copied.
  const PropertyTable& table = property_table();
  size_t copied = 0;           // text[0, copied) is already in `out`
  size_t last_inert = 0;       // start of the latest inert character seen
  size_t offset = 0;
  while (offset < text.size()) {
    const Utf8Char decoded = decode_utf8(text, offset);
    if ((table.flags(decoded.code_point) & kNfcInert) != 0) {
      last_inert = offset;
      offset += decoded.length;
      continue;
    }
    size_t span_end = offset + decoded.length;
    while (span_end < text.size()) {
      const Utf8Char next = decode_utf8(text, span_end);
      if ((table.flags(next.code_point) & kNfcInert) != 0) break;
      span_end += next.length;
    }
    const size_t span_start = std::max(last_inert, copied);
    out.append(text.substr(copied, span_start - copied));
    append_nfc_span(out, text.substr(span_start, span_end - span_start));
    copied = span_end;
    offset = span_end;
  }
  out.append(text.substr(copied));
}

}  // namespace hanlin::text
