// The tests chat templates use (`value is name(args)`): jinja2's built-in tests.
#include <cmath>

#include "core/error.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/operators.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

namespace {

const Value& only_argument(std::string_view test, CallArgs& args) {
  if (args.positional.size() != 1 || !args.keyword.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "test '" + std::string(test) + "' takes one argument");
  }
  return args.positional.front();
}

void no_arguments(std::string_view test, CallArgs& args) {
  if (!args.positional.empty() || !args.keyword.empty()) {
    throw Error(ErrorKind::kInvalidArgument, "test '" + std::string(test) + "' takes no arguments");
  }
}

// Tests that take no arguments: a predicate on the value.
template <bool (*predicate)(const Value&)>
bool simple_test(Interpreter&, const Value& value, CallArgs& args) {
  no_arguments("this", args);
  return predicate(value);
}

bool is_defined(const Value& v) {
  return !v.is_undefined();
}
bool is_undefined(const Value& v) {
  return v.is_undefined();
}
bool is_none(const Value& v) {
  return v.is_none();
}
bool is_boolean(const Value& v) {
  return v.is_bool();
}
bool is_true(const Value& v) {
  return v.is_bool() && v.as_bool();
}
bool is_false(const Value& v) {
  return v.is_bool() && !v.as_bool();
}
bool is_integer(const Value& v) {
  return v.is_int();
}
bool is_float(const Value& v) {
  return v.is_float();
}
bool is_number(const Value& v) {
  return v.is_number();
}
bool is_string(const Value& v) {
  return v.is_string();
}
bool is_mapping(const Value& v) {
  return v.is_dict();
}
// jinja2's sequence test asks for len() and __getitem__, its iterable test for iter(): str,
// list, tuple, dict and Undefined pass both.
bool is_sequence(const Value& v) {
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
}
// Undefined is callable in jinja2 (calling it fails).
bool is_callable(const Value& v) {
  return v.is_callable() || v.is_undefined();
}
bool is_escaped(const Value& v) {
  return v.is_string() && v.str().is_markup;
}

int64_t integer_subject(std::string_view test, const Value& value) {
  if (value.is_undefined()) throw_undefined(value.as_undefined());
  if (!value.is_integral()) {
    throw Error(ErrorKind::kInvalidArgument,
                "test '" + std::string(test) + "' needs an integer, got " + std::string(type_name(value)));
  }
  return value.as_int();
}

bool test_odd(Interpreter&, const Value& value, CallArgs& args) {
  no_arguments("odd", args);
  return integer_subject("odd", value) % 2 != 0;
}

bool test_even(Interpreter&, const Value& value, CallArgs& args) {
  no_arguments("even", args);
  return integer_subject("even", value) % 2 == 0;
}

bool test_divisibleby(Interpreter&, const Value& value, CallArgs& args) {
  const Value& divisor = only_argument("divisibleby", args);
  int64_t d = integer_subject("divisibleby", divisor);
  if (d == 0) throw Error(ErrorKind::kInvalidArgument, "integer division or modulo by zero");
  return integer_subject("divisibleby", value) % d == 0;
}

template <bool upper>
bool test_case(Interpreter&, const Value& value, CallArgs& args) {
  no_arguments(upper ? "upper" : "lower", args);
  if (!value.is_string()) return false;
  bool any_cased = false;
  std::string_view text = value.text();
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = decode_utf8(text, pos);
    if (upper ? is_lower_case(c) : is_upper_case(c)) return false;
    any_cased = any_cased || is_cased(c);
  }
  return any_cased;
}

bool test_sameas(Interpreter&, const Value& value, CallArgs& args) {
  const Value& other = only_argument("sameas", args);
  if (value.kind() != other.kind()) return false;
  if (value.identity() != nullptr) return value.identity() == other.identity();
  return python_equals(value, other);  // None, bools and small numbers are singletons in practice
}

bool test_in(Interpreter&, const Value& value, CallArgs& args) {
  return contains(only_argument("in", args), value);
}

template <CompareOp op>
bool test_compare(Interpreter&, const Value& value, CallArgs& args) {
  const Value& other = only_argument("comparison", args);
  switch (op) {
    case CompareOp::kEqual:
      return python_equals(value, other);
    case CompareOp::kNotEqual:
      return !python_equals(value, other);
    case CompareOp::kLess:
      return python_less(value, other);
    case CompareOp::kLessEqual:
      return !python_less(other, value);
    case CompareOp::kGreater:
      return python_less(other, value);
    default:
      return !python_less(value, other);
  }
}

bool test_filter(Interpreter&, const Value& value, CallArgs& args) {
  no_arguments("filter", args);
  return value.is_string() && find_filter(value.text()) != nullptr;
}

bool test_test(Interpreter&, const Value& value, CallArgs& args) {
  no_arguments("test", args);
  return value.is_string() && find_test(value.text()) != nullptr;
}

constexpr TestEntry kTests[] = {
    {"!=", test_compare<CompareOp::kNotEqual>},
    {"<", test_compare<CompareOp::kLess>},
    {"<=", test_compare<CompareOp::kLessEqual>},
    {"==", test_compare<CompareOp::kEqual>},
    {">", test_compare<CompareOp::kGreater>},
    {">=", test_compare<CompareOp::kGreaterEqual>},
    {"boolean", simple_test<is_boolean>},
    {"callable", simple_test<is_callable>},
    {"defined", simple_test<is_defined>},
    {"divisibleby", test_divisibleby},
    {"eq", test_compare<CompareOp::kEqual>},
    {"equalto", test_compare<CompareOp::kEqual>},
    {"escaped", simple_test<is_escaped>},
    {"even", test_even},
    {"false", simple_test<is_false>},
    {"filter", test_filter},
    {"float", simple_test<is_float>},
    {"ge", test_compare<CompareOp::kGreaterEqual>},
    {"greaterthan", test_compare<CompareOp::kGreater>},
    {"gt", test_compare<CompareOp::kGreater>},
    {"in", test_in},
    {"integer", simple_test<is_integer>},
    {"iterable", simple_test<is_sequence>},
    {"le", test_compare<CompareOp::kLessEqual>},
    {"lessthan", test_compare<CompareOp::kLess>},
    {"lower", test_case<false>},
    {"lt", test_compare<CompareOp::kLess>},
    {"mapping", simple_test<is_mapping>},
    {"ne", test_compare<CompareOp::kNotEqual>},
    {"none", simple_test<is_none>},
    {"number", simple_test<is_number>},
    {"odd", test_odd},
    {"sameas", test_sameas},
    {"sequence", simple_test<is_sequence>},
    {"string", simple_test<is_string>},
    {"test", test_test},
    {"true", simple_test<is_true>},
    {"undefined", simple_test<is_undefined>},
    {"upper", test_case<true>},
};

}  // namespace

const TestEntry* find_test(std::string_view name) {
  for (const TestEntry& entry : kTests) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

}  // namespace hanlin::text::jinja
