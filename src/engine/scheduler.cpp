// Scheduler: chunks within the token budget, block allocation with copy-on-write of a shared
// partial block, prefix-cache lookups on admission, preemption by recompute.
#include "engine/scheduler.h"

#include <algorithm>
#include <tuple>

#include "core/error.h"

namespace hanlin::engine {
namespace {

// Lower priority values first, then earlier arrival, then lower completion index.
auto order_key(const Sequence* seq) { return std::make_tuple(seq->request->request.priority, seq->request->arrival, seq->index); }

int64_t blocks_for(int64_t num_tokens, int64_t block_size) { return (num_tokens + block_size - 1) / block_size; }

}  // namespace

bool Scheduler::WaitingOrder::operator()(const Sequence* a, const Sequence* b) const { return order_key(a) < order_key(b); }

Scheduler::Scheduler(const SchedulerConfig& config, BlockManager& blocks, const BlockHasher& hasher)
    : config_(config), blocks_(&blocks), hasher_(&hasher) {
  require(config.max_num_batched_tokens >= 1 && config.max_num_seqs >= 1, ErrorKind::kInvalidArgument,
          "max_num_batched_tokens and max_num_seqs must be at least 1");
}

void Scheduler::add_waiting(Sequence& seq) {
  require(seq.block_table.empty() && seq.num_computed_tokens == 0, ErrorKind::kInternal,
          "a waiting sequence must hold no blocks");
  seq.status = SequenceStatus::kWaiting;
  waiting_.insert(&seq);
}

void Scheduler::add_running(Sequence& seq) {
  seq.status = SequenceStatus::kRunning;
  running_.push_back(&seq);
}

void Scheduler::remove(Sequence& seq) {
  if (seq.status == SequenceStatus::kWaiting) waiting_.erase(&seq);
  if (seq.status == SequenceStatus::kRunning) std::erase(running_, &seq);
  release_blocks(seq);
  seq.status = SequenceStatus::kFinished;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput output;
  int64_t budget = config_.max_num_batched_tokens;
  bool preempted = false;
  schedule_running(output, budget, preempted);
  // After a preemption the cache is full: admitting more would only preempt again.
  if (!preempted) admit_waiting(output, budget);
  for (const ScheduledChunk& chunk : output.chunks) output.num_tokens += chunk.num_tokens;
  return output;
}

ScheduledChunk Scheduler::chunk_for(Sequence& seq, int64_t num_tokens) {
  const bool samples = seq.num_computed_tokens + num_tokens == seq.num_tokens();
  return {&seq, static_cast<int32_t>(num_tokens), samples};
}

void Scheduler::schedule_running(SchedulerOutput& output, int64_t& budget, bool& preempted) {
  // Decodes first, then prefills; each group by (priority, arrival).
  std::vector<Sequence*> order = running_;
  std::stable_sort(order.begin(), order.end(), [](const Sequence* a, const Sequence* b) {
    return std::make_tuple(!a->is_decoding(), order_key(a)) < std::make_tuple(!b->is_decoding(), order_key(b));
  });
  for (size_t i = 0; i < order.size() && budget > 0; ++i) {
    Sequence& seq = *order[i];
    if (seq.status != SequenceStatus::kRunning) continue;  // preempted as a victim this step
    const int64_t num_new = std::min(seq.num_tokens() - seq.num_computed_tokens, budget);
    while (!allocate_slots(seq, num_new, output.copies)) {
      const std::vector<Sequence*> unscheduled(order.begin() + static_cast<std::ptrdiff_t>(i), order.end());
      Sequence* victim = pick_victim(unscheduled);
      preempt(*victim);
      preempted = true;
      if (victim == &seq) break;
    }
    if (seq.status != SequenceStatus::kRunning) continue;
    output.chunks.push_back(chunk_for(seq, num_new));
    budget -= num_new;
  }
}

void Scheduler::admit_waiting(SchedulerOutput& output, int64_t& budget) {
  while (!waiting_.empty() && budget > 0 && static_cast<int64_t>(running_.size()) < config_.max_num_seqs) {
    Sequence& seq = **waiting_.begin();
    take_cached_prefix(seq);
    const int64_t num_new = std::min(seq.num_tokens() - seq.num_computed_tokens, budget);
    if (!allocate_slots(seq, num_new, output.copies)) {
      release_blocks(seq);  // give the prefix hit back; the queue's head waits for room
      break;
    }
    waiting_.erase(waiting_.begin());
    RequestState& request = *seq.request;
    if (seq.index == 0 && !request.started) request.num_cached_prompt_tokens = seq.num_computed_tokens;
    request.started = true;
    add_running(seq);
    output.chunks.push_back(chunk_for(seq, num_new));
    budget -= num_new;
  }
}

// Takes the longest cached run of the sequence's full blocks, leaving at least its last token
// to compute (its logits are needed).
void Scheduler::take_cached_prefix(Sequence& seq) {
  const int64_t block_size = blocks_->block_size();
  const int64_t num_full = (seq.num_tokens() - 1) / block_size;
  if (!blocks_->prefix_caching() || num_full == 0) return;
  ensure_keys(seq, num_full);
  const std::vector<int32_t> hits = blocks_->lookup(std::span(seq.block_keys).first(static_cast<size_t>(num_full)),
                                                    std::span(seq.token_ids).first(static_cast<size_t>(num_full * block_size)));
  blocks_->acquire(hits);
  seq.block_table = hits;
  seq.num_computed_tokens = static_cast<int64_t>(hits.size()) * block_size;
  seq.num_registered_blocks = static_cast<int64_t>(hits.size());
}

// Blocks for tokens [computed, computed + num_new): new ones past the table's end, and a
// private copy of the block being written into when another sequence shares it. All or none.
bool Scheduler::allocate_slots(Sequence& seq, int64_t num_new_tokens, std::vector<BlockCopy>& copies) {
  const int64_t block_size = blocks_->block_size();
  const int64_t first = seq.num_computed_tokens;
  const int64_t needed = blocks_for(first + num_new_tokens, block_size) - static_cast<int64_t>(seq.block_table.size());
  const bool writes_shared = first % block_size != 0 && blocks_->ref_count(seq.block_table[static_cast<size_t>(first / block_size)]) > 1;
  const int64_t count = std::max<int64_t>(needed, 0) + (writes_shared ? 1 : 0);
  if (count == 0) return true;
  std::optional<std::vector<int32_t>> fresh = blocks_->allocate(static_cast<int32_t>(count));
  if (!fresh) return false;
  size_t next = 0;
  if (writes_shared) {
    int32_t& shared = seq.block_table[static_cast<size_t>(first / block_size)];
    copies.push_back({shared, (*fresh)[next]});
    const int32_t old = shared;
    blocks_->release(std::span(&old, 1));
    shared = (*fresh)[next++];
  }
  seq.block_table.insert(seq.block_table.end(), fresh->begin() + static_cast<std::ptrdiff_t>(next), fresh->end());
  return true;
}

Sequence* Scheduler::pick_victim(const std::vector<Sequence*>& unscheduled) const {
  Sequence* victim = nullptr;
  for (Sequence* seq : unscheduled) {
    if (seq->status != SequenceStatus::kRunning) continue;
    if (victim == nullptr || order_key(seq) > order_key(victim)) victim = seq;
  }
  require(victim != nullptr, ErrorKind::kInternal, "no sequence to preempt");
  return victim;
}

void Scheduler::preempt(Sequence& seq) {
  std::erase(running_, &seq);
  release_blocks(seq);
  add_waiting(seq);
  ++num_preemptions_;
}

// Last block first, so a sequence's tail leaves the prefix cache before its head.
void Scheduler::release_blocks(Sequence& seq) {
  std::vector<int32_t> reversed(seq.block_table.rbegin(), seq.block_table.rend());
  blocks_->release(reversed);
  seq.block_table.clear();
  seq.num_computed_tokens = 0;
  seq.num_registered_blocks = 0;
}

void Scheduler::ensure_keys(Sequence& seq, int64_t num_full_blocks) {
  const int64_t block_size = blocks_->block_size();
  for (auto b = static_cast<int64_t>(seq.block_keys.size()); b < num_full_blocks; ++b) {
    const std::optional<BlockKey> parent =
        b == 0 ? std::nullopt : std::optional<BlockKey>(seq.block_keys[static_cast<size_t>(b - 1)]);
    seq.block_keys.push_back(
        hasher_->key(parent, std::span(seq.token_ids).subspan(static_cast<size_t>(b * block_size), static_cast<size_t>(block_size))));
  }
}

void Scheduler::register_full_blocks(Sequence& seq) {
  if (!blocks_->prefix_caching()) return;
  const int64_t block_size = blocks_->block_size();
  const int64_t num_full = seq.num_computed_tokens / block_size;
  ensure_keys(seq, num_full);
  for (int64_t b = seq.num_registered_blocks; b < num_full; ++b) {
    const auto index = static_cast<size_t>(b);
    const std::optional<BlockKey> parent = b == 0 ? std::nullopt : std::optional<BlockKey>(seq.block_keys[index - 1]);
    blocks_->register_full_block(seq.block_table[index], seq.block_keys[index], parent,
                                 std::span(seq.token_ids).subspan(index * static_cast<size_t>(block_size), static_cast<size_t>(block_size)));
  }
  seq.num_registered_blocks = std::max(seq.num_registered_blocks, num_full);
}

void Scheduler::complete(const SchedulerOutput& output) {
  for (const ScheduledChunk& chunk : output.chunks) {
    chunk.seq->num_computed_tokens += chunk.num_tokens;
    register_full_blocks(*chunk.seq);
  }
}

}  // namespace hanlin::engine
