// UTF-8 helpers and the few Unicode properties that Python's str methods depend on (isspace,
// isprintable, case mapping), so the chat-template interpreter behaves like Python's str.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "text/utf8.h"

namespace hanlin::text::jinja {

using text::append_utf8;  // one UTF-8 encoder for the whole text layer

// Every string the interpreter sees is valid UTF-8 (checked where text enters), so decoding
// never fails: decode_utf8 reads the code point at text[pos] and advances pos past it.
char32_t decode_utf8(std::string_view text, size_t& pos);
bool is_valid_utf8(std::string_view text);
size_t count_code_points(std::string_view text);
// Byte offset of the code point with index `index` (index <= number of code points).
size_t byte_offset_of(std::string_view text, size_t index);

// str.isspace(): the whitespace Python's str.split()/strip() and regex \s use.
bool is_python_space(char32_t code_point);
// `text` without leading and trailing Python whitespace.
std::string_view trim_python_space(std::string_view text);
// str.isprintable(), which decides what repr() escapes.
bool is_python_printable(char32_t code_point);
// Characters of regex \w (letters, numbers, underscore), for the wordcount filter.
bool is_word_char(char32_t code_point);
bool is_cased(char32_t code_point);
bool is_upper_case(char32_t code_point);
bool is_lower_case(char32_t code_point);

// Case mapping of one code point, appended to `out`; Python's full mappings where they expand
// (e.g. 'ß'.upper() == 'SS'), utf8proc's simple mapping otherwise.
void append_upper(std::string& out, char32_t code_point);
void append_lower(std::string& out, char32_t code_point);
void append_title(std::string& out, char32_t code_point);

}  // namespace hanlin::text::jinja
