// What goes on the wire: the server's address from --base-url, and each benchmark request as a
// complete HTTP/1.1 POST, built before the run so sending costs one write.
#pragma once

#include <string>

#include "bench/datasets.h"

namespace hanlin::bench {

struct ServerAddress {
  std::string host;
  std::string port = "80";
  std::string path_prefix;  // "" or "/prefix" before /v1/...: a server behind a path
};

// "http://HOST[:PORT][/PREFIX][/v1][/]". Error(kInvalidArgument) for anything else;
// Error(kUnsupported) for https.
ServerAddress parse_base_url(const std::string& url);

enum class Endpoint { kCompletions, kChatCompletions };

// "/v1/completions" or "/v1/chat/completions"; Error(kInvalidArgument) otherwise.
Endpoint parse_endpoint(const std::string& path);
const char* endpoint_path(Endpoint endpoint);

struct BodyOptions {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  double temperature = 0.0;
  bool ignore_eos = false;
};

// The JSON body of one streamed request. Completions: the text or the token ids as "prompt";
// chat: the text as one user message, with the request's tools. Error(kInvalidArgument) for a
// token-id prompt on the chat endpoint, which takes text only.
std::string request_body(const BenchRequest& request, const BodyOptions& options);

// The whole HTTP/1.1 request; `api_key` (may be empty) goes in a Bearer Authorization header.
std::string http_request(const ServerAddress& address, Endpoint endpoint, const std::string& body,
                         const std::string& api_key);

}  // namespace hanlin::bench
