// POST /v1/chat/completions: the chat template renders the messages (and tools), the engine
// generates, and each completion's text goes through one OutputParser into reasoning_content,
// tool_calls and content, returned whole or streamed as server-sent events.
#pragma once

#include <memory>

#include "server/completion_common.h"

namespace hanlin::server {

void handle_chat_completion(ServerContext& context, const HttpRequest& request, std::shared_ptr<Exchange> exchange);

}  // namespace hanlin::server
