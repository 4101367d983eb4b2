// Scheduler over a real BlockManager, no model: chunk order and budget, the sequence cap,
// prefix hits on admission, preemption order, copy-on-write after a fork, no leaked block.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <numeric>

namespace hanlin::engine {
namespace {

constexpr int32_t kBlockSize = 16;

class SchedulerTest : public ::testing::Test {
 protected:
  void make(int32_t num_blocks, SchedulerConfig config, bool prefix_caching = true) {
    blocks_ = std::make_unique<BlockManager>(num_blocks, kBlockSize, prefix_caching);
    scheduler_ = std::make_unique<Scheduler>(config, *blocks_, hasher_);
  }

  // A new waiting sequence with prompt ids first, first + 1, ...
  Sequence& add(int32_t prompt_len, int32_t first = 0, int32_t priority = 0) {
    auto& request = requests_.emplace_back();
    request.request.priority = priority;
    request.arrival = requests_.size();
    auto seq = std::make_unique<Sequence>();
    seq->request = &request;
    seq->token_ids.resize(static_cast<size_t>(prompt_len));
    std::iota(seq->token_ids.begin(), seq->token_ids.end(), first);
    seq->num_prompt_tokens = prompt_len;
    request.sequences.push_back(std::move(seq));
    scheduler_->add_waiting(*request.sequences.back());
    return *request.sequences.back();
  }

  // Runs one step as the engine would: schedule, mark computed, append a token to samplers.
  SchedulerOutput step() {
    SchedulerOutput output = scheduler_->schedule();
    scheduler_->complete(output);
    for (const ScheduledChunk& chunk : output.chunks) {
      if (chunk.samples) chunk.seq->token_ids.push_back(7);
    }
    return output;
  }

  BlockHasher hasher_{1, 2};
  std::unique_ptr<BlockManager> blocks_;
  std::unique_ptr<Scheduler> scheduler_;
  std::deque<RequestState> requests_;
};

TEST_F(SchedulerTest, DecodesFirstThenPrefillChunksWithinTheBudget) {
  make(64, {.max_num_batched_tokens = 8, .max_num_seqs = 8});
  Sequence& short_one = add(3);
  step();  // prefills all 3 and samples
  Sequence& long_one = add(20, 100);
  SchedulerOutput output = step();
  ASSERT_EQ(output.chunks.size(), 2u);
  EXPECT_EQ(output.chunks[0].seq, &short_one);
  EXPECT_EQ(output.chunks[0].num_tokens, 1);
  EXPECT_TRUE(output.chunks[0].samples);
  EXPECT_EQ(output.chunks[1].seq, &long_one);
  EXPECT_EQ(output.chunks[1].num_tokens, 7);
  EXPECT_FALSE(output.chunks[1].samples);
  EXPECT_EQ(output.num_tokens, 8);
  // The long prompt continues in chunks after the decode; it samples when it reaches its end.
  output = step();
  EXPECT_EQ(output.chunks[1].num_tokens, 7);
  output = step();
  EXPECT_EQ(output.chunks[1].num_tokens, 6);
  EXPECT_TRUE(output.chunks[1].samples);
  EXPECT_EQ(long_one.num_computed_tokens, 20);
}

TEST_F(SchedulerTest, SequenceCapLimitsAdmissionsInPriorityThenArrivalOrder) {
  make(64, {.max_num_batched_tokens = 100, .max_num_seqs = 2});
  Sequence& first = add(4, 0, 0);
  Sequence& second = add(4, 0, 0);
  Sequence& urgent = add(4, 0, -1);
  const SchedulerOutput output = step();
  ASSERT_EQ(output.chunks.size(), 2u);
  EXPECT_EQ(output.chunks[0].seq, &urgent);
  EXPECT_EQ(output.chunks[1].seq, &first);
  EXPECT_EQ(second.status, SequenceStatus::kWaiting);
  EXPECT_EQ(scheduler_->num_running(), 2u);
  EXPECT_EQ(scheduler_->num_waiting(), 1u);
}

TEST_F(SchedulerTest, PrefixHitOnAdmissionLeavesTheLastTokenToCompute) {
  make(64, {.max_num_batched_tokens = 100, .max_num_seqs = 8});
  Sequence& original = add(40);
  step();
  scheduler_->remove(original);  // its 2 full blocks stay cached
  EXPECT_EQ(blocks_->num_free_blocks(), 64);
  Sequence& same = add(40);
  SchedulerOutput output = step();
  EXPECT_EQ(output.chunks[0].num_tokens, 8);  // blocks 0 and 1 came from the cache
  EXPECT_EQ(blocks_->counters().hit_tokens, 32);
  scheduler_->remove(same);
  // A 32-token prompt is all cached, but its last token must run for logits.
  Sequence& exact = add(32);
  output = step();
  EXPECT_EQ(output.chunks[0].num_tokens, 16);
  EXPECT_EQ(exact.num_computed_tokens, 32);
  // Prefix caching off: nothing is looked up.
  make(64, {.max_num_batched_tokens = 100, .max_num_seqs = 8}, false);
  Sequence& a = add(40);
  step();
  scheduler_->remove(a);
  add(40);
  EXPECT_EQ(step().chunks[0].num_tokens, 40);
}

TEST_F(SchedulerTest, PreemptsTheLatestLowestPriorityAndRecomputesIt) {
  make(4, {.max_num_batched_tokens = 100, .max_num_seqs = 8});
  Sequence& early = add(32, 0);
  Sequence& late = add(32, 1000);
  step();  // both prompts: 4 blocks, all the cache
  EXPECT_EQ(blocks_->num_free_blocks(), 0);
  SchedulerOutput output = step();  // each decode needs a 5th block: `late` gives way
  ASSERT_EQ(output.chunks.size(), 1u);
  EXPECT_EQ(output.chunks[0].seq, &early);
  EXPECT_EQ(late.status, SequenceStatus::kWaiting);
  EXPECT_EQ(late.num_computed_tokens, 0);
  EXPECT_TRUE(late.block_table.empty());
  EXPECT_EQ(late.num_tokens(), 33);  // keeps its sampled token, to recompute
  EXPECT_EQ(scheduler_->num_preemptions(), 1);
  scheduler_->remove(early);
  output = step();  // `late` comes back, its prompt cached: only 1 block's worth recomputed
  ASSERT_EQ(output.chunks.size(), 1u);
  EXPECT_EQ(output.chunks[0].seq, &late);
  EXPECT_TRUE(output.chunks[0].samples);
  scheduler_->remove(late);
  EXPECT_EQ(blocks_->num_free_blocks(), 4);
}

TEST_F(SchedulerTest, PriorityDecidesTheVictim) {
  make(4, {.max_num_batched_tokens = 100, .max_num_seqs = 8});
  Sequence& early = add(32, 0, 1);
  Sequence& late = add(32, 1000, 0);
  step();
  const SchedulerOutput output = step();
  ASSERT_EQ(output.chunks.size(), 1u);
  EXPECT_EQ(output.chunks[0].seq, &late);
  EXPECT_EQ(early.status, SequenceStatus::kWaiting);
}

TEST_F(SchedulerTest, ASequenceThatCannotGrowPreemptsItselfWhenItIsTheLatest) {
  make(3, {.max_num_batched_tokens = 100, .max_num_seqs = 8});
  Sequence& early = add(17, 0);
  Sequence& late = add(16, 100);
  step();  // 2 + 1 blocks: the whole cache
  const SchedulerOutput output = step();
  // `early` writes row 17 into its own second block; `late` needs a new block, and the only
  // unscheduled sequence left to give one up is itself.
  ASSERT_EQ(output.chunks.size(), 1u);
  EXPECT_EQ(output.chunks[0].seq, &early);
  EXPECT_EQ(late.status, SequenceStatus::kWaiting);
  scheduler_->remove(early);
  const SchedulerOutput again = step();
  ASSERT_EQ(again.chunks.size(), 1u);
  EXPECT_EQ(again.chunks[0].num_tokens, 1);  // its first block came back from the prefix cache
  EXPECT_EQ(late.num_computed_tokens, 17);
}

TEST_F(SchedulerTest, AForkSharesBlocksAndCopiesThePartialBlockOnWrite) {
  make(16, {.max_num_batched_tokens = 100, .max_num_seqs = 8});
  Sequence& parent = add(20);
  step();  // 2 blocks: one full, one with 4 rows; parent sampled token 21
  RequestState& request = *parent.request;
  auto child_owner = std::make_unique<Sequence>();
  Sequence& child = *child_owner;
  child.request = &request;
  child.index = 1;
  child.token_ids = parent.token_ids;
  child.token_ids.back() = 8;  // a different first token
  child.num_prompt_tokens = 20;
  child.num_computed_tokens = parent.num_computed_tokens;
  child.block_table = parent.block_table;
  blocks_->acquire(child.block_table);
  scheduler_->add_running(child);
  request.sequences.push_back(std::move(child_owner));
  EXPECT_EQ(blocks_->num_free_blocks(), 14);
  const SchedulerOutput output = step();
  ASSERT_EQ(output.chunks.size(), 2u);
  ASSERT_EQ(output.copies.size(), 1u);  // the first writer copies; the second then owns the original
  EXPECT_EQ(parent.block_table[0], child.block_table[0]);  // full blocks stay shared
  EXPECT_NE(parent.block_table[1], child.block_table[1]);
  EXPECT_EQ(output.copies[0].to, parent.block_table[1]);
  EXPECT_EQ(output.copies[0].from, child.block_table[1]);
  EXPECT_EQ(blocks_->ref_count(parent.block_table[0]), 2);
  EXPECT_EQ(blocks_->ref_count(parent.block_table[1]), 1);
  EXPECT_EQ(blocks_->ref_count(child.block_table[1]), 1);
  scheduler_->remove(parent);
  scheduler_->remove(child);
  EXPECT_EQ(blocks_->num_free_blocks(), 16);
}

}  // namespace
}  // namespace hanlin::engine
