// BatchView: the only thing a model sees of scheduling (ARCHITECTURE.md, "BatchView"). The
// tokens of many sequences are flattened into one batch; prefill chunks and decode rows mix.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/ops.h"

namespace hanlin::model {

struct BatchView {
  std::vector<int32_t> token_ids;  // [T]
  std::vector<int32_t> positions;  // [T] the RoPE position of each row
  // One entry per sequence; its block_table is a span over storage the caller owns, which
  // must outlive the forward call that reads this view.
  std::vector<ops::AttentionSeq> seqs;
  std::vector<int32_t> slot_mapping;  // [T] flat cache slot for each new K/V row; -1 = skip
  std::vector<int32_t> logits_rows;   // rows whose logits the caller wants, in output order

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }

  // Checks the invariants a forward relies on against a cache of `num_blocks` blocks of
  // `block_size` slots: sizes agree, every row belongs to exactly one sequence,
  // q_len <= context_len, block tables cover the context and name existing blocks, slots
  // are -1 or the slot the block table gives that row's position, logits rows exist.
  // A failure is a bug in whoever built the view: throws Error(kInternal).
  void validate(int64_t num_blocks, int64_t block_size) const;
};

}  // namespace hanlin::model
