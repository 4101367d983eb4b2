// `hanlin bench latency` and `hanlin bench throughput` run as subprocesses on the CPU with a
// fixture model's shapes (dummy weights): they finish, their JSON holds vLLM's keys with
// figures that agree with the workload, the physical limits match hand-computed Qwen3 shapes,
// and bad flags end in one clear error line and the documented exit code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace hanlin::test;  // cli_test_util.h
using nlohmann::json;

// 2 layers, hidden 64, 4 heads / 2 KV heads of 32, vocab 2048, 512 positions.
const fs::path kModel = fs::path(HANLIN_FIXTURES_DIR) / "models" / "qwen3-gqa-untied";
constexpr int kExitInvalidArgument = 2;  // main.cpp's codes
constexpr int kExitNotFound = 3;

// `bench COMMAND` on the fixture's shapes, with a small KV cache unless `extra` sizes it.
RunResult bench(const std::string& command, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"bench", command,    "--model", kModel.string(), "--load-format",
                                   "dummy", "--device", "cpu",     "--threads",     "2"};
  if (std::find(extra.begin(), extra.end(), "--kv-cache-gb") == extra.end())
    args.insert(args.end(), {"--kv-cache-gb", "0.01"});
  args.insert(args.end(), extra.begin(), extra.end());
  return run_hanlin(args);
}

// Runs `bench COMMAND` writing --output-json and returns the parsed file.
json bench_json(const std::string& command, std::vector<std::string> extra) {
  ScratchDir dir;
  const fs::path file = dir.path() / "result.json";
  extra.insert(extra.end(), {"--output-json", file.string()});
  const RunResult result = bench(command, extra);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("saved " + file.string()), std::string::npos) << result.out;
  return fs::exists(file) ? json::parse(read_file(file)) : json::object();
}

TEST(BenchLatencyCli, WritesVllmKeysWithConsistentFigures) {
  const json result = bench_json("latency", {"--input-len", "16", "--output-len", "8", "--batch-size", "2",
                                             "--num-iters-warmup", "1", "--num-iters", "3"});
  const std::vector<double> latencies = result.at("latencies").get<std::vector<double>>();
  ASSERT_EQ(latencies.size(), 3u);
  const double shortest = *std::min_element(latencies.begin(), latencies.end());
  const double longest = *std::max_element(latencies.begin(), latencies.end());
  EXPECT_GT(shortest, 0);
  EXPECT_GE(result.at("avg_latency").get<double>(), shortest);
  EXPECT_LE(result.at("avg_latency").get<double>(), longest);
  // Percentiles never decrease and stay within the measured range.
  double previous = shortest;
  for (const char* percent : {"10", "25", "50", "75", "90", "99"}) {
    const double value = result.at("percentiles").at(percent).get<double>();
    EXPECT_GE(value, previous) << percent;
    previous = value;
  }
  EXPECT_LE(previous, longest);
  EXPECT_DOUBLE_EQ(result.at("median_latency").get<double>(), result["percentiles"]["50"].get<double>());
  // Prefill is part of the latency; decode takes the 7 steps after it.
  const double median_ms = 1e3 * result["median_latency"].get<double>();
  const double prefill_ms = result.at("median_prefill_ms").get<double>();
  const double step_ms = result.at("median_decode_ms_per_step").get<double>();
  EXPECT_GT(prefill_ms, 0);
  EXPECT_LT(prefill_ms, 1e3 * longest);
  EXPECT_GT(step_ms, 0);
  EXPECT_LT(step_ms * 7, 1e3 * longest);
  EXPECT_NEAR(result.at("decode_tokens_per_second").get<double>(), 2 / (step_ms / 1e3), 1e-6 * 2e3 / step_ms);
  EXPECT_NEAR(result.at("prefill_tokens_per_second").get<double>(), 32 / (prefill_ms / 1e3),
              1e-6 * 32e3 / prefill_ms);
  EXPECT_NEAR(result.at("output_tokens_per_second").get<double>(), 16 / (median_ms / 1e3),
              1e-6 * 16e3 / median_ms);
  EXPECT_EQ(result.at("workload").at("batch_size"), 2);
  EXPECT_EQ(result.at("engine").at("device"), "cpu");
  EXPECT_EQ(result.at("model").at("vocab_size"), 2048);
  EXPECT_GT(result.at("limits").at("decode_step_floor_ms").get<double>(), 0);
}

TEST(BenchLatencyCli, PrintsTheSettingsAndATable) {
  const RunResult result = bench(
      "latency", {"--input-len", "8", "--output-len", "4", "--num-iters-warmup", "0", "--num-iters", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* text : {"hanlin bench latency", "2 layers, hidden 64", "device    cpu",
                           "max-num-batched-tokens", "input 8, output 4, batch 1", "| end-to-end latency |",
                           "| prefill (first token) |", "| decode step |", "limit"}) {
    EXPECT_NE(result.out.find(text), std::string::npos) << text << " not in:\n" << result.out;
  }
}

TEST(BenchLatencyCli, OutputLenOneTimesPrefillAlone) {
  const json result = bench_json(
      "latency", {"--input-len", "64", "--output-len", "1", "--num-iters-warmup", "0", "--num-iters", "2"});
  EXPECT_GT(result.at("median_prefill_ms").get<double>(), 0);
  EXPECT_TRUE(result.at("median_decode_ms_per_step").is_null());
  EXPECT_TRUE(result.at("decode_tokens_per_second").is_null());
}

// Sampled tokens with logprobs run through, and the JSON records how they were drawn.
TEST(BenchLatencyCli, SampledTokensWithLogprobs) {
  const json result =
      bench_json("latency", {"--input-len", "8", "--output-len", "4", "--batch-size", "2", "--num-iters-warmup",
                             "0", "--num-iters", "1", "--temperature", "0.7", "--top-k", "20", "--logprobs", "5"});
  const json& sampling = result.at("workload").at("sampling");
  EXPECT_EQ(sampling.at("temperature"), 0.7);
  EXPECT_EQ(sampling.at("top_k"), 20);
  EXPECT_EQ(sampling.at("logprobs"), 5);
  EXPECT_GT(result.at("median_decode_ms_per_step").get<double>(), 0);
}

// A batch's prefill is one step: the token budget grows to the batch unless the user set it.
TEST(BenchLatencyCli, BatchedTokenBudgetHoldsTheWholePrefill) {
  const std::vector<std::string> workload = {"--input-len",  "300", "--output-len",       "1",
                                             "--batch-size", "8",   "--num-iters-warmup", "0",
                                             "--num-iters",  "1"};
  const json grown = bench_json("latency", workload);
  EXPECT_EQ(grown.at("engine").at("max_num_batched_tokens"), 2400);
  std::vector<std::string> chosen = workload;
  chosen.insert(chosen.end(), {"--max-num-batched-tokens", "128"});
  EXPECT_EQ(bench_json("latency", chosen).at("engine").at("max_num_batched_tokens"), 128);
}

// After the warm-up the shared prefix's 4 full blocks come from the prefix cache.
TEST(BenchLatencyCli, SharedPrefixIsServedFromThePrefixCache) {
  const std::vector<std::string> workload = {"--shared-prefix-len", "64", "--input-len",        "8",
                                             "--output-len",        "1",  "--num-iters-warmup", "1",
                                             "--num-iters",         "2"};
  EXPECT_EQ(bench_json("latency", workload).at("cached_prompt_tokens"), 64);
  std::vector<std::string> uncached = workload;
  uncached.push_back("--no-prefix-caching");
  EXPECT_EQ(bench_json("latency", uncached).at("cached_prompt_tokens"), 0);
}

TEST(BenchThroughputCli, CountsEveryRequestAndToken) {
  const json result =
      bench_json("throughput", {"--input-len", "12", "--output-len", "5", "--num-prompts", "6"});
  EXPECT_EQ(result.at("num_requests"), 6);
  EXPECT_EQ(result.at("total_num_tokens"), 6 * (12 + 5));  // eos ignored: every request makes all 5
  EXPECT_EQ(result.at("total_output_tokens"), 6 * 5);
  const double elapsed = result.at("elapsed_time").get<double>();
  ASSERT_GT(elapsed, 0);
  EXPECT_DOUBLE_EQ(result.at("requests_per_second").get<double>(), 6 / elapsed);
  EXPECT_DOUBLE_EQ(result.at("tokens_per_second").get<double>(), 6 * 17 / elapsed);
  EXPECT_DOUBLE_EQ(result.at("output_tokens_per_second").get<double>(), 6 * 5 / elapsed);
}

TEST(BenchThroughputCli, PrintsATable) {
  const RunResult result =
      bench("throughput", {"--input-len", "4", "--output-len", "2", "--num-prompts", "3"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("| requests | elapsed | requests/s | total tokens/s | output tokens/s |"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("| 3 | "), std::string::npos) << result.out;
}

// --limits-only for a preset: the shape's costs, no weights loaded.
json limits_of(const std::string& preset, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"bench",    "latency", "--load-format", "dummy",
                                   "--preset", preset,    "--limits-only"};
  args.insert(args.end(), extra.begin(), extra.end());
  const RunResult result = run_hanlin(args);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return result.exit_code == 0 ? json::parse(result.out).at("limits") : json::object();
}

// Qwen3-8B: hidden 4096, 36 layers, 32 heads and 8 KV heads of 128, intermediate 12288, vocab
// 151936, untied. Per layer: q and o 4096·4096 each, k and v 4096·1024 each, q/k norms 2·128,
// MLP 3·4096·12288, two RMSNorms 2·4096.
TEST(BenchLimitsCli, Qwen3_8bMatchesTheHandComputedShape) {
  const int64_t per_layer = 2 * 4096LL * 4096 + 2 * 4096LL * 1024 + 2 * 128 + 3 * 4096LL * 12288 + 2 * 4096;
  const int64_t layers = 36 * per_layer;
  const int64_t lm_head = 151936LL * 4096;
  const int64_t kv_per_token = 2 * 36 * 8 * 128 * 2;  // K and V, bf16
  const json limits = limits_of("qwen3-8b", {"--input-len", "8192", "--output-len", "1"});
  EXPECT_EQ(limits.at("layer_parameters"), layers);
  EXPECT_EQ(limits.at("lm_head_parameters"), lm_head);
  EXPECT_EQ(limits.at("weight_bytes_per_step"), 2 * (layers + 4096 + lm_head));
  EXPECT_EQ(limits.at("kv_bytes_per_token"), kv_per_token);
  EXPECT_EQ(limits.at("layer_flops_per_token"), 2 * layers);
  // GPU.md's rounded figures: 15.1 GB read per token, 13.9 GFLOP per token.
  EXPECT_NEAR(limits["weight_bytes_per_step"].get<double>(), 15.1e9, 0.05e9);
  EXPECT_NEAR(limits["layer_flops_per_token"].get<double>(), 13.9e9, 0.05e9);
  // Prefill of 8192 tokens: layers, causal attention 4·36·32·128·8192²/2, one lm_head row.
  const double flops = 2.0 * layers * 8192 + 4.0 * 36 * 32 * 128 * 8192.0 * 8192 / 2 + 2.0 * lm_head;
  EXPECT_NEAR(limits.at("prefill_flops").get<double>(), flops, 1e-9 * flops);
  EXPECT_NEAR(limits.at("prefill_floor_ms").get<double>(), flops / 800e12 * 1e3, 1e-9 * flops / 800e12 * 1e3);
}

TEST(BenchLimitsCli, DecodeFloorIsTheBytesReadPerStep) {
  // Batch 1 after a 1-token prompt: weights and 2 tokens of KV at 3.0 TB/s, about 5.05 ms.
  const json limits = limits_of("qwen3-8b", {"--input-len", "1", "--output-len", "2"});
  const double bytes =
      limits.at("weight_bytes_per_step").get<double>() + 2 * limits.at("kv_bytes_per_token").get<double>();
  EXPECT_EQ(limits.at("decode_context_len"), 2);
  EXPECT_NEAR(limits.at("decode_step_floor_ms").get<double>(), bytes / 3.0e12 * 1e3, 1e-9);
  EXPECT_NEAR(limits["decode_step_floor_ms"].get<double>(), 5.05, 0.01);
  const json h200 =
      limits_of("qwen3-8b", {"--input-len", "1", "--output-len", "2", "--peak-bandwidth-tbs", "4.3"});
  EXPECT_NEAR(h200.at("decode_step_floor_ms").get<double>(), bytes / 4.3e12 * 1e3, 1e-9);
}

TEST(BenchLimitsCli, Qwen3_14bReadsAbout28GbPerToken) {
  const json limits = limits_of("qwen3-14b", {"--input-len", "1", "--output-len", "2"});
  EXPECT_NEAR(limits.at("weight_bytes_per_step").get<double>(), 28.0e9, 0.05e9);  // GPU.md
  EXPECT_NEAR(limits.at("decode_step_floor_ms").get<double>(), 9.33, 0.01);
}

TEST(BenchOfflineCliErrors, BadLengthsAndCounts) {
  expect_one_line_error(bench("latency", {"--input-len", "0"}), kExitInvalidArgument,
                        "--input-len must be at least 1, got 0");
  expect_one_line_error(bench("latency", {"--output-len", "-3"}), kExitInvalidArgument,
                        "--output-len must be at least 1, got -3");
  expect_one_line_error(bench("latency", {"--batch-size", "0"}), kExitInvalidArgument,
                        "--batch-size must be at least 1");
  expect_one_line_error(bench("latency", {"--num-iters", "0"}), kExitInvalidArgument,
                        "--num-iters must be at least 1");
  expect_one_line_error(bench("latency", {"--shared-prefix-len", "-1"}), kExitInvalidArgument,
                        "--shared-prefix-len");
  expect_one_line_error(bench("throughput", {"--num-prompts", "0"}), kExitInvalidArgument,
                        "--num-prompts must be at least 1");
  expect_one_line_error(bench("throughput", {"--input-len", "0"}), kExitInvalidArgument,
                        "--input-len must be at least 1");
  expect_one_line_error(bench("latency", {"--peak-tflops", "0"}), kExitInvalidArgument, "--peak-tflops");
  expect_one_line_error(bench("latency", {"--repetition-penalty", "0"}), kExitInvalidArgument,
                        "--repetition-penalty must be a positive number");
  expect_one_line_error(bench("throughput", {"--logprobs", "21"}), kExitInvalidArgument,
                        "--logprobs must be -1 (off) or 0 to 20, got 21");
  expect_one_line_error(bench("latency", {"--logprobs", "-2"}), kExitInvalidArgument,
                        "--logprobs must be -1 (off) or 0 to 20, got -2");
  expect_one_line_error(bench("latency", {"--input-len", "9223372036854775807", "--batch-size", "9"}),
                        kExitInvalidArgument, "--input-len must be at most");
}

TEST(BenchOfflineCliErrors, WorkloadBeyondTheContextOrTheCache) {
  expect_one_line_error(bench("latency", {"--input-len", "500", "--output-len", "100"}), kExitInvalidArgument,
                        "--input-len 500 + --output-len 100 = 600 tokens exceed the context length 512");
  expect_one_line_error(
      bench("latency", {"--shared-prefix-len", "400", "--input-len", "100", "--output-len", "100"}),
      kExitInvalidArgument, "+ --shared-prefix-len 400 = 600 tokens exceed the context length 512");
  expect_one_line_error(bench("throughput", {"--input-len", "512", "--output-len", "1"}),
                        kExitInvalidArgument, "= 513 tokens exceed the context length 512");
  // 0.0001 GiB holds 6 blocks of this shape (f32 K/V on the CPU: 16 KiB a block).
  expect_one_line_error(bench("latency", {"--kv-cache-gb", "0.0001", "--batch-size", "4", "--input-len", "32",
                                          "--output-len", "16"}),
                        kExitInvalidArgument,
                        "the KV cache is too small: --batch-size 4 x 48 tokens needs 12 blocks of 16 tokens, "
                        "--kv-cache-gb 0.0001 holds 6");
  expect_one_line_error(
      bench("throughput", {"--kv-cache-gb", "0.0001", "--input-len", "100", "--output-len", "16"}),
      kExitInvalidArgument, "one request of 116 tokens needs 8 blocks");
  expect_one_line_error(bench("latency", {"--batch-size", "8", "--max-num-seqs", "4"}), kExitInvalidArgument,
                        "--batch-size 8 exceeds --max-num-seqs 4");
}

TEST(BenchOfflineCliErrors, BadModelAndPaths) {
  expect_one_line_error(run_hanlin({"bench", "latency", "--input-len", "4"}), kExitInvalidArgument,
                        "--model DIR is required");
  expect_one_line_error(run_hanlin({"bench", "throughput", "--load-format", "dummy", "--preset", "qwen3-7b"}),
                        kExitInvalidArgument, "unknown preset 'qwen3-7b'");
  expect_one_line_error(bench("latency", {"--output-json", "/no/such/dir/result.json"}), kExitNotFound,
                        "--output-json: folder '/no/such/dir' does not exist");
}

TEST(BenchOfflineCli, HelpNamesTheFlags) {
  const RunResult latency = run_hanlin({"bench", "latency", "--help"});
  EXPECT_EQ(latency.exit_code, 0);
  for (const char* flag :
       {"--input-len", "--output-len", "--batch-size", "--num-iters-warmup", "--num-iters", "--output-json",
        "--shared-prefix-len", "--limits-only", "--max-num-batched-tokens", "--preset", "--device",
        "--kv-cache-gb", "--logprobs", "a prefill is one step"}) {
    EXPECT_NE(latency.out.find(flag), std::string::npos) << flag;
  }
  const RunResult throughput = run_hanlin({"bench", "throughput", "--help"});
  EXPECT_EQ(throughput.exit_code, 0);
  for (const char* flag : {"--input-len", "--output-len", "--num-prompts", "--output-json"}) {
    EXPECT_NE(throughput.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
