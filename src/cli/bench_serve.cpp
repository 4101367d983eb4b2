// `hanlin bench serve`: measures any OpenAI-compatible server over HTTP the way vLLM's `bench
// serve` does (same datasets, arrival process, metric definitions and result keys), so figures
// taken with it compare with published ones.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench/arrivals.h"
#include "bench/datasets.h"
#include "bench/load_client.h"
#include "bench/metrics.h"
#include "bench/request_builder.h"
#include "bench/result_json.h"
#include "bench/result_table.h"
#include "cli/commands.h"
#include "cli/model_loading.h"
#include "core/error.h"
#include "text/tokenizer.h"

namespace hanlin::cli {
namespace {

using bench::BenchRequest;

struct BenchServeOptions {
  std::string base_url = "http://127.0.0.1:8000";
  std::string endpoint = "/v1/completions";
  std::string model;
  std::string tokenizer_dir;
  std::string dataset_name = "random";
  std::string dataset_path;
  std::optional<int64_t> sharegpt_output_len;
  bench::RandomDatasetOptions random;
  int64_t num_prompts = 1000;
  std::string request_rate = "inf";
  std::string burstiness = "1.0";
  std::optional<int64_t> max_concurrency;
  bool ignore_eos = false;
  uint64_t seed = 0;
  double temperature = 0.0;
  std::vector<std::string> goodput;
  std::string save_result;
  bool no_progress = false;
};

// What the flags mean once checked.
struct BenchPlan {
  bench::ServerAddress address;
  bench::Endpoint endpoint = bench::Endpoint::kCompletions;
  double request_rate = INFINITY;
  double burstiness = 1.0;
  bench::SloTargets slo;
};

// "inf" or a number above 0.
double positive_or_inf(const std::string& flag, const std::string& text) {
  if (text == "inf" || text == "Inf" || text == "infinity") return INFINITY;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  require(!text.empty() && end == text.c_str() + text.size() && std::isfinite(value) && value > 0,
          ErrorKind::kInvalidArgument, flag + " must be a number above 0 or inf, got '" + text + "'");
  return value;
}

void check_lengths(const BenchServeOptions& options) {
  const bench::RandomDatasetOptions& random = options.random;
  require(options.num_prompts >= 1, ErrorKind::kInvalidArgument, "--num-prompts must be at least 1");
  require(random.input_len >= 1 && random.output_len >= 1, ErrorKind::kInvalidArgument,
          "--random-input-len and --random-output-len must be at least 1");
  require(random.prefix_len >= 0, ErrorKind::kInvalidArgument, "--random-prefix-len must be 0 or more");
  require(random.range_ratio >= 0 && random.range_ratio < 1, ErrorKind::kInvalidArgument,
          "--random-range-ratio must be in [0, 1), got " + format_number(random.range_ratio));
  require(!options.sharegpt_output_len || *options.sharegpt_output_len >= 1, ErrorKind::kInvalidArgument,
          "--sharegpt-output-len must be at least 1");
}

BenchPlan check_options(const BenchServeOptions& options) {
  check_lengths(options);
  require(!options.model.empty(), ErrorKind::kInvalidArgument, "--model NAME is required (the name the server serves)");
  require(!options.max_concurrency || *options.max_concurrency >= 1, ErrorKind::kInvalidArgument,
          "--max-concurrency must be at least 1");
  require(options.temperature >= 0, ErrorKind::kInvalidArgument, "--temperature must be 0 or more");
  const std::string& dataset = options.dataset_name;
  require(dataset == "random" || dataset == "sharegpt" || dataset == "enterprise", ErrorKind::kInvalidArgument,
          "--dataset-name must be random, sharegpt or enterprise, got '" + dataset + "'");
  require(dataset != "sharegpt" || !options.dataset_path.empty(), ErrorKind::kInvalidArgument,
          "--dataset-name sharegpt needs --dataset-path FILE.json");
  BenchPlan plan;
  plan.address = bench::parse_base_url(options.base_url);
  plan.endpoint = bench::parse_endpoint(options.endpoint);
  plan.request_rate = positive_or_inf("--request-rate", options.request_rate);
  plan.burstiness = positive_or_inf("--burstiness", options.burstiness);
  plan.slo = bench::parse_goodput(options.goodput);
  return plan;
}

std::vector<BenchRequest> load_dataset(const BenchServeOptions& options, const BenchPlan& plan,
                                       const text::Tokenizer* tokenizer) {
  const auto num_prompts = static_cast<size_t>(options.num_prompts);
  if (options.dataset_name == "sharegpt") {
    return bench::sharegpt_requests({options.dataset_path, num_prompts, options.seed, options.sharegpt_output_len},
                                    tokenizer);
  }
  if (options.dataset_name == "enterprise") {
    const bool with_tools = plan.endpoint == bench::Endpoint::kChatCompletions;
    return bench::enterprise_requests(num_prompts, options.seed, with_tools, tokenizer);
  }
  bench::RandomDatasetOptions random = options.random;
  random.num_prompts = num_prompts;
  random.seed = options.seed;
  return bench::random_requests(random, tokenizer);
}

std::vector<std::string> http_requests(const std::vector<BenchRequest>& requests, const BenchServeOptions& options,
                                       const BenchPlan& plan) {
  const bench::BodyOptions body{plan.endpoint, options.model, options.temperature, options.ignore_eos};
  const char* api_key = std::getenv("OPENAI_API_KEY");
  std::vector<std::string> texts;
  texts.reserve(requests.size());
  for (const BenchRequest& request : requests) {
    texts.push_back(bench::http_request(plan.address, plan.endpoint, bench::request_body(request, body),
                                        api_key ? api_key : ""));
  }
  return texts;
}

// A bar on stderr, redrawn at most once per percent; only on a terminal, so logs stay clean.
bench::ProgressCallback progress_bar(const BenchServeOptions& options, size_t total) {
  if (options.no_progress || !isatty(STDERR_FILENO)) return {};
  return [total, last_percent = -1](size_t done) mutable {
    const int percent = static_cast<int>(done * 100 / total);
    if (percent == last_percent && done != total) return;
    last_percent = percent;
    const std::string filled(static_cast<size_t>(percent / 4), '#');
    std::fprintf(stderr, "\r[%-25s] %zu/%zu%s", filled.c_str(), done, total, done == total ? "\n" : "");
    std::fflush(stderr);
  };
}

void print_setup(const BenchServeOptions& options, const BenchPlan& plan) {
  const std::string url = "http://" + plan.address.host + ":" + plan.address.port + plan.address.path_prefix;
  std::printf("Benchmarking %s%s with %lld %s prompts\n", url.c_str(), options.endpoint.c_str(),
              static_cast<long long>(options.num_prompts), options.dataset_name.c_str());
  std::printf("Traffic request rate: %s\n", options.request_rate.c_str());
  std::printf("Burstiness factor: %s (%s)\n", options.burstiness.c_str(),
              plan.burstiness == 1.0 ? "Poisson process" : "Gamma distribution");
  const std::string limit = options.max_concurrency ? std::to_string(*options.max_concurrency) : "none";
  std::printf("Maximum request concurrency: %s\n", limit.c_str());
  std::fflush(stdout);
}

void print_failures(const std::vector<bench::RequestTimeline>& timelines) {
  int shown = 0;
  for (const bench::RequestTimeline& timeline : timelines) {
    if (timeline.success || shown == 5) continue;
    std::fprintf(stderr, "hanlin: request failed: %s\n", timeline.error.c_str());
    ++shown;
  }
}

bench::RunInfo run_info(const BenchServeOptions& options, const BenchPlan& plan, double duration_s) {
  bench::RunInfo info;
  info.date = bench::date_stamp();
  info.backend = plan.endpoint == bench::Endpoint::kChatCompletions ? "openai-chat" : "openai";
  info.endpoint = options.endpoint;
  info.model_id = options.model;
  info.tokenizer_id = options.tokenizer_dir;
  info.dataset_name = options.dataset_name;
  info.num_prompts = static_cast<size_t>(options.num_prompts);
  info.request_rate = plan.request_rate;
  info.burstiness = plan.burstiness;
  info.max_concurrency = options.max_concurrency ? static_cast<size_t>(*options.max_concurrency) : 0;
  info.has_goodput = !plan.slo.empty();
  info.duration_s = duration_s;
  return info;
}

void run_bench_serve(const BenchServeOptions& options) {
  const BenchPlan plan = check_options(options);
  std::optional<text::Tokenizer> tokenizer;
  if (!options.tokenizer_dir.empty()) tokenizer = text::Tokenizer::load(options.tokenizer_dir);
  const text::Tokenizer* tokenizer_or_null = tokenizer ? &*tokenizer : nullptr;
  const std::vector<BenchRequest> requests = load_dataset(options, plan, tokenizer_or_null);
  const std::vector<std::string> texts = http_requests(requests, options, plan);
  const std::vector<double> send_times =
      bench::arrival_times(requests.size(), plan.request_rate, plan.burstiness, options.seed);
  print_setup(options, plan);

  const bench::LoadOptions load{plan.address, options.max_concurrency ? static_cast<size_t>(*options.max_concurrency) : 0};
  bench::LoadResult result = bench::run_load(load, texts, send_times, progress_bar(options, texts.size()));
  std::vector<bench::RequestTimeline> timelines;
  timelines.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    timelines.push_back(bench::timeline_of(std::move(result.requests[i]), requests[i].prompt_len, tokenizer_or_null));
  }
  const bench::BenchmarkMetrics metrics = bench::compute_metrics(timelines, result.duration_s, plan.slo);
  const bench::RunInfo info = run_info(options, plan, result.duration_s);
  if (result.unreachable.empty()) std::fputs(bench::result_table(info, metrics).c_str(), stdout);
  std::fflush(stdout);
  if (result.unreachable.empty()) print_failures(timelines);
  if (!options.save_result.empty()) bench::save_result(options.save_result, bench::result_json(info, metrics, timelines));
  const std::string saved = options.save_result.empty() ? "" : " (the partial result is in " + options.save_result + ")";
  require(result.unreachable.empty(), ErrorKind::kNotFound,
          "cannot reach the server at " + options.base_url + ": " + result.unreachable + saved);
  require(metrics.completed > 0, ErrorKind::kInvalidArgument,
          "every request failed; the first error: " + timelines.front().error);
}

void add_dataset_flags(CLI::App& command, BenchServeOptions& options) {
  command.add_option("--dataset-name", options.dataset_name, "random, sharegpt or enterprise (built-in Chinese set)")
      ->capture_default_str();
  command.add_option("--dataset-path", options.dataset_path, "ShareGPT-format JSON file (for --dataset-name sharegpt)");
  command.add_option("--sharegpt-output-len", options.sharegpt_output_len,
                     "Output length of every ShareGPT request (default: the reply's token count)");
  command.add_option("--random-input-len", options.random.input_len, "Prompt tokens per random request")
      ->capture_default_str();
  command.add_option("--random-output-len", options.random.output_len, "Output tokens per random request")
      ->capture_default_str();
  command.add_option("--random-range-ratio", options.random.range_ratio,
                     "Lengths uniform in [len*(1-r), len*(1+r)], r in [0, 1)")
      ->capture_default_str();
  command.add_option("--random-prefix-len", options.random.prefix_len, "Tokens of a prefix shared by every prompt")
      ->capture_default_str();
  command.add_option("--num-prompts", options.num_prompts, "Number of requests")->capture_default_str();
}

void add_traffic_flags(CLI::App& command, BenchServeOptions& options) {
  command.add_option("--request-rate", options.request_rate,
                     "Requests per second (inf: all at once; else gamma-distributed gaps)")
      ->capture_default_str();
  command.add_option("--burstiness", options.burstiness, "Gamma shape of the gaps: 1 = Poisson, lower = burstier")
      ->capture_default_str();
  command.add_option("--max-concurrency", options.max_concurrency, "Most requests in flight at once (default: no limit)");
  command.add_flag("--ignore-eos", options.ignore_eos, "Ask the server to generate max_tokens whatever comes");
  command.add_option("--seed", options.seed, "Seed of the dataset sampling and arrival times")->capture_default_str();
  command.add_option("--temperature", options.temperature, "Sampling temperature (0: greedy)")->capture_default_str();
}

}  // namespace

void add_bench_serve_command(CLI::App& bench) {
  auto options = std::make_shared<BenchServeOptions>();
  CLI::App* command = bench.add_subcommand("serve", "Measure an OpenAI-compatible server over HTTP (vLLM's metrics)");
  command->add_option("--base-url", options->base_url, "Server address, e.g. http://127.0.0.1:8000 (or .../v1)")
      ->capture_default_str();
  command->add_option("--endpoint", options->endpoint, "/v1/completions or /v1/chat/completions")->capture_default_str();
  command->add_option("--model", options->model, "Model name sent in each request")->required();
  command->add_option("--tokenizer", options->tokenizer_dir,
                      "Checkpoint folder with tokenizer.json: text prompts of exact lengths, token counts");
  add_dataset_flags(*command, *options);
  add_traffic_flags(*command, *options);
  command->add_option("--goodput", options->goodput, "SLOs as KEY:MS pairs (ttft, tpot, e2el), e.g. ttft:500 tpot:50");
  command->add_option("--save-result", options->save_result, "Write the results as JSON (vLLM's keys) to FILE");
  command->add_flag("--no-progress", options->no_progress, "No progress bar");
  command->callback([options] { run_bench_serve(*options); });
}

}  // namespace hanlin::cli
