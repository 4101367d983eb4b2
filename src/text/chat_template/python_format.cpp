// Python's str(), repr() and json.dumps() for template values.
#include "text/chat_template/python_format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

namespace {

constexpr int kMaxFormatDepth = 256;

void check_depth(int depth) {
  if (depth > kMaxFormatDepth) {
    throw Error(ErrorKind::kInvalidArgument, "a value nests too deeply to print");
  }
}

std::string format_int(int64_t value) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void append_hex(std::string& out, uint32_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out.push_back(kHex[(value >> shift) & 0xF]);
}

// Python's str repr: single quotes unless the text has ' and no ", backslash escapes for the
// quote, backslash and control characters, \x / \u / \U for what is not printable.
std::string repr_of_text(std::string_view text) {
  bool has_single = text.find('\'') != std::string_view::npos;
  bool has_double = text.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = decode_utf8(text, pos);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      append_hex(out, c, 2);
    } else if (c < 0x7F || is_python_printable(c)) {
      append_utf8(out, c);
    } else if (c <= 0xFF) {
      out += "\\x";
      append_hex(out, c, 2);
    } else if (c <= 0xFFFF) {
      out += "\\u";
      append_hex(out, c, 4);
    } else {
      out += "\\U";
      append_hex(out, c, 8);
    }
  }
  out.push_back(quote);
  return out;
}

void append_string_repr(StrBuilder& out, const StrData& text) {
  out.append_raw(repr_of_text(text.text), !text.data.empty());
}

void append_sequence_repr(StrBuilder& out, const ListData& list, int depth) {
  static constexpr std::string_view kPrefix[] = {"", "", "dict_keys(", "dict_values(", "dict_items("};
  bool is_view = list.style != ListStyle::kList && list.style != ListStyle::kTuple;
  bool is_tuple = list.style == ListStyle::kTuple;
  out.literal(kPrefix[static_cast<int>(list.style)]);
  out.literal(is_tuple ? "(" : "[");
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (i > 0) out.literal(", ");
    append_repr(out, list.items[i], depth + 1);
  }
  if (is_tuple && list.items.size() == 1) out.literal(",");
  out.literal(is_tuple ? ")" : "]");
  if (is_view) out.literal(")");
}

void append_dict_repr(StrBuilder& out, const DictData& dict, int depth) {
  out.literal("{");
  bool first = true;
  for (const auto& [key, value] : dict.entries()) {
    if (!first) out.literal(", ");
    first = false;
    append_repr(out, key, depth + 1);
    out.literal(": ");
    append_repr(out, value, depth + 1);
  }
  out.literal("}");
}

void append_scalar(StrBuilder& out, const Value& value) {
  switch (value.kind()) {
    case ValueKind::kNone:
      out.literal("None");
      break;
    case ValueKind::kBool:
      out.literal(value.as_bool() ? "True" : "False");
      break;
    case ValueKind::kInt:
      out.literal(format_int(value.as_int()));
      break;
    case ValueKind::kFloat:
      out.literal(format_float(value.as_double()));
      break;
    default:
      break;
  }
}

void append_object_repr(StrBuilder& out, const Value& value, int depth) {
  switch (value.kind()) {
    case ValueKind::kNamespace:
      out.literal("<Namespace ");
      append_dict_repr(out, value.ns()->attributes, depth);
      out.literal(">");
      break;
    case ValueKind::kCallable:
      if (value.callable().macro != nullptr) {
        out.literal("<Macro '");
        out.literal(value.callable().name);
        out.literal("'>");
      } else {
        out.literal("<built-in function ");
        out.literal(value.callable().name);
        out.literal(">");
      }
      break;
    case ValueKind::kLoop: {
      const LoopState& loop = value.loop_state();
      out.literal("<LoopContext " + std::to_string(loop.index0 + 1) + "/" +
                  std::to_string(loop.items->items.size()) + ">");
      break;
    }
    default:
      break;
  }
}

}  // namespace

std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Shortest round-trip digits in scientific form: "d.ddde+XX".
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string_view scientific(buffer, result.ptr - buffer);
  bool negative = scientific.front() == '-';
  if (negative) scientific.remove_prefix(1);
  size_t e_pos = scientific.find('e');
  std::string digits;
  for (char c : scientific.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = std::atoi(std::string(scientific.substr(e_pos + 1)).c_str());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  int decimal_point = exponent + 1;  // value = 0.DIGITS * 10^decimal_point
  std::string out = negative ? "-" : "";
  if (decimal_point <= -4 || decimal_point > 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out.append(".").append(digits, 1);
    out += exponent < 0 ? "e-" : "e+";
    int magnitude = std::abs(exponent);
    if (magnitude < 10) out.push_back('0');
    out += std::to_string(magnitude);
  } else if (decimal_point <= 0) {
    out.append("0.").append(static_cast<size_t>(-decimal_point), '0').append(digits);
  } else if (static_cast<size_t>(decimal_point) >= digits.size()) {
    out.append(digits).append(decimal_point - digits.size(), '0').append(".0");
  } else {
    out.append(digits, 0, decimal_point).append(".").append(digits, decimal_point);
  }
  return out;
}

void append_repr(StrBuilder& out, const Value& value, int depth) {
  check_depth(depth);
  switch (value.kind()) {
    case ValueKind::kUndefined:
      out.literal("Undefined");
      break;
    case ValueKind::kString:
      append_string_repr(out, value.str());
      break;
    case ValueKind::kList:
      append_sequence_repr(out, value.list(), depth);
      break;
    case ValueKind::kDict:
      append_dict_repr(out, value.dict(), depth);
      break;
    case ValueKind::kNamespace:
    case ValueKind::kCallable:
    case ValueKind::kLoop:
      append_object_repr(out, value, depth);
      break;
    default:
      append_scalar(out, value);
      break;
  }
}

void append_str(StrBuilder& out, const Value& value, int depth) {
  if (value.is_string()) {
    out.append(value.str());
  } else if (!value.is_undefined()) {
    append_repr(out, value, depth);
  }
}

Value to_str(const Value& value, Budget& budget) {
  if (value.is_string()) return value;
  StrBuilder out(budget);
  append_str(out, value);
  return Value::string(out.build());
}

namespace {

void append_json_text(StrBuilder& out, const StrData& text, bool ensure_ascii) {
  std::string escaped = "\"";
  std::string_view source = text.text;
  for (size_t pos = 0; pos < source.size();) {
    char32_t c = decode_utf8(source, pos);
    switch (c) {
      case '"':
        escaped += "\\\"";
        continue;
      case '\\':
        escaped += "\\\\";
        continue;
      case '\n':
        escaped += "\\n";
        continue;
      case '\r':
        escaped += "\\r";
        continue;
      case '\t':
        escaped += "\\t";
        continue;
      case '\b':
        escaped += "\\b";
        continue;
      case '\f':
        escaped += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c >= 0x10000) {  // a surrogate pair, as Python writes astral characters
        char32_t v = c - 0x10000;
        escaped += "\\u";
        append_hex(escaped, 0xD800 | (v >> 10), 4);
        escaped += "\\u";
        append_hex(escaped, 0xDC00 | (v & 0x3FF), 4);
      } else {
        escaped += "\\u";
        append_hex(escaped, c, 4);
      }
    } else {
      append_utf8(escaped, c);
    }
  }
  escaped.push_back('"');
  // The quotes belong to the JSON syntax, the escaped characters to whoever wrote the string.
  out.literal("\"");
  out.append_raw(std::string_view(escaped).substr(1, escaped.size() - 2), !text.data.empty());
  out.literal("\"");
}

void append_json_number(StrBuilder& out, const Value& value) {
  if (value.is_bool()) {
    out.literal(value.as_bool() ? "true" : "false");
  } else if (value.is_int()) {
    out.literal(format_int(value.as_int()));
  } else {
    double d = value.as_double();
    if (std::isnan(d)) {
      out.literal("NaN");
    } else if (std::isinf(d)) {
      out.literal(d > 0 ? "Infinity" : "-Infinity");
    } else {
      out.literal(format_float(d));
    }
  }
}

void append_newline_indent(StrBuilder& out, const JsonOptions& options, int level) {
  out.literal("\n");
  for (int i = 0; i < level; ++i) out.literal(*options.indent);
}

// json.dumps turns dict keys into strings: str keys as they are, numbers, bools and None as
// their JSON text.
void append_json_key(StrBuilder& out, const Value& key, const JsonOptions& options) {
  if (key.is_string()) {
    append_json_text(out, key.str(), options.ensure_ascii);
    return;
  }
  if (key.is_none()) {
    out.literal("\"null\"");
    return;
  }
  if (!key.is_number()) {
    throw Error(ErrorKind::kInvalidArgument,
                "tojson: keys must be str, int, float, bool or None, not " + std::string(type_name(key)));
  }
  out.literal("\"");
  append_json_number(out, key);
  out.literal("\"");
}

void append_json_list(StrBuilder& out, const ListData& list, const JsonOptions& options, int depth) {
  if (list.items.empty()) {
    out.literal("[]");
    return;
  }
  out.literal("[");
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (i > 0) out.literal(options.item_separator);
    if (options.indent) append_newline_indent(out, options, depth + 1);
    append_json(out, list.items[i], options, depth + 1);
  }
  if (options.indent) append_newline_indent(out, options, depth);
  out.literal("]");
}

void append_json_dict(StrBuilder& out, const DictData& dict, const JsonOptions& options, int depth) {
  if (dict.size() == 0) {
    out.literal("{}");
    return;
  }
  std::vector<const std::pair<Value, Value>*> entries;
  for (const auto& entry : dict.entries()) entries.push_back(&entry);
  if (options.sort_keys) {
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto* a, const auto* b) { return python_less(a->first, b->first); });
  }
  out.literal("{");
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out.literal(options.item_separator);
    if (options.indent) append_newline_indent(out, options, depth + 1);
    append_json_key(out, entries[i]->first, options);
    out.literal(options.key_separator);
    append_json(out, entries[i]->second, options, depth + 1);
  }
  if (options.indent) append_newline_indent(out, options, depth);
  out.literal("}");
}

}  // namespace

void append_json(StrBuilder& out, const Value& value, const JsonOptions& options, int depth) {
  check_depth(depth);
  switch (value.kind()) {
    case ValueKind::kNone:
      out.literal("null");
      break;
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kFloat:
      append_json_number(out, value);
      break;
    case ValueKind::kString:
      append_json_text(out, value.str(), options.ensure_ascii);
      break;
    case ValueKind::kList:
      append_json_list(out, value.list(), options, depth);
      break;
    case ValueKind::kDict:
      append_json_dict(out, value.dict(), options, depth);
      break;
    default:
      throw Error(ErrorKind::kInvalidArgument,
                  "tojson: Object of type " + std::string(type_name(value)) + " is not JSON serializable");
  }
}

}  // namespace hanlin::text::jinja
