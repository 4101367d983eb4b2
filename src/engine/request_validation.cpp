// Request checks, one function per group of fields; each message starts with the field's API
// name so the server can show it as is.
#include "engine/request_validation.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace hanlin::engine {
namespace {

void check(bool condition, const std::string& message) { require(condition, ErrorKind::kInvalidArgument, message); }

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

void check_range(double value, double low, double high, const char* field) {
  check(std::isfinite(value) && value >= low && value <= high,
        std::string(field) + " must be between " + number(low) + " and " + number(high) + ", got " + number(value));
}

std::string vocab_range(int64_t vocab_size) { return "[0, " + std::to_string(vocab_size) + ")"; }

void truncate_prompt(Request& request) {
  if (!request.truncate_prompt_tokens) return;
  const int64_t keep = *request.truncate_prompt_tokens;
  check(keep >= 1, "truncate_prompt_tokens must be at least 1, got " + std::to_string(keep));
  auto& prompt = request.prompt_ids;
  if (static_cast<int64_t>(prompt.size()) > keep) prompt.erase(prompt.begin(), prompt.end() - keep);
}

void check_prompt(const Request& request, const RequestLimits& limits) {
  const auto& prompt = request.prompt_ids;
  check(!prompt.empty(), "prompt: the prompt is empty");
  // The message is built for the first id outside the vocabulary only: built for every id, it cost
  // host time in proportion to the prompt (bench/RESULTS.md).
  const auto outside = std::find_if(prompt.begin(), prompt.end(),
                                    [&](int32_t id) { return id < 0 || id >= limits.vocab_size; });
  if (outside != prompt.end()) {
    check(false, "prompt: token id " + std::to_string(*outside) + " at position " +
                     std::to_string(outside - prompt.begin()) + " is outside the vocabulary " +
                     vocab_range(limits.vocab_size));
  }
  const int64_t length = static_cast<int64_t>(prompt.size());
  check(length < limits.max_model_len,
        "prompt: " + std::to_string(length) + " tokens leave no room in the model's context of " +
            std::to_string(limits.max_model_len) + " tokens (set truncate_prompt_tokens to keep only the last ones)");
  check(length < limits.max_kv_tokens, "prompt: " + std::to_string(length) + " tokens do not fit in the KV cache (" +
                                           std::to_string(limits.max_kv_tokens) + " tokens)");
}

// The new tokens the request may make: its max_tokens, checked, or what the context leaves.
int64_t check_lengths(const Request& request, const RequestLimits& limits) {
  const int64_t prompt_len = static_cast<int64_t>(request.prompt_ids.size());
  const int64_t room = std::min(limits.max_model_len, limits.max_kv_tokens) - prompt_len;
  int64_t max_tokens = room;
  if (request.stopping.max_tokens) {
    max_tokens = *request.stopping.max_tokens;
    check(max_tokens >= 1, "max_tokens must be at least 1, got " + std::to_string(max_tokens));
    check(max_tokens <= limits.max_model_len - prompt_len,
          "max_tokens: the prompt (" + std::to_string(prompt_len) + " tokens) + max_tokens (" +
              std::to_string(max_tokens) + ") exceeds the model's context of " + std::to_string(limits.max_model_len) +
              " tokens; lower max_tokens or shorten the prompt");
    check(max_tokens <= limits.max_kv_tokens - prompt_len,
          "max_tokens: the prompt (" + std::to_string(prompt_len) + " tokens) + max_tokens (" +
              std::to_string(max_tokens) + ") does not fit in the KV cache (" + std::to_string(limits.max_kv_tokens) +
              " tokens)");
  }
  const int64_t min_tokens = request.stopping.min_tokens;
  check(min_tokens >= 0 && min_tokens <= max_tokens,
        "min_tokens must be between 0 and max_tokens (" + std::to_string(max_tokens) + "), got " +
            std::to_string(min_tokens));
  return max_tokens;
}

void check_sampling(const SamplingParams& params, const RequestLimits& limits) {
  check(std::isfinite(params.temperature) && params.temperature >= 0,
        "temperature must be a number >= 0, got " + number(params.temperature));
  check(std::isfinite(params.top_p) && params.top_p > 0 && params.top_p <= 1,
        "top_p must be in (0, 1], got " + number(params.top_p));
  check(params.top_k >= -1, "top_k must be -1 or 0 (off) or a positive count, got " + std::to_string(params.top_k));
  check_range(params.min_p, 0, 1, "min_p");
  check_range(params.presence_penalty, -2, 2, "presence_penalty");
  check_range(params.frequency_penalty, -2, 2, "frequency_penalty");
  check(std::isfinite(params.repetition_penalty) && params.repetition_penalty > 0,
        "repetition_penalty must be a number > 0, got " + number(params.repetition_penalty));
  if (params.logprobs) {
    check(*params.logprobs >= 0 && *params.logprobs <= limits.max_top_logprobs,
          "top_logprobs must be between 0 and " + std::to_string(limits.max_top_logprobs) + ", got " +
              std::to_string(*params.logprobs));
  }
  check(params.logit_bias.size() <= limits.max_logit_bias_entries,
        "logit_bias: " + std::to_string(params.logit_bias.size()) + " entries; at most " +
            std::to_string(limits.max_logit_bias_entries) + " are allowed");
  for (const auto& [token, bias] : params.logit_bias) {
    check(token >= 0 && token < limits.vocab_size,
          "logit_bias: token id " + std::to_string(token) + " is outside the vocabulary " + vocab_range(limits.vocab_size));
    check_range(bias, -100, 100, "logit_bias values");
  }
}

void check_stopping(const StoppingParams& stopping, const RequestLimits& limits) {
  check(stopping.stop.size() <= limits.max_stop_strings,
        "stop: " + std::to_string(stopping.stop.size()) + " stop strings; at most " +
            std::to_string(limits.max_stop_strings) + " are allowed");
  check(stopping.stop.empty() || limits.has_tokenizer, "stop: stop strings need the model's tokenizer, and none is loaded");
  for (size_t i = 0; i < stopping.stop.size(); ++i) {
    const size_t bytes = stopping.stop[i].size();
    check(bytes > 0, "stop[" + std::to_string(i) + "] is empty");
    check(bytes <= limits.max_stop_string_bytes, "stop[" + std::to_string(i) + "] is " + std::to_string(bytes) +
                                                     " bytes long; at most " +
                                                     std::to_string(limits.max_stop_string_bytes) + " are allowed");
  }
  check(stopping.stop_token_ids.size() <= limits.max_stop_token_ids,
        "stop_token_ids: " + std::to_string(stopping.stop_token_ids.size()) + " ids; at most " +
            std::to_string(limits.max_stop_token_ids) + " are allowed");
  for (int32_t token : stopping.stop_token_ids) {
    check(token >= 0 && token < limits.vocab_size, "stop_token_ids: token id " + std::to_string(token) +
                                                       " is outside the vocabulary " + vocab_range(limits.vocab_size));
  }
}

}  // namespace

int64_t validate_request(Request& request, const RequestLimits& limits) {
  check(request.n >= 1 && request.n <= limits.max_n,
        "n must be between 1 and " + std::to_string(limits.max_n) + ", got " + std::to_string(request.n));
  truncate_prompt(request);
  check_prompt(request, limits);
  check_sampling(request.sampling, limits);
  check_stopping(request.stopping, limits);
  return check_lengths(request, limits);
}

}  // namespace hanlin::engine
