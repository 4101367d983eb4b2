// Methods of template values: Python's str and dict methods, the read-only list methods, and
// loop.cycle()/loop.changed(). Mutating list and dict methods are absent: the sandbox is immutable.
#include "core/error.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/interpreter.h"
#include "text/chat_template/operators.h"
#include "text/chat_template/string_ops.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

namespace {

const StrData* optional_string(std::string_view function, const Value* value) {
  if (value == nullptr || value->is_none()) return nullptr;
  string_argument(function, *value);
  return &value->str();
}

const StrData& required_string(std::string_view function, const Value* value) {
  if (value == nullptr)
    throw Error(ErrorKind::kInvalidArgument, std::string(function) + "() is missing an argument");
  string_argument(function, *value);
  return value->str();
}

int64_t optional_int(std::string_view function, const Value* value, int64_t fallback) {
  return value == nullptr ? fallback : int_argument(function, *value);
}

const Value kNone = Value::none();

// ---- str ----

template <StripSide side>
Value str_strip(Interpreter& interpreter, const Value& self, CallArgs& args) {
  BoundArgs bound("strip", args, {"chars"});
  return strip(interpreter.budget(), self.str(), optional_string("strip", bound.get(0)), side);
}

template <bool from_right>
Value str_split(Interpreter& interpreter, const Value& self, CallArgs& args) {
  BoundArgs bound("split", args, {"sep", "maxsplit"});
  return split(interpreter.budget(), self.str(), optional_string("split", bound.get(0)),
               optional_int("split", bound.get(1), -1), from_right);
}

Value str_splitlines(Interpreter& interpreter, const Value& self, CallArgs& args) {
  BoundArgs bound("splitlines", args, {"keepends"});
  return splitlines(interpreter.budget(), self.str(), bound.get(0) != nullptr && is_truthy(*bound.get(0)));
}

Value str_replace(Interpreter& interpreter, const Value& self, CallArgs& args) {
  BoundArgs bound("replace", args, {"old", "new", "count"});
  return replace(interpreter.budget(), self.str(), required_string("replace", bound.get(0)),
                 required_string("replace", bound.get(1)), optional_int("replace", bound.get(2), -1));
}

template <CaseMapping mapping>
Value str_case(Interpreter& interpreter, const Value& self, CallArgs& args) {
  BoundArgs bound("str method", args, {});
  return map_case(interpreter.budget(), self.str(), mapping);
}

template <bool from_right, bool must_find>
Value str_find(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("find", args, {"sub", "start", "end"});
  int64_t index = find(self.str(), required_string("find", bound.get(0)), bound.get_or(1, kNone),
                       bound.get_or(2, kNone), from_right);
  if (must_find && index < 0) throw Error(ErrorKind::kInvalidArgument, "substring not found");
  return Value::integer(index);
}

Value str_count(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("count", args, {"sub", "start", "end"});
  return Value::integer(count(self.str(), required_string("count", bound.get(0)), bound.get_or(1, kNone),
                              bound.get_or(2, kNone)));
}

template <bool ends>
Value str_affix(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound(ends ? "endswith" : "startswith", args, {"affix", "start", "end"});
  if (bound.get(0) == nullptr)
    throw Error(ErrorKind::kInvalidArgument, "startswith/endswith need an argument");
  return Value::boolean(
      starts_or_ends_with(self.str(), *bound.get(0), bound.get_or(1, kNone), bound.get_or(2, kNone), ends));
}

Value str_join(Interpreter& interpreter, const Value& self, CallArgs& args) {
  BoundArgs bound("join", args, {"iterable"});
  if (bound.get(0) == nullptr) throw Error(ErrorKind::kInvalidArgument, "join() takes exactly one argument");
  ListPtr items = iterate(interpreter.budget(), *bound.get(0));
  return join(interpreter.budget(), self.str(), items->items, false);
}

Value str_format_method(Interpreter& interpreter, const Value& self, CallArgs& args) {
  return str_format(interpreter.budget(), self.str(), args);
}

// str.isdigit() and friends: true when the string is non-empty and every character passes.
template <bool (*predicate)(char32_t)>
Value str_is(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("str method", args, {});
  std::string_view text = self.text();
  if (text.empty()) return Value::boolean(false);
  for (size_t pos = 0; pos < text.size();) {
    if (!predicate(decode_utf8(text, pos))) return Value::boolean(false);
  }
  return Value::boolean(true);
}

bool is_ascii_digit(char32_t c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char32_t c) {
  return is_word_char(c) && c != '_' && !(c >= '0' && c <= '9');
}
bool is_alnum(char32_t c) {
  return is_word_char(c) && c != '_';
}

// str.isupper()/islower(): at least one cased character, and none of the other case.
template <bool upper>
Value str_is_case(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("str method", args, {});
  bool any_cased = false;
  std::string_view text = self.text();
  for (size_t pos = 0; pos < text.size();) {
    char32_t c = decode_utf8(text, pos);
    if (upper ? is_lower_case(c) : is_upper_case(c)) return Value::boolean(false);
    any_cased = any_cased || is_cased(c);
  }
  return Value::boolean(any_cased);
}

// ---- dict ----

Value dict_get(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("get", args, {"key", "default"});
  if (bound.get(0) == nullptr) throw Error(ErrorKind::kInvalidArgument, "get() takes at least 1 argument");
  const Value* found = self.dict().find(*bound.get(0));
  return found != nullptr ? *found : bound.get_or(1, kNone);
}

template <ListStyle style>
Value dict_view(Interpreter& interpreter, const Value& self, CallArgs& args) {
  BoundArgs bound("dict method", args, {});
  std::vector<Value> items;
  items.reserve(self.dict().size());
  for (const auto& [key, value] : self.dict().entries()) {
    if (style == ListStyle::kDictKeys) {
      items.push_back(key);
    } else if (style == ListStyle::kDictValues) {
      items.push_back(value);
    } else {
      items.push_back(make_list({key, value}, ListStyle::kTuple));
    }
  }
  interpreter.budget().charge_steps(items.size());
  return make_list(std::move(items), style);
}

Value dict_copy(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("copy", args, {});
  return self;  // dicts are immutable here, so a copy is the same value
}

// ---- list and tuple ----

Value list_count(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("count", args, {"value"});
  int64_t found = 0;
  for (const Value& item : self.list().items)
    found += bound.get(0) != nullptr && python_equals(item, *bound.get(0));
  return Value::integer(found);
}

Value list_index(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("index", args, {"value"});
  const auto& items = self.list().items;
  for (size_t i = 0; i < items.size(); ++i) {
    if (bound.get(0) != nullptr && python_equals(items[i], *bound.get(0)))
      return Value::integer(static_cast<int64_t>(i));
  }
  throw Error(ErrorKind::kInvalidArgument, "list.index(x): x not in list");
}

Value list_copy(Interpreter&, const Value& self, CallArgs& args) {
  BoundArgs bound("copy", args, {});
  return make_list(self.list().items);
}

// ---- loop ----

Value loop_cycle(Interpreter&, const Value& self, CallArgs& args) {
  if (args.positional.empty()) throw Error(ErrorKind::kInvalidArgument, "no items for cycling given");
  return args.positional[self.loop_state().index0 % args.positional.size()];
}

Value loop_changed(Interpreter&, const Value& self, CallArgs& args) {
  LoopState& loop = self.loop_state();
  Value current = make_list(args.positional, ListStyle::kTuple);
  if (loop.has_changed_value && python_equals(loop.last_changed, current)) return Value::boolean(false);
  loop.last_changed = std::move(current);
  loop.has_changed_value = true;
  return Value::boolean(true);
}

struct MethodEntry {
  std::string_view name;
  BuiltinFn fn;
};

constexpr MethodEntry kStrMethods[] = {
    {"capitalize", str_case<CaseMapping::kCapitalize>},
    {"count", str_count},
    {"endswith", str_affix<true>},
    {"find", str_find<false, false>},
    {"format", str_format_method},
    {"index", str_find<false, true>},
    {"isalnum", str_is<is_alnum>},
    {"isalpha", str_is<is_alpha>},
    {"isdigit", str_is<is_ascii_digit>},
    {"islower", str_is_case<false>},
    {"isspace", str_is<is_python_space>},
    {"isupper", str_is_case<true>},
    {"join", str_join},
    {"lower", str_case<CaseMapping::kLower>},
    {"lstrip", str_strip<StripSide::kLeft>},
    {"replace", str_replace},
    {"rfind", str_find<true, false>},
    {"rindex", str_find<true, true>},
    {"rsplit", str_split<true>},
    {"rstrip", str_strip<StripSide::kRight>},
    {"split", str_split<false>},
    {"splitlines", str_splitlines},
    {"startswith", str_affix<false>},
    {"strip", str_strip<StripSide::kBoth>},
    {"title", str_case<CaseMapping::kTitle>},
    {"upper", str_case<CaseMapping::kUpper>},
};

constexpr MethodEntry kDictMethods[] = {
    {"copy", dict_copy},
    {"get", dict_get},
    {"items", dict_view<ListStyle::kDictItems>},
    {"keys", dict_view<ListStyle::kDictKeys>},
    {"values", dict_view<ListStyle::kDictValues>},
};

constexpr MethodEntry kListMethods[] = {{"copy", list_copy}, {"count", list_count}, {"index", list_index}};
constexpr MethodEntry kTupleMethods[] = {{"count", list_count}, {"index", list_index}};
constexpr MethodEntry kLoopMethods[] = {{"changed", loop_changed}, {"cycle", loop_cycle}};

template <size_t N>
MethodRef find_in(const MethodEntry (&table)[N], std::string_view name) {
  for (const MethodEntry& entry : table) {
    if (entry.name == name) return {entry.fn, entry.name};
  }
  return {};
}

}  // namespace

MethodRef find_method(const Value& self, std::string_view name) {
  switch (self.kind()) {
    case ValueKind::kString:
      return find_in(kStrMethods, name);
    case ValueKind::kDict:
      return find_in(kDictMethods, name);
    case ValueKind::kList:
      return self.list().style == ListStyle::kTuple ? find_in(kTupleMethods, name)
                                                    : find_in(kListMethods, name);
    case ValueKind::kLoop:
      return find_in(kLoopMethods, name);
    default:
      return {};
  }
}

}  // namespace hanlin::text::jinja
