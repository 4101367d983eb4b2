// BatchView construction: chunk after chunk, rows in order; a row's cache slot comes from its
// sequence's block table.
#include "engine/model_runner.h"

namespace hanlin::engine {

model::BatchView ModelRunner::build_view(const SchedulerOutput& step, int64_t block_size) {
  model::BatchView view;
  view.token_ids.reserve(static_cast<size_t>(step.num_tokens));
  view.positions.reserve(static_cast<size_t>(step.num_tokens));
  view.slot_mapping.reserve(static_cast<size_t>(step.num_tokens));
  for (const ScheduledChunk& chunk : step.chunks) {
    const Sequence& seq = *chunk.seq;
    const auto q_start = static_cast<int32_t>(view.token_ids.size());
    const int64_t first = seq.num_computed_tokens;
    for (int64_t position = first; position < first + chunk.num_tokens; ++position) {
      view.token_ids.push_back(seq.token_ids[static_cast<size_t>(position)]);
      view.positions.push_back(static_cast<int32_t>(position));
      const int32_t block = seq.block_table[static_cast<size_t>(position / block_size)];
      view.slot_mapping.push_back(static_cast<int32_t>(block * block_size + position % block_size));
    }
    view.seqs.push_back({q_start, chunk.num_tokens, static_cast<int32_t>(first + chunk.num_tokens), seq.block_table});
    if (chunk.samples) view.logits_rows.push_back(q_start + chunk.num_tokens - 1);
  }
  return view;
}

model::StepLogits ModelRunner::run(const SchedulerOutput& step, const model::StepSampling& sampling) {
  for (const BlockCopy& copy : step.copies) cache_->copy_block(copy.from, copy.to);
  const model::BatchView view = build_view(step, cache_->block_size());
  return model_->forward(view, *cache_, sampling);
}

}  // namespace hanlin::engine
