// The values a chat template computes with: Python's str, int, float, bool and None, lists,
// tuples and dicts, jinja2's Undefined and namespace(), macros and bound methods. Lists and dicts
// are immutable (the sandbox is jinja2's ImmutableSandboxedEnvironment); only namespaces change.
// Every string carries its provenance: which of its bytes came from request data.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace hanlin::text::jinja {

// Limits that end a runaway template: each is charged as the interpreter works.
class Budget {
 public:
  Budget(uint64_t max_steps, uint64_t max_work_bytes, size_t max_string_bytes)
      : steps_left_(max_steps), bytes_left_(max_work_bytes), max_string_bytes_(max_string_bytes) {}
  void charge_step() {
    if (steps_left_ == 0) fail_steps();
    --steps_left_;
  }
  void charge_steps(uint64_t steps) {
    if (steps > steps_left_) fail_steps();
    steps_left_ -= steps;
  }
  // Charges `bytes` newly built string bytes; throws when a string would pass the string limit.
  void charge_bytes(uint64_t bytes, size_t resulting_size);
  size_t max_string_bytes() const { return max_string_bytes_; }

 private:
  [[noreturn]] static void fail_steps();
  uint64_t steps_left_;
  uint64_t bytes_left_;
  size_t max_string_bytes_;
};

// A byte range [begin, end) of a string that came from request data.
struct Span {
  uint32_t begin;
  uint32_t end;
};

// The data spans of one string: sorted, disjoint and never adjacent (adjacent ones merge).
class Provenance {
 public:
  bool empty() const { return spans_.empty(); }
  const std::vector<Span>& spans() const { return spans_; }
  // Adds [begin, end); begin must not precede the end of the last span.
  void add(uint32_t begin, uint32_t end);
  // Adds the spans of `other` that lie in [from, to), moved so that `from` lands on `at`.
  void add_part(const Provenance& other, uint32_t from, uint32_t to, uint32_t at);
  bool overlaps(uint32_t begin, uint32_t end) const;

 private:
  std::vector<Span> spans_;
};

struct StrData {
  std::string text;
  Provenance data;
  size_t num_code_points = 0;
  bool is_markup = false;  // markupsafe.Markup (from |safe or |e): `+` escapes the other side
  bool is_ascii() const { return num_code_points == text.size(); }
};
using StrPtr = std::shared_ptr<const StrData>;

// Builds a string piece by piece, keeping the provenance of every piece.
class StrBuilder {
 public:
  explicit StrBuilder(Budget& budget) : budget_(budget) {}
  void literal(std::string_view text) { append_raw(text, false); }
  void append_raw(std::string_view text, bool is_data);
  void append(const StrData& piece) { append(piece, 0, piece.text.size()); }
  void append(const StrData& piece, size_t begin, size_t end);
  size_t size() const { return text_.size(); }
  StrPtr build(bool is_markup = false);

 private:
  void charge(size_t bytes);
  Budget& budget_;
  std::string text_;
  Provenance data_;
};

class Value;
struct ListData;
class DictData;
struct NamespaceData;
struct Callable;
struct LoopState;
using ListPtr = std::shared_ptr<const ListData>;
using DictPtr = std::shared_ptr<const DictData>;
using CallablePtr = std::shared_ptr<const Callable>;
using LoopPtr = std::shared_ptr<LoopState>;
// Namespaces are owned by the render that made them (they may refer to each other in cycles).
using NamespaceRef = NamespaceData*;

// jinja2's default Undefined: prints as "", is falsy and iterates as empty, but fails on any
// attribute access or arithmetic. It remembers why it exists for the error message.
struct Undefined {
  enum class Reason : uint8_t { kName, kAttribute, kItem, kUnsafe, kEmpty };
  Reason reason = Reason::kName;
  uint8_t owner_kind = 0;  // ValueKind of the object it was looked up on
  std::string_view name;   // points into the compiled template, or empty
};

enum class ValueKind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kDict,
  kNamespace,
  kCallable,
  kLoop,
};

class Value {
 public:
  Value() = default;  // Undefined
  static Value undefined(Undefined why) { return Value(Storage(std::in_place_index<0>, why)); }
  static Value none() { return Value(Storage(std::in_place_index<1>, nullptr)); }
  static Value boolean(bool b) { return Value(Storage(std::in_place_index<2>, b)); }
  static Value integer(int64_t i) { return Value(Storage(std::in_place_index<3>, i)); }
  static Value number(double d) { return Value(Storage(std::in_place_index<4>, d)); }
  static Value string(StrPtr s) { return Value(Storage(std::in_place_index<5>, std::move(s))); }
  static Value list(ListPtr l) { return Value(Storage(std::in_place_index<6>, std::move(l))); }
  static Value dict(DictPtr d) { return Value(Storage(std::in_place_index<7>, std::move(d))); }
  static Value namespace_ref(NamespaceRef n) { return Value(Storage(std::in_place_index<8>, n)); }
  static Value callable(CallablePtr c) { return Value(Storage(std::in_place_index<9>, std::move(c))); }
  static Value loop(LoopPtr l) { return Value(Storage(std::in_place_index<10>, std::move(l))); }

  ValueKind kind() const { return static_cast<ValueKind>(storage_.index()); }
  bool is_undefined() const { return kind() == ValueKind::kUndefined; }
  bool is_none() const { return kind() == ValueKind::kNone; }
  bool is_bool() const { return kind() == ValueKind::kBool; }
  bool is_int() const { return kind() == ValueKind::kInt; }
  bool is_float() const { return kind() == ValueKind::kFloat; }
  bool is_string() const { return kind() == ValueKind::kString; }
  bool is_list() const { return kind() == ValueKind::kList; }
  bool is_dict() const { return kind() == ValueKind::kDict; }
  bool is_namespace() const { return kind() == ValueKind::kNamespace; }
  bool is_callable() const { return kind() == ValueKind::kCallable; }
  bool is_loop() const { return kind() == ValueKind::kLoop; }
  // Python's numbers: bool is an int.
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_integral() const { return is_bool() || is_int(); }

  const Undefined& as_undefined() const { return std::get<0>(storage_); }
  bool as_bool() const { return std::get<2>(storage_); }
  int64_t as_int() const { return is_bool() ? std::get<2>(storage_) : std::get<3>(storage_); }
  double as_double() const { return is_float() ? std::get<4>(storage_) : static_cast<double>(as_int()); }
  const StrData& str() const { return *std::get<5>(storage_); }
  const StrPtr& str_ptr() const { return std::get<5>(storage_); }
  std::string_view text() const { return std::get<5>(storage_)->text; }
  const ListData& list() const { return *std::get<6>(storage_); }
  const ListPtr& list_ptr() const { return std::get<6>(storage_); }
  const DictData& dict() const { return *std::get<7>(storage_); }
  NamespaceRef ns() const { return std::get<8>(storage_); }
  const Callable& callable() const { return *std::get<9>(storage_); }
  LoopState& loop_state() const { return *std::get<10>(storage_); }
  // Identity of the heap object behind a container, for `is sameas`.
  const void* identity() const;

 private:
  using Storage = std::variant<Undefined, std::nullptr_t, bool, int64_t, double, StrPtr, ListPtr, DictPtr,
                               NamespaceRef, CallablePtr, LoopPtr>;
  explicit Value(Storage storage) : storage_(std::move(storage)) {}
  Storage storage_;
};

// How a list prints: Python lists, tuples and the views dict.keys()/values()/items() return.
enum class ListStyle : uint8_t { kList, kTuple, kDictKeys, kDictValues, kDictItems };

struct ListData {
  std::vector<Value> items;
  ListStyle style = ListStyle::kList;
  uint16_t depth = 1;  // nesting depth of owned containers, bounded so destruction never recurses deeply
};

// An insertion-ordered Python dict. Keys are str, numbers, None or tuples; equal keys (1 == 1.0)
// are one key, as in Python.
class DictData {
 public:
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts or replaces (keeping the first position, as Python does).
  void set(Value key, Value value);
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  uint16_t depth = 1;

 private:
  std::vector<std::pair<Value, Value>> entries_;
  // Built once a dict is large, so a request with many keys cannot make lookups quadratic.
  std::unordered_map<std::string_view, uint32_t> string_index_;
};

struct NamespaceData {
  DictData attributes;
};

// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string_view, Value>> keyword;
};

class Interpreter;
struct MacroDef;
using BuiltinFn = Value (*)(Interpreter& interpreter, const Value& self, CallArgs& args);

// Variables a macro defined inside a loop or macro captured when it was defined.
struct CapturedVariables {
  std::vector<std::pair<int, Value>> variables;
};

struct Callable {
  std::string_view name;
  BuiltinFn builtin = nullptr;  // a global function or a method bound to `self`
  Value self;
  const MacroDef* macro = nullptr;  // a macro or the body of a {% call %} block
  std::shared_ptr<const CapturedVariables> captured;
};

// The state behind `loop` in a for-loop body.
struct LoopState {
  ListPtr items;
  size_t index0 = 0;
  Value last_changed;  // for loop.changed()
  bool has_changed_value = false;
};

// Construction helpers.
Value make_string(std::string_view text, bool is_data = false);
Value make_owned_string(std::string&& text, bool is_data = false);
Value make_list(std::vector<Value> items, ListStyle style = ListStyle::kList);
Value make_dict(DictData&& dict);
// Depth of a value for the nesting bound (1 for scalars).
uint16_t nesting_depth(const Value& value);
inline constexpr uint16_t kMaxNestingDepth = 128;

// Python's truth value.
bool is_truthy(const Value& value);
// Python's ==; `depth` bounds recursion through cyclic namespaces.
bool python_equals(const Value& a, const Value& b, int depth = 0);
// Python's <; throws Error when the two cannot be ordered.
bool python_less(const Value& a, const Value& b, int depth = 0);
// "'dict object'" style name of a value's type, for messages.
std::string_view type_name(const Value& value);
// Fails with the message jinja2 gives when an Undefined is used.
[[noreturn]] void throw_undefined(const Undefined& undefined);
// The name of a kind of value ("dict", "str", ...), for messages.
std::string_view kind_name(ValueKind kind);

// True when any string inside `value` (keys included) holds request data.
bool contains_data(const Value& value, int depth = 0);

}  // namespace hanlin::text::jinja
