// BlockManager and BlockHasher: SipHash against published vectors, reference counts, the LRU
// free list, prefix-cache hits confirmed by tokens and parent, and invariant checks.
#include "engine/block_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "engine/siphash.h"

namespace hanlin::engine {
namespace {

constexpr uint64_t kPaperKey0 = 0x0706050403020100ULL;  // key bytes 00 01 .. 07
constexpr uint64_t kPaperKey1 = 0x0f0e0d0c0b0a0908ULL;  // key bytes 08 09 .. 0f

std::vector<uint8_t> counting_bytes(size_t length) {
  std::vector<uint8_t> bytes(length);
  for (size_t i = 0; i < length; ++i) bytes[i] = static_cast<uint8_t>(i);
  return bytes;
}

template <typename Action>
void expect_internal_error(Action&& action) {
  try {
    action();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInternal) << error.what();
    return;
  }
  ADD_FAILURE() << "expected hanlin::Error of kind kInternal";
}

// Block i of a chain holds tokens [base + i·block_size, base + (i+1)·block_size).
std::vector<int32_t> chain_tokens(int32_t num_blocks, int32_t block_size, int32_t base) {
  std::vector<int32_t> tokens(static_cast<size_t>(num_blocks * block_size));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = base + static_cast<int32_t>(i);
  return tokens;
}

std::vector<BlockKey> chain_keys(const BlockHasher& hasher, std::span<const int32_t> tokens,
                                 int32_t block_size) {
  std::vector<BlockKey> keys;
  for (size_t start = 0; start + block_size <= tokens.size(); start += block_size) {
    const std::optional<BlockKey> parent = keys.empty() ? std::nullopt : std::optional(keys.back());
    keys.push_back(hasher.key(parent, tokens.subspan(start, block_size)));
  }
  return keys;
}

// Registers blocks[i] as block i of the chain (keys, tokens).
void register_chain(BlockManager& manager, std::span<const int32_t> blocks, std::span<const BlockKey> keys,
                    std::span<const int32_t> tokens) {
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::optional<BlockKey> parent = i == 0 ? std::nullopt : std::optional(keys[i - 1]);
    manager.register_full_block(blocks[i], keys[i], parent,
                                tokens.subspan(i * manager.block_size(), manager.block_size()));
  }
}

TEST(SipHash, MatchesThePapersExample) {
  // SipHash paper, appendix A: key 00..0f, message 00..0e.
  EXPECT_EQ(siphash24(kPaperKey0, kPaperKey1, counting_bytes(15)), 0xa129ca6149be45e5ULL);
}

TEST(SipHash, MatchesReferenceVectorsForEveryTailLength) {
  // Lengths 0-4 and 8: the reference implementation's vectors.h; the others: Rust's
  // std::hash::SipHasher (SipHash-2-4), an independent implementation. Key 00..0f, message 00..n-1.
  const std::map<size_t, uint64_t> expected = {
      {0, 0x726fdb47dd0e0e31ULL},  {1, 0x74f839c593dc67fdULL},  {2, 0x0d6c8009d9a94f5aULL},
      {3, 0x85676696d7fb7e2dULL},  {4, 0xcf2794e0277187b7ULL},  {7, 0xab0200f58b01d137ULL},
      {8, 0x93f5f5799a932462ULL},  {16, 0x3f2acc7f57c29bdbULL}, {17, 0x699ae9f52cbe4794ULL},
      {63, 0x958a324ceb064572ULL}, {64, 0xacd2c40b8502cad8ULL}};
  for (const auto& [length, hash] : expected) {
    EXPECT_EQ(siphash24(kPaperKey0, kPaperKey1, counting_bytes(length)), hash) << "length " << length;
  }
}

TEST(SipHash, DependsOnEveryKeyWord) {
  const std::vector<uint8_t> message = counting_bytes(15);
  const uint64_t reference = siphash24(kPaperKey0, kPaperKey1, message);
  EXPECT_NE(siphash24(kPaperKey0 ^ 1, kPaperKey1, message), reference);
  EXPECT_NE(siphash24(kPaperKey0, kPaperKey1 ^ (1ULL << 63), message), reference);
}

TEST(BlockHasher, IsDeterministicWithFixedSecrets) {
  const BlockHasher first(1, 2), second(1, 2);
  const std::vector<int32_t> tokens = {5, 6, 7, 8};
  const BlockKey parent{11, 12};
  EXPECT_EQ(first.key(std::nullopt, tokens), second.key(std::nullopt, tokens));
  EXPECT_EQ(first.key(parent, tokens), second.key(parent, tokens));
  const BlockKey key = first.key(std::nullopt, tokens);
  EXPECT_NE(key.high, key.low);  // two different SipHash keys, not one hash twice
}

TEST(BlockHasher, DiffersForDifferentParentsTokensAndSecrets) {
  const BlockHasher hasher(1, 2);
  const std::vector<int32_t> tokens = {5, 6, 7, 8};
  const BlockKey key = hasher.key(std::nullopt, tokens);
  EXPECT_NE(hasher.key(BlockKey{0, 0}, tokens), key);  // "no parent" is not the zero key
  EXPECT_NE(hasher.key(BlockKey{0, 1}, tokens), hasher.key(BlockKey{0, 0}, tokens));
  EXPECT_NE(hasher.key(BlockKey{1, 0}, tokens), hasher.key(BlockKey{0, 0}, tokens));
  EXPECT_NE(hasher.key(std::nullopt, std::vector<int32_t>{5, 6, 7, 9}), key);
  EXPECT_NE(hasher.key(std::nullopt, std::vector<int32_t>{6, 5, 7, 8}), key);
  EXPECT_NE(hasher.key(std::nullopt, std::vector<int32_t>{5, 6, 7, 8 + 256}), key);
  EXPECT_NE(hasher.key(std::nullopt, std::vector<int32_t>{5, 6, 7}), key);
  EXPECT_NE(BlockHasher(1, 3).key(std::nullopt, tokens), key);
  EXPECT_NE(BlockHasher(3, 2).key(std::nullopt, tokens), key);
  // The "no parent" marker: a first block whose first ids spell a parent key's bytes.
  const BlockKey parent{0x0000000200000001ULL, 0x0000000400000003ULL};
  EXPECT_NE(hasher.key(std::nullopt, std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8}),
            hasher.key(parent, tokens));
  // Random secrets: two hashers agree only with probability 2^-128.
  EXPECT_NE(BlockHasher().key(std::nullopt, tokens), BlockHasher().key(std::nullopt, tokens));
}

TEST(BlockHasher, ChainedKeysDifferWhenAnEarlierBlockDiffers) {
  const BlockHasher hasher(7, 9);
  std::vector<int32_t> tokens = chain_tokens(3, 4, 100);
  const std::vector<BlockKey> keys = chain_keys(hasher, tokens, 4);
  tokens[1] += 1;  // block 0 changes; blocks 1 and 2 hold the same ids as before
  const std::vector<BlockKey> changed = chain_keys(hasher, tokens, 4);
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_NE(keys[i], changed[i]) << "block " << i;
}

TEST(BlockManager, StartsWithEveryBlockFree) {
  const BlockManager manager(5, 16, true);
  EXPECT_EQ(manager.num_blocks(), 5);
  EXPECT_EQ(manager.block_size(), 16);
  EXPECT_TRUE(manager.prefix_caching());
  EXPECT_EQ(manager.num_free_blocks(), 5);
  EXPECT_EQ(manager.num_cached_blocks(), 0);
  for (int32_t block = 0; block < 5; ++block) EXPECT_EQ(manager.ref_count(block), 0);
}

TEST(BlockManager, RejectsAnEmptyPoolOrBlock) {
  EXPECT_THROW(BlockManager(0, 16, true), Error);
  EXPECT_THROW(BlockManager(4, 0, true), Error);
}

TEST(BlockManager, AllocateIsAllOrNothing) {
  BlockManager manager(4, 2, false);
  const std::vector<int32_t> held = manager.allocate(3).value();
  EXPECT_FALSE(manager.allocate(2).has_value());
  EXPECT_EQ(manager.num_free_blocks(), 1);
  for (int32_t block = 0; block < 4; ++block) {
    const bool is_held = std::find(held.begin(), held.end(), block) != held.end();
    EXPECT_EQ(manager.ref_count(block), is_held ? 1 : 0);
  }
  EXPECT_EQ(std::set<int32_t>(held.begin(), held.end()).size(), 3u);
  EXPECT_TRUE(manager.allocate(0).value().empty());
  EXPECT_EQ(manager.allocate(1).value().size(), 1u);
  EXPECT_FALSE(manager.allocate(1).has_value());
}

TEST(BlockManager, SharedBlockIsFreedByItsLastRelease) {
  BlockManager manager(2, 2, false);
  const int32_t block = manager.allocate(1).value()[0];
  manager.acquire(std::vector<int32_t>{block});
  EXPECT_EQ(manager.ref_count(block), 2);
  manager.release(std::vector<int32_t>{block});
  EXPECT_EQ(manager.ref_count(block), 1);
  EXPECT_EQ(manager.num_free_blocks(), 1);
  manager.release(std::vector<int32_t>{block});
  EXPECT_EQ(manager.ref_count(block), 0);
  EXPECT_EQ(manager.num_free_blocks(), 2);
}

TEST(BlockManager, ReusesReleasedUncachedBlocksInTheOrderGiven) {
  BlockManager manager(4, 2, true);
  const std::vector<int32_t> blocks = manager.allocate(4).value();
  const std::vector<int32_t> last_first = {blocks[3], blocks[2], blocks[1], blocks[0]};
  manager.release(last_first);
  EXPECT_EQ(manager.allocate(4).value(), last_first);  // the tail is reused before the head
}

// A shadow model of reference counts and cached keys, checked after each of 10,000 random steps.
TEST(BlockManager, RandomOperationsKeepTheInvariants) {
  constexpr int32_t kNumBlocks = 16, kBlockSize = 4, kNumPatterns = 8;
  BlockManager manager(kNumBlocks, kBlockSize, true);
  const BlockHasher hasher(3, 4);
  std::vector<std::vector<int32_t>> patterns;
  std::vector<BlockKey> pattern_keys;
  for (int32_t p = 0; p < kNumPatterns; ++p) {
    patterns.push_back(chain_tokens(1, kBlockSize, 1000 * p));
    pattern_keys.push_back(hasher.key(std::nullopt, patterns.back()));
  }
  std::vector<int32_t> shadow_refs(kNumBlocks, 0);
  std::vector<int32_t> held;                // one entry per reference taken
  std::map<int32_t, int32_t> shadow_cache;  // pattern → block holding it
  std::mt19937 random(20240611);
  const auto pick = [&](int32_t bound) {
    return std::uniform_int_distribution<int32_t>(0, bound - 1)(random);
  };
  const auto take = [&](int32_t block) {
    ++shadow_refs[static_cast<size_t>(block)];
    held.push_back(block);
  };
  for (int step = 0; step < 10000; ++step) {
    const int32_t operation = pick(5);
    if (operation == 0) {  // allocate, maybe more than is free
      const int32_t count = pick(5);
      const int32_t num_free = static_cast<int32_t>(std::count(shadow_refs.begin(), shadow_refs.end(), 0));
      const std::optional<std::vector<int32_t>> blocks = manager.allocate(count);
      ASSERT_EQ(blocks.has_value(), count <= num_free) << "step " << step;
      for (const int32_t block : blocks.value_or(std::vector<int32_t>{})) {
        ASSERT_EQ(shadow_refs[static_cast<size_t>(block)], 0) << "block " << block << " handed out twice";
        std::erase_if(shadow_cache, [&](const auto& entry) { return entry.second == block; });
        take(block);
      }
    } else if (operation == 1 && !held.empty()) {  // release a few references, in random order
      std::vector<int32_t> released;
      for (int32_t n = 1 + pick(3); n > 0 && !held.empty(); --n) {
        const size_t index = static_cast<size_t>(pick(static_cast<int32_t>(held.size())));
        released.push_back(held[index]);
        --shadow_refs[static_cast<size_t>(held[index])];
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(index));
      }
      manager.release(released);
    } else if (operation == 2 && !held.empty()) {  // share a referenced block
      const int32_t block = held[static_cast<size_t>(pick(static_cast<int32_t>(held.size())))];
      manager.acquire(std::vector<int32_t>{block});
      take(block);
    } else if (operation == 3) {  // fill a fresh block and register it
      const std::optional<std::vector<int32_t>> blocks = manager.allocate(1);
      if (!blocks) continue;
      const int32_t block = (*blocks)[0], pattern = pick(kNumPatterns);
      std::erase_if(shadow_cache, [&](const auto& entry) { return entry.second == block; });
      take(block);
      manager.register_full_block(block, pattern_keys[pattern], std::nullopt, patterns[pattern]);
      shadow_cache.emplace(pattern, block);  // a duplicate leaves the first holder
    } else if (operation == 4) {             // look a pattern up and keep the hit
      const int32_t pattern = pick(kNumPatterns);
      const std::vector<int32_t> hits =
          manager.lookup(std::span(&pattern_keys[pattern], 1), patterns[pattern]);
      const auto cached = shadow_cache.find(pattern);
      ASSERT_EQ(hits,
                cached == shadow_cache.end() ? std::vector<int32_t>{} : std::vector<int32_t>{cached->second});
      manager.acquire(hits);
      for (const int32_t block : hits) take(block);
    }
    for (int32_t block = 0; block < kNumBlocks; ++block) {
      ASSERT_EQ(manager.ref_count(block), shadow_refs[static_cast<size_t>(block)]) << "step " << step;
    }
    ASSERT_EQ(manager.num_free_blocks(), std::count(shadow_refs.begin(), shadow_refs.end(), 0));
    ASSERT_EQ(manager.num_cached_blocks(), static_cast<int32_t>(shadow_cache.size()));
  }
  manager.release(held);
  EXPECT_EQ(manager.num_free_blocks(), kNumBlocks);
}

// Prefix-cache fixture: block size 4, a hasher with fixed secrets, a 3-block chain of tokens.
class PrefixCacheTest : public ::testing::Test {
 protected:
  static constexpr int32_t kBlockSize = 4;
  BlockManager manager_{8, kBlockSize, true};
  BlockHasher hasher_{5, 6};
  std::vector<int32_t> tokens_ = chain_tokens(3, kBlockSize, 100);
  std::vector<BlockKey> keys_ = chain_keys(hasher_, tokens_, kBlockSize);

  // Allocates, registers and releases (last-first, as a finished sequence does) the chain.
  std::vector<int32_t> cache_chain() {
    const std::vector<int32_t> blocks = manager_.allocate(3).value();
    register_chain(manager_, blocks, keys_, tokens_);
    manager_.release(std::vector<int32_t>(blocks.rbegin(), blocks.rend()));
    return blocks;
  }
  // Registers `block` as a first block holding ids [base, base + block_size).
  BlockKey cache_single(int32_t block, int32_t base) {
    const std::vector<int32_t> tokens = chain_tokens(1, kBlockSize, base);
    const BlockKey key = hasher_.key(std::nullopt, tokens);
    manager_.register_full_block(block, key, std::nullopt, tokens);
    return key;
  }
  bool hits_single(const BlockKey& key, int32_t base) {
    return !manager_.lookup(std::span(&key, 1), chain_tokens(1, kBlockSize, base)).empty();
  }
};

TEST_F(PrefixCacheTest, FindsAReleasedChainAndAcquireTakesItOffTheFreeList) {
  const std::vector<int32_t> blocks = cache_chain();
  EXPECT_EQ(manager_.num_cached_blocks(), 3);
  EXPECT_EQ(manager_.num_free_blocks(), 8);
  const std::vector<int32_t> hits = manager_.lookup(keys_, tokens_);
  EXPECT_EQ(hits, blocks);
  EXPECT_EQ(manager_.num_free_blocks(), 8);  // lookup references nothing
  manager_.acquire(hits);
  EXPECT_EQ(manager_.num_free_blocks(), 5);
  for (const int32_t block : hits) EXPECT_EQ(manager_.ref_count(block), 1);
  const std::vector<int32_t> others = manager_.allocate(5).value();
  for (const int32_t block : others) EXPECT_EQ(std::count(hits.begin(), hits.end(), block), 0);
  EXPECT_EQ(manager_.num_cached_blocks(), 3);  // the hits kept their keys
}

TEST_F(PrefixCacheTest, SharesAReferencedCachedBlock) {
  const std::vector<int32_t> blocks = manager_.allocate(3).value();
  register_chain(manager_, blocks, keys_, tokens_);
  const std::vector<int32_t> hits = manager_.lookup(keys_, tokens_);
  EXPECT_EQ(hits, blocks);
  manager_.acquire(hits);
  for (const int32_t block : blocks) EXPECT_EQ(manager_.ref_count(block), 2);
  EXPECT_EQ(manager_.num_free_blocks(), 5);
}

TEST_F(PrefixCacheTest, PartialHitStopsAtTheFirstDifferingBlock) {
  const std::vector<int32_t> blocks = cache_chain();
  std::vector<int32_t> other_tokens = tokens_;
  other_tokens[kBlockSize + 2] = -7;  // block 1 differs; block 2 holds the same ids
  EXPECT_EQ(manager_.lookup(chain_keys(hasher_, other_tokens, kBlockSize), other_tokens),
            std::vector<int32_t>{blocks[0]});
  EXPECT_EQ(manager_.lookup(std::span(keys_).first(2), tokens_),
            std::vector<int32_t>(blocks.begin(), blocks.begin() + 2));
}

TEST_F(PrefixCacheTest, AMissEndsTheHitEvenIfALaterBlockIsStillCached) {
  const std::vector<int32_t> blocks = manager_.allocate(3).value();
  register_chain(manager_, blocks, keys_, tokens_);
  manager_.release(std::vector<int32_t>{blocks[1], blocks[2], blocks[0]});
  manager_.allocate(6).value();  // the 5 never-used blocks, then block 1 of the chain
  EXPECT_EQ(manager_.num_cached_blocks(), 2);
  EXPECT_EQ(manager_.lookup(keys_, tokens_), std::vector<int32_t>{blocks[0]});
}

TEST_F(PrefixCacheTest, AForgedKeyIsConfirmedByTokensAndParent) {
  const std::vector<int32_t> blocks = cache_chain();
  std::vector<int32_t> other_tokens = tokens_;
  other_tokens[0] = -1;
  // The right keys with other ids: as if the ids collided with a cached block's key.
  EXPECT_TRUE(manager_.lookup(keys_, other_tokens).empty());
  // Block 1's key at the start: its ids match, but it was cached with a parent.
  EXPECT_TRUE(
      manager_.lookup(std::span(keys_).subspan(1, 1), std::span(tokens_).subspan(kBlockSize)).empty());
  // Block 1's key after another cached first block: the parent recorded with it differs.
  const int32_t other_first = manager_.allocate(1).value()[0];
  const BlockKey other_key = cache_single(other_first, 500);
  std::vector<int32_t> spliced = chain_tokens(1, kBlockSize, 500);
  spliced.insert(spliced.end(), tokens_.begin() + kBlockSize, tokens_.begin() + 2 * kBlockSize);
  EXPECT_EQ(manager_.lookup(std::vector<BlockKey>{other_key, keys_[1]}, spliced),
            std::vector<int32_t>{other_first});
  EXPECT_EQ(manager_.lookup(keys_, tokens_), blocks);  // the genuine chain still hits
}

TEST_F(PrefixCacheTest, EvictsCachedBlocksInReleaseOrderAfterUncachedOnes) {
  const std::vector<int32_t> blocks = manager_.allocate(8).value();
  std::vector<BlockKey> keys;
  for (int32_t i = 0; i < 4; ++i) keys.push_back(cache_single(blocks[i], 100 * i));
  manager_.release(std::vector<int32_t>{blocks[2], blocks[0], blocks[3], blocks[1]});
  manager_.release(std::vector<int32_t>{blocks[4], blocks[5], blocks[6], blocks[7]});  // uncached
  const std::vector<int32_t> uncached = manager_.allocate(4).value();
  EXPECT_EQ(uncached, std::vector<int32_t>(blocks.begin() + 4, blocks.end()));
  EXPECT_EQ(manager_.num_cached_blocks(), 4);
  EXPECT_EQ(manager_.allocate(1).value()[0], blocks[2]);
  EXPECT_FALSE(hits_single(keys[2], 200));  // evicted: its key no longer hits
  EXPECT_EQ(manager_.num_cached_blocks(), 3);
  EXPECT_EQ(manager_.allocate(1).value()[0], blocks[0]);
  EXPECT_FALSE(hits_single(keys[0], 0));
  EXPECT_TRUE(hits_single(keys[3], 300));
  EXPECT_TRUE(hits_single(keys[1], 100));
  EXPECT_EQ(manager_.allocate(2).value(), (std::vector<int32_t>{blocks[3], blocks[1]}));
  EXPECT_EQ(manager_.num_cached_blocks(), 0);
}

TEST_F(PrefixCacheTest, DuplicateRegistrationKeepsTheFirstBlock) {
  const std::vector<int32_t> blocks = manager_.allocate(2).value();
  const BlockKey key = cache_single(blocks[0], 42);
  EXPECT_EQ(cache_single(blocks[1], 42), key);
  EXPECT_EQ(manager_.num_cached_blocks(), 1);
  manager_.release(blocks);
  EXPECT_EQ(manager_.lookup(std::span(&key, 1), chain_tokens(1, kBlockSize, 42)),
            std::vector<int32_t>{blocks[0]});
  EXPECT_EQ(manager_.allocate(1).value()[0], blocks[1]);  // uncached: at the free list's front
  EXPECT_TRUE(hits_single(key, 42));                      // reusing the duplicate kept the key
  manager_.allocate(6).value();                           // the never-used blocks
  EXPECT_EQ(manager_.allocate(1).value()[0], blocks[0]);
  EXPECT_FALSE(hits_single(key, 42));
}

TEST_F(PrefixCacheTest, CountsQueriedAndHitTokens) {
  cache_chain();
  std::vector<int32_t> other_tokens = tokens_;
  other_tokens[2 * kBlockSize] = -3;
  manager_.lookup(chain_keys(hasher_, other_tokens, kBlockSize), other_tokens);  // 2 of 3 blocks hit
  EXPECT_EQ(manager_.counters().queried_tokens, 12);
  EXPECT_EQ(manager_.counters().hit_tokens, 8);
  const BlockKey missing{9, 9};
  manager_.lookup(std::span(&missing, 1), tokens_);
  EXPECT_EQ(manager_.counters().queried_tokens, 16);
  EXPECT_EQ(manager_.counters().hit_tokens, 8);
}

TEST_F(PrefixCacheTest, OffFindsNothingAndCountsNothing) {
  BlockManager manager(4, kBlockSize, false);
  const std::vector<int32_t> blocks = manager.allocate(3).value();
  register_chain(manager, blocks, keys_, tokens_);
  EXPECT_EQ(manager.num_cached_blocks(), 0);
  manager.release(blocks);
  EXPECT_TRUE(manager.lookup(keys_, tokens_).empty());
  EXPECT_EQ(manager.counters().queried_tokens, 0);
  EXPECT_EQ(manager.counters().hit_tokens, 0);
}

TEST_F(PrefixCacheTest, ResetForgetsEveryKeyButKeepsReferences) {
  cache_chain();
  const int32_t held = manager_.allocate(1).value()[0];
  const BlockKey held_key = cache_single(held, 900);
  manager_.reset_prefix_cache();
  EXPECT_EQ(manager_.num_cached_blocks(), 0);
  EXPECT_TRUE(manager_.lookup(keys_, tokens_).empty());
  EXPECT_FALSE(hits_single(held_key, 900));
  EXPECT_EQ(manager_.ref_count(held), 1);
  EXPECT_EQ(manager_.num_free_blocks(), 7);
  cache_single(held, 900);  // the block may hold a key again
  EXPECT_TRUE(hits_single(held_key, 900));
}

TEST(BlockManagerInvariants, CallerBugsThrowInternalErrors) {
  BlockManager manager(4, 2, true);
  const BlockHasher hasher(1, 1);
  const std::vector<int32_t> tokens = {1, 2};
  const BlockKey key = hasher.key(std::nullopt, tokens);
  expect_internal_error([&] { manager.release(std::vector<int32_t>{0}); });
  expect_internal_error([&] { manager.acquire(std::vector<int32_t>{1, 4}); });
  expect_internal_error([&] { manager.acquire(std::vector<int32_t>{-1}); });
  EXPECT_EQ(manager.ref_count(1), 0);  // a bad index takes no reference
  expect_internal_error([&] { manager.ref_count(4); });
  expect_internal_error([&] { manager.allocate(-1); });
  expect_internal_error([&] { manager.register_full_block(0, key, std::nullopt, tokens); });  // unreferenced
  const int32_t block = manager.allocate(1).value()[0];
  expect_internal_error(
      [&] { manager.register_full_block(block, key, std::nullopt, std::vector<int32_t>{1}); });
  expect_internal_error([&] { manager.register_full_block(9, key, std::nullopt, tokens); });
  manager.register_full_block(block, key, std::nullopt, tokens);
  expect_internal_error([&] { manager.register_full_block(block, BlockKey{1, 2}, std::nullopt, tokens); });
  expect_internal_error([&] { manager.lookup(std::span(&key, 1), std::vector<int32_t>{1}); });
  manager.release(std::vector<int32_t>{block});
  expect_internal_error([&] { manager.release(std::vector<int32_t>{block}); });
  EXPECT_EQ(manager.num_free_blocks(), 4);
  BlockManager uncached(2, 2, false);  // checked whether or not anything gets cached
  expect_internal_error([&] { uncached.register_full_block(0, key, std::nullopt, tokens); });
}

}  // namespace
}  // namespace hanlin::engine
