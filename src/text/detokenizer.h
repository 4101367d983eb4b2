// Incremental detokenizer for streaming: token ids in one at a time, text out as soon as it is
// final. It never emits part of a UTF-8 sequence: the bytes of a character split across
// tokens are held until the character completes (or is known to be broken, then U+FFFD).
// The concatenation of all deltas equals Tokenizer::decode of all the ids.
#pragma once

#include <string>

#include "text/tokenizer.h"

namespace hanlin::text {

class IncrementalDetokenizer {
 public:
  // `tokenizer` must outlive this object.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false);

  // Appends to `delta` the text that `id` completes (possibly nothing).
  void push(TokenId id, std::string& delta);
  std::string push(TokenId id);

  // Appends the rest: an unfinished character at the end becomes U+FFFD, as in decode().
  // The detokenizer is then empty and can be reused.
  void finish(std::string& delta);
  std::string finish();

  // Bytes held back because they may be the start of a character (0–3).
  size_t num_pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // the bytes not yet emitted
};

}  // namespace hanlin::text
