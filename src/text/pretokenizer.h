// The pre-tokenizer of Qwen2/2.5/3/QwQ/VL checkpoints: the Split regex of their tokenizer.json,
// run by a hand-written scanner with exactly the regex's leftmost-first, backtracking semantics.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace hanlin::text {

// The pattern, as tokenizer.json spells it. A tokenizer.json with any other Split pattern is
// refused at load (kUnsupported) rather than tokenised differently from its checkpoint.
inline constexpr std::string_view kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// Appends to `piece_ends` the end offset (in bytes) of every piece of `text`, in order; the
// first piece starts at 0, each next one where the previous ended, and the last ends at
// text.size(). `text` must be valid UTF-8 (the tokenizer checks before it calls this).
//
// The alternatives, tried in order at each position, first match wins:
//   1. (?i:'s|'t|'re|'ve|'m|'ll|'d)  contractions; case-insensitive as Oniguruma folds,
//                                      so 's also matches 'S and 'ſ (U+017F)
//   2. [^\r\n\p{L}\p{N}]?\p{L}+       a letter run, with one optional leading non-letter
//   3. \p{N}                          one digit (numbers split one character at a time)
//   4. ` ?[^\s\p{L}\p{N}]+[\r\n]*`    a punctuation/symbol run, optional leading space,
//                                      trailing line breaks
//   5. \s*[\r\n]+                     whitespace up to and including its last line break
//   6. \s+(?!\S)                      whitespace not followed by a non-space: at the end of
//                                      the text all of it, otherwise all but its last character
//   7. \s+                            a single whitespace character before a non-space
void split_pretokens(std::string_view text, std::vector<size_t>& piece_ends);

}  // namespace hanlin::text
