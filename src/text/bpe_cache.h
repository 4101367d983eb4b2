// A cache from pre-token bytes to their BPE ids: most words recur, and a lookup is far cheaper
// than merging. Bounded: when full it starts over, so memory stays flat in a long-running server.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "text/bpe.h"

namespace hanlin::text {

class BpeCache {
 public:
  // Pieces longer than this are not cached (long letter runs, e.g. Chinese sentences, rarely
  // recur); Hugging Face's BPE uses the same bound.
  static constexpr size_t kMaxPieceBytes = 256;

  explicit BpeCache(size_t max_entries = size_t{1} << 16);

  // Appends the cached ids of `piece` to `out` and returns true, or returns false.
  bool find(std::string_view piece, std::vector<TokenId>& out) const;
  void insert(std::string_view piece, std::span<const TokenId> ids);
  void clear();
  size_t size() const { return num_entries_; }

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty
    uint32_t key_offset = 0;
    uint32_t key_length = 0;
    uint32_t ids_offset = 0;
    uint32_t ids_length = 0;
  };
  size_t probe(uint64_t hash, std::string_view piece) const;

  size_t max_entries_;
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<TokenId> ids_;
  size_t num_entries_ = 0;
};

}  // namespace hanlin::text
