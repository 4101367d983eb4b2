// Response pieces shared by chat and text completions.
#include "server/completion_common.h"

#include <chrono>
#include <random>

#include "core/error.h"
#include "server/api_error.h"

namespace hanlin::server {

std::string random_id(std::string_view prefix) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 generator(std::random_device{}());
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id(prefix);
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(generator)];
  return id;
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Json usage_json(const TokenCounts& counts) {
  return {{"prompt_tokens", counts.prompt},
          {"completion_tokens", counts.completion},
          {"total_tokens", counts.prompt + counts.completion},
          {"prompt_tokens_details", {{"cached_tokens", counts.cached_prompt}}},
          {"completion_tokens_details", {{"reasoning_tokens", counts.reasoning}}}};
}

namespace {

std::string token_text(const text::Tokenizer& tokenizer, int32_t id) {
  return tokenizer.decode(std::vector<text::TokenId>{static_cast<text::TokenId>(id)});
}

Json token_bytes(const text::Tokenizer& tokenizer, int32_t id) {
  Json bytes = Json::array();
  for (char c : tokenizer.token_bytes(static_cast<text::TokenId>(id))) bytes.push_back(static_cast<unsigned char>(c));
  return bytes;
}

Json chat_token(const text::Tokenizer& tokenizer, const engine::TokenLogprob& entry) {
  return {{"token", token_text(tokenizer, entry.token_id)},
          {"logprob", entry.logprob},
          {"bytes", token_bytes(tokenizer, entry.token_id)}};
}

}  // namespace

Json chat_logprobs_entries(const text::Tokenizer& tokenizer, std::span<const engine::SampledLogprobs> logprobs) {
  Json entries = Json::array();
  for (const engine::SampledLogprobs& item : logprobs) {
    Json entry = chat_token(tokenizer, item.sampled);
    Json top = Json::array();
    for (const engine::TokenLogprob& alternative : item.top) top.push_back(chat_token(tokenizer, alternative));
    entry["top_logprobs"] = top;
    entries.push_back(entry);
  }
  return entries;
}

Json completion_logprobs(const text::Tokenizer& tokenizer, std::span<const engine::SampledLogprobs> logprobs) {
  Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array(), offsets = Json::array();
  size_t offset = 0;
  for (const engine::SampledLogprobs& item : logprobs) {
    const std::string text = token_text(tokenizer, item.sampled.token_id);
    tokens.push_back(text);
    token_logprobs.push_back(item.sampled.logprob);
    Json top = Json::object();
    for (const engine::TokenLogprob& alternative : item.top) top[token_text(tokenizer, alternative.token_id)] = alternative.logprob;
    top_logprobs.push_back(top);
    offsets.push_back(offset);
    offset += text.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs}, {"text_offset", offsets}};
}

void CompletionProgress::begin(const engine::RequestOutput& output, Exchange& exchange, bool stream) {
  if (stream && !started_events) exchange.start_events();
  started_events = true;
  counts.prompt = output.num_prompt_tokens;
  counts.cached_prompt = output.num_cached_prompt_tokens;
  queue_seconds = output.queue_seconds;
  if (!output.error.empty()) error = output.error;
}

void submit_request(ServerContext& context, Exchange& exchange, engine::Request request,
                    engine::OutputCallback on_output) {
  const engine::RequestId id = context.engine->submit(std::move(request), std::move(on_output));
  engine::Engine* engine = context.engine;
  exchange.on_disconnect([engine, id] { engine->abort(id); });
}

void end_stream(Exchange& exchange, bool include_usage, const Json& usage_chunk) {
  if (include_usage) exchange.send_event(dump(usage_chunk));
  exchange.send_event("[DONE]");
  exchange.end_events();
}

void check_model(const ServerContext& context, const Json& body) {
  const auto model = body.find("model");
  if (model == body.end() || !model->is_string()) return;
  const std::string name = model->get<std::string>();
  require(name.empty() || name == context.served_model_name, ErrorKind::kNotFound,
          "The model `" + name + "` does not exist; this server serves `" + context.served_model_name + "`");
}

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

void send_error(Exchange& exchange, bool streaming, const ApiError& error) {
  if (!streaming) {
    exchange.respond(error.status, "application/json", error_body(error));
    return;
  }
  exchange.send_event(error_body(error));
  exchange.send_event("[DONE]");
  exchange.end_events();
}

}  // namespace hanlin::server
