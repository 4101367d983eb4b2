// A benchmark run's results as JSON with vLLM's key names (`bench serve --save-result`), so
// tools that read vLLM's files read ours.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/metrics.h"

namespace hanlin::bench {

// How the run was set up, as the results report it.
struct RunInfo {
  std::string date;          // "20250131-142501", local time
  std::string backend;       // "openai" or "openai-chat", vLLM's names for the two endpoints
  std::string endpoint;      // "/v1/completions"
  std::string model_id;
  std::string tokenizer_id;  // empty when none was given
  std::string dataset_name;
  size_t num_prompts = 0;
  double request_rate = 0;   // may be infinite
  double burstiness = 1.0;
  size_t max_concurrency = 0;  // 0: no limit
  bool has_goodput = false;  // SLOs were given
  double duration_s = 0;
};

// The current local time as vLLM stamps its results.
std::string date_stamp();

nlohmann::json result_json(const RunInfo& info, const BenchmarkMetrics& metrics,
                           std::span<const RequestTimeline> requests);

// Writes `result` to `path`, indented. Error(kNotFound) when the file cannot be written.
void save_result(const std::string& path, const nlohmann::json& result);

}  // namespace hanlin::bench
