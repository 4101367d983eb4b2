// BlockManager: the paged KV cache's blocks, their reference counts, and the automatic prefix
// cache (ARCHITECTURE.md, "BlockManager"). Plain C++, no model, no CUDA.
//
// A full block's key chains its parent's key with its token ids, so one key names a whole
// prefix; a lookup hit is confirmed by comparing the parent key and the token ids. Blocks whose
// reference count drops to 0 go to a free list: blocks that hold no cached prefix at its front
// (taken first), cached ones at its back in the order released (least recently used taken
// first). A cached free block keeps its key until it is taken for new data, and a lookup hit on
// it takes it back off the free list.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace hanlin::engine {

// A 128-bit key: two independent keyed 64-bit hashes, so neither accidental nor crafted
// collisions make one user's prompt read another's cached prefix.
struct BlockKey {
  uint64_t high = 0;
  uint64_t low = 0;
  friend bool operator==(const BlockKey&, const BlockKey&) = default;
};

struct BlockKeyHash {
  size_t operator()(const BlockKey& key) const {
    return static_cast<size_t>(key.low ^ (key.high * 0x9e3779b97f4a7c15ULL));
  }
};

// Keys full blocks; the hash keys are drawn at random once per process (or given, in tests).
class BlockHasher {
 public:
  BlockHasher();                                      // random keys
  BlockHasher(uint64_t secret_a, uint64_t secret_b);  // fixed keys, for tests
  // The key of a block holding `tokens` (block_size ids) after the prefix named by `parent`
  // (nullopt for the first block).
  BlockKey key(const std::optional<BlockKey>& parent, std::span<const int32_t> tokens) const;

 private:
  // One 128-bit SipHash key: word_0 holds key bytes 0..7, word_1 bytes 8..15.
  struct SipKey {
    uint64_t word_0 = 0;
    uint64_t word_1 = 0;
  };
  SipKey high_key_;  // gives BlockKey::high
  SipKey low_key_;   // gives BlockKey::low
};

struct PrefixCacheCounters {
  int64_t queried_tokens = 0;  // tokens looked up (vLLM's prefix_cache_queries)
  int64_t hit_tokens = 0;      // of those, found cached (vLLM's prefix_cache_hits)
};

class BlockManager {
 public:
  // num_blocks >= 1, block_size >= 1. With prefix caching off, lookup finds nothing and
  // register_full_block does nothing.
  BlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching);

  int32_t num_blocks() const;
  int32_t block_size() const;
  bool prefix_caching() const;
  // Blocks with reference count 0 (cached or not): what allocate() can hand out.
  int32_t num_free_blocks() const;
  int32_t ref_count(int32_t block) const;

  // The longest run of cached blocks matching `keys` from the start (keys[i] names the prefix
  // ending with full block i, whose ids are tokens[i·block_size, (i+1)·block_size)), at most
  // keys.size() blocks. References nothing; call acquire() on what you keep. Counts
  // keys.size()·block_size queried tokens and the hit's length in hit tokens.
  std::vector<int32_t> lookup(std::span<const BlockKey> keys, std::span<const int32_t> tokens);

  // Takes a reference on each block (a lookup hit, or sharing a block between sequences); a
  // free block leaves the free list, keeping its key.
  void acquire(std::span<const int32_t> blocks);

  // `count` fresh blocks (reference count 1, no key), taking the front of the free list and
  // dropping the key of any cached block taken; nullopt, changing nothing, when fewer than
  // `count` are free.
  std::optional<std::vector<int32_t>> allocate(int32_t count);

  // Drops one reference from each block; those reaching 0 join the free list in the order
  // given (a sequence passes its blocks last-first, so its tail is reused before its head).
  void release(std::span<const int32_t> blocks);

  // Records that `block` (referenced) now holds the full block `tokens` (block_size ids) whose
  // key is `key`, with `parent` the key before it. If another block already holds `key`, or
  // prefix caching is off, nothing changes.
  void register_full_block(int32_t block, const BlockKey& key, const std::optional<BlockKey>& parent,
                           std::span<const int32_t> tokens);

  // Forgets every cached key (blocks stay allocated as they are).
  void reset_prefix_cache();

  const PrefixCacheCounters& counters() const;
  // Blocks holding a cached key, referenced or free.
  int32_t num_cached_blocks() const;

 private:
  static constexpr int32_t kNoBlock = -1;

  void check_block(int32_t block, const char* operation) const;
  bool holds(int32_t block, const std::optional<BlockKey>& parent, std::span<const int32_t> tokens) const;
  void forget_key(int32_t block);
  // The free list: an intrusive doubly linked list over block indices, so taking any block off
  // it (a lookup hit on a free cached block) is O(1).
  void link_free(int32_t block, int32_t prev, int32_t next);
  void unlink_free(int32_t block);
  int32_t pop_free_front();

  int32_t num_blocks_;
  int32_t block_size_;
  bool enable_prefix_caching_;
  std::vector<int32_t> ref_counts_;  // [num_blocks]; 0 ⇔ on the free list
  std::vector<int32_t> free_prev_;   // [num_blocks]; kNoBlock at the list's ends
  std::vector<int32_t> free_next_;   // [num_blocks]
  int32_t free_head_ = kNoBlock;
  int32_t free_tail_ = kNoBlock;
  int32_t num_free_ = 0;
  // What a cached block holds, to confirm a hit: its key, its parent's key and its token ids.
  std::vector<std::optional<BlockKey>> block_keys_;     // [num_blocks]
  std::vector<std::optional<BlockKey>> block_parents_;  // [num_blocks]
  std::vector<int32_t> block_tokens_;                   // [num_blocks, block_size]
  // key → the one block holding it; a block holds a key ⇔ this maps that key to it.
  std::unordered_map<BlockKey, int32_t, BlockKeyHash> cached_blocks_;
  PrefixCacheCounters counters_;
};

}  // namespace hanlin::engine
