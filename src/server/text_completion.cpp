// Text completions: no template and no parser; text and tokens straight from the engine.
#include "server/text_completion.h"

#include <optional>
#include <vector>

#include "server/api_error.h"
#include "server/openai_request.h"

namespace hanlin::server {
namespace {

struct TextChoice {
  std::string text;
  std::vector<engine::SampledLogprobs> logprobs;
  int64_t num_tokens = 0;
  std::optional<engine::FinishReason> finish;
};

class TextCompletion : public std::enable_shared_from_this<TextCompletion> {
 public:
  TextCompletion(ServerContext& context, std::shared_ptr<Exchange> exchange, CompletionParams params)
      : context_(&context),
        exchange_(std::move(exchange)),
        params_(std::move(params)),
        id_(random_id("cmpl-")),
        created_(unix_time()),
        choices_(static_cast<size_t>(params_.common.request.n)) {}

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
      TextChoice& choice = choices_.at(static_cast<size_t>(delta.index));
      choice.text += delta.text;
      choice.num_tokens += static_cast<int64_t>(delta.token_ids.size());
      choice.logprobs.insert(choice.logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
      if (delta.finish_reason) choice.finish = delta.finish_reason;
      if (!params_.common.stream) continue;
      Json entry = {{"index", delta.index}, {"text", delta.text}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
      if (params_.common.request.sampling.logprobs) entry["logprobs"] = completion_logprobs(*context_->tokenizer, delta.logprobs);
      if (delta.finish_reason) entry["finish_reason"] = engine::finish_reason_name(*delta.finish_reason);
      chunk_choices.push_back(entry);
    }
    if (params_.common.stream && !chunk_choices.empty() && progress_.error.empty()) {
      exchange_->send_event(dump(envelope(chunk_choices)));
    }
    if (output.finished) finish();
  }

  Json envelope(Json choices) const {
    return {{"id", id_}, {"object", "text_completion"}, {"created", created_}, {"model", context_->served_model_name},
            {"choices", std::move(choices)}};
  }

  void finish() {
    for (const TextChoice& choice : choices_) progress_.counts.completion += choice.num_tokens;
    const std::string& error = progress_.error;
    if (context_->metrics) {
      const std::optional<engine::FinishReason> reason = choices_.front().finish;
      context_->metrics->request_finished(progress_.timer,
                                          !error.empty() ? "error" : reason ? engine::finish_reason_name(*reason) : "stop",
                                          progress_.queue_seconds);
    }
    if (!error.empty()) return send_error(*exchange_, params_.common.stream, {500, error, "internal_server_error", std::nullopt});
    if (!params_.common.stream) {
      Json response = envelope(whole_choices());
      response["usage"] = usage_json(progress_.counts);
      exchange_->respond(200, "application/json", dump(response));
      return;
    }
    Json usage = envelope(Json::array());
    usage["usage"] = usage_json(progress_.counts);
    end_stream(*exchange_, params_.common.include_usage, usage);
  }

  Json whole_choices() const {
    Json choices = Json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const TextChoice& choice = choices_[i];
      Json entry = {{"index", i},
                    {"text", choice.text},
                    {"logprobs", nullptr},
                    {"finish_reason", choice.finish ? engine::finish_reason_name(*choice.finish) : "stop"}};
      if (params_.common.request.sampling.logprobs) entry["logprobs"] = completion_logprobs(*context_->tokenizer, choice.logprobs);
      choices.push_back(entry);
    }
    return choices;
  }

  ServerContext* context_;
  std::shared_ptr<Exchange> exchange_;
  CompletionParams params_;
  std::string id_;
  int64_t created_;
  std::vector<TextChoice> choices_;
  CompletionProgress progress_;
};

}  // namespace

void handle_text_completion(ServerContext& context, const HttpRequest& request, std::shared_ptr<Exchange> exchange) {
  const Json body = parse_body(request.body());
  check_model(context, body);
  CompletionParams params = parse_completion_params(body, context.default_sampling);
  engine::Request engine_request = params.common.request;
  if (params.prompt_text) {
    const std::vector<text::TokenId> ids = context.tokenizer->encode(*params.prompt_text);
    engine_request.prompt_ids.assign(ids.begin(), ids.end());
  } else {
    engine_request.prompt_ids = params.prompt_ids;
  }
  context.engine->validate(engine_request);
  std::make_shared<TextCompletion>(context, std::move(exchange), std::move(params))->start(std::move(engine_request));
}

}  // namespace hanlin::server
