// Route table and the small endpoints; chat and text completions live in their own files.
#include "server/routes.h"

#include <functional>
#include <map>
#include <string_view>

#include "core/error.h"
#include "server/api_error.h"
#include "server/chat_completion.h"
#include "server/openai_request.h"
#include "server/openapi.h"
#include "server/text_completion.h"
#include "text/chat_template/render_context.h"

namespace hanlin::server {
namespace {

namespace http = boost::beast::http;
using RouteHandler = std::function<void(ServerContext&, const HttpRequest&, const std::shared_ptr<Exchange>&)>;

void respond_json(Exchange& exchange, const Json& body, unsigned status = 200) {
  exchange.respond(status, "application/json", dump(body));
}

void models(ServerContext& context, const HttpRequest&, const std::shared_ptr<Exchange>& exchange) {
  const Json model = {{"id", context.served_model_name}, {"object", "model"},         {"created", unix_time()},
                      {"owned_by", "hanlin"},            {"root", context.served_model_name}, {"max_model_len", context.max_model_len}};
  respond_json(*exchange, {{"object", "list"}, {"data", Json::array({model})}});
}

// vLLM's /tokenize: {"prompt": text} or {"messages": [...]} (rendered with the template).
void tokenize(ServerContext& context, const HttpRequest& request, const std::shared_ptr<Exchange>& exchange) {
  const Json body = parse_body(request.body());
  std::vector<text::TokenId> ids;
  if (body.contains("messages")) {
    require(context.chat_template != nullptr, ErrorKind::kInvalidArgument, "messages: this model has no chat template");
    const text::RenderedPrompt rendered = context.chat_template->chat_template.render(
        text::chat_template_variables(body), context.chat_template->checkpoint_variables);
    text::EncodeOptions options;
    options.parse_special = true;
    for (const text::ByteRange& range : rendered.data_ranges) options.plain_ranges.emplace_back(range.begin, range.end);
    ids = context.tokenizer->encode(rendered.text, options);
  } else {
    const auto prompt = body.find("prompt");
    require(prompt != body.end() && prompt->is_string(), ErrorKind::kInvalidArgument,
            "prompt must be a string (or give messages)");
    ids = context.tokenizer->encode(prompt->get<std::string>());
  }
  respond_json(*exchange, {{"count", ids.size()}, {"max_model_len", context.max_model_len}, {"tokens", ids}});
}

void detokenize(ServerContext& context, const HttpRequest& request, const std::shared_ptr<Exchange>& exchange) {
  const Json body = parse_body(request.body());
  const auto tokens = body.find("tokens");
  require(tokens != body.end() && tokens->is_array(), ErrorKind::kInvalidArgument, "tokens must be a list of token ids");
  std::vector<text::TokenId> ids;
  for (const Json& id : *tokens) {
    require(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < static_cast<int64_t>(context.tokenizer->id_limit()),
            ErrorKind::kInvalidArgument, "tokens: " + id.dump() + " is not a token id of this model");
    ids.push_back(static_cast<text::TokenId>(id.get<int64_t>()));
  }
  respond_json(*exchange, {{"prompt", context.tokenizer->decode(ids)}});
}

void health(ServerContext&, const HttpRequest&, const std::shared_ptr<Exchange>& exchange) {
  exchange->respond(200, "text/plain", "");
}

void ready(ServerContext& context, const HttpRequest&, const std::shared_ptr<Exchange>& exchange) {
  if (context.draining) return respond_json(*exchange, {{"status", "draining"}}, 503);
  respond_json(*exchange, {{"status", "ready"}});
}

void metrics(ServerContext& context, const HttpRequest&, const std::shared_ptr<Exchange>& exchange) {
  exchange->respond(200, "text/plain; version=0.0.4; charset=utf-8", context.metrics->render(context.engine->stats()));
}

void openapi(ServerContext&, const HttpRequest&, const std::shared_ptr<Exchange>& exchange) {
  exchange->respond(200, "application/json", openapi_document());
}

// Generation is refused while draining; the model name, when given, must be ours.
RouteHandler generation(void (*handler)(ServerContext&, const HttpRequest&, std::shared_ptr<Exchange>)) {
  return [handler](ServerContext& context, const HttpRequest& request, const std::shared_ptr<Exchange>& exchange) {
    if (context.draining) {
      return exchange->respond(503, "application/json",
                               error_body({503, "the server is shutting down", "service_unavailable", std::nullopt}));
    }
    handler(context, request, exchange);
  };
}

struct Route {
  http::verb method;
  RouteHandler handler;
};

const std::map<std::string, Route, std::less<>>& route_table() {
  static const std::map<std::string, Route, std::less<>> table = {
      {"/v1/chat/completions", {http::verb::post, generation(handle_chat_completion)}},
      {"/v1/completions", {http::verb::post, generation(handle_text_completion)}},
      {"/v1/models", {http::verb::get, models}},
      {"/tokenize", {http::verb::post, tokenize}},
      {"/detokenize", {http::verb::post, detokenize}},
      {"/health", {http::verb::get, health}},
      {"/health/ready", {http::verb::get, ready}},
      {"/metrics", {http::verb::get, metrics}},
      {"/openapi.json", {http::verb::get, openapi}},
  };
  return table;
}

}  // namespace

void Routes::handle(const HttpRequest& request, std::shared_ptr<Exchange> exchange) {
  try {
    dispatch(request, exchange);
  } catch (const std::exception& error) {
    const ApiError api_error = api_error_from(error);
    if (context_->metrics) context_->metrics->request_failed(static_cast<int>(api_error.status));
    exchange->respond(api_error.status, "application/json", error_body(api_error));
  }
}

void Routes::dispatch(const HttpRequest& request, const std::shared_ptr<Exchange>& exchange) {
  std::string_view path(request.target().data(), request.target().size());
  path = path.substr(0, path.find('?'));
  const auto found = route_table().find(path);
  if (found == route_table().end()) {
    throw Error(ErrorKind::kNotFound, "no route " + std::string(path));
  }
  if (request.method() != found->second.method) {
    return exchange->respond(405, "application/json",
                             error_body({405, std::string(path) + " takes " + std::string(http::to_string(found->second.method)),
                                         "invalid_request_error", std::nullopt}),
                             {{"Allow", std::string(http::to_string(found->second.method))}});
  }
  found->second.handler(*context_, request, exchange);
}

}  // namespace hanlin::server
