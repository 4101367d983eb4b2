// `hanlin serve`: the OpenAI-compatible HTTP server. Loads the model, starts the engine thread
// and the HTTP threads, and waits for SIGTERM or SIGINT: then it reports not ready (new
// generation requests get 503), lets in-flight requests finish (aborting them after
// --drain-timeout), and exits 0.
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "engine/engine.h"
#include "server/http_server.h"
#include "server/routes.h"
#include "server/server_metrics.h"
#include "text/chat_template/checkpoint_template.h"

namespace hanlin::cli {
namespace {

struct ServeOptions {
  ModelOptions model;
  std::string served_model_name;
  std::string host = "127.0.0.1";
  int port = 8000;
  int http_threads = 2;
  std::string chat_template;
  double drain_timeout = 30;
  int32_t max_waiting_requests = 1024;
  size_t max_body_bytes = size_t{8} << 20;
};

void check_options(const ServeOptions& options) {
  check_model_options(options.model);
  require(options.port >= 0 && options.port <= 65535, ErrorKind::kInvalidArgument,
          "--port must be between 0 and 65535, got " + std::to_string(options.port));
  require(options.http_threads >= 1, ErrorKind::kInvalidArgument, "--http-threads must be at least 1");
  require(options.drain_timeout >= 0, ErrorKind::kInvalidArgument, "--drain-timeout must be 0 or more seconds");
  require(options.max_waiting_requests >= 1, ErrorKind::kInvalidArgument, "--max-waiting-requests must be at least 1");
}

// The template is optional: a model without one still serves /v1/completions.
std::optional<text::CheckpointTemplate> load_template(const ServeOptions& options) {
  if (options.model.model_dir.empty() && options.chat_template.empty()) return std::nullopt;
  try {
    return text::load_checkpoint_template(options.model.model_dir.empty() ? "." : options.model.model_dir,
                                          options.chat_template);
  } catch (const Error& error) {
    if (error.kind() != ErrorKind::kNotFound || !options.chat_template.empty()) throw;
    std::fprintf(stderr, "hanlin: no chat template (%s): /v1/chat/completions is off\n", error.what());
    return std::nullopt;
  }
}

std::string served_name(const ServeOptions& options) {
  if (!options.served_model_name.empty()) return options.served_model_name;
  if (!options.model.model_dir.empty()) return options.model.model_dir;
  return options.model.preset;
}

// SIGTERM and SIGINT are blocked in every thread (the ones started later inherit the mask) and
// taken here with sigwait, so no handler runs at an arbitrary point.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Each connection is a file descriptor; the usual soft limit of 1,024 would cap the clients a
// server can hold long before memory or threads do.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

void drain(server::ServerContext& context, server::HttpServer& http, engine::Engine& engine, double timeout_seconds) {
  // Still accepting, so readiness probes see 503 and clients get a clear refusal.
  context.draining = true;
  http.stop_keep_alive();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  auto busy = [&] {
    const engine::EngineStats stats = engine.stats();
    return stats.num_running_requests + stats.num_waiting_requests > 0 || http.num_active_exchanges() > 0;
  };
  while (busy() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (busy()) std::fprintf(stderr, "hanlin: drain timeout: aborting what is still running\n");
}

void run_serve(const ServeOptions& options) {
  check_options(options);
  const sigset_t stop_signals = block_stop_signals();
  raise_open_file_limit();
  ModelSetup setup = prepare_model(options.model);
  require(setup.tokenizer.has_value(), ErrorKind::kNotFound,
          "serve needs the model's tokenizer: no tokenizer.json in --model (give --tokenizer DIR)");
  const std::optional<text::CheckpointTemplate> chat_template = load_template(options);
  setup.engine_config.max_waiting_requests = options.max_waiting_requests;
  ThreadPool pool(options.model.threads);
  model::Qwen3Model model = load_weights(options.model, setup, pool);
  if (setup.gpu_memory) print_gpu_memory(*setup.gpu_memory, *setup.cache);
  const std::string name = served_name(options);
  server::ServerMetrics metrics(name);
  server::ServerContext context;
  context.tokenizer = &*setup.tokenizer;
  context.chat_template = chat_template ? &*chat_template : nullptr;
  context.served_model_name = name;
  context.max_model_len = setup.limits().max_model_len;
  context.default_sampling = setup.default_sampling;
  context.metrics = &metrics;
  server::Routes routes(context);
  server::HttpLimits limits;
  limits.max_body_bytes = options.max_body_bytes;
  server::HttpServer http(options.host, static_cast<uint16_t>(options.port),
                          [&routes](const server::HttpRequest& request, std::shared_ptr<server::Exchange> exchange) {
                            routes.handle(request, std::move(exchange));
                          },
                          limits, options.http_threads);
  {
    engine::Engine engine(model, *setup.cache, &*setup.tokenizer, setup.eos_token_ids, setup.engine_config, &pool);
    print_warm_up(model, engine.warm_up());
    context.engine = &engine;
    http.start();
    std::printf("hanlin: serving %s on http://%s:%u\n", name.c_str(), options.host.c_str(), http.port());
    std::fflush(stdout);
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::fprintf(stderr, "hanlin: %s: draining\n", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    drain(context, http, engine, options.drain_timeout);
    http.stop();  // before the engine goes: no handler may reach it afterwards
  }
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* command = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API");
  add_model_flags(*command, options->model);
  add_engine_flags(*command, options->model);
  command->add_option("--served-model-name", options->served_model_name, "The model's name in the API (default: --model)");
  command->add_option("--host", options->host, "Address to listen on (0.0.0.0: every interface)")->capture_default_str();
  command->add_option("--port", options->port, "Port to listen on (0: any free port)")->capture_default_str();
  command->add_option("--http-threads", options->http_threads, "Threads serving connections")->capture_default_str();
  command->add_option("--chat-template", options->chat_template, "Jinja chat template file instead of the model's");
  command->add_option("--drain-timeout", options->drain_timeout,
                      "Seconds in-flight requests get to finish after SIGTERM before they are aborted")
      ->capture_default_str();
  command->add_option("--max-waiting-requests", options->max_waiting_requests,
                      "Requests that may wait to start; beyond, 429 (overloaded)")
      ->capture_default_str();
  command->add_option("--max-body-bytes", options->max_body_bytes, "Largest request body; beyond, 413")->capture_default_str();
  command->callback([options] { run_serve(*options); });
}

}  // namespace hanlin::cli
