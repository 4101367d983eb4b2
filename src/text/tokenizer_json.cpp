// tokenizer.json → TokenizerSpec. Every field is checked for presence and type; messages name
// the file and the JSON path ("tokenizer.json: model.merges[12]: ...").
#include "text/tokenizer_json.h"

#include <charconv>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text/pretokenizer.h"

namespace hanlin::text {
namespace {

using Json = nlohmann::json;

// Names the file being read in every message.
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(ErrorKind kind, std::string_view path, std::string_view message) const {
    throw Error(kind, std::string(source_) + ": " + std::string(path) + ": " + std::string(message));
  }

  Json parse(std::string_view text) const {
    try {
      return Json::parse(text.begin(), text.end());
    } catch (const Json::exception& error) {
      throw Error(ErrorKind::kInvalidFile, std::string(source_) + ": not valid JSON: " + error.what());
    }
  }

  const Json& member(const Json& object, const char* key, std::string_view path) const {
    const auto found = object.find(key);
    if (found == object.end()) fail(ErrorKind::kInvalidFile, path, std::string("missing \"") + key + "\"");
    return *found;
  }

  const Json& object_at(const Json& object, const char* key, std::string_view path) const {
    const Json& value = member(object, key, path);
    if (!value.is_object()) fail(ErrorKind::kInvalidFile, std::string(path) + "." + key, "expected an object");
    return value;
  }

  std::string string_of(const Json& value, std::string_view path) const {
    if (!value.is_string()) fail(ErrorKind::kInvalidFile, path, "expected a string, got " + type_of(value));
    return value.get<std::string>();
  }

  bool bool_or(const Json& object, const char* key, bool fallback, std::string_view path) const {
    const auto found = object.find(key);
    if (found == object.end() || found->is_null()) return fallback;
    if (!found->is_boolean()) fail(ErrorKind::kInvalidFile, std::string(path) + "." + key, "expected true or false");
    return found->get<bool>();
  }

  TokenId id_of(const Json& value, std::string_view path) const {
    if (!value.is_number_integer()) fail(ErrorKind::kInvalidFile, path, "expected a token id, got " + type_of(value));
    constexpr auto kMaxId = static_cast<uint64_t>(std::numeric_limits<TokenId>::max());
    // nlohmann stores non-negative integers as unsigned and negative ones as signed.
    if (!value.is_number_unsigned() || value.get<uint64_t>() > kMaxId) {
      fail(ErrorKind::kInvalidFile, path, "token id " + value.dump() + " is out of range");
    }
    return static_cast<TokenId>(value.get<uint64_t>());
  }

  static std::string type_of(const Json& value) { return value.type_name(); }

 private:
  std::string_view source_;
};

std::string type_field(const Reader& reader, const Json& object, std::string_view path) {
  if (!object.is_object()) reader.fail(ErrorKind::kInvalidFile, path, "expected an object");
  return reader.string_of(reader.member(object, "type", path), std::string(path) + ".type");
}

bool read_normalizer(const Reader& reader, const Json& root) {
  const auto found = root.find("normalizer");
  if (found == root.end() || found->is_null()) return false;
  const std::string type = type_field(reader, *found, "normalizer");
  if (type == "NFC") return true;
  if (type == "Sequence") {
    const Json& parts = reader.member(*found, "normalizers", "normalizer");
    if (parts.is_array() && parts.empty()) return false;
    if (parts.is_array() && parts.size() == 1 && type_field(reader, parts[0], "normalizer.normalizers[0]") == "NFC") {
      return true;
    }
  }
  reader.fail(ErrorKind::kUnsupported, "normalizer",
              "normalizer " + found->dump() + " is not supported (hanlin implements NFC or none)");
}

void check_split(const Reader& reader, const Json& split) {
  const std::string path = "pre_tokenizer.pretokenizers[0]";
  if (type_field(reader, split, path) != "Split") {
    reader.fail(ErrorKind::kUnsupported, path, "expected the Qwen2 Split pre-tokenizer, found " + split.dump());
  }
  const Json& pattern = reader.member(split, "pattern", path);
  const auto regex = pattern.is_object() ? pattern.find("Regex") : pattern.end();
  if (!pattern.is_object() || regex == pattern.end() || !regex->is_string() ||
      regex->get<std::string>() != kQwen2SplitPattern) {
    reader.fail(ErrorKind::kUnsupported, path + ".pattern",
                "split pattern " + pattern.dump() + " is not supported: hanlin's scanner implements only " +
                    Json(std::string(kQwen2SplitPattern)).dump() + " (Qwen2/2.5/3/QwQ/VL)");
  }
  const Json& behavior = reader.member(split, "behavior", path);
  if (!behavior.is_string() || behavior.get<std::string>() != "Isolated" || reader.bool_or(split, "invert", false, path)) {
    reader.fail(ErrorKind::kUnsupported, path, "only behavior \"Isolated\" without invert is supported");
  }
}

void check_byte_level(const Reader& reader, const Json& byte_level, const std::string& path, bool check_regex) {
  if (type_field(reader, byte_level, path) != "ByteLevel") {
    reader.fail(ErrorKind::kUnsupported, path, "expected ByteLevel, found " + byte_level.dump());
  }
  // Hugging Face's defaults for absent fields are true: spell them out or be refused.
  if (reader.bool_or(byte_level, "add_prefix_space", true, path)) {
    reader.fail(ErrorKind::kUnsupported, path, "ByteLevel add_prefix_space is not supported");
  }
  if (check_regex && reader.bool_or(byte_level, "use_regex", true, path)) {
    reader.fail(ErrorKind::kUnsupported, path, "ByteLevel use_regex (the GPT-2 split) is not supported");
  }
}

void check_pre_tokenizer(const Reader& reader, const Json& root) {
  const Json& pre_tokenizer = reader.member(root, "pre_tokenizer", "(root)");
  if (pre_tokenizer.is_null()) {
    reader.fail(ErrorKind::kUnsupported, "pre_tokenizer", "a tokenizer without a pre-tokenizer is not supported");
  }
  if (type_field(reader, pre_tokenizer, "pre_tokenizer") != "Sequence") {
    reader.fail(ErrorKind::kUnsupported, "pre_tokenizer",
                "pre-tokenizer " + pre_tokenizer.dump() + " is not supported (expected Sequence[Split, ByteLevel])");
  }
  const Json& parts = reader.member(pre_tokenizer, "pretokenizers", "pre_tokenizer");
  if (!parts.is_array() || parts.size() != 2) {
    reader.fail(ErrorKind::kUnsupported, "pre_tokenizer.pretokenizers", "expected exactly [Split, ByteLevel]");
  }
  check_split(reader, parts[0]);
  check_byte_level(reader, parts[1], "pre_tokenizer.pretokenizers[1]", true);
}

void check_decoder(const Reader& reader, const Json& root) {
  const auto found = root.find("decoder");
  if (found == root.end() || found->is_null()) {
    reader.fail(ErrorKind::kUnsupported, "decoder", "a tokenizer without the ByteLevel decoder is not supported");
  }
  if (type_field(reader, *found, "decoder") != "ByteLevel") {
    reader.fail(ErrorKind::kUnsupported, "decoder", "decoder " + found->dump() + " is not supported (expected ByteLevel)");
  }
}

void check_model_options(const Reader& reader, const Json& model) {
  if (const auto type = model.find("type"); type != model.end() && (!type->is_string() || *type != "BPE")) {
    reader.fail(ErrorKind::kUnsupported, "model.type", "model " + type->dump() + " is not supported (expected BPE)");
  }
  if (reader.bool_or(model, "byte_fallback", false, "model")) {
    reader.fail(ErrorKind::kUnsupported, "model.byte_fallback", "byte fallback is not supported");
  }
  if (const auto dropout = model.find("dropout"); dropout != model.end() && !dropout->is_null()) {
    if (!dropout->is_number()) reader.fail(ErrorKind::kInvalidFile, "model.dropout", "expected a number or null");
    if (dropout->get<double>() != 0.0) reader.fail(ErrorKind::kUnsupported, "model.dropout", "BPE dropout is not supported");
  }
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto found = model.find(affix);
    if (found == model.end() || found->is_null()) continue;
    if (!found->is_string()) reader.fail(ErrorKind::kInvalidFile, std::string("model.") + affix, "expected a string or null");
    if (!found->get<std::string>().empty()) {
      reader.fail(ErrorKind::kUnsupported, std::string("model.") + affix, "subword affixes are not supported");
    }
  }
  if (const auto unk = model.find("unk_token"); unk != model.end() && !unk->is_null() && !unk->is_string()) {
    reader.fail(ErrorKind::kInvalidFile, "model.unk_token", "expected a string or null");
  }
}

void read_vocab(const Reader& reader, const Json& model, TokenizerSpec& spec) {
  const Json& vocab = reader.object_at(model, "vocab", "model");
  spec.vocab.reserve(vocab.size());
  std::unordered_map<TokenId, const std::string*> owner_of_id;
  owner_of_id.reserve(vocab.size());
  for (const auto& [token, id_value] : vocab.items()) {
    // The path is built only for the error message: building it per token would be most of
    // the load time.
    const bool is_plain_id = id_value.is_number_unsigned() &&
                             id_value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<TokenId>::max());
    const TokenId id = is_plain_id ? static_cast<TokenId>(id_value.get<uint64_t>())
                                   : reader.id_of(id_value, "model.vocab[" + Json(token).dump() + "]");
    spec.vocab.emplace_back(token, id);
  }
  for (const auto& [token, id] : spec.vocab) {
    const auto [where, inserted] = owner_of_id.emplace(id, &token);
    if (!inserted) {
      reader.fail(ErrorKind::kInvalidFile, "model.vocab",
                  "tokens " + Json(*where->second).dump() + " and " + Json(token).dump() + " share id " + std::to_string(id));
    }
  }
}

std::pair<std::string, std::string> read_merge(const Reader& reader, const Json& merge, size_t index) {
  const auto path = [index] { return "model.merges[" + std::to_string(index) + "]"; };
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
    return {merge[0].get<std::string>(), merge[1].get<std::string>()};
  }
  if (merge.is_string()) {
    const std::string& text = merge.get_ref<const std::string&>();
    const size_t space = text.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == text.size() || text.find(' ', space + 1) != std::string::npos) {
      reader.fail(ErrorKind::kInvalidFile, path(), "expected \"left right\", got " + merge.dump());
    }
    return {text.substr(0, space), text.substr(space + 1)};
  }
  reader.fail(ErrorKind::kInvalidFile, path(), "expected \"left right\" or [\"left\", \"right\"], got " + merge.dump());
}

void read_merges(const Reader& reader, const Json& model, TokenizerSpec& spec) {
  const Json& merges = reader.member(model, "merges", "model");
  if (!merges.is_array()) reader.fail(ErrorKind::kInvalidFile, "model.merges", "expected an array");
  spec.merges.reserve(merges.size());
  for (size_t index = 0; index < merges.size(); ++index) {
    spec.merges.push_back(read_merge(reader, merges[index], index));
  }
}

AddedTokenSpec read_added_token(const Reader& reader, const Json& token, const std::string& path, TokenId id) {
  if (!token.is_object()) reader.fail(ErrorKind::kInvalidFile, path, "expected an object");
  AddedTokenSpec added;
  added.id = id;
  added.content = reader.string_of(reader.member(token, "content", path), path + ".content");
  if (added.content.empty()) reader.fail(ErrorKind::kInvalidFile, path + ".content", "an added token cannot be empty");
  added.special = reader.bool_or(token, "special", false, path);
  added.normalized = reader.bool_or(token, "normalized", !added.special, path);
  added.lstrip = reader.bool_or(token, "lstrip", false, path);
  added.rstrip = reader.bool_or(token, "rstrip", false, path);
  added.single_word = reader.bool_or(token, "single_word", false, path);
  return added;
}

void read_added_tokens(const Reader& reader, const Json& root, TokenizerSpec& spec) {
  const auto found = root.find("added_tokens");
  if (found == root.end() || found->is_null()) return;
  if (!found->is_array()) reader.fail(ErrorKind::kInvalidFile, "added_tokens", "expected an array");
  std::unordered_set<TokenId> ids;
  for (size_t index = 0; index < found->size(); ++index) {
    const std::string path = "added_tokens[" + std::to_string(index) + "]";
    const Json& token = (*found)[index];
    if (!token.is_object()) reader.fail(ErrorKind::kInvalidFile, path, "expected an object");
    const TokenId id = reader.id_of(reader.member(token, "id", path), path + ".id");
    if (!ids.insert(id).second) reader.fail(ErrorKind::kInvalidFile, path, "id " + std::to_string(id) + " is given twice");
    spec.added_tokens.push_back(read_added_token(reader, token, path, id));
  }
}

std::optional<std::string> token_name(const Reader& reader, const Json& config, const char* key) {
  const auto found = config.find(key);
  if (found == config.end() || found->is_null()) return std::nullopt;
  if (found->is_string()) return found->get<std::string>();
  if (found->is_object()) return reader.string_of(reader.member(*found, "content", key), std::string(key) + ".content");
  reader.fail(ErrorKind::kInvalidFile, key, "expected a string, an object with \"content\", or null");
}

}  // namespace

TokenizerSpec parse_tokenizer_json(std::string_view json_text, std::string_view source) {
  const Reader reader(source);
  const Json root = reader.parse(json_text);
  if (!root.is_object()) reader.fail(ErrorKind::kInvalidFile, "(root)", "expected a JSON object");
  TokenizerSpec spec;
  const Json& model = reader.object_at(root, "model", "(root)");
  check_model_options(reader, model);
  spec.nfc = read_normalizer(reader, root);
  check_pre_tokenizer(reader, root);
  check_decoder(reader, root);
  read_vocab(reader, model, spec);
  read_merges(reader, model, spec);
  spec.ignore_merges = reader.bool_or(model, "ignore_merges", false, "model");
  if (const auto unk = model.find("unk_token"); unk != model.end() && unk->is_string()) spec.unk_token = unk->get<std::string>();
  read_added_tokens(reader, root, spec);
  return spec;
}

void apply_tokenizer_config(TokenizerSpec& spec, std::string_view json_text, std::string_view source) {
  const Reader reader(source);
  const Json config = reader.parse(json_text);
  if (!config.is_object()) reader.fail(ErrorKind::kInvalidFile, "(root)", "expected a JSON object");
  spec.bos_token = token_name(reader, config, "bos_token");
  spec.eos_token = token_name(reader, config, "eos_token");
  spec.pad_token = token_name(reader, config, "pad_token");
  if (auto unk = token_name(reader, config, "unk_token")) spec.unk_token = std::move(unk);
  const auto decoder = config.find("added_tokens_decoder");
  if (decoder == config.end() || decoder->is_null()) return;
  if (!decoder->is_object()) reader.fail(ErrorKind::kInvalidFile, "added_tokens_decoder", "expected an object");
  std::unordered_set<TokenId> known;
  for (const AddedTokenSpec& token : spec.added_tokens) known.insert(token.id);
  for (const auto& [key, token] : decoder->items()) {
    const std::string path = "added_tokens_decoder[" + Json(key).dump() + "]";
    int64_t id = -1;
    const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (error != std::errc() || end != key.data() + key.size() || id < 0 || id > std::numeric_limits<TokenId>::max()) {
      reader.fail(ErrorKind::kInvalidFile, path, "the key must be a token id");
    }
    AddedTokenSpec added = read_added_token(reader, token, path, static_cast<TokenId>(id));
    if (known.insert(added.id).second) spec.added_tokens.push_back(std::move(added));
  }
}

}  // namespace hanlin::text
