// Checks a Request against the model and the engine's limits before any work is scheduled:
// every problem is an Error(kInvalidArgument) whose message names the field, in the words an
// API user knows (max_tokens, n, top_logprobs, stop, ...).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/request.h"

namespace hanlin::engine {

struct RequestLimits {
  int64_t vocab_size = 0;         // token ids must be below it
  int64_t max_model_len = 0;      // prompt + max_tokens must fit in it
  int64_t max_kv_tokens = 0;      // one sequence's tokens must fit in the whole KV cache
  int32_t max_n = 16;
  int32_t max_top_logprobs = 20;
  size_t max_stop_strings = 64;
  size_t max_stop_string_bytes = 1024;
  size_t max_stop_token_ids = 1024;
  size_t max_logit_bias_entries = 1024;
  bool has_tokenizer = false;     // stop strings need text
};

// Applies truncate_prompt_tokens, then checks every field. Returns the number of new tokens
// the request may produce (its max_tokens, or what the context leaves when unset).
int64_t validate_request(Request& request, const RequestLimits& limits);

}  // namespace hanlin::engine
