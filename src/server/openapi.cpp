// The OpenAPI document, built once. It lists the routes and their main fields; the OpenAI API
// reference is the authority on the completion bodies, which this server follows.
#include "server/openapi.h"

#include <nlohmann/json.hpp>

namespace hanlin::server {
namespace {

using Json = nlohmann::ordered_json;

Json json_body(const std::string& description, const Json& properties, const Json& required = Json::array()) {
  return {{"description", description},
          {"required", true},
          {"content", {{"application/json", {{"schema", {{"type", "object"}, {"properties", properties}, {"required", required}}}}}}}};
}

Json responses(const std::string& ok) {
  return {{"200", {{"description", ok}}},
          {"400", {{"description", "invalid request: {\"error\": {\"message\", \"type\", \"param\", \"code\"}}"}}},
          {"404", {{"description", "unknown model"}}},
          {"413", {{"description", "request body too large"}}},
          {"429", {{"description", "overloaded: too many requests waiting"}}},
          {"503", {{"description", "shutting down"}}}};
}

Json sampling_properties() {
  Json number = {{"type", "number"}}, integer = {{"type", "integer"}}, boolean = {{"type", "boolean"}};
  return {{"model", {{"type", "string"}}},
          {"max_tokens", integer},
          {"temperature", number},
          {"top_p", number},
          {"top_k", integer},
          {"min_p", number},
          {"presence_penalty", number},
          {"frequency_penalty", number},
          {"repetition_penalty", number},
          {"logit_bias", {{"type", "object"}}},
          {"seed", integer},
          {"stop", {{"oneOf", Json::array({{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "string"}}}}})}}},
          {"n", integer},
          {"stream", boolean},
          {"stream_options", {{"type", "object"}, {"properties", {{"include_usage", boolean}}}}},
          {"ignore_eos", boolean},
          {"min_tokens", integer},
          {"user", {{"type", "string"}}}};
}

Json build() {
  Json chat = sampling_properties();
  chat["messages"] = {{"type", "array"}, {"items", {{"type", "object"}}}};
  chat["max_completion_tokens"] = {{"type", "integer"}};
  chat["logprobs"] = {{"type", "boolean"}};
  chat["top_logprobs"] = {{"type", "integer"}, {"maximum", 20}};
  chat["tools"] = {{"type", "array"}, {"items", {{"type", "object"}}}};
  chat["tool_choice"] = {{"oneOf", Json::array({{{"type", "string"}, {"enum", {"auto", "none", "required"}}}, {{"type", "object"}}})}};
  chat["chat_template_kwargs"] = {{"type", "object"}, {"properties", {{"enable_thinking", {{"type", "boolean"}}}}}};
  Json completion = sampling_properties();
  completion["prompt"] = {{"oneOf", Json::array({{{"type", "string"}}, {{"type", "array"}, {"items", {{"type", "integer"}}}}})}};
  completion["logprobs"] = {{"type", "integer"}, {"maximum", 20}};
  Json paths = {
      {"/v1/chat/completions",
       {{"post", {{"summary", "Chat completion (OpenAI), with reasoning_content and tool_calls"},
                  {"requestBody", json_body("chat request", chat, Json::array({"messages"}))},
                  {"responses", responses("chat.completion, or text/event-stream of chat.completion.chunk")}}}}},
      {"/v1/completions",
       {{"post", {{"summary", "Text completion (OpenAI legacy)"},
                  {"requestBody", json_body("completion request", completion, Json::array({"prompt"}))},
                  {"responses", responses("text_completion, or text/event-stream")}}}}},
      {"/v1/models", {{"get", {{"summary", "The served model"}, {"responses", responses("list of models")}}}}},
      {"/tokenize",
       {{"post", {{"summary", "Token ids of a prompt, or of messages rendered with the chat template"},
                  {"requestBody", json_body("prompt or messages", {{"prompt", {{"type", "string"}}}, {"messages", {{"type", "array"}}}})},
                  {"responses", responses("{count, max_model_len, tokens}")}}}}},
      {"/detokenize",
       {{"post", {{"summary", "Text of token ids"},
                  {"requestBody", json_body("tokens", {{"tokens", {{"type", "array"}, {"items", {{"type", "integer"}}}}}}, Json::array({"tokens"}))},
                  {"responses", responses("{prompt}")}}}}},
      {"/health", {{"get", {{"summary", "Liveness"}, {"responses", {{"200", {{"description", "alive"}}}}}}}}},
      {"/health/ready", {{"get", {{"summary", "Readiness: 503 while draining"}, {"responses", responses("ready")}}}}},
      {"/metrics", {{"get", {{"summary", "Prometheus metrics (vLLM's names)"}, {"responses", {{"200", {{"description", "text format 0.0.4"}}}}}}}}},
  };
  return {{"openapi", "3.0.3"}, {"info", {{"title", "hanlin"}, {"version", "0.1.0"}}}, {"paths", paths}};
}

}  // namespace

const std::string& openapi_document() {
  static const std::string document = build().dump();
  return document;
}

}  // namespace hanlin::server
