// --base-url parsing and the request bodies sent to each endpoint.
#include "bench/request_builder.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hanlin::bench {
namespace {

using Json = nlohmann::json;

TEST(BaseUrlTest, HostPortAndPrefix) {
  const ServerAddress plain = parse_base_url("http://127.0.0.1:8000");
  EXPECT_EQ(plain.host, "127.0.0.1");
  EXPECT_EQ(plain.port, "8000");
  EXPECT_EQ(plain.path_prefix, "");
  EXPECT_EQ(parse_base_url("http://127.0.0.1:8000/v1").path_prefix, "");
  EXPECT_EQ(parse_base_url("http://127.0.0.1:8000/v1/").path_prefix, "");
  EXPECT_EQ(parse_base_url("http://gateway/qwen/v1").path_prefix, "/qwen");
  EXPECT_EQ(parse_base_url("http://gateway/qwen/v1").port, "80");
  const ServerAddress ipv6 = parse_base_url("http://[::1]:9000");
  EXPECT_EQ(ipv6.host, "::1");
  EXPECT_EQ(ipv6.port, "9000");
}

TEST(BaseUrlTest, RejectsWhatItCannotUse) {
  for (const char* bad : {"127.0.0.1:8000", "http://", "http://host:port", "http://host:99999", "ftp://x"}) {
    EXPECT_THROW(parse_base_url(bad), Error) << bad;
  }
  try {
    parse_base_url("https://example.com");
    FAIL();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kUnsupported);
  }
}

TEST(EndpointTest, OnlyTheTwoCompletionRoutes) {
  EXPECT_EQ(parse_endpoint("/v1/completions"), Endpoint::kCompletions);
  EXPECT_EQ(parse_endpoint("/v1/chat/completions"), Endpoint::kChatCompletions);
  EXPECT_THROW(parse_endpoint("/v1/embeddings"), Error);
}

TEST(RequestBodyTest, CompletionsWithTokenIds) {
  BenchRequest request;
  request.prompt_ids = {5, 6, 7};
  request.output_len = 9;
  const Json body = Json::parse(request_body(request, {Endpoint::kCompletions, "demo", 0.0, true}));
  EXPECT_EQ(body["model"], "demo");
  EXPECT_EQ(body["prompt"], Json::array({5, 6, 7}));
  EXPECT_EQ(body["max_tokens"], 9);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["temperature"], 0.0);
}

TEST(RequestBodyTest, ChatWithToolsAndNoIgnoreEos) {
  BenchRequest request;
  request.prompt = "查一下工号 E1";
  request.output_len = 64;
  request.tools = Json::array({{{"type", "function"}, {"function", {{"name", "lookup_employee"}}}}});
  const Json body = Json::parse(request_body(request, {Endpoint::kChatCompletions, "demo", 0.7, false}));
  EXPECT_EQ(body["messages"], Json::parse(R"([{"role": "user", "content": "查一下工号 E1"}])"));
  EXPECT_EQ(body["max_completion_tokens"], 64);
  EXPECT_EQ(body["tools"][0]["function"]["name"], "lookup_employee");
  EXPECT_FALSE(body.contains("ignore_eos"));
  EXPECT_FALSE(body.contains("prompt"));
}

TEST(RequestBodyTest, ChatRefusesTokenIds) {
  BenchRequest request;
  request.prompt_ids = {1};
  EXPECT_THROW(request_body(request, {Endpoint::kChatCompletions, "demo", 0.0, false}), Error);
}

TEST(HttpRequestTest, HeadersAndBody) {
  const ServerAddress address = parse_base_url("http://localhost:8123/api/v1");
  const std::string text = http_request(address, Endpoint::kChatCompletions, "{}", "secret");
  EXPECT_EQ(text.rfind("POST /api/v1/chat/completions HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(text.find("Host: localhost:8123\r\n"), std::string::npos);
  EXPECT_NE(text.find("Authorization: Bearer secret\r\n"), std::string::npos);
  EXPECT_NE(text.find("Content-Length: 2\r\n\r\n{}"), std::string::npos);
  EXPECT_EQ(http_request(address, Endpoint::kCompletions, "{}", "").find("Authorization"), std::string::npos);
}

}  // namespace
}  // namespace hanlin::bench
