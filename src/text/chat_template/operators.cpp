// Python operator semantics, attribute/item access and slicing for template values.
#include "text/chat_template/operators.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/interpreter.h"
#include "text/chat_template/python_format.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

namespace {

[[noreturn]] void throw_type_error(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, message);
}

[[noreturn]] void throw_operand_error(std::string_view op, const Value& left, const Value& right) {
  throw_type_error("unsupported operand type(s) for " + std::string(op) + ": '" +
                   std::string(type_name(left)) + "' and '" + std::string(type_name(right)) + "'");
}

int64_t checked(bool overflowed, int64_t value) {
  if (overflowed)
    throw Error(ErrorKind::kUnsupported, "integer overflow (beyond 64 bits) in a chat template");
  return value;
}

Value add_numbers(BinaryOp op, const Value& a, const Value& b) {
  if (a.is_float() || b.is_float()) {
    double x = a.as_double();
    double y = b.as_double();
    return Value::number(op == BinaryOp::kAdd ? x + y : op == BinaryOp::kSubtract ? x - y : x * y);
  }
  int64_t result = 0;
  bool overflowed = op == BinaryOp::kAdd        ? __builtin_add_overflow(a.as_int(), b.as_int(), &result)
                    : op == BinaryOp::kSubtract ? __builtin_sub_overflow(a.as_int(), b.as_int(), &result)
                                                : __builtin_mul_overflow(a.as_int(), b.as_int(), &result);
  return Value::integer(checked(overflowed, result));
}

[[noreturn]] void throw_division_by_zero() {
  throw_type_error("division by zero");
}

Value divide(BinaryOp op, const Value& a, const Value& b) {
  if (op == BinaryOp::kDivide) {
    if (b.as_double() == 0.0) throw_division_by_zero();
    return Value::number(a.as_double() / b.as_double());
  }
  if (a.is_float() || b.is_float()) {
    double x = a.as_double();
    double y = b.as_double();
    if (y == 0.0) throw_division_by_zero();
    double mod = std::fmod(x, y);
    if (mod != 0.0 && ((y < 0) != (mod < 0))) mod += y;  // Python: the result takes the divisor's sign
    if (op == BinaryOp::kModulo) return Value::number(mod == 0.0 ? std::copysign(0.0, y) : mod);
    return Value::number(std::floor((x - mod) / y + 0.0));
  }
  int64_t x = a.as_int();
  int64_t y = b.as_int();
  if (y == 0) throw_division_by_zero();
  if (x == std::numeric_limits<int64_t>::min() && y == -1) checked(true, 0);
  int64_t quotient = x / y;
  int64_t remainder = x % y;
  if (remainder != 0 && ((remainder < 0) != (y < 0))) {
    --quotient;
    remainder += y;
  }
  return Value::integer(op == BinaryOp::kModulo ? remainder : quotient);
}

Value power(const Value& a, const Value& b) {
  if (a.is_float() || b.is_float() || b.as_int() < 0) {
    if (a.as_double() == 0.0 && b.as_double() < 0)
      throw_type_error("0.0 cannot be raised to a negative power");
    return Value::number(std::pow(a.as_double(), b.as_double()));
  }
  int64_t base = a.as_int();
  int64_t exponent = b.as_int();
  int64_t result = 1;
  while (exponent > 0) {
    if ((exponent & 1) && __builtin_mul_overflow(result, base, &result)) checked(true, 0);
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base)) checked(true, 0);
  }
  return Value::integer(result);
}

Value concat_strings(Budget& budget, const StrData& a, const StrData& b) {
  StrBuilder out(budget);
  bool markup = a.is_markup || b.is_markup;
  // markupsafe: adding plain text to Markup escapes the plain side.
  if (markup && !a.is_markup) {
    append_html_escaped(out, a);
  } else {
    out.append(a);
  }
  if (markup && !b.is_markup) {
    append_html_escaped(out, b);
  } else {
    out.append(b);
  }
  return Value::string(out.build(markup));
}

Value repeat(Budget& budget, const Value& sequence, int64_t times) {
  if (times <= 0) return sequence.is_string() ? make_string("") : make_list({}, sequence.list().style);
  if (sequence.is_string()) {
    const StrData& text = sequence.str();
    if (!text.text.empty() && static_cast<uint64_t>(times) > budget.max_string_bytes() / text.text.size()) {
      budget.charge_bytes(0, budget.max_string_bytes() + 1);
    }
    StrBuilder out(budget);
    for (int64_t i = 0; i < times; ++i) out.append(text);
    return Value::string(out.build());
  }
  const ListData& list = sequence.list();
  budget.charge_steps(static_cast<uint64_t>(times) * (list.items.size() + 1));
  std::vector<Value> items;
  for (int64_t i = 0; i < times; ++i) items.insert(items.end(), list.items.begin(), list.items.end());
  return make_list(std::move(items), list.style == ListStyle::kTuple ? ListStyle::kTuple : ListStyle::kList);
}

Value add(Interpreter& interpreter, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return add_numbers(BinaryOp::kAdd, a, b);
  if (a.is_string() && b.is_string()) return concat_strings(interpreter.budget(), a.str(), b.str());
  bool same_sequence = a.is_list() && b.is_list() && a.list().style == b.list().style &&
                       (a.list().style == ListStyle::kList || a.list().style == ListStyle::kTuple);
  if (same_sequence) {
    std::vector<Value> items = a.list().items;
    items.insert(items.end(), b.list().items.begin(), b.list().items.end());
    interpreter.budget().charge_steps(items.size());
    return make_list(std::move(items),
                     a.list().style == ListStyle::kTuple ? ListStyle::kTuple : ListStyle::kList);
  }
  if (a.is_string() && !b.is_undefined()) {
    throw_type_error("can only concatenate str (not \"" + std::string(type_name(b)) + "\") to str");
  }
  throw_operand_error("+", a, b);
}

Value multiply(Interpreter& interpreter, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return add_numbers(BinaryOp::kMultiply, a, b);
  bool a_sequence = a.is_string() || a.is_list();
  bool b_sequence = b.is_string() || b.is_list();
  if (a_sequence && b.is_integral()) return repeat(interpreter.budget(), a, b.as_int());
  if (b_sequence && a.is_integral()) return repeat(interpreter.budget(), b, a.as_int());
  throw_operand_error("*", a, b);
}

Value concat_as_strings(Budget& budget, const Value& a, const Value& b) {
  StrBuilder out(budget);
  append_str(out, a);
  append_str(out, b);
  return Value::string(out.build());
}

// Python's slice.indices(length) for a step that is not zero.
struct SliceBounds {
  int64_t start;
  int64_t stop;
  int64_t step;
};

bool slice_bounds(const Value& start, const Value& stop, const Value& step, int64_t length,
                  SliceBounds& bounds) {
  for (const Value* part : {&start, &stop, &step}) {
    if (!part->is_none() && !part->is_undefined() && !part->is_integral()) return false;
  }
  auto given = [](const Value& v) { return v.is_integral(); };
  bounds.step = given(step) ? step.as_int() : 1;
  if (bounds.step == 0) throw_type_error("slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t fallback) {
    if (!given(v)) return fallback;
    int64_t index = v.as_int();
    if (index < 0) {
      index += length;
      if (index < 0) index = bounds.step < 0 ? -1 : 0;
    } else if (index >= length) {
      index = bounds.step < 0 ? length - 1 : length;
    }
    return index;
  };
  bounds.start = clamp(start, bounds.step < 0 ? length - 1 : 0);
  bounds.stop = clamp(stop, bounds.step < 0 ? -1 : length);
  return true;
}

template <typename Visit>
void for_each_slice_index(const SliceBounds& b, Visit visit) {
  if (b.step > 0) {
    for (int64_t i = b.start; i < b.stop; i += b.step) visit(i);
  } else {
    for (int64_t i = b.start; i > b.stop; i += b.step) visit(i);
  }
}

Value slice_string(Budget& budget, const StrData& text, const SliceBounds& bounds) {
  StrBuilder out(budget);
  if (bounds.step == 1) {
    if (bounds.start < bounds.stop) {
      size_t begin = text.is_ascii() ? bounds.start : byte_offset_of(text.text, bounds.start);
      size_t end = text.is_ascii() ? bounds.stop : byte_offset_of(text.text, bounds.stop);
      out.append(text, begin, end);
    }
    return Value::string(out.build());
  }
  // Any other step: index the code points once, then copy them in slice order.
  std::vector<uint32_t> starts;
  for (size_t pos = 0; pos < text.text.size();) {
    starts.push_back(static_cast<uint32_t>(pos));
    decode_utf8(text.text, pos);
  }
  starts.push_back(static_cast<uint32_t>(text.text.size()));
  for_each_slice_index(bounds, [&](int64_t i) { out.append(text, starts[i], starts[i + 1]); });
  return Value::string(out.build());
}

// Attributes of `loop` inside a for-loop body.
Value loop_attribute(const Value& loop_value, std::string_view name) {
  const LoopState& loop = loop_value.loop_state();
  const auto& items = loop.items->items;
  auto length = static_cast<int64_t>(items.size());
  auto index0 = static_cast<int64_t>(loop.index0);
  if (name == "index") return Value::integer(index0 + 1);
  if (name == "index0") return Value::integer(index0);
  if (name == "revindex") return Value::integer(length - index0);
  if (name == "revindex0") return Value::integer(length - index0 - 1);
  if (name == "first") return Value::boolean(index0 == 0);
  if (name == "last") return Value::boolean(index0 + 1 == length);
  if (name == "length") return Value::integer(length);
  if (name == "depth") return Value::integer(1);
  if (name == "depth0") return Value::integer(0);
  if (name == "previtem") {
    return index0 > 0 ? items[index0 - 1]
                      : Value::undefined({Undefined::Reason::kAttribute,
                                          static_cast<uint8_t>(ValueKind::kLoop), "previtem"});
  }
  if (name == "nextitem") {
    return index0 + 1 < length ? items[index0 + 1]
                               : Value::undefined({Undefined::Reason::kAttribute,
                                                   static_cast<uint8_t>(ValueKind::kLoop), "nextitem"});
  }
  return Value::undefined({Undefined::Reason::kAttribute, static_cast<uint8_t>(ValueKind::kLoop), name});
}

bool is_python_internal(std::string_view name) {
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return true;
  static constexpr std::string_view kInternal[] = {
      "mro",      "func_globals", "func_code", "func_closure", "im_class", "im_func",
      "im_self",  "f_globals",    "f_locals",  "f_builtins",   "f_back",   "f_code",
      "gi_frame", "gi_code",      "cr_frame",  "cr_code",      "ag_frame", "ag_code",
      "tb_frame", "tb_next",      "co_code",   "format_map",
  };
  for (std::string_view internal : kInternal) {
    if (name == internal) return true;
  }
  return false;
}

[[noreturn]] void throw_sandbox(std::string_view name) {
  throw Error(ErrorKind::kInvalidArgument, "access to '" + std::string(name) +
                                               "' is not allowed: the template sandbox exposes values only");
}

// Methods that would change a list or dict: jinja2's immutable sandbox makes them unsafe. Returns
// the table's copy of the name (it outlives any request string), or empty.
std::string_view mutating_method(const Value& object, std::string_view name) {
  static constexpr std::string_view kDict[] = {"clear", "pop", "popitem", "setdefault", "update", "fromkeys"};
  static constexpr std::string_view kList[] = {"append", "reverse", "insert", "sort",
                                               "extend", "remove",  "pop",    "clear"};
  if (object.is_dict()) {
    for (std::string_view method : kDict) {
      if (name == method) return method;
    }
  } else if (object.is_list() && object.list().style != ListStyle::kTuple) {
    for (std::string_view method : kList) {
      if (name == method) return method;
    }
  }
  return {};
}

Value bound_method(const Value& object, MethodRef method) {
  auto callable = std::make_shared<Callable>();
  callable->name = method.name;
  callable->builtin = method.fn;
  callable->self = object;
  return Value::callable(std::move(callable));
}

Value undefined_attribute(const Value& object, std::string_view name) {
  return Value::undefined({Undefined::Reason::kAttribute, static_cast<uint8_t>(object.kind()), name});
}

}  // namespace

void append_html_escaped(StrBuilder& out, const StrData& text) {
  size_t run = 0;
  bool is_data = !text.data.empty();
  for (size_t i = 0; i < text.text.size(); ++i) {
    const char* entity = nullptr;
    switch (text.text[i]) {
      case '&':
        entity = "&amp;";
        break;
      case '<':
        entity = "&lt;";
        break;
      case '>':
        entity = "&gt;";
        break;
      case '"':
        entity = "&#34;";
        break;
      case '\'':
        entity = "&#39;";
        break;
      default:
        continue;
    }
    out.append(text, run, i);
    out.append_raw(entity, is_data);
    run = i + 1;
  }
  out.append(text, run, text.text.size());
}

Value binary_operation(Interpreter& interpreter, BinaryOp op, const Value& a, const Value& b) {
  if (op == BinaryOp::kConcat) return concat_as_strings(interpreter.budget(), a, b);
  if (a.is_undefined()) throw_undefined(a.as_undefined());
  if (b.is_undefined()) throw_undefined(b.as_undefined());
  switch (op) {
    case BinaryOp::kAdd:
      return add(interpreter, a, b);
    case BinaryOp::kMultiply:
      return multiply(interpreter, a, b);
    case BinaryOp::kModulo:
      if (a.is_string()) return percent_format(interpreter.budget(), a.str(), b);
      break;
    default:
      break;
  }
  if (!a.is_number() || !b.is_number()) {
    static constexpr std::string_view kSymbols[] = {"+", "-", "*", "/", "//", "%", "** or pow()", "~"};
    throw_operand_error(kSymbols[static_cast<int>(op)], a, b);
  }
  switch (op) {
    case BinaryOp::kSubtract:
      return add_numbers(op, a, b);
    case BinaryOp::kPower:
      return power(a, b);
    default:
      return divide(op, a, b);
  }
}

Value negate(const Value& operand) {
  if (operand.is_undefined()) throw_undefined(operand.as_undefined());
  if (operand.is_float()) return Value::number(-operand.as_double());
  if (operand.is_integral())
    return Value::integer(
        checked(operand.as_int() == std::numeric_limits<int64_t>::min(), -operand.as_int()));
  throw_type_error("bad operand type for unary -: '" + std::string(type_name(operand)) + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case ValueKind::kUndefined:
      return false;
    case ValueKind::kString:
      if (!item.is_string()) {
        throw_type_error("'in <string>' requires string as left operand, not " +
                         std::string(type_name(item)));
      }
      return container.text().find(item.text()) != std::string_view::npos;
    case ValueKind::kList:
      for (const Value& element : container.list().items) {
        if (python_equals(element, item)) return true;
      }
      return false;
    case ValueKind::kDict:
      if (item.is_dict() || (item.is_list() && item.list().style != ListStyle::kTuple)) {
        throw_type_error("unhashable type: '" + std::string(type_name(item)) + "'");
      }
      return container.dict().find(item) != nullptr;
    default:
      throw_type_error("argument of type '" + std::string(type_name(container)) + "' is not iterable");
  }
}

Value get_attribute(const Value& object, std::string_view name) {
  if (object.is_undefined()) throw_undefined(object.as_undefined());
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') throw_sandbox(name);
  if (MethodRef method = find_method(object, name)) return bound_method(object, method);
  if (std::string_view unsafe = mutating_method(object, name); !unsafe.empty()) {
    return Value::undefined({Undefined::Reason::kUnsafe, static_cast<uint8_t>(object.kind()), unsafe});
  }
  const Value* found = nullptr;
  if (object.is_dict()) found = object.dict().find(name);
  if (object.is_namespace()) found = object.ns()->attributes.find(name);
  if (found != nullptr) return *found;
  if (object.is_loop()) return loop_attribute(object, name);
  if (object.is_callable() && name == "name") return make_string(std::string(object.callable().name));
  if (is_python_internal(name)) throw_sandbox(name);
  return undefined_attribute(object, name);
}

Value get_item(Budget& budget, const Value& object, const Value& key) {
  if (object.is_undefined()) throw_undefined(object.as_undefined());
  if (object.is_dict()) {
    if (const Value* found = object.dict().find(key)) return *found;
  } else if (key.is_integral() && (object.is_list() || object.is_string())) {
    int64_t length = object.is_list() ? static_cast<int64_t>(object.list().items.size())
                                      : static_cast<int64_t>(object.str().num_code_points);
    int64_t index = key.as_int() < 0 ? key.as_int() + length : key.as_int();
    if (index >= 0 && index < length) {
      if (object.is_list()) return object.list().items[index];
      return string_char(budget, object.str(), static_cast<size_t>(index));
    }
  }
  if (key.is_string()) return get_attribute_by_runtime_name(object, key.text());
  return Value::undefined({Undefined::Reason::kItem, static_cast<uint8_t>(object.kind()), {}});
}

Value get_attribute_by_runtime_name(const Value& object, std::string_view name) {
  Value result = get_attribute(object, name);
  // An Undefined would keep a view of `name`, which may be a temporary string.
  if (result.is_undefined() && result.as_undefined().reason != Undefined::Reason::kUnsafe) {
    return Value::undefined({Undefined::Reason::kItem, static_cast<uint8_t>(object.kind()), {}});
  }
  return result;
}

Value get_slice(Budget& budget, const Value& object, const Value& start, const Value& stop,
                const Value& step) {
  if (object.is_undefined()) throw_undefined(object.as_undefined());
  if (!object.is_list() && !object.is_string()) return Value::undefined({Undefined::Reason::kItem, 0, {}});
  int64_t length = object.is_list() ? static_cast<int64_t>(object.list().items.size())
                                    : static_cast<int64_t>(object.str().num_code_points);
  SliceBounds bounds{};
  if (!slice_bounds(start, stop, step, length, bounds))
    return Value::undefined({Undefined::Reason::kItem, 0, {}});
  if (object.is_string()) return slice_string(budget, object.str(), bounds);
  std::vector<Value> items;
  const auto& source = object.list().items;
  for_each_slice_index(bounds, [&](int64_t i) { items.push_back(source[i]); });
  budget.charge_steps(items.size());
  ListStyle style = object.list().style == ListStyle::kTuple ? ListStyle::kTuple : ListStyle::kList;
  return make_list(std::move(items), style);
}

Value string_char(Budget& budget, const StrData& text, size_t index) {
  size_t begin = text.is_ascii() ? index : byte_offset_of(text.text, index);
  size_t end = begin;
  decode_utf8(text.text, end);
  StrBuilder out(budget);
  out.append(text, begin, end);
  return Value::string(out.build());
}

ListPtr iterate(Budget& budget, const Value& iterable) {
  switch (iterable.kind()) {
    case ValueKind::kUndefined:
      return make_list({}).list_ptr();
    case ValueKind::kList:
      return iterable.list_ptr();
    case ValueKind::kDict: {
      std::vector<Value> keys;
      keys.reserve(iterable.dict().size());
      for (const auto& [key, value] : iterable.dict().entries()) keys.push_back(key);
      budget.charge_steps(keys.size());
      return make_list(std::move(keys)).list_ptr();
    }
    case ValueKind::kString: {
      const StrData& text = iterable.str();
      std::vector<Value> characters;
      characters.reserve(text.num_code_points);
      for (size_t pos = 0; pos < text.text.size();) {
        size_t begin = pos;
        decode_utf8(text.text, pos);
        StrBuilder out(budget);
        out.append(text, begin, pos);
        characters.push_back(Value::string(out.build()));
      }
      return make_list(std::move(characters)).list_ptr();
    }
    default:
      throw_type_error("'" + std::string(type_name(iterable)) + "' object is not iterable");
  }
}

}  // namespace hanlin::text::jinja
