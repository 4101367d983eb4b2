// Reads a checkpoint's tokenizer.json (and optionally tokenizer_config.json) into a plain,
// validated description. Anything hanlin cannot tokenise exactly as Hugging Face would is
// refused here with a clear error: malformed files are kInvalidFile, valid but different
// pipelines (another pre-tokenizer pattern, WordPiece, byte fallback) are kUnsupported.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/bpe.h"

namespace hanlin::text {

struct AddedTokenSpec {
  TokenId id = 0;
  std::string content;
  bool special = false;
  bool normalized = false;   // matched against NFC text rather than the raw text
  bool lstrip = false;       // swallows the whitespace before it
  bool rstrip = false;       // swallows the whitespace after it
  bool single_word = false;  // only matches when not inside a word
};

struct TokenizerSpec {
  bool nfc = false;  // the normalizer: NFC or none
  std::vector<std::pair<std::string, TokenId>> vocab;       // token strings as written (byte-level)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  bool ignore_merges = false;  // a pre-token found whole in the vocab skips merging
  std::vector<AddedTokenSpec> added_tokens;
  // From tokenizer_config.json; absent when not given or null.
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> pad_token;
  std::optional<std::string> unk_token;
};

// `source` names the file in error messages. Throws hanlin::Error.
TokenizerSpec parse_tokenizer_json(std::string_view json_text, std::string_view source);

// Adds tokenizer_config.json's special-token names and any added_tokens_decoder entries
// that tokenizer.json lacks (tokenizer.json wins where both describe an id).
void apply_tokenizer_config(TokenizerSpec& spec, std::string_view json_text, std::string_view source);

}  // namespace hanlin::text
