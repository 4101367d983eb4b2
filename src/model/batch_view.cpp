// BatchView's invariant checks: cheap (O(T + blocks)), run before every forward.
#include "model/batch_view.h"

#include <string>

#include "core/error.h"

namespace hanlin::model {
namespace {

// Throws when `condition` fails; `describe` builds the message only then: the checks run over
// every row and block of every step, and building each message up front cost host time in
// proportion (bench/RESULTS.md).
template <class Describe>
void check(bool condition, const Describe& describe) {
  if (!condition) throw Error(ErrorKind::kInternal, std::string("invalid BatchView: ") + describe());
}

std::string seq_label(size_t index) { return "sequence " + std::to_string(index); }

// Rows [q_start, q_start + q_len) of one sequence: in range, within its context, its block
// table long enough and pointing at real blocks.
void check_sequence(const ops::AttentionSeq& seq, size_t index, int64_t num_tokens, int64_t num_blocks,
                    int64_t block_size) {
  const std::string label = seq_label(index);
  check(seq.q_len > 0, [&] { return label + " has q_len " + std::to_string(seq.q_len); });
  check(seq.q_start >= 0 && int64_t{seq.q_start} + seq.q_len <= num_tokens, [&] {
    return label + " rows [" + std::to_string(seq.q_start) + ", +" + std::to_string(seq.q_len) + ") exceed " +
           std::to_string(num_tokens) + " tokens";
  });
  check(seq.context_len >= seq.q_len, [&] {
    return label + " has context_len " + std::to_string(seq.context_len) + " < q_len " +
           std::to_string(seq.q_len);
  });
  const int64_t blocks_needed = (int64_t{seq.context_len} + block_size - 1) / block_size;
  check(static_cast<int64_t>(seq.block_table.size()) >= blocks_needed, [&] {
    return label + " needs " + std::to_string(blocks_needed) + " blocks but its table has " +
           std::to_string(seq.block_table.size());
  });
  for (int64_t b = 0; b < blocks_needed; ++b) {
    const int32_t block = seq.block_table[static_cast<size_t>(b)];
    check(block >= 0 && block < num_blocks, [&] {
      return label + " names block " + std::to_string(block) + " of " + std::to_string(num_blocks);
    });
  }
}

// A written slot must be where attention will read that row's position back from.
void check_slots(const BatchView& view, const ops::AttentionSeq& seq, size_t index, int64_t block_size) {
  const int64_t first_position = int64_t{seq.context_len} - seq.q_len;
  for (int32_t i = 0; i < seq.q_len; ++i) {
    const int32_t slot = view.slot_mapping[static_cast<size_t>(seq.q_start + i)];
    if (slot == -1) continue;
    const int64_t position = first_position + i;
    const int64_t expected =
        int64_t{seq.block_table[static_cast<size_t>(position / block_size)]} * block_size +
        position % block_size;
    check(slot == expected, [&] {
      return seq_label(index) + " row " + std::to_string(i) + " writes slot " + std::to_string(slot) +
             " but its position " + std::to_string(position) + " lives in slot " + std::to_string(expected);
    });
  }
}

}  // namespace

void BatchView::validate(int64_t num_blocks, int64_t block_size) const {
  const int64_t num_rows = num_tokens();
  check(num_rows > 0, [&] { return "no tokens"; });
  check(static_cast<int64_t>(positions.size()) == num_rows, [&] {
    return std::to_string(positions.size()) + " positions for " + std::to_string(num_rows) + " tokens";
  });
  check(static_cast<int64_t>(slot_mapping.size()) == num_rows, [&] {
    return std::to_string(slot_mapping.size()) + " slots for " + std::to_string(num_rows) + " tokens";
  });
  std::vector<uint8_t> owners(static_cast<size_t>(num_rows), 0);
  for (size_t s = 0; s < seqs.size(); ++s) {
    check_sequence(seqs[s], s, num_rows, num_blocks, block_size);
    check_slots(*this, seqs[s], s, block_size);
    for (int32_t i = 0; i < seqs[s].q_len; ++i) {
      uint8_t& owner = owners[static_cast<size_t>(seqs[s].q_start + i)];
      check(owner == 0,
            [&] { return "row " + std::to_string(seqs[s].q_start + i) + " belongs to two sequences"; });
      owner = 1;
    }
  }
  for (int64_t row = 0; row < num_rows; ++row) {
    check(owners[static_cast<size_t>(row)] == 1,
          [&] { return "row " + std::to_string(row) + " belongs to no sequence"; });
  }
  for (int32_t row : logits_rows) {
    check(row >= 0 && row < num_rows,
          [&] { return "logits row " + std::to_string(row) + " of " + std::to_string(num_rows); });
  }
}

}  // namespace hanlin::model
