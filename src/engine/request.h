// What a caller asks of the engine (Request: prompt ids, sampling and stopping parameters) and
// what it gets back, incrementally (RequestOutput). Plain data: the engine validates a Request
// before any work is scheduled (engine/request_validation.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hanlin::engine {

using RequestId = uint64_t;

// How the next token is chosen from a logits row. The order of the steps is Hugging Face's:
// logit bias, penalties, then temperature, top-k, top-p, min-p, then a draw.
struct SamplingParams {
  double temperature = 1.0;         // 0: greedy (argmax); otherwise > 0
  double top_p = 1.0;               // (0, 1]; 1: off
  int32_t top_k = 0;                // 0 or -1: off; else keep the k most likely
  double min_p = 0.0;               // [0, 1]; keep tokens with p >= min_p · p_max
  double presence_penalty = 0.0;    // [-2, 2]; OpenAI's: over generated tokens
  double frequency_penalty = 0.0;   // [-2, 2]; OpenAI's: over generated tokens
  double repetition_penalty = 1.0;  // > 0; Hugging Face's: over prompt and generated tokens
  std::vector<std::pair<int32_t, float>> logit_bias;  // token id → added to its logit, [-100, 100]
  // The random stream is keyed by (seed, sequence index, step): a seeded request gives the
  // same tokens whatever else is in the batch. Without a seed the engine picks one.
  std::optional<uint64_t> seed;
  // nullopt: no logprobs. k in [0, 20]: the sampled token's logprob and the k most likely.
  std::optional<int32_t> logprobs;
};

// When generation ends.
struct StoppingParams {
  // New tokens at most; nullopt: as many as the context leaves after the prompt.
  std::optional<int64_t> max_tokens;
  int64_t min_tokens = 0;  // eos and stop ids are masked, and stop strings unchecked, before this
  std::vector<std::string> stop;        // stop strings; matched text is never emitted
  std::vector<int32_t> stop_token_ids;  // besides the model's eos ids
  bool ignore_eos = false;
  bool include_stop_str_in_output = false;
};

struct Request {
  std::vector<int32_t> prompt_ids;
  SamplingParams sampling;
  StoppingParams stopping;
  int32_t n = 1;         // independent completions sharing the prompt's KV blocks
  int32_t priority = 0;  // lower is served first; ties in arrival order
  // Keep only the last k prompt tokens when set; otherwise a prompt that does not fit the
  // context is an error.
  std::optional<int64_t> truncate_prompt_tokens;
  bool skip_special_tokens = true;  // in the text only; token ids always include every token
};

enum class FinishReason {
  kStop,    // an eos id, a stop token id or a stop string
  kLength,  // max_tokens, or the model's context
  kAbort,   // abort() or the engine shutting down
  kError,   // the step that ran this request failed; `error` says why
};

const char* finish_reason_name(FinishReason reason);  // "stop", "length", "abort", "error"

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0;
};

// The logprob of a sampled token and of the most likely ones (the raw model distribution,
// before penalties, temperature and masks: what vLLM reports by default).
struct SampledLogprobs {
  TokenLogprob sampled;
  std::vector<TokenLogprob> top;  // most likely first, SamplingParams::logprobs entries
};

// What one completion (of the request's n) produced since the last output.
struct CompletionDelta {
  int32_t index = 0;                  // which of the n completions
  std::vector<int32_t> token_ids;     // new tokens
  std::string text;                   // new text (held back while a stop string may be starting)
  std::vector<SampledLogprobs> logprobs;  // one per new token when logprobs were asked for
  std::optional<FinishReason> finish_reason;
  // What stopped it when finish_reason is kStop: the stop string, or the token id.
  std::optional<std::string> stop_string;
  std::optional<int32_t> stop_token_id;
};

struct RequestOutput {
  RequestId request_id = 0;
  std::vector<CompletionDelta> completions;  // only those that changed
  bool finished = false;                     // every completion has finished
  int64_t num_prompt_tokens = 0;             // after truncation
  int64_t num_cached_prompt_tokens = 0;      // served from the prefix cache (first completion)
  std::optional<double> queue_seconds;       // waiting time before the first step that ran it
  std::string error;                         // set with FinishReason::kError
};

}  // namespace hanlin::engine
