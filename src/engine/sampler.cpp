// Sampler: logits processing in Hugging Face's order, the kept set of top-k / top-p / min-p
// found without sorting the whole vocabulary where possible, and a Philox-keyed draw.
#include "engine/sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <string>

#include "core/error.h"
#include "engine/philox.h"

namespace hanlin::engine {
namespace {

constexpr float kMasked = -std::numeric_limits<float>::infinity();

// Without top-k, top-p first looks among this many most likely tokens; a full sort happens
// only when they hold less than top_p of the mass (a flat distribution).
constexpr size_t kNumTopPCandidates = 1024;

struct Candidate {
  float logit;
  int32_t id;
};

// The draw order: most likely first, ties by lower id.
bool ranks_before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

size_t checked_id(int32_t id, size_t vocab_size) {
  if (id < 0 || static_cast<size_t>(id) >= vocab_size) {
    throw Error(ErrorKind::kInternal, "sampler: token id " + std::to_string(id) +
                                          " is outside the logits row of " + std::to_string(vocab_size));
  }
  return static_cast<size_t>(id);
}

// ---- Steps 2-5: bias, penalties, bans, on a copy of the row ----

float repetition_penalised(float logit, double penalty) {
  return static_cast<float>(logit > 0 ? logit / penalty : logit * penalty);
}

// Hugging Face's RepetitionPenaltyLogitsProcessor: each distinct token of prompt and output once.
void apply_repetition_penalty(std::vector<float>& logits, const SampleInput& input, double penalty) {
  std::vector<uint8_t> is_seen(logits.size(), 0);
  for (int32_t id : input.prompt_ids) is_seen[checked_id(id, logits.size())] = 1;
  for (int32_t id : input.output_ids) is_seen[checked_id(id, logits.size())] = 1;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (is_seen[i]) logits[i] = repetition_penalised(logits[i], penalty);
  }
}

// OpenAI's penalties, over generated tokens only.
void apply_presence_frequency(std::vector<float>& logits, std::span<const int32_t> output_ids,
                              const SamplingParams& params) {
  std::vector<int32_t> counts(logits.size(), 0);
  for (int32_t id : output_ids) ++counts[checked_id(id, logits.size())];
  for (int32_t id : output_ids) {
    int32_t& count = counts[static_cast<size_t>(id)];
    if (count == 0) continue;  // already applied
    logits[static_cast<size_t>(id)] -=
        static_cast<float>(params.frequency_penalty * count + params.presence_penalty);
    count = 0;
  }
}

// Whether any step before temperature changes the row (a bias, a penalty, a ban). Most rows have
// none, and then sampling reads the model's row itself instead of a copy: the copy was a fresh
// 600 KB allocation per row and step (Qwen's 151,936 logits), page faults included.
bool needs_processing(const SampleInput& input) {
  const SamplingParams& params = *input.params;
  return !params.logit_bias.empty() || params.repetition_penalty != 1.0 || params.presence_penalty != 0.0 ||
         params.frequency_penalty != 0.0 || !input.banned_ids.empty();
}

std::vector<float> processed_logits(const SampleInput& input) {
  const SamplingParams& params = *input.params;
  std::vector<float> logits(input.logits.begin(), input.logits.end());
  for (const auto& [id, bias] : params.logit_bias) logits[checked_id(id, logits.size())] += bias;
  if (params.repetition_penalty != 1.0) apply_repetition_penalty(logits, input, params.repetition_penalty);
  if (params.presence_penalty != 0.0 || params.frequency_penalty != 0.0) {
    apply_presence_frequency(logits, input.output_ids, params);
  }
  for (int32_t id : input.banned_ids) logits[checked_id(id, logits.size())] = kMasked;
  return logits;
}

// Largest logit and whether the row has NaN, in eight independent lanes: a single running
// maximum is one long dependency chain, and lanes let the compiler vectorise the pass.
struct RowSummary {
  float max_logit;
  bool has_nan;
};
RowSummary summarise(std::span<const float> logits) {
  constexpr size_t kLanes = 8;
  std::array<float, kLanes> max_lanes;
  std::array<bool, kLanes> nan_lanes{};
  max_lanes.fill(kMasked);
  const size_t num_full = logits.size() / kLanes * kLanes;
  for (size_t i = 0; i < num_full; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) {
      max_lanes[j] = std::max(max_lanes[j], logits[i + j]);
      nan_lanes[j] |= std::isnan(logits[i + j]);
    }
  }
  for (size_t i = num_full; i < logits.size(); ++i) {
    max_lanes[0] = std::max(max_lanes[0], logits[i]);
    nan_lanes[0] |= std::isnan(logits[i]);
  }
  return {*std::max_element(max_lanes.begin(), max_lanes.end()),
          std::find(nan_lanes.begin(), nan_lanes.end(), true) != nan_lanes.end()};
}

// First index of the largest logit; throws when nothing can be sampled (all masked, or +inf)
// or the model produced NaN.
size_t checked_argmax(std::span<const float> logits) {
  if (logits.empty()) throw Error(ErrorKind::kInternal, "sampler: empty logits row");
  const RowSummary summary = summarise(logits);
  if (summary.has_nan) throw Error(ErrorKind::kInternal, "sampler: the logits row contains NaN");
  if (!std::isfinite(summary.max_logit)) {
    throw Error(ErrorKind::kInternal, "sampler: no token has a finite logit (all masked, or +inf)");
  }
  return static_cast<size_t>(std::find(logits.begin(), logits.end(), summary.max_logit) - logits.begin());
}

// ---- Step 7: the kept set, as a prefix of the draw order ----

// Keeps the `count` first candidates of the draw order, sorted.
void keep_first(std::vector<Candidate>& candidates, size_t count) {
  if (candidates.size() > count) {
    std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(count - 1),
                     candidates.end(), ranks_before);
    candidates.resize(count);
  }
  std::sort(candidates.begin(), candidates.end(), ranks_before);
}

// The first `count` (>= 1) finite tokens of the draw order, sorted, in one pass: a buffer of
// tokens above a rising threshold, cut back to `count` whenever it doubles. A later token tied
// with the threshold has a higher id, so it ranks below the buffer and is skipped too.
std::vector<Candidate> first_in_draw_order(std::span<const float> logits, size_t count) {
  std::vector<Candidate> buffer;
  buffer.reserve(std::min(2 * count, logits.size()));
  float threshold = kMasked;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (!(logits[i] > threshold)) continue;
    buffer.push_back({logits[i], static_cast<int32_t>(i)});
    if (buffer.size() == 2 * count) {
      keep_first(buffer, count);
      threshold = buffer.back().logit;
    }
  }
  keep_first(buffer, count);
  return buffer;
}

// Top-k as Hugging Face's TopKLogitsWarper: tokens tied with the k-th are kept too.
std::vector<Candidate> top_k_with_ties(std::span<const float> logits, size_t k) {
  std::vector<Candidate> ranked = first_in_draw_order(logits, k);
  const Candidate kth = ranked.back();
  for (size_t i = static_cast<size_t>(kth.id) + 1; i < logits.size(); ++i) {
    if (logits[i] == kth.logit) ranked.push_back({logits[i], static_cast<int32_t>(i)});
  }
  return ranked;
}

// The kept tokens are the first num_kept of the draw order over the pool (the finite tokens,
// or the top-k). `ranked` holds the pool's first tokens, sorted; it grows only when needed.
struct Ranking {
  std::span<const float> logits;  // processed row
  std::vector<Candidate> ranked;
  size_t pool_size = 0;
  size_t num_kept = 0;
  double kept_mass = 0;  // sum of weight() over the kept tokens
  double max_logit = 0;
  double temperature = 1;

  // Unnormalised probability after temperature: 1 for the most likely token.
  double weight(float logit) const { return std::exp((logit - max_logit) / temperature); }

  bool is_complete() const { return ranked.size() == pool_size; }

  // Grows steeply: a nucleus past 16K tokens is a flat distribution that needs nearly all.
  void rank_more() { ranked = first_in_draw_order(logits, std::min(pool_size, 16 * ranked.size())); }

  const Candidate& at(size_t i) {
    while (i >= ranked.size()) rank_more();
    return ranked[i];
  }
};

size_t count_finite(std::span<const float> logits) {
  size_t count = 0;
  for (float x : logits) count += x != kMasked;
  return count;
}

double total_weight(const Ranking& ranking) {
  double mass = 0;
  for (float x : ranking.logits) mass += ranking.weight(x);  // exp(-inf) = 0
  return mass;
}

// Walks the ranked tokens for the first one top-p or min-p removes. Returns its position (the
// kept count) and the mass before it; nullopt when no ranked token is removed and more remain.
struct Cut {
  size_t position;
  double mass_before;
};
std::optional<Cut> find_cut(const Ranking& ranking, double pool_mass, const SamplingParams& params) {
  const double top_p_mass =
      params.top_p < 1.0 ? params.top_p * pool_mass : std::numeric_limits<double>::infinity();
  double mass = 0;
  for (size_t i = 0; i < ranking.ranked.size(); ++i) {
    const double weight = ranking.weight(ranking.ranked[i].logit);
    if (i > 0 && (mass >= top_p_mass || weight < params.min_p)) return Cut{i, mass};
    mass += weight;
  }
  if (ranking.is_complete()) return Cut{ranking.ranked.size(), mass};
  return std::nullopt;
}

// The tokens min-p keeps, counted without sorting (weight falls with rank, so they are a prefix).
Cut min_p_cut(const Ranking& ranking, double min_p) {
  Cut cut{0, 0.0};
  for (float x : ranking.logits) {
    const double weight = ranking.weight(x);
    if (x == kMasked || weight < min_p) continue;
    cut.mass_before += weight;
    ++cut.position;
  }
  return cut;
}

// Top-k, then top-p over the top-k mass (Hugging Face renormalises between them), then min-p
// relative to the most likely token. Each keeps a prefix of the draw order, so their
// intersection is the shortest prefix.
Ranking rank_kept_tokens(std::span<const float> logits, const SamplingParams& params) {
  Ranking ranking;
  ranking.logits = logits;
  ranking.max_logit = logits[checked_argmax(logits)];
  ranking.temperature = params.temperature;
  const size_t num_finite = count_finite(logits);
  double pool_mass = 0;  // what top-p is a fraction of
  if (params.top_k > 0 && static_cast<size_t>(params.top_k) < num_finite) {
    ranking.ranked = top_k_with_ties(logits, static_cast<size_t>(params.top_k));
    ranking.pool_size = ranking.ranked.size();
    for (const Candidate& c : ranking.ranked) pool_mass += ranking.weight(c.logit);
  } else {
    ranking.pool_size = num_finite;
    ranking.ranked = first_in_draw_order(logits, std::min(kNumTopPCandidates, num_finite));
    pool_mass = total_weight(ranking);
  }
  std::optional<Cut> cut = find_cut(ranking, pool_mass, params);
  while (!cut && params.top_p < 1.0) {
    ranking.rank_more();
    cut = find_cut(ranking, pool_mass, params);
  }
  if (!cut) cut = min_p_cut(ranking, params.min_p);  // top-p is off; min-p cuts past the ranked
  ranking.num_kept = cut->position;
  ranking.kept_mass = cut->mass_before;
  return ranking;
}

// Inverse CDF over the kept tokens in draw order; ranks further only if the walk gets there.
int32_t draw(Ranking& ranking, double u) {
  const double target = u * ranking.kept_mass;
  double mass = 0;
  for (size_t i = 0; i < ranking.num_kept; ++i) {
    const Candidate& c = ranking.at(i);
    mass += ranking.weight(c.logit);
    if (target < mass) return c.id;
  }
  return ranking.at(ranking.num_kept - 1).id;  // u * mass rounded past the last sum
}

std::vector<double> kept_distribution(Ranking& ranking) {
  std::vector<double> probabilities(ranking.logits.size(), 0.0);
  for (size_t i = 0; i < ranking.num_kept; ++i) {
    const Candidate& c = ranking.at(i);
    probabilities[static_cast<size_t>(c.id)] = ranking.weight(c.logit) / ranking.kept_mass;
  }
  return probabilities;
}

// ---- Step 6: logprobs of the raw row ----

double log_sum_exp(std::span<const float> logits) {
  const double max_logit = summarise(logits).max_logit;
  double sum = 0;
  for (float x : logits) sum += std::exp(x - max_logit);
  return max_logit + std::log(sum);
}

SampledLogprobs raw_logprobs(std::span<const float> logits, int32_t token_id, int32_t num_top) {
  const double normaliser = log_sum_exp(logits);
  if (!std::isfinite(normaliser))
    throw Error(ErrorKind::kInternal, "sampler: the raw logits row is not finite");
  const auto logprob = [&](size_t id) { return static_cast<float>(logits[id] - normaliser); };
  SampledLogprobs result;
  result.sampled = {token_id, logprob(static_cast<size_t>(token_id))};
  if (num_top <= 0) return result;
  for (const Candidate& c : first_in_draw_order(logits, static_cast<size_t>(num_top))) {
    result.top.push_back({c.id, logprob(static_cast<size_t>(c.id))});
  }
  return result;
}

bool is_greedy(const SamplingParams& params) {
  return params.temperature == 0.0;
}

const SamplingParams& checked_params(const SampleInput& input) {
  if (input.params == nullptr) throw Error(ErrorKind::kInternal, "sampler: a row has no sampling parameters");
  return *input.params;
}

}  // namespace

bool append_logit_edits(const SampleInput& input, std::vector<cuda::LogitEdit>& edits) {
  return LogitEditCache().append(input, edits);
}

cuda::LogitEdit* LogitEditCache::edit_of(int32_t id) {
  if (id < 0) {
    describable_ = false;  // the host sampler reports it
    return nullptr;
  }
  const auto [place, added] = index_.try_emplace(id, static_cast<int32_t>(edits_.size()));
  if (added) edits_.push_back({id, 0, 0.0f, 0});
  return &edits_[static_cast<size_t>(place->second)];
}

void LogitEditCache::fold_output(int32_t id, const SamplingParams& params) {
  const bool repetition = params.repetition_penalty != 1.0;
  const bool counted = params.presence_penalty != 0.0 || params.frequency_penalty != 0.0;
  if (!repetition && !counted) return;
  cuda::LogitEdit* edit = edit_of(id);
  if (edit == nullptr) return;
  if (repetition) edit->flags |= cuda::kEditRepetition;
  if (counted) ++edit->output_count;
}

void LogitEditCache::build(const SampleInput& input) {
  const SamplingParams& params = *input.params;
  built_ = true;
  describable_ = true;
  folded_outputs_ = 0;
  edits_.clear();
  index_.clear();
  for (const auto& [id, bias] : params.logit_bias) {
    cuda::LogitEdit* edit = edit_of(id);
    if (edit == nullptr) return;
    if (edit->flags & cuda::kEditBias) describable_ = false;  // the host adds each entry in turn
    edit->flags |= cuda::kEditBias;
    edit->bias = bias;
  }
  if (params.repetition_penalty != 1.0) {
    for (int32_t id : input.prompt_ids) {
      if (cuda::LogitEdit* edit = edit_of(id)) edit->flags |= cuda::kEditRepetition;
    }
  }
}

bool LogitEditCache::append(const SampleInput& input, std::vector<cuda::LogitEdit>& edits) {
  const SamplingParams& params = checked_params(input);
  if (!needs_processing(input)) return true;
  // Outputs only grow; fewer than were folded means another sequence's state (a fork's copy).
  if (!built_ || input.output_ids.size() < folded_outputs_) build(input);
  for (; folded_outputs_ < input.output_ids.size(); ++folded_outputs_) {
    fold_output(input.output_ids[folded_outputs_], params);
  }
  if (!describable_) return false;
  const size_t first = edits.size();
  edits.insert(edits.end(), edits_.begin(), edits_.end());
  for (int32_t id : input.banned_ids) {
    if (id < 0) {
      edits.resize(first);
      return false;
    }
    const auto cached = index_.find(id);
    if (cached != index_.end()) {
      edits[first + static_cast<size_t>(cached->second)].flags |= cuda::kEditBan;
      continue;
    }
    const auto added = std::find_if(edits.begin() + static_cast<std::ptrdiff_t>(first + edits_.size()), edits.end(),
                                    [&](const cuda::LogitEdit& edit) { return edit.id == id; });
    if (added == edits.end()) edits.push_back({id, cuda::kEditBan, 0.0f, 0});
  }
  return true;
}

std::vector<double> sampling_distribution(const SampleInput& input) {
  const SamplingParams& params = checked_params(input);
  const std::vector<float> logits = processed_logits(input);
  if (is_greedy(params)) {
    std::vector<double> probabilities(logits.size(), 0.0);
    probabilities[checked_argmax(logits)] = 1.0;
    return probabilities;
  }
  Ranking ranking = rank_kept_tokens(logits, params);
  return kept_distribution(ranking);
}

SampleResult Sampler::sample_one(const SampleInput& input) const {
  const SamplingParams& params = checked_params(input);
  std::vector<float> processed;
  std::span<const float> logits = input.logits;
  if (needs_processing(input)) {
    processed = processed_logits(input);
    logits = processed;
  }
  SampleResult result;
  if (is_greedy(params)) {
    result.token_id = static_cast<int32_t>(checked_argmax(logits));
  } else {
    Ranking ranking = rank_kept_tokens(logits, params);
    result.token_id =
        draw(ranking, counter_uniform(input.seed, input.sequence_index, input.output_ids.size()));
  }
  if (params.logprobs) result.logprobs = raw_logprobs(input.logits, result.token_id, *params.logprobs);
  return result;
}

void Sampler::sample(std::span<const SampleInput> inputs, std::span<SampleResult> results) const {
  if (results.size() != inputs.size()) {
    throw Error(ErrorKind::kInternal, "sampler: " + std::to_string(inputs.size()) + " rows but " +
                                          std::to_string(results.size()) + " result slots");
  }
  // A row's failure (NaN logits, say) is that row's alone; and a pool worker must not throw.
  auto sample_row = [&](size_t i) {
    try {
      results[i] = sample_one(inputs[i]);
    } catch (const std::exception& error) {
      results[i] = SampleResult{};
      results[i].error = error.what();
    }
  };
  if (pool_ == nullptr || inputs.size() < 2) {
    for (size_t i = 0; i < inputs.size(); ++i) sample_row(i);
    return;
  }
  pool_->parallel_for(static_cast<int64_t>(inputs.size()), 1, [&](int64_t begin, int64_t end) {
    for (auto i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) sample_row(i);
  });
}

double counter_uniform(uint64_t seed, uint64_t sequence_index, uint64_t step) {
  const auto low = [](uint64_t v) { return static_cast<uint32_t>(v); };
  const auto high = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  const PhiloxCounter block = philox4x32_10(
      {low(sequence_index), high(sequence_index), low(step), high(step)}, {low(seed), high(seed)});
  const uint64_t bits = (uint64_t{block[0]} << 32 | block[1]) >> 11;  // 53 bits: a double's mantissa
  return static_cast<double>(bits) * 0x1.0p-53;
}

}  // namespace hanlin::engine
