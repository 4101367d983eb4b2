// Finding added tokens (<|im_start|>, <think>, ...) in text before it is pre-tokenised, as
// Hugging Face's AddedVocabulary does: leftmost-longest matches, non-overlapping, then each
// token's flags (single_word, lstrip, rstrip) and the caller's special-token policy applied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "text/tokenizer_json.h"

namespace hanlin::text {

struct AddedTokenMatch {
  size_t begin;  // byte range in the searched text, whitespace swallowed by lstrip/rstrip included
  size_t end;
  TokenId id;
};

// Which special tokens (special == true) may be recognised; other added tokens always are.
struct SpecialTokenPolicy {
  bool parse_special = true;
  // Byte ranges of the original text in which a special token is plain text: a match that
  // overlaps one is not recognised. `base_offset` is where the searched text starts in it.
  const std::vector<std::pair<size_t, size_t>>* plain_ranges = nullptr;
  size_t base_offset = 0;
  bool is_plain(size_t begin, size_t end) const;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // `tokens` are searched for literally; their contents must be non-empty.
  explicit AddedTokenMatcher(const std::vector<AddedTokenSpec>& tokens);

  bool empty() const { return tokens_.empty(); }

  // Appends the recognised tokens of `text`, in order, to `out`.
  void find(std::string_view text, const SpecialTokenPolicy& policy, std::vector<AddedTokenMatch>& out) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                  // index into tokens_ when a token ends here
  };
  // The longest token that starts at `offset`: (token index, length), or (-1, 0).
  std::pair<int32_t, size_t> longest_at(std::string_view text, size_t offset) const;
  size_t next_candidate(std::string_view text, size_t offset) const;
  bool is_recognised(const AddedTokenSpec& token, std::string_view text, size_t begin, size_t end,
                     const SpecialTokenPolicy& policy) const;

  std::vector<AddedTokenSpec> tokens_;
  std::vector<Node> nodes_;
  bool is_first_byte_[256] = {};
  int single_first_byte_ = -1;  // the only first byte of all tokens, or -1: lets find() use memchr
};

}  // namespace hanlin::text
