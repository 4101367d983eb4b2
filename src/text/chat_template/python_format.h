// How Python turns values into text: str() and repr() (what {{ value }} prints) and
// json.dumps(..., ensure_ascii=False) (what transformers' tojson filter returns).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "text/chat_template/value.h"

namespace hanlin::text::jinja {

// repr(float) / str(float): the shortest text that reads back to the same double, laid out the
// way Python does ("1.0", "1e-05", "1e+16", "inf").
std::string format_float(double value);

// str(value). Strings keep their provenance; containers print as Python's repr, and the repr of
// a string from request data is data.
void append_str(StrBuilder& out, const Value& value, int depth = 0);
void append_repr(StrBuilder& out, const Value& value, int depth = 0);
// str(value) as a string value (a string is returned as it is, without copying).
Value to_str(const Value& value, Budget& budget);

// The arguments of json.dumps that transformers' tojson filter passes through.
struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // None, or the text of one indent level
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};

// json.dumps(value, **options). Throws Error for values JSON cannot hold (Undefined, macros).
void append_json(StrBuilder& out, const Value& value, const JsonOptions& options, int depth = 0);

}  // namespace hanlin::text::jinja
