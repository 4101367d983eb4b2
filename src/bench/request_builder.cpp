// HTTP requests of a benchmark run; see request_builder.h.
#include "bench/request_builder.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hanlin::bench {
namespace {

using Json = nlohmann::json;

bool is_port(const std::string& text) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoi(text) <= 65535;
}

// "/prefix/v1/" → "/prefix": the endpoint flag carries the /v1 part.
std::string prefix_of(std::string path) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "/v1") == 0) path.resize(path.size() - 3);
  return path;
}

}  // namespace

ServerAddress parse_base_url(const std::string& url) {
  const std::string scheme = "http://";
  require(url.rfind("https://", 0) != 0, ErrorKind::kUnsupported,
          "--base-url: https is not supported; use http:// (e.g. through a local proxy)");
  require(url.rfind(scheme, 0) == 0, ErrorKind::kInvalidArgument,
          "--base-url: '" + url + "' must start with http:// (e.g. http://127.0.0.1:8000)");
  const std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  ServerAddress address;
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    address.host = authority.substr(0, colon);
    address.port = authority.substr(colon + 1);
  } else {
    address.host = authority;
  }
  if (address.host.size() > 2 && address.host.front() == '[' && address.host.back() == ']') {
    address.host = address.host.substr(1, address.host.size() - 2);  // an IPv6 literal
  }
  require(!address.host.empty() && is_port(address.port), ErrorKind::kInvalidArgument,
          "--base-url: '" + url + "' needs a host and an optional port from 0 to 65535");
  if (slash != std::string::npos) address.path_prefix = prefix_of(rest.substr(slash));
  return address;
}

Endpoint parse_endpoint(const std::string& path) {
  if (path == "/v1/completions") return Endpoint::kCompletions;
  if (path == "/v1/chat/completions") return Endpoint::kChatCompletions;
  throw Error(ErrorKind::kInvalidArgument,
              "--endpoint: '" + path + "' is not /v1/completions or /v1/chat/completions");
}

const char* endpoint_path(Endpoint endpoint) {
  return endpoint == Endpoint::kChatCompletions ? "/v1/chat/completions" : "/v1/completions";
}

std::string request_body(const BenchRequest& request, const BodyOptions& options) {
  Json body = {{"model", options.model},
               {"temperature", options.temperature},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (options.ignore_eos) body["ignore_eos"] = true;
  if (options.endpoint == Endpoint::kCompletions) {
    body["prompt"] = request.prompt_ids.empty() ? Json(request.prompt) : Json(request.prompt_ids);
    body["max_tokens"] = request.output_len;
    return body.dump();
  }
  require(request.prompt_ids.empty(), ErrorKind::kInvalidArgument,
          "/v1/chat/completions takes text prompts: give --tokenizer DIR so random prompts are built as text");
  body["messages"] = Json::array({{{"role", "user"}, {"content", request.prompt}}});
  body["max_completion_tokens"] = request.output_len;
  if (!request.tools.is_null()) body["tools"] = request.tools;
  return body.dump();
}

std::string http_request(const ServerAddress& address, Endpoint endpoint, const std::string& body,
                         const std::string& api_key) {
  std::string text = "POST " + address.path_prefix + endpoint_path(endpoint) + " HTTP/1.1\r\n";
  const bool is_ipv6 = address.host.find(':') != std::string::npos;
  text += "Host: " + (is_ipv6 ? "[" + address.host + "]" : address.host) + ":" + address.port + "\r\n";
  text += "Content-Type: application/json\r\nAccept: text/event-stream\r\nUser-Agent: hanlin-bench\r\n";
  if (!api_key.empty()) text += "Authorization: Bearer " + api_key + "\r\n";
  text += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  text += body;
  return text;
}

}  // namespace hanlin::bench
