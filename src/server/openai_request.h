// OpenAI request bodies → what the engine runs. Unknown fields are ignored and null counts as
// absent (clients send both); a field of the wrong type is Error(kInvalidArgument) whose message
// starts with the field's name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"

namespace hanlin::server {

using Json = nlohmann::ordered_json;

// Fields both endpoints share: sampling, stopping, n, streaming, the model name.
struct CommonParams {
  engine::Request request;  // everything but the prompt
  std::string model;        // as the client named it ("" when absent)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

enum class ToolChoice { kAuto, kNone, kRequired, kNamed };

struct ChatParams {
  CommonParams common;
  bool has_tools = false;
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string named_tool;  // with kNamed
  bool logprobs = false;
};

struct CompletionParams {
  CommonParams common;
  std::optional<std::string> prompt_text;  // or
  std::vector<int32_t> prompt_ids;
};

// `defaults`: the checkpoint's generation_config sampling, used where the request is silent.
ChatParams parse_chat_params(const Json& body, const engine::SamplingParams& defaults);
CompletionParams parse_completion_params(const Json& body, const engine::SamplingParams& defaults);

// The request body as an object, or Error(kInvalidArgument) saying what is wrong with the text.
Json parse_body(const std::string& text);

}  // namespace hanlin::server
