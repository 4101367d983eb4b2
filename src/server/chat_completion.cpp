// Chat completions: prompt from the template, one parser per completion, responses whole or
// streamed. The engine's outputs arrive on the engine thread; everything here is cheap there
// and hands bytes to the connection, which writes them on its own thread.
#include "server/chat_completion.h"

#include <mutex>
#include <optional>
#include <vector>

#include "core/error.h"
#include "server/api_error.h"
#include "server/openai_request.h"
#include "text/chat_template/render_context.h"
#include "text/output_parser.h"

namespace hanlin::server {
namespace {

struct PreparedPrompt {
  std::vector<int32_t> token_ids;
  text::OutputParserOptions parser_options;
  std::string forced_output;  // text the prompt already holds of the answer (tool_choice steering)
};

bool ends_with(const std::string& text, std::string_view suffix) { return text.ends_with(suffix); }

bool thinking_disabled(const Json& body) {
  const auto kwargs = body.find("chat_template_kwargs");
  if (kwargs == body.end() || !kwargs->is_object()) return false;
  const auto enable = kwargs->find("enable_thinking");
  return enable != kwargs->end() && enable->is_boolean() && !enable->get<bool>();
}

// Whether the output starts in a think block, may open one, or never thinks: read off the end
// of the rendered prompt, which is where the template decided it.
text::OutputParserOptions parser_options_for(const std::string& prompt, const Json& body, const ChatParams& chat) {
  text::OutputParserOptions options;
  options.tool_calls = chat.has_tools && chat.tool_choice != ToolChoice::kNone;
  if (ends_with(prompt, "</think>\n\n") || thinking_disabled(body)) {
    options.reasoning = false;
  } else if (ends_with(prompt, "<think>\n")) {
    options.starts_in_reasoning = true;
  }
  return options;
}

// tool_choice "required" or named: the answer is begun for the model, as far as the template's
// format allows (an empty think block, then the call's opening, then the name).
std::string forced_tool_call(const ChatParams& chat, const text::OutputParserOptions& options) {
  if (chat.tool_choice != ToolChoice::kRequired && chat.tool_choice != ToolChoice::kNamed) return "";
  std::string forced;
  if (options.starts_in_reasoning) {
    forced = "\n</think>\n\n";
  } else if (options.reasoning) {
    forced = "<think>\n\n</think>\n\n";
  }
  forced += "<tool_call>\n";
  if (chat.tool_choice == ToolChoice::kNamed) forced += "{\"name\": " + Json(chat.named_tool).dump() + ", \"arguments\": ";
  return forced;
}

PreparedPrompt prepare_prompt(const ServerContext& context, const Json& body, const ChatParams& chat) {
  require(context.chat_template != nullptr, ErrorKind::kInvalidArgument,
          "messages: this model has no chat template; use /v1/completions");
  Json template_body = body;
  if (chat.tool_choice == ToolChoice::kNone) template_body.erase("tools");  // the model should not see them
  const text::RenderedPrompt rendered = context.chat_template->chat_template.render(
      text::chat_template_variables(template_body), context.chat_template->checkpoint_variables);
  PreparedPrompt prepared;
  prepared.parser_options = parser_options_for(rendered.text, body, chat);
  prepared.forced_output = forced_tool_call(chat, prepared.parser_options);
  text::EncodeOptions encode;
  encode.parse_special = true;
  for (const text::ByteRange& range : rendered.data_ranges) encode.plain_ranges.emplace_back(range.begin, range.end);
  // The forced text holds a user-chosen tool name: never a special token either.
  encode.plain_ranges.emplace_back(rendered.text.size(), rendered.text.size() + prepared.forced_output.size());
  const std::vector<text::TokenId> ids = context.tokenizer->encode(rendered.text + prepared.forced_output, encode);
  prepared.token_ids.assign(ids.begin(), ids.end());
  return prepared;
}

// One of the n completions as it accumulates.
struct Choice {
  explicit Choice(const text::OutputParserOptions& options) : parser(options) {}
  text::OutputParser parser;
  std::string reasoning, content;
  struct Call {
    std::string id, name, arguments;
  };
  std::vector<Call> calls;
  std::vector<engine::SampledLogprobs> logprobs;
  int64_t num_tokens = 0;
  int64_t num_reasoning_tokens = 0;
  bool answered = false;  // some content or call came: later tokens are not reasoning
  std::optional<engine::FinishReason> finish;
  bool sent_role = false;
};

class ChatCompletion : public std::enable_shared_from_this<ChatCompletion> {
 public:
  ChatCompletion(ServerContext& context, std::shared_ptr<Exchange> exchange, ChatParams params, PreparedPrompt prompt)
      : context_(&context),
        exchange_(std::move(exchange)),
        params_(std::move(params)),
        prompt_(std::move(prompt)),
        id_(random_id("chatcmpl-")),
        created_(unix_time()) {
    for (int32_t i = 0; i < params_.common.request.n; ++i) {
      choices_.emplace_back(prompt_.parser_options);
      // The forced opening of a tool call is the answer's start: parse it as if generated.
      pending_.push_back(choices_.back().parser.push(prompt_.forced_output));
    }
  }

  // `request` was validated (n, above all, bounds what was allocated here).
  void start(engine::Request request) {
    auto self = shared_from_this();
    submit_request(*context_, *exchange_, std::move(request),
                   [self](const engine::RequestOutput& output) { self->on_output(output); });
  }

 private:
  void on_output(const engine::RequestOutput& output) {
    progress_.begin(output, *exchange_, params_.common.stream);
    Json chunk_choices = Json::array();
    for (const engine::CompletionDelta& delta : output.completions) {
      progress_.timer.on_tokens(static_cast<int64_t>(delta.token_ids.size()));
      Choice& choice = choices_.at(static_cast<size_t>(delta.index));
      text::ParsedDelta parsed = std::move(pending_.at(static_cast<size_t>(delta.index)));
      pending_[static_cast<size_t>(delta.index)] = {};
      merge(parsed, choice.parser.push(delta.text));
      if (delta.finish_reason) merge(parsed, choice.parser.finish());
      Json chunk = apply(choice, delta, parsed);
      if (params_.common.stream && !chunk.is_null()) chunk_choices.push_back(chunk);
    }
    if (params_.common.stream && !chunk_choices.empty() && progress_.error.empty()) send_chunk(chunk_choices);
    if (output.finished) finish();
  }

  static void merge(text::ParsedDelta& into, text::ParsedDelta more) {
    into.reasoning += more.reasoning;
    into.content += more.content;
    for (text::ToolCallDelta& call : more.tool_calls) into.tool_calls.push_back(std::move(call));
  }

  // Folds one delta into the choice; returns its stream chunk entry (null when nothing to send).
  Json apply(Choice& choice, const engine::CompletionDelta& delta, const text::ParsedDelta& parsed) {
    const auto num_new = static_cast<int64_t>(delta.token_ids.size());
    choice.num_tokens += num_new;
    const bool answers = !parsed.content.empty() || !parsed.tool_calls.empty();
    if (!choice.answered && !answers && (!parsed.reasoning.empty() || !choice.reasoning.empty() ||
                                         prompt_.parser_options.starts_in_reasoning)) {
      choice.num_reasoning_tokens += num_new;
    }
    choice.answered = choice.answered || answers;
    choice.reasoning += parsed.reasoning;
    choice.content += parsed.content;
    choice.logprobs.insert(choice.logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
    Json delta_json = Json::object();
    if (!choice.sent_role) delta_json["role"] = "assistant";
    if (!parsed.reasoning.empty()) delta_json["reasoning_content"] = parsed.reasoning;
    if (!parsed.content.empty() || !choice.sent_role) delta_json["content"] = parsed.content;
    Json calls = apply_calls(choice, parsed);
    if (!calls.empty()) delta_json["tool_calls"] = calls;
    choice.sent_role = true;
    if (delta.finish_reason) choice.finish = delta.finish_reason;
    if (delta_json.empty() && !delta.finish_reason && delta.logprobs.empty()) return nullptr;
    Json entry = {{"index", delta.index}, {"delta", delta_json}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
    if (params_.logprobs && !delta.logprobs.empty()) {
      entry["logprobs"] = {{"content", chat_logprobs_entries(*context_->tokenizer, delta.logprobs)}};
    }
    if (delta.finish_reason) entry["finish_reason"] = finish_reason(choice);
    return entry;
  }

  Json apply_calls(Choice& choice, const text::ParsedDelta& parsed) {
    Json calls = Json::array();
    for (const text::ToolCallDelta& call : parsed.tool_calls) {
      const auto index = static_cast<size_t>(call.index);
      if (choice.calls.size() <= index) choice.calls.resize(index + 1);
      Choice::Call& target = choice.calls[index];
      Json entry = {{"index", call.index}};
      if (call.name) {
        target.id = random_id("call_");
        target.name = *call.name;
        entry["id"] = target.id;
        entry["type"] = "function";
        entry["function"] = {{"name", target.name}, {"arguments", call.arguments}};
      } else {
        entry["function"] = {{"arguments", call.arguments}};
      }
      target.arguments += call.arguments;
      calls.push_back(entry);
    }
    return calls;
  }

  std::string finish_reason(const Choice& choice) const {
    if (!choice.finish) return "stop";
    if (*choice.finish == engine::FinishReason::kStop && !choice.calls.empty()) return "tool_calls";
    return engine::finish_reason_name(*choice.finish);
  }

  void send_chunk(const Json& chunk_choices) {
    const Json chunk = {{"id", id_},
                        {"object", "chat.completion.chunk"},
                        {"created", created_},
                        {"model", context_->served_model_name},
                        {"choices", chunk_choices}};
    exchange_->send_event(dump(chunk));
  }

  void finish() {
    TokenCounts& counts = progress_.counts;
    for (const Choice& choice : choices_) {
      counts.completion += choice.num_tokens;
      counts.reasoning += choice.num_reasoning_tokens;
    }
    const std::string& error = progress_.error;
    if (context_->metrics) {
      context_->metrics->request_finished(progress_.timer, error.empty() ? finish_reason(choices_.front()) : "error",
                                          progress_.queue_seconds);
    }
    if (!error.empty()) return send_error(*exchange_, params_.common.stream, {500, error, "internal_server_error", std::nullopt});
    if (const std::string missing = missing_forced_call(); !missing.empty()) {
      return send_error(*exchange_, params_.common.stream, {500, missing, "invalid_response_error", std::nullopt});
    }
    if (!params_.common.stream) {
      exchange_->respond(200, "application/json", dump(response()));
      return;
    }
    end_stream(*exchange_, params_.common.include_usage,
               {{"id", id_},
                {"object", "chat.completion.chunk"},
                {"created", created_},
                {"model", context_->served_model_name},
                {"choices", Json::array()},
                {"usage", usage_json(counts)}});
  }

  // tool_choice required or named, yet a completion made no call: say so rather than pretend.
  std::string missing_forced_call() const {
    if (params_.tool_choice != ToolChoice::kRequired && params_.tool_choice != ToolChoice::kNamed) return "";
    for (const Choice& choice : choices_) {
      if (choice.calls.empty() && choice.finish != engine::FinishReason::kAbort) {
        return "tool_choice required a tool call, but the model produced none that parses";
      }
    }
    return "";
  }

  Json response() const {
    Json choices = Json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice& choice = choices_[i];
      Json message = {{"role", "assistant"}, {"content", choice.content}};
      if (prompt_.parser_options.reasoning) {
        message["reasoning_content"] = choice.reasoning.empty() ? Json(nullptr) : Json(choice.reasoning);
      }
      if (!choice.calls.empty()) {
        Json calls = Json::array();
        for (const Choice::Call& call : choice.calls) {
          calls.push_back({{"id", call.id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        message["tool_calls"] = calls;
        if (choice.content.empty()) message["content"] = nullptr;
      }
      Json entry = {{"index", i}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", finish_reason(choice)}};
      if (params_.logprobs) entry["logprobs"] = {{"content", chat_logprobs_entries(*context_->tokenizer, choice.logprobs)}};
      choices.push_back(entry);
    }
    return {{"id", id_},
            {"object", "chat.completion"},
            {"created", created_},
            {"model", context_->served_model_name},
            {"choices", choices},
            {"usage", usage_json(progress_.counts)}};
  }

  ServerContext* context_;
  std::shared_ptr<Exchange> exchange_;
  ChatParams params_;
  PreparedPrompt prompt_;
  std::string id_;
  int64_t created_;
  std::vector<Choice> choices_;
  std::vector<text::ParsedDelta> pending_;
  CompletionProgress progress_;
};

}  // namespace

void handle_chat_completion(ServerContext& context, const HttpRequest& request, std::shared_ptr<Exchange> exchange) {
  const Json body = parse_body(request.body());
  check_model(context, body);
  ChatParams params = parse_chat_params(body, context.default_sampling);
  PreparedPrompt prompt = prepare_prompt(context, body, params);
  engine::Request engine_request = params.common.request;
  engine_request.prompt_ids = prompt.token_ids;
  context.engine->validate(engine_request);
  auto completion = std::make_shared<ChatCompletion>(context, std::move(exchange), std::move(params), std::move(prompt));
  completion->start(std::move(engine_request));
}

}  // namespace hanlin::server
