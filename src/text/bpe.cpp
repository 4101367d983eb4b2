// Byte-level alphabet, merge table and the merge loop of the BPE model.
#include "text/bpe.h"

#include <algorithm>

#include "text/utf8.h"

namespace hanlin::text {
namespace {

bool stands_for_itself(int byte) {
  return (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
}

uint64_t mix(uint64_t key) {
  // splitmix64's finaliser: spreads (left, right) pairs over the table.
  key ^= key >> 30;
  key *= 0xBF58476D1CE4E5B9ull;
  key ^= key >> 27;
  key *= 0x94D049BB133111EBull;
  return key ^ (key >> 31);
}

// Hugging Face orders merges by rank, then by position: std heap functions build a max-heap,
// so "greater" puts the lowest (rank, position) on top.
bool comes_later(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.position > b.position;
}

}  // namespace

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_char_.fill(-1);
  char32_t next_extra = 256;
  for (int byte = 0; byte < 256; ++byte) {
    const char32_t c = stands_for_itself(byte) ? static_cast<char32_t>(byte) : next_extra++;
    char_of_byte_[byte] = c;
    byte_of_char_[c] = static_cast<int16_t>(byte);
  }
}

bool ByteLevelAlphabet::decode(std::string_view token, std::string& bytes) const {
  bytes.clear();
  for (size_t offset = 0; offset < token.size();) {
    const Utf8Char c = decode_utf8(token, offset);
    const int byte = c.valid ? byte_of(c.code_point) : -1;
    if (byte < 0) return false;
    bytes.push_back(static_cast<char>(byte));
    offset += c.length;
  }
  return true;
}

std::string ByteLevelAlphabet::encode(std::string_view bytes) const {
  std::string token;
  for (const char byte : bytes) append_utf8(token, char_of(static_cast<uint8_t>(byte)));
  return token;
}

void MergeTable::reserve(size_t num_merges) {
  size_t capacity = 16;
  while (capacity * 2 < num_merges * 3) capacity *= 2;  // load ≤ 2/3: short probes, a smaller table
  if (capacity > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    size_ = 0;
    for (const Slot& slot : old) {
      if (slot.key != kEmpty) insert(static_cast<TokenId>(slot.key >> 32), static_cast<TokenId>(slot.key), slot.merge);
    }
  }
}

size_t MergeTable::slot_of(uint64_t wanted) const {
  const size_t mask = slots_.size() - 1;
  size_t index = mix(wanted) & mask;
  while (slots_[index].key != wanted && slots_[index].key != kEmpty) index = (index + 1) & mask;
  return index;
}

void MergeTable::insert(TokenId left, TokenId right, Merge merge) {
  if ((size_ + 1) * 3 > slots_.size() * 2) reserve(size_ + 1);
  const uint64_t wanted = key(left, right);
  Slot& slot = slots_[slot_of(wanted)];
  if (slot.key == kEmpty) ++size_;
  slot.key = wanted;
  slot.merge = merge;
}

const MergeTable::Merge* MergeTable::find(TokenId left, TokenId right) const {
  if (slots_.empty()) return nullptr;
  const Slot& slot = slots_[slot_of(key(left, right))];
  return slot.key == kEmpty ? nullptr : &slot.merge;
}

BpeMerger::BpeMerger(std::array<TokenId, 256> byte_tokens, MergeTable merges)
    : byte_tokens_(byte_tokens), merges_(std::move(merges)), byte_pair_merges_(256 * 256, {kNoMerge, -1}) {
  for (int first = 0; first < 256; ++first) {
    for (int second = 0; second < 256; ++second) {
      if (const MergeTable::Merge* merge = merges_.find(byte_tokens_[first], byte_tokens_[second])) {
        byte_pair_merges_[first * 256 + second] = *merge;
      }
    }
  }
}

void BpeMerger::encode_piece(std::string_view piece, BpeScratch& scratch, std::vector<TokenId>& out) const {
  if (piece.empty()) return;
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  const auto num_symbols = static_cast<int32_t>(piece.size());
  for (int32_t index = 0; index < num_symbols; ++index) {
    symbols.push_back({byte_tokens_[static_cast<uint8_t>(piece[index])], index - 1,
                       index + 1 < num_symbols ? index + 1 : -1, false});
  }
  auto push = [&](int32_t position, const MergeTable::Merge& merge) {
    const BpeScratch::Symbol& left = symbols[position];
    heap.push_back({merge.rank, static_cast<uint32_t>(position), merge.merged, left.id, symbols[left.next].id});
    std::push_heap(heap.begin(), heap.end(), comes_later);
  };
  auto push_candidate = [&](int32_t position) {
    const int32_t next = symbols[position].next;
    if (next < 0) return;
    if (const MergeTable::Merge* merge = merges_.find(symbols[position].id, symbols[next].id)) push(position, *merge);
  };
  for (int32_t index = 0; index + 1 < num_symbols; ++index) {
    const auto first = static_cast<uint8_t>(piece[index]);
    const auto second = static_cast<uint8_t>(piece[index + 1]);
    const MergeTable::Merge& merge = byte_pair_merges_[first * 256 + second];
    if (merge.rank != kNoMerge) push(index, merge);
  }

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), comes_later);
    const BpeScratch::Candidate top = heap.back();
    heap.pop_back();
    BpeScratch::Symbol& left = symbols[top.position];
    if (left.removed || left.next < 0) continue;
    BpeScratch::Symbol& right = symbols[left.next];
    // A stale candidate: the pair at this position changed since it was queued. Hugging Face
    // still merges when the new pair happens to merge into the same token.
    if (left.id != top.left || right.id != top.right) {
      const MergeTable::Merge* current = merges_.find(left.id, right.id);
      if (current == nullptr || current->merged != top.merged) continue;
    }
    right.removed = true;
    left.id = top.merged;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = static_cast<int32_t>(top.position);
    if (left.prev >= 0) push_candidate(left.prev);
    push_candidate(static_cast<int32_t>(top.position));
  }
  for (int32_t index = 0; index >= 0; index = symbols[index].next) out.push_back(symbols[index].id);
}

}  // namespace hanlin::text
