// Unicode character classes that the Qwen pre-tokenizer regex uses, and NFC normalisation:
// a fast table lookup over utf8proc's data, with a skip for text that is already NFC.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hanlin::text {

// The classes of the pre-tokenizer regex. They are disjoint: White_Space characters are
// never letters or numbers.
enum class CharClass : uint8_t {
  kOther,       // [^\s\p{L}\p{N}]
  kLetter,      // \p{L}: Lu Ll Lt Lm Lo
  kNumber,      // \p{N}: Nd Nl No
  kWhitespace,  // \s as Oniguruma defines it: the Unicode White_Space property
};

// The class of `code_point` (any value ≤ 0x10FFFF; larger values are kOther).
CharClass char_class(char32_t code_point);

// True when NFC leaves `code_point` alone whatever surrounds it (a starter that has no
// canonical decomposition and never composes with a preceding character).
bool is_nfc_inert(char32_t code_point);

// True for Unicode White_Space (Rust's char::is_whitespace, used by added tokens' lstrip).
inline bool is_white_space(char32_t code_point) { return char_class(code_point) == CharClass::kWhitespace; }

// True for the characters of a regex \w (letters, marks, decimal digits, connector
// punctuation, joiners): what an added token's single_word flag treats as part of a word.
bool is_word_char(char32_t code_point);

// Appends the NFC form of valid UTF-8 `text` to `out`. Text whose characters are all
// NFC-inert (ASCII, CJK ideographs, kana, most scripts) is copied as is.
void append_nfc(std::string& out, std::string_view text);

// True when `text` (valid UTF-8) may change under NFC; false means it certainly will not.
bool may_change_under_nfc(std::string_view text);

}  // namespace hanlin::text
