// EngineCore: requests in, one step at a time, outputs out through each request's callback.
#include "engine/engine_core.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <unordered_map>

#include "core/error.h"

namespace hanlin::engine {

// What one step produced, per request touched, delivered together at the step's end.
struct EngineCore::StepOutputs {
  std::vector<RequestState*> order;
  std::unordered_map<RequestState*, RequestOutput> by_request;
};

namespace {

bool contains(std::span<const int32_t> ids, int32_t id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

}  // namespace

RequestLimits request_limits(const io::ModelConfig& model_config, const model::KvCache& cache, const EngineConfig& config,
                             bool has_tokenizer) {
  RequestLimits limits;
  limits.vocab_size = model_config.vocab_size;
  limits.max_model_len = config.max_model_len > 0 ? config.max_model_len : model_config.max_position_embeddings;
  limits.max_kv_tokens = cache.capacity_tokens();
  limits.max_n = config.max_n;
  limits.max_stop_strings = config.max_stop_strings;
  limits.has_tokenizer = has_tokenizer;
  return limits;
}

EngineCore::EngineCore(model::Qwen3Model& model, model::KvCache& cache, const text::Tokenizer* tokenizer,
                       std::vector<int32_t> eos_token_ids, const EngineConfig& config, ThreadPool* pool)
    : runner_(model, cache),
      tokenizer_(tokenizer),
      eos_token_ids_(std::move(eos_token_ids)),
      config_(config),
      limits_(request_limits(model.config(), cache, config, tokenizer != nullptr)),
      blocks_(static_cast<int32_t>(cache.num_blocks()), static_cast<int32_t>(cache.block_size()),
              config.enable_prefix_caching),
      scheduler_(config.scheduler, blocks_, hasher_),
      sampler_(pool),
      seed_source_(std::random_device{}()) {
  // Every step stays within these bounds (the scheduler's), so the model's GPU activations are sized
  // now, once: the GPU memory plan counts on it, and a too-large plan fails here, before any request.
  runner_.reserve(config.scheduler.max_num_batched_tokens, config.scheduler.max_num_seqs);
}

EngineCore::~EngineCore() = default;

int64_t EngineCore::validate(Request& request) const { return validate_request(request, limits_); }

RequestId EngineCore::add(Request request, OutputCallback on_output) {
  const int64_t max_tokens = validate(request);
  const RequestId id = next_id_++;
  add_validated(id, std::move(request), max_tokens, std::move(on_output));
  return id;
}

std::unique_ptr<Sequence> EngineCore::make_sequence(RequestState& request, int32_t index) const {
  auto seq = std::make_unique<Sequence>();
  seq->request = &request;
  seq->index = index;
  seq->token_ids = request.request.prompt_ids;
  seq->num_prompt_tokens = static_cast<int64_t>(request.request.prompt_ids.size());
  if (tokenizer_ != nullptr) seq->detokenizer.emplace(*tokenizer_, request.request.skip_special_tokens);
  seq->stop_matcher = StopStringMatcher(request.request.stopping.stop, request.request.stopping.include_stop_str_in_output);
  return seq;
}

void EngineCore::add_validated(RequestId id, Request request, int64_t max_tokens, OutputCallback on_output) {
  auto state = std::make_unique<RequestState>();
  state->id = id;
  state->max_tokens = max_tokens;
  state->seed = request.sampling.seed ? *request.sampling.seed : seed_source_();
  state->arrival = next_arrival_++;
  state->added_at = std::chrono::steady_clock::now();
  state->on_output = std::move(on_output);
  state->request = std::move(request);
  const StoppingParams& stopping = state->request.stopping;
  if (stopping.min_tokens > 0) {
    if (!stopping.ignore_eos) state->banned_before_min_tokens = eos_token_ids_;
    state->banned_before_min_tokens.insert(state->banned_before_min_tokens.end(), stopping.stop_token_ids.begin(),
                                           stopping.stop_token_ids.end());
  }
  state->sequences.push_back(make_sequence(*state, 0));
  num_prompt_tokens_ += static_cast<int64_t>(state->request.prompt_ids.size());
  scheduler_.add_waiting(*state->sequences.front());
  requests_.emplace(id, std::move(state));
}

void EngineCore::abort(RequestId id) {
  const auto found = requests_.find(id);
  if (found == requests_.end()) return;
  StepOutputs outputs;
  finish_request(*found->second, FinishReason::kAbort, outputs);
  deliver(outputs);
}

void EngineCore::abort_all() {
  StepOutputs outputs;
  for (auto& [id, request] : requests_) finish_request(*request, FinishReason::kAbort, outputs);
  deliver(outputs);
}

bool EngineCore::step() {
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  const auto scheduling = Clock::now();
  const SchedulerOutput scheduled = scheduler_.schedule();
  if (scheduled.empty()) return false;
  ++num_steps_;
  note_queue_times(scheduled);
  const StepPlan& plan = plan_samples(scheduled);
  step_times_.schedule_seconds += seconds_since(scheduling);
  StepOutputs outputs;
  model::StepLogits logits;
  const auto running = Clock::now();
  try {
    logits = runner_.run(scheduled, plan.sampling);
  } catch (const std::exception& error) {
    // The failed chunks' cache rows are suspect: their requests end here, their blocks free.
    for (const ScheduledChunk& chunk : scheduled.chunks) {
      RequestState& request = *chunk.seq->request;
      if (request.num_finished < request.request.n) finish_request(request, FinishReason::kError, outputs);
      outputs.by_request[&request].error = error.what();
    }
    deliver(outputs);
    return true;
  }
  step_times_.model_seconds += seconds_since(running);
  const auto sampling = Clock::now();
  scheduler_.complete(scheduled);
  sample_and_stop(scheduled, plan, logits, outputs);
  deliver(outputs);
  step_times_.sample_seconds += seconds_since(sampling);
  return true;
}

void EngineCore::note_queue_times(const SchedulerOutput& step) {
  const auto now = std::chrono::steady_clock::now();
  for (const ScheduledChunk& chunk : step.chunks) {
    RequestState& request = *chunk.seq->request;
    if (!request.queue_seconds) request.queue_seconds = std::chrono::duration<double>(now - request.added_at).count();
  }
}

// A fork's n completions all draw their first token from the prompt's last logits.
bool EngineCore::forks_now(const Sequence& seq) const {
  const RequestState& request = *seq.request;
  return seq.index == 0 && request.sequences.size() == 1 && request.request.n > 1;
}

// Which of the step's tokens are drawn on the device (all of them when the model runs on the GPU,
// unless edits cannot describe a row's processing) and which logits rows come back for the host
// sampler.
const EngineCore::StepPlan& EngineCore::plan_samples(const SchedulerOutput& step) {
  StepPlan& plan = plan_;
  plan.samples.clear();
  plan.sampling.draws.clear();
  plan.sampling.edits.clear();
  plan.sampling.host_rows.clear();
  const bool on_device = config_.sample_on_device && runner_.draws_on_device();
  int32_t row = 0;
  for (const ScheduledChunk& chunk : step.chunks) {
    if (!chunk.samples) continue;
    Sequence& seq = *chunk.seq;
    const int32_t count = forks_now(seq) ? seq.request->request.n : 1;
    bool on_host = false;
    for (int32_t i = 0; i < count; ++i) {
      SampleInput input = sample_input(seq, {});
      if (count > 1) input.sequence_index = static_cast<uint64_t>(i);  // the forks to come
      const auto first_edit = static_cast<int32_t>(plan.sampling.edits.size());
      if (!on_device || !seq.logit_edits.append(input, plan.sampling.edits)) {
        plan.samples.push_back({row, -1});
        on_host = true;
        continue;
      }
      plan.samples.push_back({row, static_cast<int32_t>(plan.sampling.draws.size())});
      const SamplingParams& params = *input.params;
      model::TokenDraw& draw = plan.sampling.draws.emplace_back();
      draw.row = row;
      draw.top_k = params.top_k;
      draw.temperature = params.temperature;
      draw.top_p = params.top_p;
      draw.min_p = params.min_p;
      draw.u = counter_uniform(input.seed, input.sequence_index, input.output_ids.size());
      draw.first_edit = first_edit;
      draw.num_edits = static_cast<int32_t>(plan.sampling.edits.size()) - first_edit;
      draw.repetition_penalty = params.repetition_penalty;
      draw.presence_penalty = params.presence_penalty;
      draw.frequency_penalty = params.frequency_penalty;
      draw.num_logprobs = params.logprobs.value_or(-1);
    }
    plan.sampling.host_rows.push_back(on_host ? 1 : 0);
    ++row;
  }
  return plan;
}

namespace {

SampledLogprobs sampled_logprobs(int32_t token_id, const model::DrawLogprobs& drawn) {
  SampledLogprobs logprobs;
  logprobs.sampled = {token_id, drawn.sampled};
  for (int32_t i = 0; i < drawn.num_top; ++i) logprobs.top.push_back({drawn.top_ids[i], drawn.top_logprobs[i]});
  return logprobs;
}

std::string draw_error(model::DrawStatus status) {
  return status == model::DrawStatus::kNaN ? "sampler: the logits row contains NaN"
                                           : "sampler: no token has a finite logit (all masked, or +inf)";
}

}  // namespace

void EngineCore::sample_and_stop(const SchedulerOutput& step, const StepPlan& plan, const model::StepLogits& logits,
                                 StepOutputs& outputs) {
  std::vector<Sequence*> sampled;
  std::vector<SampleResult> results;
  std::vector<SampleInput> host_inputs;  // the tokens the host samples, and where their results go
  std::vector<size_t> host_slots;
  const int64_t vocab = logits.logits.defined() && logits.logits.rank() == 2 ? logits.logits.dim(1) : 0;
  size_t next = 0;
  for (const ScheduledChunk& chunk : step.chunks) {
    if (!chunk.samples) continue;
    Sequence& seq = *chunk.seq;
    RequestState& request = *seq.request;
    const bool forks = forks_now(seq);
    if (forks) fork_completions(seq);
    const size_t count = forks ? request.sequences.size() : 1;
    for (size_t i = 0; i < count; ++i) {
      Sequence& target = forks ? *request.sequences[i] : seq;
      const PlannedSample& planned = plan.samples[next++];
      sampled.push_back(&target);
      SampleResult& result = results.emplace_back();
      if (planned.draw >= 0) {
        const model::DrawResult& drawn = logits.draws[static_cast<size_t>(planned.draw)];
        if (drawn.status == model::DrawStatus::kDrawn) {
          result.token_id = drawn.token_id;
          if (request.request.sampling.logprobs) {
            result.logprobs = sampled_logprobs(drawn.token_id, logits.logprobs.at(static_cast<size_t>(planned.draw)));
          }
          continue;
        }
        if (drawn.status != model::DrawStatus::kLeftToHost) {
          result.error = draw_error(drawn.status);
          continue;
        }
      }
      const int32_t host_row = logits.host_row[static_cast<size_t>(planned.row)];
      if (host_row < 0) {
        result.error = "internal: the logits row was not returned";
        continue;
      }
      const std::span<const float> row_logits(logits.logits.data<float>() + host_row * vocab, static_cast<size_t>(vocab));
      host_inputs.push_back(sample_input(target, row_logits));
      host_slots.push_back(results.size() - 1);
    }
  }
  std::vector<SampleResult> host_results(host_inputs.size());
  sampler_.sample(host_inputs, host_results);
  for (size_t i = 0; i < host_slots.size(); ++i) results[host_slots[i]] = std::move(host_results[i]);
  for (size_t i = 0; i < sampled.size(); ++i) {
    RequestState& request = *sampled[i]->request;
    if (!results[i].error.empty()) {
      if (request.num_finished < request.request.n) finish_request(request, FinishReason::kError, outputs);
      touch(request, outputs).error = "sampling failed: " + results[i].error;
    } else if (sampled[i]->status != SequenceStatus::kFinished) {
      append_token(*sampled[i], results[i], outputs);
    }
  }
}

// Completions 1..n-1 start as copies of completion 0 at the end of its prompt, sharing every
// block; a shared partial block is copied when one of them first writes into it.
void EngineCore::fork_completions(Sequence& first) {
  RequestState& request = *first.request;
  for (int32_t index = 1; index < request.request.n; ++index) {
    std::unique_ptr<Sequence> seq = make_sequence(request, index);
    seq->num_computed_tokens = first.num_computed_tokens;
    seq->block_table = first.block_table;
    seq->block_keys = first.block_keys;
    seq->num_registered_blocks = first.num_registered_blocks;
    blocks_.acquire(seq->block_table);
    scheduler_.add_running(*seq);
    request.sequences.push_back(std::move(seq));
  }
}

SampleInput EngineCore::sample_input(const Sequence& seq, std::span<const float> logits) const {
  const RequestState& request = *seq.request;
  SampleInput input;
  input.logits = logits;
  input.params = &request.request.sampling;
  input.prompt_ids = seq.prompt_ids();
  input.output_ids = seq.output_ids();
  if (seq.num_output_tokens() < request.request.stopping.min_tokens) input.banned_ids = request.banned_before_min_tokens;
  input.seed = request.seed;
  input.sequence_index = static_cast<uint64_t>(seq.index);
  return input;
}

bool EngineCore::is_stop_token(const RequestState& request, int32_t token) const {
  const StoppingParams& stopping = request.request.stopping;
  return (!stopping.ignore_eos && contains(eos_token_ids_, token)) || contains(stopping.stop_token_ids, token);
}

// The token joins the completion; then, in order: a stop token, a stop string, max_tokens.
void EngineCore::append_token(Sequence& seq, const SampleResult& result, StepOutputs& outputs) {
  const RequestState& request = *seq.request;
  seq.token_ids.push_back(result.token_id);
  ++num_generated_tokens_;
  CompletionDelta& delta = delta_for(seq, outputs);
  delta.token_ids.push_back(result.token_id);
  if (request.request.sampling.logprobs) delta.logprobs.push_back(result.logprobs);
  if (is_stop_token(request, result.token_id)) {
    delta.stop_token_id = result.token_id;
    finish(seq, FinishReason::kStop, outputs);
    return;
  }
  if (seq.detokenizer) {
    const bool check_stops = seq.num_output_tokens() >= request.request.stopping.min_tokens;
    const std::string piece = seq.detokenizer->push(result.token_id);
    if (const auto match = seq.stop_matcher.push(piece, check_stops, delta.text)) {
      delta.stop_string = request.request.stopping.stop[match->stop_index];
      seq.detokenizer.reset();  // what follows the stop string is never emitted
      finish(seq, FinishReason::kStop, outputs);
      return;
    }
  }
  if (seq.num_output_tokens() >= request.max_tokens) finish(seq, FinishReason::kLength, outputs);
}

// Ends one completion: the text held back is emitted, the blocks are freed.
void EngineCore::finish(Sequence& seq, FinishReason reason, StepOutputs& outputs) {
  CompletionDelta& delta = delta_for(seq, outputs);
  if (seq.detokenizer) {
    const std::string tail = seq.detokenizer->finish();
    if (!seq.stop_matcher.push(tail, true, delta.text)) seq.stop_matcher.flush(delta.text);
  }
  delta.finish_reason = reason;
  seq.finish_reason = reason;
  scheduler_.remove(seq);
  ++seq.request->num_finished;
}

// Ends every unfinished completion of `request`, including those not yet forked.
void EngineCore::finish_request(RequestState& request, FinishReason reason, StepOutputs& outputs) {
  for (const auto& seq : request.sequences) {
    if (seq->status != SequenceStatus::kFinished) finish(*seq, reason, outputs);
  }
  for (auto index = static_cast<int32_t>(request.sequences.size()); index < request.request.n; ++index) {
    CompletionDelta delta;
    delta.index = index;
    delta.finish_reason = reason;
    touch(request, outputs).completions.push_back(std::move(delta));
    ++request.num_finished;
  }
}

RequestOutput& EngineCore::touch(RequestState& request, StepOutputs& outputs) {
  auto [entry, inserted] = outputs.by_request.try_emplace(&request);
  if (inserted) outputs.order.push_back(&request);
  return entry->second;
}

CompletionDelta& EngineCore::delta_for(Sequence& seq, StepOutputs& outputs) {
  RequestOutput& output = touch(*seq.request, outputs);
  for (CompletionDelta& delta : output.completions) {
    if (delta.index == seq.index) return delta;
  }
  output.completions.emplace_back().index = seq.index;
  return output.completions.back();
}

void EngineCore::deliver(StepOutputs& outputs) {
  for (RequestState* request : outputs.order) {
    RequestOutput& output = outputs.by_request[request];
    output.request_id = request->id;
    output.finished = request->num_finished == request->request.n;
    output.num_prompt_tokens = static_cast<int64_t>(request->request.prompt_ids.size());
    output.num_cached_prompt_tokens = request->num_cached_prompt_tokens;
    output.queue_seconds = request->queue_seconds;
    std::sort(output.completions.begin(), output.completions.end(),
              [](const CompletionDelta& a, const CompletionDelta& b) { return a.index < b.index; });
    try {
      request->on_output(output);
    } catch (...) {
      // A callback must not throw (engine.h); one that does loses its output, nothing else.
    }
    if (output.finished) requests_.erase(request->id);
  }
}

EngineStats EngineCore::stats() const {
  EngineStats stats;
  for (const auto& [id, request] : requests_) {
    ++(request->started ? stats.num_running_requests : stats.num_waiting_requests);
  }
  stats.num_running_sequences = static_cast<int64_t>(scheduler_.num_running());
  stats.num_waiting_sequences = static_cast<int64_t>(scheduler_.num_waiting());
  stats.num_blocks = blocks_.num_blocks();
  stats.num_free_blocks = blocks_.num_free_blocks();
  stats.kv_cache_usage = 1.0 - static_cast<double>(stats.num_free_blocks) / static_cast<double>(stats.num_blocks);
  stats.prefix_cache = blocks_.counters();
  stats.num_preemptions = scheduler_.num_preemptions();
  stats.num_prompt_tokens = num_prompt_tokens_;
  stats.num_generated_tokens = num_generated_tokens_;
  stats.num_steps = num_steps_;
  stats.step_times = step_times_;
  return stats;
}

}  // namespace hanlin::engine
