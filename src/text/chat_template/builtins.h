// Registries of what templates can call: filters (`x | trim`), tests (`x is string`), global
// functions (range, namespace, raise_exception, ...) and methods of values ('a'.split(), d.items()).
// Each is a table from name to function, looked up once when a template is compiled.
#pragma once

#include <string_view>

#include "text/chat_template/value.h"

namespace hanlin::text::jinja {

using FilterFn = Value (*)(Interpreter& interpreter, const Value& input, CallArgs& args);
using TestFn = bool (*)(Interpreter& interpreter, const Value& input, CallArgs& args);

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

// Null when there is no such filter / test (the template fails only if it reaches the use).
const FilterEntry* find_filter(std::string_view name);
const TestEntry* find_test(std::string_view name);

// A global function as a callable value, or Undefined.
Value find_global(std::string_view name);

// A method of a str, dict, list or loop value; `name` is the registry's own copy of the name.
struct MethodRef {
  BuiltinFn fn = nullptr;
  std::string_view name;
  explicit operator bool() const { return fn != nullptr; }
};

// The method `name` of `self`, or an empty MethodRef when the value has no such method.
MethodRef find_method(const Value& self, std::string_view name);

// Binds a builtin's arguments to its parameter names, as Python would, and checks the count.
class BoundArgs {
 public:
  BoundArgs(std::string_view function, CallArgs& args, std::initializer_list<std::string_view> params);
  // The argument for parameter `index`, or null when it was not passed.
  const Value* get(size_t index) const { return index < values_.size() ? values_[index] : nullptr; }
  const Value& get_or(size_t index, const Value& fallback) const {
    const Value* value = get(index);
    return value != nullptr ? *value : fallback;
  }

 private:
  std::vector<const Value*> values_;
};

// Argument helpers that throw Error naming the function when the type is wrong.
int64_t int_argument(std::string_view function, const Value& value);
std::string_view string_argument(std::string_view function, const Value& value);

}  // namespace hanlin::text::jinja
