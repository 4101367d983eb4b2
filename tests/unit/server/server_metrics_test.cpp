// ServerMetrics: the engine's totals become Prometheus counters that only grow, by what is new
// since the last scrape; the step loop's parts are exported beside vLLM's metric names.
#include "server/server_metrics.h"

#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>

namespace hanlin::server {
namespace {

// The value of the sample line `sample` in Prometheus text, or nullopt when absent.
std::optional<double> sample_value(const std::string& text, const std::string& sample) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  return std::nullopt;
}

engine::EngineStats stats_with(int64_t steps, double schedule, double model, double sample, int64_t generated) {
  engine::EngineStats stats;
  stats.num_steps = steps;
  stats.step_times = {schedule, model, sample};
  stats.num_generated_tokens = generated;
  stats.num_blocks = 10;
  stats.num_free_blocks = 10;
  return stats;
}

TEST(ServerMetrics, EngineStepsAndTheirPartsAreCounters) {
  ServerMetrics metrics("m");
  std::string text = metrics.render(stats_with(3, 0.5, 2.0, 0.25, 12));
  EXPECT_EQ(sample_value(text, "hanlin:engine_steps_total{model_name=\"m\"}"), 3.0);
  EXPECT_EQ(sample_value(text, "hanlin:engine_step_seconds_total{model_name=\"m\",part=\"schedule\"}"), 0.5);
  EXPECT_EQ(sample_value(text, "hanlin:engine_step_seconds_total{model_name=\"m\",part=\"model\"}"), 2.0);
  EXPECT_EQ(sample_value(text, "hanlin:engine_step_seconds_total{model_name=\"m\",part=\"sample\"}"), 0.25);
  EXPECT_EQ(sample_value(text, "vllm:generation_tokens_total{model_name=\"m\"}"), 12.0);

  text = metrics.render(stats_with(5, 0.75, 3.5, 0.5, 20));
  EXPECT_EQ(sample_value(text, "hanlin:engine_steps_total{model_name=\"m\"}"), 5.0);
  EXPECT_EQ(sample_value(text, "hanlin:engine_step_seconds_total{model_name=\"m\",part=\"model\"}"), 3.5);
  EXPECT_EQ(sample_value(text, "vllm:generation_tokens_total{model_name=\"m\"}"), 20.0);

  // A snapshot older than the last one (two scrapes racing) moves nothing backwards.
  text = metrics.render(stats_with(4, 0.6, 3.0, 0.4, 15));
  EXPECT_EQ(sample_value(text, "hanlin:engine_steps_total{model_name=\"m\"}"), 5.0);
  EXPECT_EQ(sample_value(text, "hanlin:engine_step_seconds_total{model_name=\"m\",part=\"model\"}"), 3.5);
  EXPECT_EQ(sample_value(text, "vllm:generation_tokens_total{model_name=\"m\"}"), 20.0);
}

}  // namespace
}  // namespace hanlin::server
