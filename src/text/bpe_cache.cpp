// Open addressing over (hash, key bytes); keys and ids live in two flat arenas.
#include "text/bpe_cache.h"

#include <algorithm>
#include <cstring>

namespace hanlin::text {
namespace {

uint64_t hash_bytes(std::string_view bytes) {
  uint64_t hash = 0x9E3779B97F4A7C15ull ^ bytes.size();
  size_t offset = 0;
  for (; offset + 8 <= bytes.size(); offset += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + offset, 8);
    hash = (hash ^ word) * 0xFF51AFD7ED558CCDull;
    hash ^= hash >> 32;
  }
  uint64_t tail = 0;
  if (offset < bytes.size()) std::memcpy(&tail, bytes.data() + offset, bytes.size() - offset);
  hash = (hash ^ tail) * 0xC4CEB9FE1A85EC53ull;
  hash ^= hash >> 29;
  return hash | 1;  // never 0, the empty marker
}

}  // namespace

BpeCache::BpeCache(size_t max_entries) : max_entries_(max_entries) {
  size_t capacity = 16;
  while (capacity < max_entries_ * 2) capacity *= 2;
  slots_.resize(capacity);
}

size_t BpeCache::probe(uint64_t hash, std::string_view piece) const {
  const size_t mask = slots_.size() - 1;
  for (size_t index = hash & mask;; index = (index + 1) & mask) {
    const Slot& slot = slots_[index];
    if (slot.hash == 0) return index;
    if (slot.hash == hash && slot.key_length == piece.size() &&
        std::memcmp(keys_.data() + slot.key_offset, piece.data(), piece.size()) == 0) {
      return index;
    }
  }
}

bool BpeCache::find(std::string_view piece, std::vector<TokenId>& out) const {
  const Slot& slot = slots_[probe(hash_bytes(piece), piece)];
  if (slot.hash == 0) return false;
  out.insert(out.end(), ids_.begin() + slot.ids_offset, ids_.begin() + slot.ids_offset + slot.ids_length);
  return true;
}

void BpeCache::insert(std::string_view piece, std::span<const TokenId> ids) {
  if (piece.empty() || piece.size() > kMaxPieceBytes) return;
  if (num_entries_ >= max_entries_) clear();
  const uint64_t hash = hash_bytes(piece);
  Slot& slot = slots_[probe(hash, piece)];
  if (slot.hash != 0) return;  // already cached
  slot = {hash, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(piece.size()),
          static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(ids.size())};
  keys_.append(piece);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ++num_entries_;
}

void BpeCache::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  keys_.clear();
  ids_.clear();
  num_entries_ = 0;
}

}  // namespace hanlin::text
