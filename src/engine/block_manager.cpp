// BlockManager: reference-counted KV blocks, an O(1) LRU free list and the prefix cache's
// key table; BlockHasher: the keyed 128-bit hash that names a block's whole prefix.
#include "engine/block_manager.h"

#include <algorithm>
#include <random>
#include <string>

#include "core/error.h"
#include "engine/siphash.h"

namespace hanlin::engine {
namespace {

// Bugs in the caller (the scheduler), not user input: a distinct kind so they are never
// reported as the user's fault.
[[noreturn]] void internal_error(const std::string& message) {
  throw Error(ErrorKind::kInternal, "BlockManager: " + message);
}

uint64_t random_word(std::random_device& device) {
  const uint64_t high = device();
  const uint64_t low = device();
  return (high << 32) ^ low;  // random_device yields 32 bits per call
}

void append_little_endian(std::vector<uint8_t>& bytes, uint64_t value, int num_bytes) {
  for (int i = 0; i < num_bytes; ++i) bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// The hashed message: a marker byte, 0 for a first block or 1 followed by the parent key's 16
// bytes, then the token ids as little-endian int32. The marker keeps "no parent" apart from any
// parent key, and the fixed-length parent keeps parent bytes apart from token bytes.
std::vector<uint8_t> block_message(const std::optional<BlockKey>& parent, std::span<const int32_t> tokens) {
  std::vector<uint8_t> bytes;
  bytes.reserve(17 + 4 * tokens.size());
  bytes.push_back(parent ? 1 : 0);
  if (parent) {
    append_little_endian(bytes, parent->high, 8);
    append_little_endian(bytes, parent->low, 8);
  }
  for (const int32_t token : tokens) append_little_endian(bytes, static_cast<uint32_t>(token), 4);
  return bytes;
}

}  // namespace

BlockHasher::BlockHasher() {
  std::random_device device;
  high_key_ = {random_word(device), random_word(device)};
  low_key_ = {random_word(device), random_word(device)};
}

// The two secrets form one SipHash key; the two keys actually used are derived from it with
// distinct labels, so high and low never share a key.
BlockHasher::BlockHasher(uint64_t secret_a, uint64_t secret_b) {
  const auto derive = [&](uint8_t label) {
    const uint8_t message[] = {'h', 'a', 'n', 'l', 'i', 'n', '-', 'b', 'l', 'o', 'c', 'k', label};
    return siphash24(secret_a, secret_b, message);
  };
  high_key_ = {derive(0), derive(1)};
  low_key_ = {derive(2), derive(3)};
}

BlockKey BlockHasher::key(const std::optional<BlockKey>& parent, std::span<const int32_t> tokens) const {
  const std::vector<uint8_t> message = block_message(parent, tokens);
  return BlockKey{siphash24(high_key_.word_0, high_key_.word_1, message),
                  siphash24(low_key_.word_0, low_key_.word_1, message)};
}

BlockManager::BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : num_blocks_(num_blocks), block_size_(block_size), enable_prefix_caching_(enable_prefix_caching) {
  require(num_blocks >= 1, ErrorKind::kInvalidArgument,
          "the KV cache needs at least one block, got " + std::to_string(num_blocks));
  require(block_size >= 1, ErrorKind::kInvalidArgument,
          "a KV block needs at least one token slot, got " + std::to_string(block_size));
  const auto size = static_cast<size_t>(num_blocks);
  ref_counts_.assign(size, 0);
  free_prev_.assign(size, kNoBlock);
  free_next_.assign(size, kNoBlock);
  block_keys_.assign(size, std::nullopt);
  block_parents_.assign(size, std::nullopt);
  block_tokens_.assign(size * static_cast<size_t>(block_size), 0);
  // In index order, so a fresh manager hands out blocks 0, 1, 2, ...
  for (int32_t block = 0; block < num_blocks; ++block) link_free(block, free_tail_, kNoBlock);
}

int32_t BlockManager::num_blocks() const {
  return num_blocks_;
}
int32_t BlockManager::block_size() const {
  return block_size_;
}
bool BlockManager::prefix_caching() const {
  return enable_prefix_caching_;
}
int32_t BlockManager::num_free_blocks() const {
  return num_free_;
}
const PrefixCacheCounters& BlockManager::counters() const {
  return counters_;
}
int32_t BlockManager::num_cached_blocks() const {
  return static_cast<int32_t>(cached_blocks_.size());
}

int32_t BlockManager::ref_count(int32_t block) const {
  check_block(block, "ref_count");
  return ref_counts_[static_cast<size_t>(block)];
}

std::vector<int32_t> BlockManager::lookup(std::span<const BlockKey> keys, std::span<const int32_t> tokens) {
  if (!enable_prefix_caching_) return {};
  if (tokens.size() < keys.size() * static_cast<size_t>(block_size_)) {
    internal_error("lookup of " + std::to_string(keys.size()) + " keys needs " +
                   std::to_string(keys.size() * static_cast<size_t>(block_size_)) + " tokens, got " +
                   std::to_string(tokens.size()));
  }
  std::vector<int32_t> hits;
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto found = cached_blocks_.find(keys[i]);
    if (found == cached_blocks_.end()) break;
    // keys[i - 1] was confirmed already, so a matching parent confirms the whole prefix.
    const std::optional<BlockKey> parent = i == 0 ? std::nullopt : std::optional<BlockKey>(keys[i - 1]);
    if (!holds(found->second, parent, tokens.subspan(i * static_cast<size_t>(block_size_), block_size_)))
      break;
    hits.push_back(found->second);
  }
  counters_.queried_tokens += static_cast<int64_t>(keys.size()) * block_size_;
  counters_.hit_tokens += static_cast<int64_t>(hits.size()) * block_size_;
  return hits;
}

void BlockManager::acquire(std::span<const int32_t> blocks) {
  // Checked first so a bad index leaves every count as it was.
  for (const int32_t block : blocks) check_block(block, "acquire");
  for (const int32_t block : blocks) {
    int32_t& count = ref_counts_[static_cast<size_t>(block)];
    if (count == 0) unlink_free(block);
    ++count;
  }
}

std::optional<std::vector<int32_t>> BlockManager::allocate(int32_t count) {
  if (count < 0) internal_error("allocate of a negative count " + std::to_string(count));
  if (count > num_free_) return std::nullopt;
  std::vector<int32_t> blocks;
  blocks.reserve(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) {
    const int32_t block = pop_free_front();
    forget_key(block);  // its old contents are about to be overwritten
    ref_counts_[static_cast<size_t>(block)] = 1;
    blocks.push_back(block);
  }
  return blocks;
}

void BlockManager::release(std::span<const int32_t> blocks) {
  for (const int32_t block : blocks) check_block(block, "release");
  // Uncached blocks of this call go to the front in the order given: each after the previous one.
  int32_t last_uncached = kNoBlock;
  for (const int32_t block : blocks) {
    int32_t& count = ref_counts_[static_cast<size_t>(block)];
    if (count == 0) internal_error("release of block " + std::to_string(block) + ", which has no reference");
    if (--count > 0) continue;
    if (block_keys_[static_cast<size_t>(block)]) {
      link_free(block, free_tail_, kNoBlock);  // least recently used first
    } else if (last_uncached == kNoBlock) {
      link_free(block, kNoBlock, free_head_);
      last_uncached = block;
    } else {
      link_free(block, last_uncached, free_next_[static_cast<size_t>(last_uncached)]);
      last_uncached = block;
    }
  }
}

void BlockManager::register_full_block(int32_t block, const BlockKey& key,
                                       const std::optional<BlockKey>& parent,
                                       std::span<const int32_t> tokens) {
  check_block(block, "register_full_block");
  const auto index = static_cast<size_t>(block);
  if (ref_counts_[index] == 0) {
    internal_error("register_full_block on block " + std::to_string(block) + ", which has no reference");
  }
  if (tokens.size() != static_cast<size_t>(block_size_)) {
    internal_error("register_full_block with " + std::to_string(tokens.size()) + " tokens; a block holds " +
                   std::to_string(block_size_));
  }
  if (!enable_prefix_caching_ || cached_blocks_.contains(key)) return;
  // A full block never changes while referenced, so a second, different key means a caller bug.
  if (block_keys_[index]) internal_error("block " + std::to_string(block) + " already holds another key");
  cached_blocks_.emplace(key, block);
  block_keys_[index] = key;
  block_parents_[index] = parent;
  std::copy(tokens.begin(), tokens.end(),
            block_tokens_.begin() + static_cast<std::ptrdiff_t>(index * block_size_));
}

void BlockManager::reset_prefix_cache() {
  cached_blocks_.clear();
  std::fill(block_keys_.begin(), block_keys_.end(), std::nullopt);
  std::fill(block_parents_.begin(), block_parents_.end(), std::nullopt);
}

void BlockManager::check_block(int32_t block, const char* operation) const {
  if (block < 0 || block >= num_blocks_) {
    internal_error(std::string(operation) + " of block " + std::to_string(block) + ", outside [0, " +
                   std::to_string(num_blocks_) + ")");
  }
}

bool BlockManager::holds(int32_t block, const std::optional<BlockKey>& parent,
                         std::span<const int32_t> tokens) const {
  const auto index = static_cast<size_t>(block);
  const std::optional<BlockKey>& stored = block_parents_[index];
  if (stored.has_value() != parent.has_value() || (parent.has_value() && !(*stored == *parent))) return false;
  const auto first = block_tokens_.begin() + static_cast<std::ptrdiff_t>(index * block_size_);
  return std::equal(tokens.begin(), tokens.end(), first);
}

void BlockManager::forget_key(int32_t block) {
  std::optional<BlockKey>& key = block_keys_[static_cast<size_t>(block)];
  if (!key) return;
  const auto found = cached_blocks_.find(*key);
  if (found != cached_blocks_.end() && found->second == block) cached_blocks_.erase(found);
  key.reset();
  block_parents_[static_cast<size_t>(block)].reset();
}

void BlockManager::link_free(int32_t block, int32_t prev, int32_t next) {
  free_prev_[static_cast<size_t>(block)] = prev;
  free_next_[static_cast<size_t>(block)] = next;
  (prev == kNoBlock ? free_head_ : free_next_[static_cast<size_t>(prev)]) = block;
  (next == kNoBlock ? free_tail_ : free_prev_[static_cast<size_t>(next)]) = block;
  ++num_free_;
}

void BlockManager::unlink_free(int32_t block) {
  const int32_t prev = free_prev_[static_cast<size_t>(block)];
  const int32_t next = free_next_[static_cast<size_t>(block)];
  (prev == kNoBlock ? free_head_ : free_next_[static_cast<size_t>(prev)]) = next;
  (next == kNoBlock ? free_tail_ : free_prev_[static_cast<size_t>(next)]) = prev;
  free_prev_[static_cast<size_t>(block)] = kNoBlock;
  free_next_[static_cast<size_t>(block)] = kNoBlock;
  --num_free_;
}

int32_t BlockManager::pop_free_front() {
  const int32_t block = free_head_;
  unlink_free(block);
  return block;
}

}  // namespace hanlin::engine
