// Byte-level BPE: the GPT-2 byte↔character alphabet, and merging a pre-token's bytes by merge
// rank exactly as Hugging Face tokenizers' BPE model does (lowest rank first, leftmost first).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hanlin::text {

using TokenId = int32_t;

// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes map to
// themselves, the other 68 to U+0100.. in byte order (space → 'Ġ', newline → 'Ċ').
class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();
  // The character that stands for `byte`.
  char32_t char_of(uint8_t byte) const { return char_of_byte_[byte]; }
  // The byte that `code_point` stands for, or -1 when it is not in the alphabet.
  int byte_of(char32_t code_point) const {
    return code_point < byte_of_char_.size() ? byte_of_char_[code_point] : -1;
  }
  // The raw bytes that a token string of the vocabulary stands for; false (and `bytes`
  // unspecified) when some character is not in the alphabet.
  bool decode(std::string_view token, std::string& bytes) const;
  // The token string for raw bytes (each byte's character, UTF-8 encoded).
  std::string encode(std::string_view bytes) const;

 private:
  std::array<char32_t, 256> char_of_byte_{};
  std::array<int16_t, 324> byte_of_char_{};  // characters go up to U+0143
};

// (left, right) → (rank, merged) with open addressing; built once, read-only after.
class MergeTable {
 public:
  struct Merge {
    uint32_t rank;
    TokenId merged;
  };
  void reserve(size_t num_merges);
  // A pair given twice keeps the later rank, as Hugging Face's merge map does.
  void insert(TokenId left, TokenId right, Merge merge);
  // Null when the pair does not merge.
  const Merge* find(TokenId left, TokenId right) const;
  size_t size() const { return size_; }

 private:
  static uint64_t key(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  size_t slot_of(uint64_t key) const;

  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{};
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

// Reusable buffers for one BPE call, so that merging allocates nothing once warm.
struct BpeScratch {
  struct Symbol {
    TokenId id;
    int32_t prev;
    int32_t next;
    bool removed;
  };
  struct Candidate {
    uint32_t rank;
    uint32_t position;
    TokenId merged;
    TokenId left;  // the pair when queued: if it is unchanged, the candidate is current
    TokenId right;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

// The merge step of the BPE model. `byte_tokens[b]` is the id of the one-byte token for b.
class BpeMerger {
 public:
  BpeMerger() = default;
  BpeMerger(std::array<TokenId, 256> byte_tokens, MergeTable merges);

  // Appends the ids of `piece` (raw bytes, non-empty) to `out`.
  void encode_piece(std::string_view piece, BpeScratch& scratch, std::vector<TokenId>& out) const;
  const MergeTable& merges() const { return merges_; }

 private:
  std::array<TokenId, 256> byte_tokens_{};
  MergeTable merges_;
  // The merges of two single bytes, indexed [first byte][second byte] (rank kNoMerge when
  // none): every piece starts as bytes, and this small table stays in cache where the full
  // merge table does not.
  static constexpr uint32_t kNoMerge = UINT32_MAX;
  std::vector<MergeTable::Merge> byte_pair_merges_;
};

}  // namespace hanlin::text
