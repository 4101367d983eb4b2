// Pieces both completion endpoints build responses from: ids, usage, logprobs in the API's two
// shapes, and the context every route handler shares.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
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

// What both completion endpoints keep about a request as the engine's outputs arrive.
struct CompletionProgress {
  TokenCounts counts;
  RequestTimer timer;
  std::optional<double> queue_seconds;
  std::string error;
  bool started_events = false;

  // Call first with each output: starts the event stream on the first one (on the engine
  // thread, so the header is queued before any event; a request the engine refuses is answered
  // with a plain error instead), and takes the counts and the error.
  void begin(const engine::RequestOutput& output, Exchange& exchange, bool stream);
};

// Submits `request` with its outputs going to `on_output`; a client that goes away aborts it.
void submit_request(ServerContext& context, Exchange& exchange, engine::Request request,
                    engine::OutputCallback on_output);

// A stream's last events: the usage chunk when the client asked for it, then [DONE].
void end_stream(Exchange& exchange, bool include_usage, const Json& usage_chunk);

// The model a request names, when it names one, must be the served one: Error(kNotFound) as
// OpenAI and vLLM answer (404).
void check_model(const ServerContext& context, const Json& body);

// The JSON text of `value`, invalid UTF-8 replaced (model text may end mid-character).
std::string dump(const Json& value);

// Sends `error` as the answer: a JSON error response, or an error event then [DONE] once a
// stream has started.
void send_error(Exchange& exchange, bool streaming, const struct ApiError& error);

}  // namespace hanlin::server
