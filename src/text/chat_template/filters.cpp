// The filters chat templates use (`value | name(args)`): jinja2's built-in filters, with tojson
// replaced by transformers' version (json.dumps with ensure_ascii=False and its options).
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/interpreter.h"
#include "text/chat_template/operators.h"
#include "text/chat_template/python_format.h"
#include "text/chat_template/string_ops.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

namespace {

const Value kNone = Value::none();

[[noreturn]] void throw_filter_error(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, message);
}

Value as_str(Interpreter& interpreter, const Value& value) {
  return to_str(value, interpreter.budget());
}

// A dotted path like "function.name" or "items.0", looked up the way jinja2's attrgetter does.
Value get_path(Interpreter& interpreter, const Value& item, const Value& path) {
  if (path.is_integral()) return get_item(interpreter.budget(), item, path);
  std::string_view rest = string_argument("attribute", path);
  Value current = item;
  while (true) {
    size_t dot = rest.find('.');
    std::string_view part = rest.substr(0, dot);
    bool is_index =
        !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    Value key =
        is_index ? Value::integer(std::strtoll(std::string(part).c_str(), nullptr, 10)) : make_string(part);
    current = get_item(interpreter.budget(), current, key);
    if (dot == std::string_view::npos) return current;
    rest = rest.substr(dot + 1);
  }
}

// For sorting, min, max and unique: the value itself, or lowercased when comparing strings
// case-insensitively.
Value comparison_key(Interpreter& interpreter, const Value& value, bool case_sensitive) {
  if (case_sensitive || !value.is_string()) return value;
  return map_case(interpreter.budget(), value.str(), CaseMapping::kLower);
}

std::vector<Value> items_of(Interpreter& interpreter, const Value& value) {
  return iterate(interpreter.budget(), value)->items;
}

// ---- strings ----

Value filter_trim(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("trim", args, {"chars"});
  Value chars =
      bound.get(0) != nullptr && !bound.get(0)->is_none() ? as_str(interpreter, *bound.get(0)) : Value();
  Value text = as_str(interpreter, input);
  return strip(interpreter.budget(), text.str(), chars.is_string() ? &chars.str() : nullptr,
               StripSide::kBoth);
}

template <CaseMapping mapping>
Value filter_case(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("case filter", args, {});
  return map_case(interpreter.budget(), as_str(interpreter, input).str(), mapping);
}

Value filter_replace(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("replace", args, {"old", "new", "count"});
  if (bound.get(0) == nullptr || bound.get(1) == nullptr) throw_filter_error("replace needs old and new");
  Value old = as_str(interpreter, *bound.get(0));
  Value replacement = as_str(interpreter, *bound.get(1));
  int64_t count =
      bound.get(2) == nullptr || bound.get(2)->is_none() ? -1 : int_argument("replace", *bound.get(2));
  return replace(interpreter.budget(), as_str(interpreter, input).str(), old.str(), replacement.str(), count);
}

Value filter_string(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("string", args, {});
  return as_str(interpreter, input);
}

Value filter_safe(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("safe", args, {});
  Value text = as_str(interpreter, input);
  if (text.str().is_markup) return text;
  StrBuilder out(interpreter.budget());
  out.append(text.str());
  return Value::string(out.build(true));
}

Value filter_escape(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("escape", args, {});
  Value text = as_str(interpreter, input);
  if (text.str().is_markup) return text;
  StrBuilder out(interpreter.budget());
  append_html_escaped(out, text.str());
  return Value::string(out.build(true));
}

Value filter_indent(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("indent", args, {"width", "first", "blank"});
  Value indentation = make_string(std::string_view("    "));
  if (const Value* width = bound.get(0)) {
    indentation =
        width->is_string()
            ? *width
            : make_owned_string(std::string(std::max<int64_t>(0, int_argument("indent", *width)), ' '));
  }
  bool first = bound.get(1) != nullptr && is_truthy(*bound.get(1));
  bool blank = bound.get(2) != nullptr && is_truthy(*bound.get(2));
  return indent(interpreter.budget(), as_str(interpreter, input).str(), indentation.str(), first, blank);
}

Value filter_center(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("center", args, {"width"});
  Value text = as_str(interpreter, input);
  int64_t width = bound.get(0) != nullptr ? int_argument("center", *bound.get(0)) : 80;
  auto length = static_cast<int64_t>(text.str().num_code_points);
  if (width <= length) return text;
  // Python's str.center puts the extra space on the right when the padding is odd, unless the
  // width is odd too.
  int64_t padding = width - length;
  int64_t left = padding / 2 + (padding & width & 1);
  StrBuilder out(interpreter.budget());
  out.literal(std::string(left, ' '));
  out.append(text.str());
  out.literal(std::string(padding - left, ' '));
  return Value::string(out.build());
}

Value filter_wordcount(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("wordcount", args, {});
  Value text = as_str(interpreter, input);
  int64_t words = 0;
  bool in_word = false;
  std::string_view s = text.text();
  for (size_t pos = 0; pos < s.size();) {
    bool word = is_word_char(decode_utf8(s, pos));
    words += word && !in_word;
    in_word = word;
  }
  return Value::integer(words);
}

Value filter_format(Interpreter& interpreter, const Value& input, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty())
    throw_filter_error("format: mixing positional and keyword arguments");
  Value format = as_str(interpreter, input);
  if (!args.keyword.empty()) {
    DictData mapping;
    for (auto& [name, value] : args.keyword) mapping.set(make_string(name), value);
    return percent_format(interpreter.budget(), format.str(), make_dict(std::move(mapping)));
  }
  return percent_format(interpreter.budget(), format.str(), make_list(args.positional, ListStyle::kTuple));
}

// ---- numbers ----

// Python's float(str): optional sign, digits with single underscores between them, a fraction,
// an exponent, or inf/infinity/nan; surrounding whitespace allowed.
bool parse_python_float(std::string_view text, double& out) {
  std::string_view s = trim_python_space(text);
  std::string cleaned;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      bool between_digits = i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                            std::isdigit(static_cast<unsigned char>(s[i + 1]));
      if (!between_digits) return false;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '+' && c != '-') return false;
    if (c == 'x' || c == 'X' || c == 'p' || c == 'P') return false;  // strtod would read hex floats
    cleaned.push_back(c);
  }
  if (cleaned.empty()) return false;
  char* end = nullptr;
  out = std::strtod(cleaned.c_str(), &end);
  return end == cleaned.c_str() + cleaned.size();
}

// Python's int(str, base) for bases 2..36 (and a 0x/0o/0b prefix matching the base).
bool parse_python_int(std::string_view text, int base, int64_t& out) {
  std::string_view s = trim_python_space(text);
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i + 1 < s.size() && s[i] == '0') {
    char prefix = static_cast<char>(s[i + 1] | 0x20);
    if ((prefix == 'x' && base == 16) || (prefix == 'o' && base == 8) || (prefix == 'b' && base == 2)) i += 2;
  }
  if (i >= s.size()) return false;
  uint64_t magnitude = 0;
  bool previous_digit = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_' && previous_digit && i + 1 < s.size()) {
      previous_digit = false;
      continue;
    }
    int digit = c >= '0' && c <= '9'                     ? c - '0'
                : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? (c | 0x20) - 'a' + 10
                                                         : 99;
    if (digit >= base) return false;
    if (__builtin_mul_overflow(magnitude, static_cast<uint64_t>(base), &magnitude) ||
        __builtin_add_overflow(magnitude, static_cast<uint64_t>(digit), &magnitude)) {
      return false;
    }
    previous_digit = true;
  }
  if (!previous_digit) return false;
  if (magnitude > static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0)) return false;
  out = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

Value filter_int(Interpreter&, const Value& input, CallArgs& args) {
  BoundArgs bound("int", args, {"default", "base"});
  Value fallback = bound.get_or(0, Value::integer(0));
  int64_t base = bound.get(1) != nullptr ? int_argument("int", *bound.get(1)) : 10;
  if (input.is_integral()) return Value::integer(input.as_int());
  if (input.is_float()) {
    double d = input.as_double();
    return std::isfinite(d) && std::fabs(d) < 9.2e18 ? Value::integer(static_cast<int64_t>(std::trunc(d)))
                                                     : fallback;
  }
  if (!input.is_string()) return fallback;
  int64_t value = 0;
  if (base >= 2 && base <= 36 && parse_python_int(input.text(), static_cast<int>(base), value))
    return Value::integer(value);
  double d = 0;
  if (parse_python_float(input.text(), d) && std::isfinite(d) && std::fabs(d) < 9.2e18) {
    return Value::integer(static_cast<int64_t>(std::trunc(d)));  // "42.23" | int == 42
  }
  return fallback;
}

Value filter_float(Interpreter&, const Value& input, CallArgs& args) {
  BoundArgs bound("float", args, {"default"});
  if (input.is_number()) return Value::number(input.as_double());
  double d = 0;
  if (input.is_string() && parse_python_float(input.text(), d)) return Value::number(d);
  return bound.get_or(0, Value::number(0.0));
}

Value filter_abs(Interpreter&, const Value& input, CallArgs& args) {
  BoundArgs bound("abs", args, {});
  if (input.is_float()) return Value::number(std::fabs(input.as_double()));
  if (input.is_integral()) return input.as_int() < 0 ? negate(input) : Value::integer(input.as_int());
  throw_filter_error("bad operand type for abs(): '" + std::string(type_name(input)) + "'");
}

Value filter_round(Interpreter&, const Value& input, CallArgs& args) {
  BoundArgs bound("round", args, {"precision", "method"});
  int64_t precision = bound.get(0) != nullptr ? int_argument("round", *bound.get(0)) : 0;
  std::string_view method = bound.get(1) != nullptr ? string_argument("round", *bound.get(1)) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    throw_filter_error("method must be common, ceil or floor");
  }
  if (!input.is_number())
    throw_filter_error("round: expected a number, got " + std::string(type_name(input)));
  if (method == "common" && input.is_integral())
    return Value::integer(input.as_int());  // round(int) stays int
  double value = input.as_double();
  double scale = std::pow(10.0, static_cast<double>(precision));
  if (method == "ceil") return Value::number(std::ceil(value * scale) / scale);
  if (method == "floor") return Value::number(std::floor(value * scale) / scale);
  if (!std::isfinite(value)) return Value::number(value);
  if (precision >= 0 && precision <= 300) {
    // Python rounds the exact binary value half-to-even; printf does the same.
    char buffer[512];
    std::snprintf(buffer, sizeof(buffer), "%.*f", static_cast<int>(precision), value);
    return Value::number(std::strtod(buffer, nullptr));
  }
  return Value::number(std::nearbyint(value * scale) / scale);
}

Value filter_sum(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("sum", args, {"attribute", "start"});
  Value total = bound.get_or(1, Value::integer(0));
  for (const Value& item : items_of(interpreter, input)) {
    const Value& term = bound.get(0) != nullptr ? get_path(interpreter, item, *bound.get(0)) : item;
    total = binary_operation(interpreter, BinaryOp::kAdd, total, term);
  }
  return total;
}

template <bool is_max>
Value filter_min_max(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound(is_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  bool case_sensitive = bound.get(0) != nullptr && is_truthy(*bound.get(0));
  std::vector<Value> items = items_of(interpreter, input);
  if (items.empty()) return Value::undefined({Undefined::Reason::kEmpty, 0, is_max ? "max" : "min"});
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    Value key = comparison_key(
        interpreter, bound.get(1) != nullptr ? get_path(interpreter, items[i], *bound.get(1)) : items[i],
        case_sensitive);
    if (i == 0 || (is_max ? python_less(best_key, key) : python_less(key, best_key))) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

// ---- sequences ----

Value filter_length(Interpreter&, const Value& input, CallArgs& args) {
  BoundArgs bound("length", args, {});
  switch (input.kind()) {
    case ValueKind::kUndefined:
      return Value::integer(0);
    case ValueKind::kString:
      return Value::integer(static_cast<int64_t>(input.str().num_code_points));
    case ValueKind::kList:
      return Value::integer(static_cast<int64_t>(input.list().items.size()));
    case ValueKind::kDict:
      return Value::integer(static_cast<int64_t>(input.dict().size()));
    default:
      throw_filter_error("object of type '" + std::string(type_name(input)) + "' has no len()");
  }
}

Value filter_first(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("first", args, {});
  ListPtr items = iterate(interpreter.budget(), input);
  return items->items.empty() ? Value::undefined({Undefined::Reason::kEmpty, 0, "first"})
                              : items->items.front();
}

Value filter_last(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("last", args, {});
  ListPtr items = iterate(interpreter.budget(), input);
  return items->items.empty() ? Value::undefined({Undefined::Reason::kEmpty, 0, "last"})
                              : items->items.back();
}

Value filter_list(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("list", args, {});
  return make_list(items_of(interpreter, input));
}

Value filter_items(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("items", args, {});
  if (input.is_undefined()) return make_list({});
  if (!input.is_dict()) throw_filter_error("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& [key, value] : input.dict().entries())
    pairs.push_back(make_list({key, value}, ListStyle::kTuple));
  interpreter.budget().charge_steps(pairs.size());
  return make_list(std::move(pairs));
}

Value filter_join(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("join", args, {"d", "attribute"});
  Value separator =
      bound.get(0) != nullptr ? as_str(interpreter, *bound.get(0)) : make_string(std::string_view());
  std::vector<Value> items = items_of(interpreter, input);
  if (bound.get(1) != nullptr) {
    for (Value& item : items) item = get_path(interpreter, item, *bound.get(1));
  }
  return join(interpreter.budget(), separator.str(), items, true);
}

Value filter_default(Interpreter&, const Value& input, CallArgs& args) {
  BoundArgs bound("default", args, {"default_value", "boolean"});
  bool boolean = bound.get(1) != nullptr && is_truthy(*bound.get(1));
  if (input.is_undefined() || (boolean && !is_truthy(input)))
    return bound.get_or(0, make_string(std::string_view()));
  return input;
}

Value filter_reverse(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("reverse", args, {});
  if (input.is_string()) return get_slice(interpreter.budget(), input, kNone, kNone, Value::integer(-1));
  std::vector<Value> items = items_of(interpreter, input);
  std::reverse(items.begin(), items.end());
  return make_list(std::move(items));
}

Value filter_sort(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("sort", args, {"reverse", "case_sensitive", "attribute"});
  bool reverse = bound.get(0) != nullptr && is_truthy(*bound.get(0));
  bool case_sensitive = bound.get(1) != nullptr && is_truthy(*bound.get(1));
  std::vector<Value> items = items_of(interpreter, input);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) {
    const Value& basis = bound.get(2) != nullptr ? get_path(interpreter, items[i], *bound.get(2)) : items[i];
    keyed.emplace_back(comparison_key(interpreter, basis, case_sensitive), i);
  }
  interpreter.budget().charge_steps(items.size() * 8);
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? python_less(b.first, a.first) : python_less(a.first, b.first);
  });
  std::vector<Value> sorted;
  for (const auto& [key, index] : keyed) sorted.push_back(items[index]);
  return make_list(std::move(sorted));
}

Value filter_dictsort(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (!input.is_dict()) throw_filter_error("dictsort: expected a mapping");
  bool case_sensitive = bound.get(0) != nullptr && is_truthy(*bound.get(0));
  std::string_view by = bound.get(1) != nullptr ? string_argument("dictsort", *bound.get(1)) : "key";
  if (by != "key" && by != "value") throw_filter_error("You can only sort by either \"key\" or \"value\"");
  bool reverse = bound.get(2) != nullptr && is_truthy(*bound.get(2));
  std::vector<std::pair<Value, Value>> entries = input.dict().entries();
  auto key_of = [&](const std::pair<Value, Value>& entry) {
    return comparison_key(interpreter, by == "key" ? entry.first : entry.second, case_sensitive);
  };
  std::stable_sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
    return reverse ? python_less(key_of(b), key_of(a)) : python_less(key_of(a), key_of(b));
  });
  std::vector<Value> pairs;
  for (auto& [key, value] : entries) pairs.push_back(make_list({key, value}, ListStyle::kTuple));
  return make_list(std::move(pairs));
}

Value filter_unique(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("unique", args, {"case_sensitive", "attribute"});
  bool case_sensitive = bound.get(0) != nullptr && is_truthy(*bound.get(0));
  std::vector<Value> seen;
  std::vector<Value> kept;
  for (const Value& item : items_of(interpreter, input)) {
    Value key = comparison_key(interpreter,
                               bound.get(1) != nullptr ? get_path(interpreter, item, *bound.get(1)) : item,
                               case_sensitive);
    interpreter.budget().charge_steps(seen.size() + 1);
    bool duplicate =
        std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return python_equals(s, key); });
    if (duplicate) continue;
    seen.push_back(std::move(key));
    kept.push_back(item);
  }
  return make_list(std::move(kept));
}

Value filter_batch(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("batch", args, {"linecount", "fill_with"});
  if (bound.get(0) == nullptr) throw_filter_error("batch needs a line count");
  int64_t size = int_argument("batch", *bound.get(0));
  if (size <= 0) throw_filter_error("batch: the line count must be positive");
  std::vector<Value> batches;
  std::vector<Value> current;
  for (const Value& item : items_of(interpreter, input)) {
    current.push_back(item);
    if (static_cast<int64_t>(current.size()) == size)
      batches.push_back(make_list(std::exchange(current, {})));
  }
  if (!current.empty()) {
    if (bound.get(1) != nullptr) {
      while (static_cast<int64_t>(current.size()) < size) current.push_back(*bound.get(1));
    }
    batches.push_back(make_list(std::move(current)));
  }
  return make_list(std::move(batches));
}

Value filter_attr(Interpreter&, const Value& input, CallArgs& args) {
  BoundArgs bound("attr", args, {"name"});
  if (bound.get(0) == nullptr) throw_filter_error("attr needs a name");
  return get_attribute_by_runtime_name(input, string_argument("attr", *bound.get(0)));
}

// ---- map / select ----

Value apply_named_filter(Interpreter& interpreter, const Value& item, std::string_view name, CallArgs args) {
  const FilterEntry* filter = find_filter(name);
  if (filter == nullptr) throw_filter_error("no filter named '" + std::string(name) + "'");
  return filter->fn(interpreter, item, args);
}

Value filter_map(Interpreter& interpreter, const Value& input, CallArgs& args) {
  std::vector<Value> items = items_of(interpreter, input);
  std::vector<Value> mapped;
  mapped.reserve(items.size());
  if (args.positional.empty()) {  // map(attribute='x', default=...)
    BoundArgs bound("map", args, {"attribute", "default"});
    if (bound.get(0) == nullptr) throw_filter_error("map needs a filter name or attribute=");
    for (const Value& item : items) {
      Value value = get_path(interpreter, item, *bound.get(0));
      mapped.push_back(value.is_undefined() && bound.get(1) != nullptr ? *bound.get(1) : value);
    }
    return make_list(std::move(mapped));
  }
  std::string_view name = string_argument("map", args.positional.front());
  CallArgs rest{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.keyword};
  for (const Value& item : items) mapped.push_back(apply_named_filter(interpreter, item, name, rest));
  return make_list(std::move(mapped));
}

bool apply_named_test(Interpreter& interpreter, const Value& item, const std::vector<Value>& test_and_args,
                      size_t first) {
  if (test_and_args.size() <= first) return is_truthy(item);
  std::string_view name = string_argument("select", test_and_args[first]);
  const TestEntry* test = find_test(name);
  if (test == nullptr) throw_filter_error("no test named '" + std::string(name) + "'");
  CallArgs args{std::vector<Value>(test_and_args.begin() + first + 1, test_and_args.end()), {}};
  return test->fn(interpreter, item, args);
}

template <bool keep, bool by_attribute>
Value filter_select(Interpreter& interpreter, const Value& input, CallArgs& args) {
  if (!args.keyword.empty()) throw_filter_error("select/reject filters take positional arguments only");
  if (by_attribute && args.positional.empty()) throw_filter_error("selectattr/rejectattr need an attribute");
  std::vector<Value> kept;
  for (const Value& item : items_of(interpreter, input)) {
    Value subject = by_attribute ? get_path(interpreter, item, args.positional.front()) : item;
    if (apply_named_test(interpreter, subject, args.positional, by_attribute ? 1 : 0) == keep)
      kept.push_back(item);
  }
  return make_list(std::move(kept));
}

// ---- tojson ----

JsonOptions json_options(const BoundArgs& bound) {
  JsonOptions options;
  options.ensure_ascii = bound.get(0) != nullptr && is_truthy(*bound.get(0));
  if (const Value* indent = bound.get(1); indent != nullptr && !indent->is_none()) {
    options.indent = indent->is_string()
                         ? std::string(indent->text())
                         : std::string(std::clamp<int64_t>(int_argument("tojson", *indent), 0, 1024), ' ');
    options.item_separator = ",";
  }
  if (const Value* separators = bound.get(2); separators != nullptr && !separators->is_none()) {
    bool valid = separators->is_list() && separators->list().items.size() == 2 &&
                 separators->list().items[0].is_string() && separators->list().items[1].is_string();
    if (!valid) throw_filter_error("tojson: separators must be a pair of strings");
    options.item_separator = separators->list().items[0].text();
    options.key_separator = separators->list().items[1].text();
  }
  options.sort_keys = bound.get(3) != nullptr && is_truthy(*bound.get(3));
  return options;
}

Value filter_tojson(Interpreter& interpreter, const Value& input, CallArgs& args) {
  BoundArgs bound("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  StrBuilder out(interpreter.budget());
  append_json(out, input, json_options(bound));
  return Value::string(out.build());
}

constexpr FilterEntry kFilters[] = {
    {"abs", filter_abs},
    {"attr", filter_attr},
    {"batch", filter_batch},
    {"capitalize", filter_case<CaseMapping::kCapitalize>},
    {"center", filter_center},
    {"count", filter_length},
    {"d", filter_default},
    {"default", filter_default},
    {"dictsort", filter_dictsort},
    {"e", filter_escape},
    {"escape", filter_escape},
    {"first", filter_first},
    {"float", filter_float},
    {"format", filter_format},
    {"indent", filter_indent},
    {"int", filter_int},
    {"items", filter_items},
    {"join", filter_join},
    {"last", filter_last},
    {"length", filter_length},
    {"list", filter_list},
    {"lower", filter_case<CaseMapping::kLower>},
    {"map", filter_map},
    {"max", filter_min_max<true>},
    {"min", filter_min_max<false>},
    {"reject", filter_select<false, false>},
    {"rejectattr", filter_select<false, true>},
    {"replace", filter_replace},
    {"reverse", filter_reverse},
    {"round", filter_round},
    {"safe", filter_safe},
    {"select", filter_select<true, false>},
    {"selectattr", filter_select<true, true>},
    {"sort", filter_sort},
    {"string", filter_string},
    {"sum", filter_sum},
    {"title", filter_case<CaseMapping::kJinjaTitle>},
    {"tojson", filter_tojson},
    {"trim", filter_trim},
    {"unique", filter_unique},
    {"upper", filter_case<CaseMapping::kUpper>},
    {"wordcount", filter_wordcount},
};

}  // namespace

const FilterEntry* find_filter(std::string_view name) {
  for (const FilterEntry& entry : kFilters) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

}  // namespace hanlin::text::jinja
