// Value construction, Python truthiness, equality and ordering, and string provenance.
#include "text/chat_template/value.h"

#include <algorithm>

#include "core/error.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

void Budget::fail_steps() {
  throw Error(ErrorKind::kResourceExhausted,
              "ran past its step budget (a loop or recursion that does not end?)");
}

void Budget::charge_bytes(uint64_t bytes, size_t resulting_size) {
  if (resulting_size > max_string_bytes_) {
    throw Error(ErrorKind::kResourceExhausted,
                "a string grew past " + std::to_string(max_string_bytes_) + " bytes");
  }
  if (bytes > bytes_left_) {
    throw Error(ErrorKind::kResourceExhausted, "built more text than its budget allows (a runaway loop?)");
  }
  bytes_left_ -= bytes;
}

void Provenance::add(uint32_t begin, uint32_t end) {
  if (begin >= end) return;
  if (!spans_.empty() && spans_.back().end >= begin) {
    spans_.back().end = std::max(spans_.back().end, end);
    return;
  }
  spans_.push_back({begin, end});
}

void Provenance::add_part(const Provenance& other, uint32_t from, uint32_t to, uint32_t at) {
  for (const Span& span : other.spans_) {
    if (span.end <= from) continue;
    if (span.begin >= to) break;
    uint32_t begin = std::max(span.begin, from);
    uint32_t end = std::min(span.end, to);
    add(begin - from + at, end - from + at);
  }
}

bool Provenance::overlaps(uint32_t begin, uint32_t end) const {
  for (const Span& span : spans_) {
    if (span.begin >= end) break;
    if (span.end > begin) return true;
  }
  return false;
}

void StrBuilder::charge(size_t bytes) {
  budget_.charge_bytes(bytes, text_.size() + bytes);
}

void StrBuilder::append_raw(std::string_view text, bool is_data) {
  if (text.empty()) return;
  charge(text.size());
  auto at = static_cast<uint32_t>(text_.size());
  text_.append(text);
  if (is_data) data_.add(at, static_cast<uint32_t>(text_.size()));
}

void StrBuilder::append(const StrData& piece, size_t begin, size_t end) {
  if (begin >= end) return;
  charge(end - begin);
  auto at = static_cast<uint32_t>(text_.size());
  text_.append(piece.text, begin, end - begin);
  data_.add_part(piece.data, static_cast<uint32_t>(begin), static_cast<uint32_t>(end), at);
}

StrPtr StrBuilder::build(bool is_markup) {
  auto result = std::make_shared<StrData>();
  result->num_code_points = count_code_points(text_);
  result->text = std::move(text_);
  result->data = std::move(data_);
  result->is_markup = is_markup;
  text_.clear();
  data_ = Provenance();
  return result;
}

const void* Value::identity() const {
  switch (kind()) {
    case ValueKind::kString:
      return std::get<5>(storage_).get();
    case ValueKind::kList:
      return std::get<6>(storage_).get();
    case ValueKind::kDict:
      return std::get<7>(storage_).get();
    case ValueKind::kNamespace:
      return ns();
    case ValueKind::kCallable:
      return std::get<9>(storage_).get();
    case ValueKind::kLoop:
      return std::get<10>(storage_).get();
    default:
      return nullptr;
  }
}

namespace {

StrPtr make_str_data(std::string&& text, bool is_data) {
  auto data = std::make_shared<StrData>();
  data->num_code_points = count_code_points(text);
  data->text = std::move(text);
  if (is_data) data->data.add(0, static_cast<uint32_t>(data->text.size()));
  return data;
}

void check_depth(uint16_t depth) {
  if (depth > kMaxNestingDepth) {
    throw Error(ErrorKind::kInvalidArgument,
                "lists and dicts nest deeper than " + std::to_string(kMaxNestingDepth) + " levels");
  }
}

bool is_hashable(const Value& key) {
  if (key.is_list()) {
    if (key.list().style != ListStyle::kTuple) return false;
    return std::all_of(key.list().items.begin(), key.list().items.end(), is_hashable);
  }
  return !key.is_dict();
}

}  // namespace

Value make_string(std::string_view text, bool is_data) {
  return make_owned_string(std::string(text), is_data);
}

Value make_owned_string(std::string&& text, bool is_data) {
  return Value::string(make_str_data(std::move(text), is_data));
}

uint16_t nesting_depth(const Value& value) {
  if (value.is_list()) return value.list().depth;
  if (value.is_dict()) return value.dict().depth;
  return 1;
}

Value make_list(std::vector<Value> items, ListStyle style) {
  auto list = std::make_shared<ListData>();
  uint16_t depth = 1;
  for (const Value& item : items) depth = std::max<uint16_t>(depth, nesting_depth(item) + 1);
  check_depth(depth);
  list->items = std::move(items);
  list->style = style;
  list->depth = depth;
  return Value::list(std::move(list));
}

Value make_dict(DictData&& dict) {
  uint16_t depth = 1;
  for (const auto& [key, value] : dict.entries()) depth = std::max<uint16_t>(depth, nesting_depth(value) + 1);
  check_depth(depth);
  dict.depth = depth;
  return Value::dict(std::make_shared<DictData>(std::move(dict)));
}

const Value* DictData::find(std::string_view key) const {
  if (!string_index_.empty()) {
    auto it = string_index_.find(key);
    return it == string_index_.end() ? nullptr : &entries_[it->second].second;
  }
  for (const auto& [entry_key, value] : entries_) {
    if (entry_key.is_string() && entry_key.text() == key) return &value;
  }
  return nullptr;
}

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(key.text());
  for (const auto& [entry_key, value] : entries_) {
    if (python_equals(entry_key, key)) return &value;
  }
  return nullptr;
}

void DictData::set(Value key, Value value) {
  if (!is_hashable(key)) {
    throw Error(ErrorKind::kInvalidArgument, "unhashable type: '" + std::string(type_name(key)) + "'");
  }
  if (key.is_string() && !string_index_.empty()) {
    auto it = string_index_.find(key.text());
    if (it != string_index_.end()) {
      entries_[it->second].second = std::move(value);
      return;
    }
  } else {
    for (auto& [entry_key, entry_value] : entries_) {
      if (python_equals(entry_key, key)) {
        entry_value = std::move(value);
        return;
      }
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
  constexpr size_t kIndexFrom = 16;
  if (entries_.size() == kIndexFrom) {
    for (uint32_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].first.is_string()) string_index_.emplace(entries_[i].first.text(), i);
    }
  } else if (entries_.size() > kIndexFrom && entries_.back().first.is_string()) {
    string_index_.emplace(entries_.back().first.text(), static_cast<uint32_t>(entries_.size() - 1));
  }
}

bool is_truthy(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return false;
    case ValueKind::kBool:
      return value.as_bool();
    case ValueKind::kInt:
      return value.as_int() != 0;
    case ValueKind::kFloat:
      return value.as_double() != 0.0;
    case ValueKind::kString:
      return !value.text().empty();
    case ValueKind::kList:
      return !value.list().items.empty();
    case ValueKind::kDict:
      return value.dict().size() != 0;
    default:
      return true;
  }
}

namespace {

constexpr int kMaxCompareDepth = 256;

void check_compare_depth(int depth) {
  if (depth > kMaxCompareDepth) {
    throw Error(ErrorKind::kInvalidArgument, "values nest too deeply to compare");
  }
}

bool numbers_equal(const Value& a, const Value& b) {
  if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
  return a.as_int() == b.as_int();
}

bool lists_equal(const ListData& a, const ListData& b, int depth) {
  // A list never equals a tuple or a dict view, as in Python.
  if (a.style != b.style || a.items.size() != b.items.size()) return false;
  for (size_t i = 0; i < a.items.size(); ++i) {
    if (!python_equals(a.items[i], b.items[i], depth + 1)) return false;
  }
  return true;
}

bool dicts_equal(const DictData& a, const DictData& b, int depth) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a.entries()) {
    const Value* other = b.find(key);
    if (other == nullptr || !python_equals(value, *other, depth + 1)) return false;
  }
  return true;
}

}  // namespace

bool python_equals(const Value& a, const Value& b, int depth) {
  check_compare_depth(depth);
  if (a.is_number() && b.is_number()) return numbers_equal(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return true;
    case ValueKind::kString:
      return a.text() == b.text();
    case ValueKind::kList:
      return lists_equal(a.list(), b.list(), depth);
    case ValueKind::kDict:
      return dicts_equal(a.dict(), b.dict(), depth);
    default:
      return a.identity() == b.identity();
  }
}

bool python_less(const Value& a, const Value& b, int depth) {
  check_compare_depth(depth);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.text() < b.text();  // UTF-8 byte order is code point order
  bool same_sequence_kind = a.is_list() && b.is_list() && a.list().style == b.list().style &&
                            (a.list().style == ListStyle::kList || a.list().style == ListStyle::kTuple);
  if (same_sequence_kind) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!python_equals(x[i], y[i], depth + 1)) return python_less(x[i], y[i], depth + 1);
    }
    return x.size() < y.size();
  }
  throw Error(ErrorKind::kInvalidArgument, "'<' not supported between instances of '" +
                                               std::string(type_name(a)) + "' and '" +
                                               std::string(type_name(b)) + "'");
}

std::string_view type_name(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kUndefined:
      return "Undefined";
    case ValueKind::kNone:
      return "NoneType";
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kInt:
      return "int";
    case ValueKind::kFloat:
      return "float";
    case ValueKind::kString:
      return "str";
    case ValueKind::kList:
      return value.list().style == ListStyle::kTuple ? "tuple" : "list";
    case ValueKind::kDict:
      return "dict";
    case ValueKind::kNamespace:
      return "Namespace";
    case ValueKind::kCallable:
      return value.callable().macro != nullptr ? "Macro" : "function";
    case ValueKind::kLoop:
      return "LoopContext";
  }
  return "object";
}

std::string_view kind_name(ValueKind kind) {
  static constexpr std::string_view kNames[] = {"Undefined", "NoneType", "bool",       "int",
                                                "float",     "str",      "list",       "dict",
                                                "Namespace", "function", "LoopContext"};
  return kNames[static_cast<int>(kind)];
}

void throw_undefined(const Undefined& undefined) {
  std::string name(undefined.name);
  std::string owner = "'" + std::string(kind_name(static_cast<ValueKind>(undefined.owner_kind))) + " object'";
  switch (undefined.reason) {
    case Undefined::Reason::kName:
      throw Error(ErrorKind::kInvalidArgument, "'" + name + "' is undefined");
    case Undefined::Reason::kAttribute:
      throw Error(ErrorKind::kInvalidArgument, owner + " has no attribute '" + name + "'");
    case Undefined::Reason::kItem:
      throw Error(ErrorKind::kInvalidArgument,
                  name.empty() ? owner + " has no such item" : owner + " has no item '" + name + "'");
    case Undefined::Reason::kUnsafe:
      throw Error(ErrorKind::kInvalidArgument,
                  "'" + name + "' of " + owner + " is not allowed: the template sandbox is immutable");
    case Undefined::Reason::kEmpty:
      throw Error(ErrorKind::kInvalidArgument, "no " + name + " item, the sequence was empty");
  }
  throw Error(ErrorKind::kInvalidArgument, "undefined value");
}

bool contains_data(const Value& value, int depth) {
  check_compare_depth(depth);
  switch (value.kind()) {
    case ValueKind::kString:
      return !value.str().data.empty();
    case ValueKind::kList:
      return std::any_of(value.list().items.begin(), value.list().items.end(),
                         [depth](const Value& item) { return contains_data(item, depth + 1); });
    case ValueKind::kDict:
      for (const auto& [key, item] : value.dict().entries()) {
        if (contains_data(key, depth + 1) || contains_data(item, depth + 1)) return true;
      }
      return false;
    case ValueKind::kNamespace:
      for (const auto& [key, item] : value.ns()->attributes.entries()) {
        if (contains_data(item, depth + 1)) return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace hanlin::text::jinja
