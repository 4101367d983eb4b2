// Tokenizer: building the lookup tables from a TokenizerSpec, and the encode/decode paths.
#include "text/tokenizer.h"

#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/bpe_cache.h"
#include "text/pretokenizer.h"
#include "text/tokenizer_added_tokens.h"
#include "text/tokenizer_json.h"
#include "text/unicode.h"
#include "text/utf8.h"

namespace hanlin::text {
namespace {

// Strings by id in one arena; ids without a string are empty.
class StringTable {
 public:
  void resize(size_t num_ids) { spans_.assign(num_ids, {0, 0}); }
  void set(TokenId id, std::string_view value) {
    if (arena_.size() + value.size() > UINT32_MAX) {
      throw Error(ErrorKind::kInvalidFile, "tokenizer.json: the token strings exceed 4 GiB");
    }
    spans_[static_cast<size_t>(id)] = {static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(value.size())};
    arena_.append(value);
  }
  std::string_view get(TokenId id) const {
    if (id < 0 || static_cast<size_t>(id) >= spans_.size()) return {};
    const auto [offset, length] = spans_[static_cast<size_t>(id)];
    return std::string_view(arena_).substr(offset, length);
  }
  bool has(TokenId id) const { return !get(id).empty(); }
  size_t size() const { return spans_.size(); }

 private:
  std::string arena_;
  std::vector<std::pair<uint32_t, uint32_t>> spans_;  // (offset, length) in arena_
};

// Buffers one encode call needs; the shared one also carries the BPE cache.
struct EncodeContext {
  BpeScratch scratch;
  std::vector<size_t> piece_ends;
  std::vector<AddedTokenMatch> matches;
  std::vector<AddedTokenMatch> normalized_matches;
  std::string normalized;
  BpeCache* cache = nullptr;
};

std::string describe_byte(int byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[byte >> 4] + kHex[byte & 15];
}

}  // namespace

struct Tokenizer::Impl {
  ByteLevelAlphabet alphabet;
  BpeMerger merger;
  std::array<TokenId, 256> byte_tokens{};
  bool nfc = false;
  bool ignore_merges = false;
  std::unordered_map<std::string, TokenId> ids_by_token;       // vocab and added tokens, as spelled
  std::unordered_map<std::string, TokenId> ids_by_bytes;       // only for ignore_merges
  StringTable token_strings;
  StringTable token_bytes;
  std::vector<uint8_t> special;
  AddedTokenMatcher raw_matcher;         // added tokens with normalized=false
  AddedTokenMatcher normalized_matcher;  // added tokens with normalized=true, matched after NFC
  std::optional<TokenId> bos, eos, pad;

  mutable std::mutex shared_mutex;  // guards shared_context and cache
  mutable EncodeContext shared_context;
  mutable BpeCache cache;

  explicit Impl(const TokenizerSpec& spec);
  void build_vocab(const TokenizerSpec& spec, std::unordered_map<std::string, TokenId>& vocab_ids);
  void build_merges(const TokenizerSpec& spec, const std::unordered_map<std::string, TokenId>& vocab_ids);
  void build_added_tokens(const TokenizerSpec& spec);
  std::optional<TokenId> named_token(const std::optional<std::string>& name, const char* field) const;

  void encode_text(std::string_view text, const EncodeOptions& options, EncodeContext& context,
                   std::vector<TokenId>& out) const;
  void encode_segment(std::string_view segment, const SpecialTokenPolicy& policy, EncodeContext& context,
                      std::vector<TokenId>& out) const;
  void encode_pieces(std::string_view text, EncodeContext& context, std::vector<TokenId>& out) const;
  void encode_piece(std::string_view piece, EncodeContext& context, std::vector<TokenId>& out) const;
};

Tokenizer::Impl::Impl(const TokenizerSpec& spec) : nfc(spec.nfc), ignore_merges(spec.ignore_merges) {
  std::unordered_map<std::string, TokenId> vocab_ids;
  build_vocab(spec, vocab_ids);
  build_merges(spec, vocab_ids);
  ids_by_token = std::move(vocab_ids);  // the added tokens join it next
  build_added_tokens(spec);
  bos = named_token(spec.bos_token, "bos_token");
  eos = named_token(spec.eos_token, "eos_token");
  pad = named_token(spec.pad_token, "pad_token");
}

void Tokenizer::Impl::build_vocab(const TokenizerSpec& spec, std::unordered_map<std::string, TokenId>& vocab_ids) {
  TokenId max_id = -1;
  for (const auto& [token, id] : spec.vocab) max_id = std::max(max_id, id);
  for (const AddedTokenSpec& added : spec.added_tokens) max_id = std::max(max_id, added.id);
  const auto num_ids = static_cast<size_t>(max_id + 1);
  // Tables are indexed by id: a stray huge id would make them huge, so ids must be dense-ish.
  const size_t num_tokens = spec.vocab.size() + spec.added_tokens.size();
  if (num_ids > num_tokens * 2 + 1024) {
    throw Error(ErrorKind::kInvalidFile, "tokenizer.json: token id " + std::to_string(max_id) + " is far beyond the " +
                                             std::to_string(num_tokens) + " tokens it defines");
  }
  token_strings.resize(num_ids);
  token_bytes.resize(num_ids);
  special.assign(num_ids, 0);
  vocab_ids.reserve(spec.vocab.size());
  std::string bytes;
  for (const auto& [token, id] : spec.vocab) {
    vocab_ids.emplace(token, id);
    token_strings.set(id, token);
    // Hugging Face's ByteLevel decoder: a token whose characters are not all in the
    // alphabet decodes to its own UTF-8.
    const bool is_byte_level = alphabet.decode(token, bytes);
    token_bytes.set(id, is_byte_level ? std::string_view(bytes) : std::string_view(token));
    if (ignore_merges && is_byte_level) ids_by_bytes.emplace(bytes, id);
  }
  for (int byte = 0; byte < 256; ++byte) {
    const std::string token = alphabet.encode(std::string(1, static_cast<char>(byte)));
    const auto found = vocab_ids.find(token);
    if (found == vocab_ids.end()) {
      throw Error(ErrorKind::kInvalidFile, "tokenizer.json: model.vocab: no token for byte " + describe_byte(byte) +
                                               " (\"" + token + "\"): a byte-level vocabulary needs all 256");
    }
    byte_tokens[byte] = found->second;
  }
}

void Tokenizer::Impl::build_merges(const TokenizerSpec& spec,
                                   const std::unordered_map<std::string, TokenId>& vocab_ids) {
  MergeTable merges;
  merges.reserve(spec.merges.size());
  auto id_of = [&](const std::string& token, size_t rank, const char* role) {
    const auto found = vocab_ids.find(token);
    if (found == vocab_ids.end()) {
      throw Error(ErrorKind::kInvalidFile, "tokenizer.json: model.merges[" + std::to_string(rank) + "]: " + role +
                                               " token \"" + token + "\" is not in model.vocab");
    }
    return found->second;
  };
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [left, right] = spec.merges[rank];
    const TokenId left_id = id_of(left, rank, "left");
    const TokenId right_id = id_of(right, rank, "right");
    const TokenId merged = id_of(left + right, rank, "merged");
    merges.insert(left_id, right_id, {static_cast<uint32_t>(rank), merged});
  }
  merger = BpeMerger(byte_tokens, std::move(merges));
}

void Tokenizer::Impl::build_added_tokens(const TokenizerSpec& spec) {
  std::vector<AddedTokenSpec> raw;
  std::vector<AddedTokenSpec> normalized;
  std::string bytes;
  for (const AddedTokenSpec& added : spec.added_tokens) {
    ids_by_token[added.content] = added.id;
    token_strings.set(added.id, added.content);
    token_bytes.set(added.id, alphabet.decode(added.content, bytes) ? std::string_view(bytes)
                                                                     : std::string_view(added.content));
    special[static_cast<size_t>(added.id)] = added.special ? 1 : 0;
    if (!added.normalized) {
      raw.push_back(added);
      continue;
    }
    // A normalized token is searched for in normalised text, so its content is normalised too.
    AddedTokenSpec copy = added;
    if (nfc) {
      copy.content.clear();
      append_nfc(copy.content, added.content);
    }
    normalized.push_back(std::move(copy));
  }
  raw_matcher = AddedTokenMatcher(raw);
  normalized_matcher = AddedTokenMatcher(normalized);
}

std::optional<TokenId> Tokenizer::Impl::named_token(const std::optional<std::string>& name, const char* field) const {
  if (!name) return std::nullopt;
  const auto found = ids_by_token.find(*name);
  if (found == ids_by_token.end()) {
    throw Error(ErrorKind::kInvalidFile, std::string("tokenizer_config.json: ") + field + " \"" + *name +
                                             "\" is not a token of tokenizer.json");
  }
  return found->second;
}

void Tokenizer::Impl::encode_piece(std::string_view piece, EncodeContext& context, std::vector<TokenId>& out) const {
  if (ignore_merges) {
    const auto found = ids_by_bytes.find(std::string(piece));
    if (found != ids_by_bytes.end()) {
      out.push_back(found->second);
      return;
    }
  }
  if (piece.size() == 1) {
    out.push_back(byte_tokens[static_cast<uint8_t>(piece[0])]);
    return;
  }
  if (context.cache != nullptr && context.cache->find(piece, out)) return;
  const size_t first = out.size();
  merger.encode_piece(piece, context.scratch, out);
  if (context.cache != nullptr) context.cache->insert(piece, std::span<const TokenId>(out).subspan(first));
}

void Tokenizer::Impl::encode_pieces(std::string_view text, EncodeContext& context, std::vector<TokenId>& out) const {
  context.piece_ends.clear();
  split_pretokens(text, context.piece_ends);
  size_t start = 0;
  for (const size_t end : context.piece_ends) {
    encode_piece(text.substr(start, end - start), context, out);
    start = end;
  }
}

void Tokenizer::Impl::encode_segment(std::string_view segment, const SpecialTokenPolicy& policy,
                                     EncodeContext& context, std::vector<TokenId>& out) const {
  if (segment.empty()) return;
  std::string_view normalized = segment;
  if (nfc && may_change_under_nfc(segment)) {
    context.normalized.clear();
    append_nfc(context.normalized, segment);
    normalized = context.normalized;
  }
  if (normalized_matcher.empty()) {
    encode_pieces(normalized, context, out);
    return;
  }
  // Offsets in normalised text do not map back to the original, so a plain range anywhere in
  // the segment makes every special token of it plain.
  SpecialTokenPolicy segment_policy;
  segment_policy.parse_special = policy.parse_special && !policy.is_plain(0, segment.size());
  context.normalized_matches.clear();
  normalized_matcher.find(normalized, segment_policy, context.normalized_matches);
  size_t cursor = 0;
  for (const AddedTokenMatch& match : context.normalized_matches) {
    if (match.begin > cursor) encode_pieces(normalized.substr(cursor, match.begin - cursor), context, out);
    out.push_back(match.id);
    cursor = match.end;
  }
  if (cursor < normalized.size()) encode_pieces(normalized.substr(cursor), context, out);
}

void Tokenizer::Impl::encode_text(std::string_view text, const EncodeOptions& options, EncodeContext& context,
                                  std::vector<TokenId>& out) const {
  SpecialTokenPolicy policy;
  policy.parse_special = options.parse_special;
  policy.plain_ranges = &options.plain_ranges;
  context.matches.clear();
  raw_matcher.find(text, policy, context.matches);
  size_t cursor = 0;
  for (const AddedTokenMatch& match : context.matches) {
    policy.base_offset = cursor;
    encode_segment(text.substr(cursor, match.begin - cursor), policy, context, out);
    out.push_back(match.id);
    cursor = match.end;
  }
  policy.base_offset = cursor;
  encode_segment(text.substr(cursor), policy, context, out);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  const std::filesystem::path tokenizer_path = dir / "tokenizer.json";
  if (!std::filesystem::is_regular_file(tokenizer_path)) {
    throw Error(ErrorKind::kNotFound, "no tokenizer.json in " + model_dir);
  }
  const std::string tokenizer_json = read_text_file(tokenizer_path.string());
  const std::filesystem::path config_path = dir / "tokenizer_config.json";
  const std::string config_json =
      std::filesystem::is_regular_file(config_path) ? read_text_file(config_path.string()) : std::string();
  return from_json(tokenizer_json, config_json);
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json) {
  TokenizerSpec spec = parse_tokenizer_json(tokenizer_json, "tokenizer.json");
  if (!config_json.empty()) apply_tokenizer_config(spec, config_json, "tokenizer_config.json");
  auto impl = std::make_unique<Impl>(spec);
  impl->shared_context.cache = &impl->cache;
  return Tokenizer(std::move(impl));
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<TokenId> ids;
  encode(text, options, ids);
  return ids;
}

void Tokenizer::encode(std::string_view text, const EncodeOptions& options, std::vector<TokenId>& out) const {
  require_valid_utf8(text, "text");
  // One caller at a time gets the shared buffers and the cache; a concurrent caller works with
  // its own buffers and no cache rather than wait (the cache only saves time, never changes ids).
  std::unique_lock lock(impl_->shared_mutex, std::try_to_lock);
  if (lock.owns_lock()) {
    impl_->encode_text(text, options, impl_->shared_context, out);
    return;
  }
  EncodeContext local;
  impl_->encode_text(text, options, local, out);
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (const TokenId id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    bytes.append(impl_->token_bytes.get(id));
  }
  std::string text;
  text.reserve(bytes.size());
  append_utf8_lossy(text, bytes);
  return text;
}

std::string_view Tokenizer::token_bytes(TokenId id) const { return impl_->token_bytes.get(id); }

std::optional<std::string> Tokenizer::id_to_token(TokenId id) const {
  if (!impl_->token_strings.has(id)) return std::nullopt;
  return std::string(impl_->token_strings.get(id));
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  const auto found = impl_->ids_by_token.find(std::string(token));
  if (found == impl_->ids_by_token.end()) return std::nullopt;
  return found->second;
}

bool Tokenizer::is_special(TokenId id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() && impl_->special[static_cast<size_t>(id)] != 0;
}

size_t Tokenizer::id_limit() const { return impl_->token_strings.size(); }
std::optional<TokenId> Tokenizer::bos_token_id() const { return impl_->bos; }
std::optional<TokenId> Tokenizer::eos_token_id() const { return impl_->eos; }
std::optional<TokenId> Tokenizer::pad_token_id() const { return impl_->pad; }

}  // namespace hanlin::text
