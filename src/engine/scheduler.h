// Scheduler: each step, which sequences run and how many of their tokens (ARCHITECTURE.md,
// "Scheduler"). Running decodes come first, then running prefills continue in chunks, then
// waiting sequences are admitted in (priority, arrival) order, all within a token budget and
// a sequence cap. When blocks run out, the lowest-priority latest unscheduled sequence is
// preempted: its blocks are freed and it waits to be recomputed (the prefix cache usually
// still holds most of them).
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"

namespace hanlin::engine {

struct SchedulerConfig {
  int32_t max_num_batched_tokens = 2048;  // tokens per step, all sequences together
  int32_t max_num_seqs = 256;             // running sequences at most
};

// `num_tokens` of `seq`, from its first uncomputed token. When `samples`, the chunk ends at
// the last known token and its logits choose the next one.
struct ScheduledChunk {
  Sequence* seq = nullptr;
  int32_t num_tokens = 0;
  bool samples = false;
};

// Copy cache block `from` into `to` before the step (copy-on-write of a shared partial block).
struct BlockCopy {
  int32_t from = 0;
  int32_t to = 0;
};

struct SchedulerOutput {
  std::vector<ScheduledChunk> chunks;
  std::vector<BlockCopy> copies;
  int64_t num_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, BlockManager& blocks, const BlockHasher& hasher);

  // A sequence with no blocks joins the waiting queue.
  void add_waiting(Sequence& seq);
  // A sequence that already holds its blocks (a fork of a computed prompt) joins the running.
  void add_running(Sequence& seq);
  // Removes `seq` from whichever queue holds it and frees its blocks.
  void remove(Sequence& seq);

  SchedulerOutput schedule();
  // After the step ran: the chunks' tokens are computed; full blocks join the prefix cache.
  void complete(const SchedulerOutput& output);

  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  int64_t num_preemptions() const { return num_preemptions_; }

 private:
  struct WaitingOrder {
    bool operator()(const Sequence* a, const Sequence* b) const;
  };

  void schedule_running(SchedulerOutput& output, int64_t& budget, bool& preempted);
  void admit_waiting(SchedulerOutput& output, int64_t& budget);
  bool allocate_slots(Sequence& seq, int64_t num_new_tokens, std::vector<BlockCopy>& copies);
  void take_cached_prefix(Sequence& seq);
  Sequence* pick_victim(const std::vector<Sequence*>& unscheduled) const;
  void preempt(Sequence& seq);
  void release_blocks(Sequence& seq);
  void ensure_keys(Sequence& seq, int64_t num_full_blocks);
  void register_full_blocks(Sequence& seq);
  static ScheduledChunk chunk_for(Sequence& seq, int64_t num_tokens);

  SchedulerConfig config_;
  BlockManager* blocks_;
  const BlockHasher* hasher_;
  std::set<Sequence*, WaitingOrder> waiting_;
  std::vector<Sequence*> running_;  // in admission order
  int64_t num_preemptions_ = 0;
};

}  // namespace hanlin::engine
