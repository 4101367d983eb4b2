// OpenAI-shaped error bodies and the mapping from hanlin::Error kinds to HTTP statuses.
#include "server/api_error.h"

#include <set>

#include <nlohmann/json.hpp>

namespace hanlin::server {
namespace {

// Engine and parser messages start with the API field's name ("max_tokens must be ...",
// "stop: 5000 stop strings ..."): report it as `param`.
std::optional<std::string> leading_field(const std::string& message) {
  static const std::set<std::string, std::less<>> kFields = {
      "model", "messages", "prompt", "max_tokens", "max_completion_tokens", "min_tokens", "n", "temperature", "top_p",
      "top_k", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "seed", "stop",
      "stop_token_ids", "logprobs", "top_logprobs", "stream", "stream_options", "tools", "tool_choice",
      "response_format", "chat_template_kwargs", "truncate_prompt_tokens", "priority", "ignore_eos", "tokens",
      "include_stop_str_in_output", "skip_special_tokens", "parallel_tool_calls", "user", "echo", "suffix", "best_of"};
  const size_t end = message.find_first_of(" :[");
  if (end == std::string::npos) return std::nullopt;
  const std::string field = message.substr(0, end);
  if (!kFields.contains(field)) return std::nullopt;
  return field;
}

}  // namespace

std::string error_body(const ApiError& error) {
  nlohmann::json body = {{"error",
                          {{"message", error.message},
                           {"type", error.type},
                           {"param", error.param ? nlohmann::json(*error.param) : nlohmann::json(nullptr)},
                           {"code", error.status}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError bad_request(std::string message, std::optional<std::string> param) {
  return {400, std::move(message), "invalid_request_error", std::move(param)};
}

ApiError not_found(std::string message) { return {404, std::move(message), "not_found_error", std::nullopt}; }

ApiError api_error_from(const std::exception& error) {
  const auto* hanlin_error = dynamic_cast<const Error*>(&error);
  const std::string message = error.what();
  if (hanlin_error == nullptr) return {500, message, "internal_server_error", std::nullopt};
  switch (hanlin_error->kind()) {
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kUnsupported:
      return bad_request(message, leading_field(message));
    case ErrorKind::kNotFound:
      return not_found(message);
    case ErrorKind::kResourceExhausted:
      // The engine's full queue is a retryable 429; a template's or a prompt's budget running
      // out is this request's own problem.
      if (message.starts_with("overloaded")) return {429, message, "rate_limit_error", std::nullopt};
      return bad_request(message);
    case ErrorKind::kInvalidFile:
    case ErrorKind::kInternal:
      break;
  }
  return {500, message, "internal_server_error", std::nullopt};
}

}  // namespace hanlin::server
