// Python's str methods (strip, split, replace, case mapping, find, format, ...) on template strings.
// Each keeps provenance: a byte copied from request data stays data in the result.
#pragma once

#include <cstdint>
#include <vector>

#include "text/chat_template/value.h"

namespace hanlin::text::jinja {

enum class StripSide : uint8_t { kBoth, kLeft, kRight };
// str.strip(chars); `chars` null strips Python whitespace.
Value strip(Budget& budget, const StrData& text, const StrData* chars, StripSide side);

// str.split(sep, maxsplit) / str.rsplit(...); `separator` null splits on runs of whitespace.
Value split(Budget& budget, const StrData& text, const StrData* separator, int64_t max_splits,
            bool from_right);
Value splitlines(Budget& budget, const StrData& text, bool keep_ends);

// str.replace(old, new, count); count < 0 replaces all. An inserted `new` is data when the text
// it replaced held data.
Value replace(Budget& budget, const StrData& text, const StrData& old, const StrData& replacement,
              int64_t count);

enum class CaseMapping : uint8_t { kUpper, kLower, kTitle, kCapitalize, kJinjaTitle };
// str.upper()/lower()/title()/capitalize(), and jinja2's title filter (words start after
// whitespace or one of -({[<).
Value map_case(Budget& budget, const StrData& text, CaseMapping mapping);

// Code-point index of `sub` in text[start:end] (Python's find/rfind), or -1.
int64_t find(const StrData& text, const StrData& sub, const Value& start, const Value& end, bool from_right);
int64_t count(const StrData& text, const StrData& sub, const Value& start, const Value& end);
bool starts_or_ends_with(const StrData& text, const Value& affixes, const Value& start, const Value& end,
                         bool ends);

// separator.join(items): each item must be a str (Python), or with `convert` any value, as str()
// turns it (jinja2's join filter).
Value join(Budget& budget, const StrData& separator, const std::vector<Value>& items, bool convert);

// str.format(*args, **kwargs) for {} / {0} / {name} fields with !s / !r and no format spec.
Value str_format(Budget& budget, const StrData& format, const CallArgs& args);

// jinja2's indent filter.
Value indent(Budget& budget, const StrData& text, const StrData& indentation, bool first, bool blank);

}  // namespace hanlin::text::jinja
