// Strict JSON parsing (duplicate keys and deep nesting rejected) and typed field reads whose
// errors name the file and the field.
#include "io/json_fields.h"

#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"

namespace hanlin::io {
namespace {

constexpr size_t kMaxQuotedBytes = 160;
constexpr size_t kMaxDescribedBytes = 64;
constexpr size_t kMaxParserMessageBytes = 200;

std::string hex_escape(unsigned char byte) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string{'\\', 'x', kDigits[byte >> 4], kDigits[byte & 15]};
}

// nlohmann's messages start with "[json.exception.parse_error.101] " and may quote raw input
// bytes; keep the readable part, ASCII only, on one line and short.
std::string clean_parser_message(std::string_view message) {
  const size_t prefix_end = message.find("] ");
  if (message.starts_with("[json.exception") && prefix_end != std::string_view::npos) {
    message.remove_prefix(prefix_end + 2);
  }
  std::string clean;
  for (const char c : message.substr(0, kMaxParserMessageBytes)) {
    const auto byte = static_cast<unsigned char>(c);
    clean += (byte < 0x20 || byte >= 0x7f) ? '?' : c;
  }
  if (message.size() > kMaxParserMessageBytes) clean += "...";
  return clean;
}

// Tracks the keys of every open object while nlohmann parses, so a repeated key is caught
// before the parser overwrites the first value.
class StrictParseGuard {
 public:
  StrictParseGuard(const std::string& path, std::string_view what, std::string_view key_noun, int max_depth)
      : path_(path), what_(what), key_noun_(key_noun), max_depth_(max_depth) {}

  bool on_event(int depth, Json::parse_event_t event, const Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        check_depth(depth);
        open_objects_.emplace_back();
        break;
      case Json::parse_event_t::array_start:
        check_depth(depth);
        break;
      case Json::parse_event_t::key:
        on_key(depth, parsed.get_ref<const std::string&>());
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects_.empty()) open_objects_.pop_back();
        break;
      default:
        break;
    }
    return true;
  }

 private:
  void check_depth(int depth) const {
    if (depth >= max_depth_) {
      throw Error(ErrorKind::kInvalidFile, path_ + ": " + std::string(what_) + " nests deeper than " +
                                               std::to_string(max_depth_) + " levels");
    }
  }

  void on_key(int depth, const std::string& key) {
    if (depth == 1) top_level_key_ = key;
    if (open_objects_.empty() || open_objects_.back().insert(key).second) return;
    if (depth == 1) {
      throw Error(ErrorKind::kInvalidFile, path_ + ": " + std::string(key_noun_) + " " + quote_text(key) +
                                               " appears twice in the " + std::string(what_));
    }
    throw Error(ErrorKind::kInvalidFile, path_ + ": key " + quote_text(key) + " appears twice inside " +
                                             quote_text(top_level_key_) + " in the " + std::string(what_));
  }

  const std::string& path_;
  std::string_view what_;
  std::string_view key_noun_;
  int max_depth_;
  std::vector<std::set<std::string, std::less<>>> open_objects_;
  std::string top_level_key_;
};

bool integer_satisfies(int64_t value, IntegerRule rule) {
  switch (rule) {
    case IntegerRule::kAny:
      return true;
    case IntegerRule::kNonNegative:
      return value >= 0;
    case IntegerRule::kPositive:
      return value > 0;
  }
  return false;
}

std::string_view integer_rule_text(IntegerRule rule) {
  switch (rule) {
    case IntegerRule::kAny:
      return "an integer";
    case IntegerRule::kNonNegative:
      return "a non-negative integer";
    case IntegerRule::kPositive:
      return "a positive integer";
  }
  return "an integer";
}

bool number_satisfies(double value, NumberRule rule) {
  if (!std::isfinite(value)) return false;
  switch (rule) {
    case NumberRule::kAny:
      return true;
    case NumberRule::kPositive:
      return value > 0;
    case NumberRule::kNonNegative:
      return value >= 0;
    case NumberRule::kAtLeastOne:
      return value >= 1;
    case NumberRule::kUnitInterval:
      return value >= 0 && value <= 1;
  }
  return false;
}

std::string_view number_rule_text(NumberRule rule) {
  switch (rule) {
    case NumberRule::kAny:
      return "a finite number";
    case NumberRule::kPositive:
      return "a positive number";
    case NumberRule::kNonNegative:
      return "a non-negative number";
    case NumberRule::kAtLeastOne:
      return "a number >= 1";
    case NumberRule::kUnitInterval:
      return "a number between 0 and 1";
  }
  return "a number";
}

// The value as int64_t when it is a JSON integer that fits.
std::optional<int64_t> as_int64(const Json& value) {
  if (value.is_number_unsigned()) {
    const auto unsigned_value = value.get<uint64_t>();
    if (unsigned_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(unsigned_value);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  return std::nullopt;
}

}  // namespace

Json parse_json_strict(std::string_view text, const std::string& path, std::string_view what,
                       std::string_view key_noun, int max_depth) {
  StrictParseGuard guard(path, what, key_noun, max_depth);
  const Json::parser_callback_t callback = [&guard](int depth, Json::parse_event_t event, Json& parsed) {
    return guard.on_event(depth, event, parsed);
  };
  try {
    return Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const Json::exception& error) {
    throw Error(ErrorKind::kInvalidFile, path + ": " + std::string(what) +
                                             " is not valid JSON: " + clean_parser_message(error.what()));
  }
}

void require_json_object(const Json& value, const std::string& path, std::string_view what) {
  if (!value.is_object()) {
    throw Error(ErrorKind::kInvalidFile,
                path + ": " + std::string(what) + " must be a JSON object, got " + describe_json(value));
  }
}

std::string describe_json(const Json& value) {
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  std::string text = value.dump(-1, ' ', /*ensure_ascii=*/true);
  if (text.size() > kMaxDescribedBytes) text = text.substr(0, kMaxDescribedBytes) + "...";
  return text;
}

std::string quote_text(std::string_view text) {
  std::string result = "'";
  for (const char c : text.substr(0, kMaxQuotedBytes)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '\\') {
      result += hex_escape(byte);
    } else {
      result += c;
    }
  }
  if (text.size() > kMaxQuotedBytes) result += "...";
  return result + "'";
}

JsonFields::JsonFields(const Json& object, std::string path, std::string prefix)
    : object_(object), path_(std::move(path)), prefix_(std::move(prefix)) {}

const Json* JsonFields::find(std::string_view key) const {
  const auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<int64_t> JsonFields::integer(std::string_view key, IntegerRule rule) const {
  const Json* value = find(key);
  if (!value) return std::nullopt;
  const std::optional<int64_t> parsed = as_int64(*value);
  if (!parsed || !integer_satisfies(*parsed, rule)) fail_type(key, integer_rule_text(rule), *value);
  return parsed;
}

int64_t JsonFields::required_integer(std::string_view key, IntegerRule rule) const {
  const std::optional<int64_t> value = integer(key, rule);
  if (!value) fail(field_name(key) + " is missing; it must be " + std::string(integer_rule_text(rule)));
  return *value;
}

std::optional<double> JsonFields::number(std::string_view key, NumberRule rule) const {
  const Json* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_number() || !number_satisfies(value->get<double>(), rule)) {
    fail_type(key, number_rule_text(rule), *value);
  }
  return value->get<double>();
}

double JsonFields::required_number(std::string_view key, NumberRule rule) const {
  const std::optional<double> value = number(key, rule);
  if (!value) fail(field_name(key) + " is missing; it must be " + std::string(number_rule_text(rule)));
  return *value;
}

std::optional<bool> JsonFields::boolean(std::string_view key) const {
  const Json* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) fail_type(key, "true or false", *value);
  return value->get<bool>();
}

std::optional<std::string> JsonFields::string(std::string_view key) const {
  const Json* value = find(key);
  if (!value) return std::nullopt;
  if (!value->is_string()) fail_type(key, "a string", *value);
  return value->get<std::string>();
}

const Json* JsonFields::object(std::string_view key) const {
  const Json* value = find(key);
  if (value && !value->is_object()) fail_type(key, "an object", *value);
  return value;
}

const Json* JsonFields::array(std::string_view key) const {
  const Json* value = find(key);
  if (value && !value->is_array()) fail_type(key, "an array", *value);
  return value;
}

std::vector<int64_t> JsonFields::integer_or_list(std::string_view key, IntegerRule rule) const {
  const Json* value = find(key);
  if (!value) return {};
  const std::string expected = std::string(integer_rule_text(rule)) + " or a list of them";
  if (!value->is_array()) {
    const std::optional<int64_t> single = as_int64(*value);
    if (!single || !integer_satisfies(*single, rule)) fail_type(key, expected, *value);
    return {*single};
  }
  std::vector<int64_t> values;
  for (const Json& element : *value) {
    const std::optional<int64_t> parsed = as_int64(element);
    if (!parsed || !integer_satisfies(*parsed, rule)) {
      fail(field_name(key) + " must be " + expected + ", but the list holds " + describe_json(element));
    }
    values.push_back(*parsed);
  }
  return values;
}

std::string JsonFields::field_name(std::string_view key) const {
  return quote_text(prefix_ + std::string(key));
}

void JsonFields::fail_type(std::string_view key, std::string_view expected, const Json& got) const {
  fail(field_name(key) + " must be " + std::string(expected) + ", got " + describe_json(got));
}

void JsonFields::fail(const std::string& problem) const {
  throw Error(ErrorKind::kInvalidFile, path_ + ": " + problem);
}

}  // namespace hanlin::io
