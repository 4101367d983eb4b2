// Emits the longest prefix of the pending bytes whose decoding can no longer change: all but a
// trailing valid-but-unfinished sequence. Lossy decoding of such a prefix equals the prefix of
// the lossy decoding of the whole, because an unfinished sequence starts at a lead byte, which
// no earlier sequence can extend over.
#include "text/detokenizer.h"

#include "text/utf8.h"

namespace hanlin::text {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}

void IncrementalDetokenizer::push(TokenId id, std::string& delta) {
  if (skip_special_tokens_ && tokenizer_->is_special(id)) return;
  pending_.append(tokenizer_->token_bytes(id));
  const size_t held = unfinished_utf8_suffix(pending_);
  const size_t ready = pending_.size() - held;
  if (ready == 0) return;
  append_utf8_lossy(delta, std::string_view(pending_).substr(0, ready));
  pending_.erase(0, ready);
}

std::string IncrementalDetokenizer::push(TokenId id) {
  std::string delta;
  push(id, delta);
  return delta;
}

void IncrementalDetokenizer::finish(std::string& delta) {
  append_utf8_lossy(delta, pending_);
  pending_.clear();
}

std::string IncrementalDetokenizer::finish() {
  std::string delta;
  finish(delta);
  return delta;
}

}  // namespace hanlin::text
