// Strict JSON parsing and typed field access for the files the io layer reads (safetensors
// headers and indexes, config.json, generation_config.json). Internal to src/io/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hanlin::io {

using Json = nlohmann::json;

// Parses `text` as one JSON document. Unlike plain nlohmann parsing it rejects duplicate keys
// (nlohmann silently keeps the last one, which would let a file say two things at once) and
// nesting deeper than `max_depth` containers. `what` names the text in messages ("header",
// "config"); `key_noun` names a top-level key ("tensor", "field"). Throws Error(kInvalidFile)
// with a one-line message starting with `path`.
Json parse_json_strict(std::string_view text, const std::string& path, std::string_view what,
                       std::string_view key_noun, int max_depth);

// Throws Error(kInvalidFile) "<path>: <what> must be a JSON object, got ..." unless it is one.
void require_json_object(const Json& value, const std::string& path, std::string_view what);

// A short one-line description of a value for messages: scalars as JSON text (long strings
// cut), containers as "an array" / "an object".
std::string describe_json(const Json& value);

// `text` in single quotes, control and non-ASCII bytes escaped as \xNN and cut at 160 bytes,
// so a hostile name cannot break a message over lines or flood a log.
std::string quote_text(std::string_view text);

enum class IntegerRule { kAny, kNonNegative, kPositive };
enum class NumberRule { kAny, kPositive, kNonNegative, kAtLeastOne, kUnitInterval };  // unit: [0, 1]

// Typed, validated reads of one JSON object's fields. A field that is absent or null counts
// as absent (checkpoints write `"rope_scaling": null`). Every error names the file and the
// field, prefixed with `prefix` ("rope_scaling.") for nested objects.
class JsonFields {
 public:
  // `object` must be a JSON object and outlive this reader.
  JsonFields(const Json& object, std::string path, std::string prefix = {});

  const std::string& path() const { return path_; }
  // The field, or nullptr when absent or null.
  const Json* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  std::optional<int64_t> integer(std::string_view key, IntegerRule rule) const;
  int64_t required_integer(std::string_view key, IntegerRule rule) const;
  std::optional<double> number(std::string_view key, NumberRule rule) const;
  double required_number(std::string_view key, NumberRule rule) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<std::string> string(std::string_view key) const;
  // A nested object, or nullptr when absent or null.
  const Json* object(std::string_view key) const;
  // A nested array, or nullptr when absent or null.
  const Json* array(std::string_view key) const;
  // An integer or a list of integers (eos_token_id); empty when absent.
  std::vector<int64_t> integer_or_list(std::string_view key, IntegerRule rule) const;

  // The field's name as messages show it: 'rope_scaling.factor'.
  std::string field_name(std::string_view key) const;
  // Throws Error(kInvalidFile) "<path>: '<field>' must be <expected>, got <value>".
  [[noreturn]] void fail_type(std::string_view key, std::string_view expected, const Json& got) const;
  // Throws Error(kInvalidFile) "<path>: <problem>".
  [[noreturn]] void fail(const std::string& problem) const;

 private:
  const Json& object_;
  std::string path_;
  std::string prefix_;
};

}  // namespace hanlin::io
