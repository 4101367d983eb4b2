// A byte trie over the added tokens' contents; candidates are found by their first byte.
#include "text/tokenizer_added_tokens.h"

#include <algorithm>
#include <cstring>

#include "text/unicode.h"
#include "text/utf8.h"

namespace hanlin::text {
namespace {

// The code point that ends just before `offset` in valid UTF-8 `text` (offset > 0).
char32_t char_before(std::string_view text, size_t offset) {
  size_t start = offset - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  return decode_utf8(text, start).code_point;
}

// Where the whitespace that ends text[0, offset) begins (lstrip).
size_t whitespace_start_before(std::string_view text, size_t offset) {
  while (offset > 0) {
    size_t start = offset - 1;
    while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    if (!is_white_space(decode_utf8(text, start).code_point)) break;
    offset = start;
  }
  return offset;
}

// Where the whitespace that starts at `offset` ends (rstrip).
size_t whitespace_end_after(std::string_view text, size_t offset) {
  while (offset < text.size()) {
    const Utf8Char c = decode_utf8(text, offset);
    if (!is_white_space(c.code_point)) break;
    offset += c.length;
  }
  return offset;
}

}  // namespace

bool SpecialTokenPolicy::is_plain(size_t begin, size_t end) const {
  if (plain_ranges == nullptr) return false;
  begin += base_offset;
  end += base_offset;
  return std::any_of(plain_ranges->begin(), plain_ranges->end(),
                     [&](const auto& range) { return range.first < end && begin < range.second; });
}

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedTokenSpec>& tokens) : tokens_(tokens) {
  nodes_.emplace_back();
  for (size_t index = 0; index < tokens_.size(); ++index) {
    int32_t node = 0;
    for (const char c : tokens_[index].content) {
      const auto byte = static_cast<uint8_t>(c);
      auto& children = nodes_[node].children;
      auto found = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
      if (found == children.end() || found->first != byte) {
        const auto child = static_cast<int32_t>(nodes_.size());
        children.insert(found, {byte, child});
        nodes_.emplace_back();
        node = child;
      } else {
        node = found->second;
      }
    }
    // Two tokens with one content: the later wins, as in Hugging Face's content → id map.
    nodes_[node].token = static_cast<int32_t>(index);
    const auto first = static_cast<uint8_t>(tokens_[index].content[0]);
    is_first_byte_[first] = true;
  }
  int num_first_bytes = 0;
  for (int byte = 0; byte < 256; ++byte) {
    if (is_first_byte_[byte]) {
      ++num_first_bytes;
      single_first_byte_ = byte;
    }
  }
  if (num_first_bytes != 1) single_first_byte_ = -1;
}

size_t AddedTokenMatcher::next_candidate(std::string_view text, size_t offset) const {
  if (single_first_byte_ >= 0) {
    const void* found = std::memchr(text.data() + offset, single_first_byte_, text.size() - offset);
    return found == nullptr ? text.size() : static_cast<size_t>(static_cast<const char*>(found) - text.data());
  }
  while (offset < text.size() && !is_first_byte_[static_cast<uint8_t>(text[offset])]) ++offset;
  return offset;
}

std::pair<int32_t, size_t> AddedTokenMatcher::longest_at(std::string_view text, size_t offset) const {
  std::pair<int32_t, size_t> best{-1, 0};
  int32_t node = 0;
  for (size_t at = offset; at < text.size(); ++at) {
    const auto& children = nodes_[node].children;
    const auto byte = static_cast<uint8_t>(text[at]);
    const auto found = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
    if (found == children.end() || found->first != byte) break;
    node = found->second;
    if (nodes_[node].token >= 0) best = {nodes_[node].token, at + 1 - offset};
  }
  return best;
}

bool AddedTokenMatcher::is_recognised(const AddedTokenSpec& token, std::string_view text, size_t begin, size_t end,
                                      const SpecialTokenPolicy& policy) const {
  if (token.special && (!policy.parse_special || policy.is_plain(begin, end))) return false;
  if (token.single_word) {
    const bool word_before = begin > 0 && is_word_char(char_before(text, begin));
    const bool word_after = end < text.size() && is_word_char(decode_utf8(text, end).code_point);
    if (word_before || word_after) return false;
  }
  return true;
}

void AddedTokenMatcher::find(std::string_view text, const SpecialTokenPolicy& policy,
                             std::vector<AddedTokenMatch>& out) const {
  if (tokens_.empty()) return;
  size_t emitted_end = 0;  // end of the last recognised token, whitespace included
  size_t offset = next_candidate(text, 0);
  while (offset < text.size()) {
    const auto [index, length] = longest_at(text, offset);
    if (index < 0) {
      offset = next_candidate(text, offset + 1);
      continue;
    }
    const AddedTokenSpec& token = tokens_[static_cast<size_t>(index)];
    const size_t match_end = offset + length;
    // A match that is not recognised is skipped whole, as Hugging Face's match iterator does.
    if (is_recognised(token, text, offset, match_end, policy)) {
      const size_t begin = token.lstrip ? std::max(whitespace_start_before(text, offset), emitted_end) : offset;
      const size_t end = token.rstrip ? whitespace_end_after(text, match_end) : match_end;
      out.push_back({begin, end, token.id});
      emitted_end = end;
    }
    offset = next_candidate(text, std::max(match_end, emitted_end));
  }
}

}  // namespace hanlin::text
