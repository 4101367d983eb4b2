// POST /v1/completions: a prompt (text or token ids) continued by the engine, returned whole or
// streamed as server-sent events, in the legacy completions shape.
#pragma once

#include <memory>

#include "server/completion_common.h"

namespace hanlin::server {

void handle_text_completion(ServerContext& context, const HttpRequest& request, std::shared_ptr<Exchange> exchange);

}  // namespace hanlin::server
