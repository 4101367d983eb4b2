// Benchmark results as JSON; see result_json.h.
#include "bench/result_json.h"

#include <cmath>
#include <ctime>
#include <fstream>

#include "core/error.h"

namespace hanlin::bench {
namespace {

using Json = nlohmann::json;

// JSON has no infinity; vLLM writes "inf" for an unlimited rate.
Json number_or_inf(double value) { return std::isinf(value) ? Json("inf") : Json(value); }

void add_distribution(Json& result, const std::string& name, const Distribution& values) {
  result["mean_" + name + "_ms"] = values.mean;
  result["median_" + name + "_ms"] = values.median;
  result["std_" + name + "_ms"] = values.std;
  result["p90_" + name + "_ms"] = values.p90;
  result["p99_" + name + "_ms"] = values.p99;
}

void add_per_request(Json& result, std::span<const RequestTimeline> requests) {
  Json input_lens = Json::array(), output_lens = Json::array(), ttfts = Json::array(), itls = Json::array();
  Json latencies = Json::array(), start_times = Json::array(), texts = Json::array(), errors = Json::array();
  for (const RequestTimeline& request : requests) {
    input_lens.push_back(request.prompt_len);
    output_lens.push_back(request.success ? request.output_tokens : 0);
    ttfts.push_back(request.ttft);
    itls.push_back(request.itl);
    latencies.push_back(request.latency);
    start_times.push_back(request.start_time);
    texts.push_back(request.generated_text);
    errors.push_back(request.error);
  }
  result["input_lens"] = std::move(input_lens);
  result["output_lens"] = std::move(output_lens);
  result["ttfts"] = std::move(ttfts);
  result["itls"] = std::move(itls);
  result["latencies"] = std::move(latencies);
  result["start_times"] = std::move(start_times);
  result["generated_texts"] = std::move(texts);
  result["errors"] = std::move(errors);
}

}  // namespace

std::string date_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d-%H%M%S", &local);
  return text;
}

Json result_json(const RunInfo& info, const BenchmarkMetrics& metrics, std::span<const RequestTimeline> requests) {
  Json result = {
      {"date", info.date},
      {"backend", info.backend},
      {"endpoint_type", info.backend},
      {"endpoint", info.endpoint},
      {"label", nullptr},
      {"model_id", info.model_id},
      {"tokenizer_id", info.tokenizer_id.empty() ? Json(nullptr) : Json(info.tokenizer_id)},
      {"dataset_name", info.dataset_name},
      {"num_prompts", info.num_prompts},
      {"request_rate", number_or_inf(info.request_rate)},
      {"burstiness", number_or_inf(info.burstiness)},
      {"max_concurrency", info.max_concurrency == 0 ? Json(nullptr) : Json(info.max_concurrency)},
      {"duration", info.duration_s},
      {"completed", metrics.completed},
      {"failed", metrics.failed},
      {"total_input_tokens", metrics.total_input},
      {"total_output_tokens", metrics.total_output},
      {"request_throughput", metrics.request_throughput},
      {"request_goodput", info.has_goodput ? Json(metrics.request_goodput) : Json(nullptr)},
      {"output_throughput", metrics.output_throughput},
      {"total_token_throughput", metrics.total_token_throughput},
      {"max_output_tokens_per_s", metrics.max_output_tokens_per_s},
      {"max_concurrent_requests", metrics.max_concurrent_requests},
  };
  add_per_request(result, requests);
  add_distribution(result, "ttft", metrics.ttft);
  add_distribution(result, "tpot", metrics.tpot);
  add_distribution(result, "itl", metrics.itl);
  add_distribution(result, "e2el", metrics.e2el);
  return result;
}

void save_result(const std::string& path, const Json& result) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  require(file.good(), ErrorKind::kNotFound, "--save-result: cannot write '" + path + "'");
  file << result.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
  file.close();
  require(!file.fail(), ErrorKind::kNotFound, "--save-result: writing '" + path + "' failed");
}

}  // namespace hanlin::bench
