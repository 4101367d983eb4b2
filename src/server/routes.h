// The HTTP routes of `hanlin serve`: OpenAI's (chat and text completions, models), vLLM's
// (tokenize, detokenize, health, metrics) and the OpenAPI document. Each handler's Error
// becomes an OpenAI-shaped error with its status; nothing a request does ends the server.
#pragma once

#include <memory>

#include "server/completion_common.h"

namespace hanlin::server {

class Routes {
 public:
  explicit Routes(ServerContext& context) : context_(&context) {}
  void handle(const HttpRequest& request, std::shared_ptr<Exchange> exchange);

 private:
  void dispatch(const HttpRequest& request, const std::shared_ptr<Exchange>& exchange);
  ServerContext* context_;
};

}  // namespace hanlin::server
