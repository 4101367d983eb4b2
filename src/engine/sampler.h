// Sampler: one token per logits row, each row with its own request's parameters
// (ARCHITECTURE.md, "Sampler"). Rows are independent, so a batch is sampled in parallel; the
// random draw of a row depends only on (seed, sequence index, step), never on the batch.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/thread_pool.h"
#include "engine/request.h"
#include "kernels/cuda/sampling.h"

namespace hanlin::engine {

// One row to sample and the state of its sequence that the parameters need.
struct SampleInput {
  std::span<const float> logits;         // [vocab] raw model logits; not modified
  const SamplingParams* params = nullptr;
  std::span<const int32_t> prompt_ids;   // repetition penalty
  std::span<const int32_t> output_ids;   // penalties; output_ids.size() is the step
  std::span<const int32_t> banned_ids;   // never sampled (eos and stop ids before min_tokens)
  uint64_t seed = 0;                     // the request's seed (params->seed or the engine's pick)
  uint64_t sequence_index = 0;           // which of the request's n completions
};

struct SampleResult {
  int32_t token_id = 0;
  SampledLogprobs logprobs;  // filled only when params->logprobs is set
  std::string error;         // sample(): why this row could not be sampled (NaN logits, ...)
};

class Sampler {
 public:
  explicit Sampler(ThreadPool* pool = nullptr) : pool_(pool) {}

  // results.size() == inputs.size(). A row that cannot be sampled gets its `error` set and
  // leaves the others alone.
  void sample(std::span<const SampleInput> inputs, std::span<SampleResult> results) const;
  // Throws Error(kInternal) for a row that cannot be sampled.
  SampleResult sample_one(const SampleInput& input) const;

 private:
  ThreadPool* pool_;
};

// The row's processing (bias, penalties, bans) as edits, one per token it touches, appended to
// `edits`: what cuda::sample_rows applies to reach the row this sampler would sample from.
// Returns false, appending nothing, when edits cannot say it (a token biased twice, a negative
// id); the host then samples the row.
bool append_logit_edits(const SampleInput& input, std::vector<cuda::LogitEdit>& edits);

// append_logit_edits for one sequence, step after step, without redoing the work: the edits of
// the prompt and the bias are built once, each step folds in the tokens generated since. Costs
// the new tokens plus a copy of the edits, where building them costs the prompt.
class LogitEditCache {
 public:
  bool append(const SampleInput& input, std::vector<cuda::LogitEdit>& edits);

 private:
  void build(const SampleInput& input);
  cuda::LogitEdit* edit_of(int32_t id);
  void fold_output(int32_t id, const SamplingParams& params);

  bool built_ = false;
  bool describable_ = true;
  size_t folded_outputs_ = 0;              // output tokens counted so far
  std::vector<cuda::LogitEdit> edits_;     // bias and penalties; bans are added per step
  std::unordered_map<int32_t, int32_t> index_;  // token id → its place in edits_
};

// The probabilities sampling draws from for one row, after every step (bias, penalties,
// bans, temperature, top-k, top-p, min-p): [vocab], summing to 1, zero where masked. For a
// greedy row, 1 at the argmax. Exposed so tests can check the draws against it.
std::vector<double> sampling_distribution(const SampleInput& input);

// A uniform double in [0, 1) from a counter-based generator (Philox4x32-10) keyed by `seed`,
// at counter (sequence_index, step). The same arguments give the same number on any machine.
double counter_uniform(uint64_t seed, uint64_t sequence_index, uint64_t step);

}  // namespace hanlin::engine
