// OpenAI request bodies → engine requests: fields, defaults, nulls, wrong types; and errors →
// statuses with the field as `param`.
#include "server/openai_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "server/api_error.h"

namespace hanlin::server {
namespace {

using ::testing::HasSubstr;

Json chat_body(Json extra = Json::object()) {
  Json body = {{"model", "m"}, {"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}};
  for (auto& [key, value] : extra.items()) body[key] = value;
  return body;
}

std::string chat_error(Json extra) {
  try {
    parse_chat_params(chat_body(std::move(extra)), {});
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
    return error.what();
  }
  return "";
}

std::string completion_error(const Json& body) {
  try {
    parse_completion_params(body, {});
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
    return error.what();
  }
  return "";
}

TEST(OpenAiRequest, ChatFieldsReachTheEngineRequest) {
  const ChatParams chat = parse_chat_params(
      chat_body({{"max_completion_tokens", 7}, {"max_tokens", 99}, {"temperature", 0.5}, {"top_p", 0.9}, {"top_k", 5},
                 {"seed", 11}, {"stop", "END"}, {"n", 2}, {"logprobs", true}, {"top_logprobs", 3},
                 {"stream", true}, {"stream_options", {{"include_usage", true}}}, {"logit_bias", {{"42", -5}}},
                 {"presence_penalty", 0.5}, {"ignore_eos", true}}),
      {});
  const engine::Request& request = chat.common.request;
  EXPECT_EQ(request.stopping.max_tokens, 7);  // max_completion_tokens wins
  EXPECT_EQ(request.sampling.temperature, 0.5);
  EXPECT_EQ(request.sampling.top_p, 0.9);
  EXPECT_EQ(request.sampling.top_k, 5);
  EXPECT_EQ(request.sampling.seed, 11u);
  EXPECT_EQ(request.stopping.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(request.n, 2);
  EXPECT_EQ(request.sampling.logprobs, 3);
  EXPECT_TRUE(chat.logprobs);
  EXPECT_TRUE(chat.common.stream);
  EXPECT_TRUE(chat.common.include_usage);
  ASSERT_EQ(request.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(request.sampling.logit_bias[0].first, 42);
  EXPECT_EQ(request.sampling.presence_penalty, 0.5);
  EXPECT_TRUE(request.stopping.ignore_eos);
  EXPECT_EQ(chat.common.model, "m");
}

TEST(OpenAiRequest, DefaultsComeFromTheCheckpointAndNullIsAbsent) {
  engine::SamplingParams defaults;
  defaults.temperature = 0.6;
  defaults.top_k = 20;
  const ChatParams chat = parse_chat_params(chat_body({{"temperature", nullptr}, {"max_tokens", nullptr}, {"top_p", 0.5}}), defaults);
  EXPECT_EQ(chat.common.request.sampling.temperature, 0.6);
  EXPECT_EQ(chat.common.request.sampling.top_k, 20);
  EXPECT_EQ(chat.common.request.sampling.top_p, 0.5);
  EXPECT_FALSE(chat.common.request.stopping.max_tokens.has_value());
  EXPECT_FALSE(chat.logprobs);
  EXPECT_FALSE(chat.common.request.sampling.logprobs.has_value());
}

TEST(OpenAiRequest, WrongTypesNameTheField) {
  EXPECT_THAT(chat_error({{"max_tokens", "10"}}), HasSubstr("max_tokens must be an integer"));
  EXPECT_THAT(chat_error({{"max_tokens", 1.5}}), HasSubstr("max_tokens must be an integer"));
  EXPECT_THAT(chat_error({{"temperature", "hot"}}), HasSubstr("temperature must be a number"));
  EXPECT_THAT(chat_error({{"stream", 1}}), HasSubstr("stream must be true or false"));
  EXPECT_THAT(chat_error({{"stop", 5}}), HasSubstr("stop must be a string or a list of strings"));
  EXPECT_THAT(chat_error({{"stop", {"a", 1}}}), HasSubstr("stop must be"));
  EXPECT_THAT(chat_error({{"n", 1e30}}), HasSubstr("n must be an integer"));
  EXPECT_THAT(chat_error({{"logit_bias", {{"abc", 1}}}}), HasSubstr("logit_bias: 'abc' is not a token id"));
  EXPECT_THAT(chat_error({{"top_logprobs", 2}}), HasSubstr("top_logprobs needs logprobs"));
  EXPECT_THAT(chat_error({{"messages", "hi"}}), HasSubstr("messages must be a non-empty list"));
  EXPECT_THAT(chat_error({{"messages", Json::array()}}), HasSubstr("messages must be a non-empty list"));
  EXPECT_THAT(chat_error({{"response_format", {{"type", "json_schema"}}}}), HasSubstr("not supported yet"));
  EXPECT_THAT(chat_error({{"tool_choice", "sometimes"}}), HasSubstr("tool_choice must be"));
  EXPECT_THAT(chat_error({{"tool_choice", "required"}}), HasSubstr("needs tools"));
  EXPECT_EQ(chat_error({{"unknown_field", {{"nested", true}}}, {"user", "u1"}, {"response_format", {{"type", "text"}}}}), "");
}

TEST(OpenAiRequest, ToolChoiceForms) {
  const Json tools = Json::array({{{"type", "function"}, {"function", {{"name", "get_weather"}}}}});
  EXPECT_EQ(parse_chat_params(chat_body({{"tools", tools}}), {}).tool_choice, ToolChoice::kAuto);
  EXPECT_EQ(parse_chat_params(chat_body({{"tools", tools}, {"tool_choice", "none"}}), {}).tool_choice, ToolChoice::kNone);
  EXPECT_EQ(parse_chat_params(chat_body({{"tools", tools}, {"tool_choice", "required"}}), {}).tool_choice, ToolChoice::kRequired);
  const Json named = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  const ChatParams chat = parse_chat_params(chat_body({{"tools", tools}, {"tool_choice", named}}), {});
  EXPECT_EQ(chat.tool_choice, ToolChoice::kNamed);
  EXPECT_EQ(chat.named_tool, "get_weather");
  const Json other = {{"type", "function"}, {"function", {{"name", "send_mail"}}}};
  EXPECT_THAT(chat_error({{"tools", tools}, {"tool_choice", other}}), HasSubstr("not among the tools"));
}

TEST(OpenAiRequest, CompletionPrompts) {
  EXPECT_EQ(parse_completion_params({{"prompt", "hello"}}, {}).prompt_text, "hello");
  EXPECT_EQ(parse_completion_params({{"prompt", {"hello"}}}, {}).prompt_text, "hello");
  EXPECT_EQ(parse_completion_params({{"prompt", {1, 2, 3}}}, {}).prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse_completion_params({{"prompt", {{4, 5}}}}, {}).prompt_ids, (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(parse_completion_params({{"prompt", "x"}}, {}).common.request.stopping.max_tokens, 16);  // the API's default
  EXPECT_THROW(parse_completion_params({{"prompt", {"a", "b"}}}, {}), Error);
  EXPECT_THROW(parse_completion_params({{"prompt", {1, "b"}}}, {}), Error);
  EXPECT_THAT(completion_error({{"prompt", {1, "b"}}}), HasSubstr("must be a list of integer token ids"));
  EXPECT_THAT(completion_error({{"prompt", {1, int64_t{3000000000}}}}), HasSubstr("token id 3000000000 is out of range"));
  EXPECT_THROW(parse_completion_params(Json::object(), {}), Error);
  EXPECT_THROW(parse_completion_params({{"prompt", "x"}, {"echo", true}}, {}), Error);
}

TEST(OpenAiRequest, BodiesMustBeJsonObjects) {
  EXPECT_THROW(parse_body("{bad"), Error);
  EXPECT_THROW(parse_body("[1, 2]"), Error);
  EXPECT_THROW(parse_body(""), Error);
  EXPECT_TRUE(parse_body("{\"a\": 1}").is_object());
}

TEST(ApiError, KindsMapToStatusesAndFieldsToParam) {
  const ApiError invalid = api_error_from(Error(ErrorKind::kInvalidArgument, "max_tokens must be at least 1, got 0"));
  EXPECT_EQ(invalid.status, 400u);
  EXPECT_EQ(invalid.type, "invalid_request_error");
  EXPECT_EQ(invalid.param, "max_tokens");
  EXPECT_EQ(api_error_from(Error(ErrorKind::kInvalidArgument, "stop: 5000 stop strings")).param, "stop");
  EXPECT_EQ(api_error_from(Error(ErrorKind::kInvalidArgument, "the request body is not valid JSON")).param, std::nullopt);
  EXPECT_EQ(api_error_from(Error(ErrorKind::kNotFound, "no such model")).status, 404u);
  EXPECT_EQ(api_error_from(Error(ErrorKind::kResourceExhausted, "overloaded: 9 requests are waiting")).status, 429u);
  EXPECT_EQ(api_error_from(Error(ErrorKind::kResourceExhausted, "chat template: step budget exhausted")).status, 400u);
  EXPECT_EQ(api_error_from(Error(ErrorKind::kInternal, "bug")).status, 500u);
  EXPECT_EQ(api_error_from(std::runtime_error("x")).status, 500u);
  const std::string body = error_body({400, "bad \xff byte", "invalid_request_error", "n"});
  const Json parsed = Json::parse(body);
  EXPECT_EQ(parsed["error"]["param"], "n");
  EXPECT_EQ(parsed["error"]["code"], 400);
}

}  // namespace
}  // namespace hanlin::server
