// Pieces both completion endpoints build responses from: ids, usage, logprobs in the API's two
// shapes, and the context every route handler shares.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/http_server.h"
#include "server/server_metrics.h"
#include "text/chat_template/checkpoint_template.h"
#include "text/tokenizer.h"

namespace hanlin::server {

using Json = nlohmann::ordered_json;

// What every handler needs; owned by `hanlin serve`, outlives the HTTP server.
struct ServerContext {
  engine::Engine* engine = nullptr;
  const text::Tokenizer* tokenizer = nullptr;
  const text::CheckpointTemplate* chat_template = nullptr;  // null: the model has none
  std::string served_model_name;
  int64_t max_model_len = 0;
  engine::SamplingParams default_sampling;  // generation_config.json's
  ServerMetrics* metrics = nullptr;
  std::atomic<bool> draining{false};
};

// prefix + 24 random letters and digits ("chatcmpl-…", "call_…").
std::string random_id(std::string_view prefix);
int64_t unix_time();

struct TokenCounts {
  int64_t prompt = 0;
  int64_t completion = 0;
  int64_t cached_prompt = 0;
  int64_t reasoning = 0;
};
Json usage_json(const TokenCounts& counts);

// Chat's {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]} entries.
Json chat_logprobs_entries(const text::Tokenizer& tokenizer, std::span<const engine::SampledLogprobs> logprobs);
// The legacy completions shape: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
Json completion_logprobs(const text::Tokenizer& tokenizer, std::span<const engine::SampledLogprobs> logprobs);

// The model a request names, when it names one, must be the served one: Error(kNotFound) as
// OpenAI and vLLM answer (404).
void check_model(const ServerContext& context, const Json& body);

// The JSON text of `value`, invalid UTF-8 replaced (model text may end mid-character).
std::string dump(const Json& value);

// Sends `error` as the answer: a JSON error response, or an error event then [DONE] once a
// stream has started.
void send_error(Exchange& exchange, bool streaming, const struct ApiError& error);

}  // namespace hanlin::server
