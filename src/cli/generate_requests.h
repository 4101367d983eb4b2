// `hanlin generate`'s requests: from its flags, or one per line of a --batch JSONL file; and
// the JSON line each result is printed as.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "text/tokenizer.h"

namespace hanlin::cli {

// A batch line: {"prompt": "..."} or {"prompt_ids": [...]}, plus any of max_tokens,
// min_tokens, temperature, top_p, top_k, min_p, presence_penalty, frequency_penalty,
// repetition_penalty, logit_bias ({"id": bias}), seed, n, logprobs, stop (string or list),
// stop_token_ids, ignore_eos, include_stop_str_in_output, skip_special_tokens, priority,
// truncate_prompt_tokens. Fields absent from the line keep `defaults` (the flags). Throws
// Error(kInvalidArgument) naming the field: wrong types, unknown fields, text without a tokenizer.
engine::Request request_from_json(const nlohmann::json& line, const engine::Request& defaults,
                                  const text::Tokenizer* tokenizer);

// What one request produced, joined over its outputs.
struct GeneratedCompletion {
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<engine::SampledLogprobs> logprobs;
  std::string finish_reason;
};

struct GeneratedResult {
  std::vector<GeneratedCompletion> completions;
  std::string error;  // the request failed (bad line, or the engine's error)
};

void add_output(GeneratedResult& result, const engine::RequestOutput& output);

// {"token_ids": [...], "text": "...", "finish_reason": "..."} (+ "logprobs"); with several
// completions {"choices": [...]}; {"error": "..."} for a failed request. `with_text` is false
// when there is no tokenizer.
nlohmann::json result_json(const GeneratedResult& result, bool with_text);

}  // namespace hanlin::cli
