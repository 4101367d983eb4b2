// UTF-8 decoding and Python-compatible character classes, built on utf8proc's tables.
#include "text/chat_template/unicode.h"

#include <utf8proc.h>

namespace hanlin::text::jinja {

char32_t decode_utf8(std::string_view text, size_t& pos) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  unsigned char lead = bytes[pos];
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  int length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  char32_t code_point = lead & (0x3F >> (length - 1));
  for (int i = 1; i < length && pos + i < text.size(); ++i)
    code_point = (code_point << 6) | (bytes[pos + i] & 0x3F);
  pos += length;
  return code_point;
}

bool is_valid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  auto remaining = static_cast<utf8proc_ssize_t>(text.size());
  while (remaining > 0) {
    if (*bytes < 0x80) {  // ASCII fast path
      ++bytes;
      --remaining;
      continue;
    }
    utf8proc_int32_t code_point = 0;
    utf8proc_ssize_t length = utf8proc_iterate(bytes, remaining, &code_point);
    if (length <= 0 || code_point < 0) return false;
    bytes += length;
    remaining -= length;
  }
  return true;
}

size_t count_code_points(std::string_view text) {
  size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

size_t byte_offset_of(std::string_view text, size_t index) {
  size_t pos = 0;
  for (size_t i = 0; i < index && pos < text.size(); ++i) decode_utf8(text, pos);
  return pos;
}

bool is_python_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

std::string_view trim_python_space(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    size_t next = begin;
    if (!is_python_space(decode_utf8(text, next))) break;
    begin = next;
  }
  size_t end = begin;
  for (size_t pos = begin; pos < text.size();) {
    if (!is_python_space(decode_utf8(text, pos))) end = pos;
  }
  return text.substr(begin, end - begin);
}

namespace {

utf8proc_category_t category_of(char32_t c) {
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(c)));
}

// Python's full (expanding) case mappings that utf8proc's one-to-one tables lack.
struct SpecialCase {
  char32_t code_point;
  const char* mapped;
};
constexpr SpecialCase kSpecialUpper[] = {
    {0xDF, "SS"},    {0xFB00, "FF"}, {0xFB01, "FI"}, {0xFB02, "FL"},       {0xFB03, "FFI"},
    {0xFB04, "FFL"}, {0xFB05, "ST"}, {0xFB06, "ST"}, {0x149, "\xCA\xBCN"},
};
constexpr SpecialCase kSpecialTitle[] = {
    {0xDF, "Ss"},    {0xFB00, "Ff"}, {0xFB01, "Fi"}, {0xFB02, "Fl"},       {0xFB03, "Ffi"},
    {0xFB04, "Ffl"}, {0xFB05, "St"}, {0xFB06, "St"}, {0x149, "\xCA\xBCN"},
};
constexpr SpecialCase kSpecialLower[] = {{0x130, "i\xCC\x87"}};

template <size_t N>
bool append_special(std::string& out, char32_t c, const SpecialCase (&table)[N]) {
  for (const SpecialCase& entry : table) {
    if (entry.code_point == c) {
      out += entry.mapped;
      return true;
    }
  }
  return false;
}

}  // namespace

bool is_python_printable(char32_t c) {
  if (c == ' ') return true;
  switch (category_of(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

bool is_word_char(char32_t c) {
  if (c == '_') return true;
  switch (category_of(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

bool is_upper_case(char32_t c) {
  auto category = category_of(c);
  return category == UTF8PROC_CATEGORY_LU || category == UTF8PROC_CATEGORY_LT;
}

bool is_lower_case(char32_t c) {
  return category_of(c) == UTF8PROC_CATEGORY_LL;
}

bool is_cased(char32_t c) {
  return is_upper_case(c) || is_lower_case(c);
}

void append_upper(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
  } else if (!append_special(out, c, kSpecialUpper)) {
    append_utf8(out, static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))));
  }
}

void append_lower(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  } else if (!append_special(out, c, kSpecialLower)) {
    append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  }
}

void append_title(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
  } else if (!append_special(out, c, kSpecialTitle)) {
    append_utf8(out, static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c))));
  }
}

}  // namespace hanlin::text::jinja
