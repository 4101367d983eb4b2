// The Qwen tokenizer: loads a checkpoint's tokenizer.json (+ tokenizer_config.json) and turns
// text into token ids and back exactly as Hugging Face `tokenizers` does for Qwen2/2.5/3/QwQ/VL.
//
// Pipeline of encode: added tokens are found in the raw text first (longest match), the text
// between them is NFC-normalised, split by the Qwen2 pre-tokenizer regex, and each piece's bytes
// are merged by BPE rank. Encoding adds no BOS/EOS (Hugging Face's add_special_tokens=False).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/bpe.h"

namespace hanlin::text {

struct EncodeOptions {
  // False (the default, for user-supplied text): text that spells a special token such as
  // "<|im_end|>" is tokenised as plain text, so a user cannot forge control tokens.
  // True: special tokens are recognised everywhere, as Hugging Face's encode does.
  // Added tokens that are not special (<think>, <tool_call>) are recognised either way, as in
  // Hugging Face with split_special_tokens=True.
  bool parse_special = false;
  // Byte ranges [first, second) of the text in which special tokens are never recognised,
  // even with parse_special: a chat template passes the ranges that came from user data, so
  // its own <|im_start|> stays a control token while a user's "<|im_end|>" is plain text. A
  // match that overlaps a range is plain text.
  std::vector<std::pair<size_t, size_t>> plain_ranges;
};

class Tokenizer {
 public:
  // Reads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json. Throws
  // hanlin::Error: kNotFound (no tokenizer.json), kInvalidFile (malformed), kUnsupported (a
  // pipeline other than Qwen's byte-level BPE).
  static Tokenizer load(const std::string& model_dir);
  // The same from the files' contents; `config_json` may be empty.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json = {});

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text`. Throws Error(kInvalidArgument) naming the byte offset when `text` is
  // not valid UTF-8. Safe to call from several threads at once.
  std::vector<TokenId> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // The same, appending to `out`.
  void encode(std::string_view text, const EncodeOptions& options, std::vector<TokenId>& out) const;

  // The text of `ids`, as Hugging Face's decode: the tokens' bytes joined, invalid UTF-8
  // replaced by U+FFFD; ids that name no token contribute nothing.
  std::string decode(std::span<const TokenId> ids, bool skip_special_tokens = false) const;

  // The raw bytes a token stands for (empty for an id that names no token).
  std::string_view token_bytes(TokenId id) const;
  // The token's string as tokenizer.json spells it ("Ġworld", "<|im_end|>"), or nullopt.
  std::optional<std::string> id_to_token(TokenId id) const;
  // The id of a token string as tokenizer.json spells it (vocab or added token), or nullopt.
  std::optional<TokenId> token_to_id(std::string_view token) const;
  bool is_special(TokenId id) const;
  // One past the largest id (ids below it may still name no token).
  size_t id_limit() const;

  // From tokenizer_config.json (bos_token, eos_token, pad_token), when given and known.
  std::optional<TokenId> bos_token_id() const;
  std::optional<TokenId> eos_token_id() const;
  std::optional<TokenId> pad_token_id() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hanlin::text
