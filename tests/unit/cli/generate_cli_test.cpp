// `hanlin generate` run as a subprocess: its greedy output equals transformers' continuation
// for the fixture models, and bad flags or broken checkpoints end in one clear error line and
// a non-zero exit status, never a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace hanlin::test;  // cli_test_util.h
using nlohmann::json;

const fs::path kModels = fs::path(HANLIN_FIXTURES_DIR) / "models";
constexpr double kMarginForExactTokens = 1e-3;  // TESTING.md §1

std::string join_ids(const std::vector<int>& ids) {
  std::string text;
  for (int id : ids) {
    if (!text.empty()) text += ',';
    text += std::to_string(id);
  }
  return text;
}

json expected_of(const std::string& model) {
  std::ifstream file(kModels / model / "expected.json");
  return json::parse(file);
}

// The reference tokens that must match exactly: those chosen before the first near tie.
std::vector<int> decided_tokens(const json& greedy) {
  std::vector<int> tokens;
  for (size_t step = 0; step < greedy.at("steps").size(); ++step) {
    if (greedy["steps"][step].at("margin").get<double>() <= kMarginForExactTokens) break;
    tokens.push_back(greedy["token_ids"][step].get<int>());
  }
  return tokens;
}

std::vector<std::string> fixture_models() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kModels)) {
    if (fs::exists(entry.path() / "expected.json")) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(GenerateCli, JsonLineEqualsTransformersGreedyContinuation) {
  ASSERT_FALSE(fixture_models().empty());
  int runs = 0;
  for (const std::string& model : fixture_models()) {
    const json expected_json = expected_of(model);
    for (const json& fixture_case : expected_json.at("cases")) {
      const json& greedy = fixture_case.at("greedy");
      const std::vector<int> expected = decided_tokens(greedy);
      const size_t num_tokens = greedy.at("token_ids").size();
      const RunResult result =
          run_hanlin({"generate", "--model", (kModels / model).string(), "--prompt-ids",
                      join_ids(fixture_case.at("prompt_ids").get<std::vector<int>>()), "--max-tokens",
                      std::to_string(num_tokens), "--temperature", "0", "--ignore-eos", "--json", "--threads", "2"});
      ASSERT_EQ(result.exit_code, 0) << model << ": " << result.err;
      ASSERT_TRUE(result.out.ends_with("\n")) << result.out;
      ASSERT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 1) << result.out;
      const std::vector<int> ours = json::parse(result.out).at("token_ids").get<std::vector<int>>();
      ASSERT_EQ(ours.size(), num_tokens) << model;
      EXPECT_EQ(std::vector<int>(ours.begin(), ours.begin() + static_cast<std::ptrdiff_t>(expected.size())), expected)
          << model << " " << fixture_case.at("name");
      ++runs;
    }
  }
  EXPECT_GE(runs, 5);
}

// A copy of a fixture folder the test may damage.
fs::path copy_fixture(const std::string& model, const ScratchDir& dir) {
  const fs::path target = dir.path() / model;
  fs::copy(kModels / model, target, fs::copy_options::recursive);
  return target;
}

TEST(GenerateCli, StopsAtTheEosIdOfGenerationConfig) {
  const std::string model = "qwen3-gqa-untied";
  const json expected = expected_of(model);
  const json& fixture_case = expected.at("cases").at(1);
  const std::vector<int> tokens = decided_tokens(fixture_case.at("greedy"));
  ASSERT_GE(tokens.size(), 3u);
  // Make the third decided token the end of sequence; it is printed, and nothing after it.
  const int stop_id = tokens[2];
  const size_t stop_at = static_cast<size_t>(std::find(tokens.begin(), tokens.end(), stop_id) - tokens.begin());
  ScratchDir dir;
  const fs::path copy = copy_fixture(model, dir);
  std::ofstream(copy / "generation_config.json") << json{{"eos_token_id", stop_id}}.dump();
  const std::string prompt = join_ids(fixture_case.at("prompt_ids").get<std::vector<int>>());
  const RunResult result = run_hanlin({"generate", "--model", copy.string(), "--prompt-ids", prompt, "--max-tokens", "20"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<int> plain;
  std::istringstream words(result.out);
  for (int id = 0; words >> id;) plain.push_back(id);
  EXPECT_EQ(plain, std::vector<int>(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(stop_at) + 1));
}

TEST(GenerateCli, DummyWeightsRunWithTheCheckpointShapes) {
  const RunResult result = run_hanlin({"generate", "--model", (kModels / "qwen3-mqa-tied").string(), "--load-format",
                                       "dummy", "--prompt-ids", "1,2,3", "--max-tokens", "4", "--ignore-eos", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(json::parse(result.out).at("token_ids").size(), 4u);
}

TEST(GenerateCli, HelpExplainsEveryFlag) {
  const RunResult result = run_hanlin({"generate", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* flag : {"--model", "--prompt-ids", "--max-tokens", "--temperature", "--ignore-eos", "--json",
                           "--load-format", "--preset", "--threads", "--kv-cache-gb"}) {
    EXPECT_NE(result.out.find(flag), std::string::npos) << flag;
  }
}

class GenerateCliErrors : public ::testing::Test {
 protected:
  RunResult generate(std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "--model", model_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_hanlin(args);
  }
  fs::path model_ = kModels / "qwen3-gqa-untied";  // vocab 2048, 512 positions
};

TEST_F(GenerateCliErrors, BadPromptIds) {
  expect_one_line_error(generate({"--prompt-ids", "1,x,3"}), "'x' is not a token id");
  expect_one_line_error(generate({"--prompt-ids", "1,,3"}), "'' is not a token id");
  expect_one_line_error(generate({"--prompt-ids", "-4"}), "'-4' is not a token id");
  expect_one_line_error(generate({"--prompt-ids", "99999999999"}), "'99999999999' is not a token id");
  expect_one_line_error(generate({"--prompt-ids", ""}), "the prompt is empty");
  expect_one_line_error(generate({"--prompt-ids", "5,2048"}), "token id 2048 at position 1 is outside the vocabulary [0, 2048)");
}

TEST_F(GenerateCliErrors, BadNumbers) {
  expect_one_line_error(generate({"--prompt-ids", "1", "--max-tokens", "0"}), "--max-tokens must be at least 1");
  expect_one_line_error(generate({"--prompt-ids", "1", "--temperature", "-0.7"}), "temperature must be a number >= 0");
  expect_one_line_error(generate({"--prompt-ids", "1", "--top-p", "0"}), "top_p must be in (0, 1]");
  expect_one_line_error(generate({"--prompt-ids", "1", "--n", "17"}), "n must be between 1 and 16");
  expect_one_line_error(generate({"--prompt-ids", "1", "--logprobs", "21"}), "top_logprobs must be between 0 and 20");
  expect_one_line_error(generate({"--prompt-ids", "1", "--stop", "x"}), "stop strings need the model's tokenizer");
  expect_one_line_error(generate({"--prompt-ids", "1,2", "--max-tokens", "511"}), "exceeds the model's context of 512");
  expect_one_line_error(generate({"--prompt-ids", "1", "--max-tokens", "9223372036854775807"}),
                        "exceeds the model's context");
  expect_one_line_error(generate({"--prompt-ids", "1", "--max-tokens", "100", "--kv-cache-gb", "0.00001"}),
                        "--kv-cache-gb");
  expect_one_line_error(generate({"--prompt-ids", "1", "--threads", "-2"}), "--threads");
}

TEST_F(GenerateCliErrors, BadPathsAndFormats) {
  expect_one_line_error(run_hanlin({"generate", "--model", "/no/such/dir", "--prompt-ids", "1"}),
                        "--model: '/no/such/dir' is not a directory");
  expect_one_line_error(run_hanlin({"generate", "--prompt-ids", "1"}), "--model DIR is required");
  expect_one_line_error(generate({"--prompt-ids", "1", "--preset", "qwen3-0.6b"}), "needs --load-format dummy");
  expect_one_line_error(
      run_hanlin({"generate", "--load-format", "dummy", "--preset", "qwen3-7b", "--prompt-ids", "1"}),
      "unknown preset 'qwen3-7b'");
}

// Flags CLI11 itself rejects: a non-zero exit and a message naming the flag, no crash.
TEST_F(GenerateCliErrors, MalformedFlags) {
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {"--prompt-ids", "1", "--bogus"},
           {"--prompt-ids", "1", "--max-tokens", "abc"},
           {"--prompt-ids", "1", "--load-format", "pickle"},
           {"--max-tokens", "3"}}) {
    const RunResult result = generate(extra);
    EXPECT_TRUE(result.exited) << result.err;
    EXPECT_NE(result.exit_code, 0) << extra.back();
    EXPECT_NE(result.err, "") << extra.back();
    EXPECT_EQ(result.out, "") << extra.back();
  }
}

TEST(GenerateCliCheckpoints, TruncatedSafetensors) {
  ScratchDir dir;
  const fs::path copy = copy_fixture("qwen3-gqa-untied", dir);
  const fs::path weights = copy / "model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) / 2);
  expect_one_line_error(run_hanlin({"generate", "--model", copy.string(), "--prompt-ids", "1"}),
                        "hanlin: error: " + weights.string() + ": ");
}

TEST(GenerateCliCheckpoints, GarbageHeader) {
  ScratchDir dir;
  const fs::path copy = copy_fixture("qwen3-gqa-untied", dir);
  const fs::path weights = copy / "model.safetensors";
  {
    std::fstream file(weights, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);
    const std::string garbage = "\x01garbage{not json";
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  expect_one_line_error(run_hanlin({"generate", "--model", copy.string(), "--prompt-ids", "1"}),
                        "hanlin: error: " + weights.string() + ": ");
}

TEST(GenerateCliCheckpoints, HeaderLengthPastTheFile) {
  ScratchDir dir;
  const fs::path copy = copy_fixture("qwen3-gqa-untied", dir);
  const fs::path weights = copy / "model.safetensors";
  {
    std::fstream file(weights, std::ios::in | std::ios::out | std::ios::binary);
    const uint64_t huge = uint64_t{1} << 40;
    file.write(reinterpret_cast<const char*>(&huge), sizeof(huge));
  }
  expect_one_line_error(run_hanlin({"generate", "--model", copy.string(), "--prompt-ids", "1"}),
                        "hanlin: error: " + weights.string() + ": ");
}

TEST(GenerateCliCheckpoints, ConfigWithoutHiddenSize) {
  ScratchDir dir;
  const fs::path copy = copy_fixture("qwen3-gqa-untied", dir);
  json config = json::parse(read_file(copy / "config.json"));
  config.erase("hidden_size");
  std::ofstream(copy / "config.json") << config.dump(2);
  const RunResult result = run_hanlin({"generate", "--model", copy.string(), "--prompt-ids", "1"});
  expect_one_line_error(result, "hanlin: error: " + (copy / "config.json").string() + ": ");
  EXPECT_NE(result.err.find("hidden_size"), std::string::npos) << result.err;
}

TEST(GenerateCliCheckpoints, MissingShardOfAShardedCheckpoint) {
  ScratchDir dir;
  const fs::path copy = copy_fixture("qwen2-bias-sharded", dir);
  fs::remove(copy / "model-00002-of-00003.safetensors");
  expect_one_line_error(run_hanlin({"generate", "--model", copy.string(), "--prompt-ids", "1"}),
                        "hanlin: error: " + (copy / "model.safetensors.index.json").string() + ": ");
}

// The engine behind `generate`: batches, text prompts, sampling flags. The fixture's vocab is
// Qwen3's first 2048 ids, so text prompts keep to ASCII that tokenizes within it.
class GenerateCliEngine : public ::testing::Test {
 protected:
  RunResult generate(std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "--model", (kModels / "qwen3-gqa-untied").string(), "--tokenizer",
                                     HANLIN_TOKENIZER_DIR, "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_hanlin(args);
  }
  // One JSON value per output line.
  static std::vector<json> lines_of(const std::string& out) {
    std::vector<json> lines;
    std::istringstream stream(out);
    for (std::string line; std::getline(stream, line);) lines.push_back(json::parse(line));
    return lines;
  }
  json single(std::vector<std::string> extra) {
    extra.push_back("--json");
    const RunResult result = generate(extra);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? json::parse(result.out) : json();
  }
};

TEST_F(GenerateCliEngine, BatchLinesRunTogetherAndPrintInInputOrder) {
  ScratchDir dir;
  const fs::path batch = dir.path() / "requests.jsonl";
  std::ofstream(batch) << R"({"prompt_ids": [5, 6, 7], "max_tokens": 6, "ignore_eos": true})" "\n"
                       << R"({"prompt": "a, b; c.", "max_tokens": 4, "ignore_eos": true})" "\n"
                       << "\n"
                       << R"({"prompt_ids": [5, 6, 7], "max_tokens": 0})" "\n"
                       << R"({"prompt_ids": [9, 10], "max_tokens": 5, "temperature": 0.9, "seed": 3, "n": 2, "ignore_eos": true})" "\n"
                       << "not json\n"
                       << R"({"prompt_ids": [1], "max_tokenz": 3})" "\n"
                       << R"({"prompt_ids": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17], "max_tokens": 3, "logprobs": 2, "ignore_eos": true})" "\n";
  const RunResult result = generate({"--batch", batch.string(), "--json", "--max-num-batched-tokens", "8"});
  EXPECT_NE(result.exit_code, 0) << "some lines failed";
  const std::vector<json> lines = lines_of(result.out);
  ASSERT_EQ(lines.size(), 7u) << result.out;
  // Each good line gives what it gives alone.
  EXPECT_EQ(lines[0], single({"--prompt-ids", "5,6,7", "--max-tokens", "6", "--ignore-eos"}));
  EXPECT_EQ(lines[1], single({"--prompt", "a, b; c.", "--max-tokens", "4", "--ignore-eos"}));
  EXPECT_EQ(lines[1].at("token_ids").size(), 4u);
  EXPECT_EQ(lines[1].at("finish_reason"), "length");
  EXPECT_NE(lines[2].at("error").get<std::string>().find("line 4: max_tokens must be at least 1"), std::string::npos);
  ASSERT_EQ(lines[3].at("choices").size(), 2u);
  EXPECT_EQ(lines[3].at("choices")[0].at("token_ids").size(), 5u);
  EXPECT_NE(lines[4].at("error").get<std::string>().find("line 6: not valid JSON"), std::string::npos);
  EXPECT_NE(lines[5].at("error").get<std::string>().find("line 7: unknown field \"max_tokenz\""), std::string::npos);
  ASSERT_EQ(lines[6].at("logprobs").size(), 3u);
  EXPECT_EQ(lines[6].at("logprobs")[0].at("top_logprobs").size(), 2u);
  // Alone, the 17-token prompt runs in one chunk rather than three: the same tokens, logprobs
  // equal up to f32 rounding.
  const json alone = single({"--prompt-ids", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "--max-tokens", "3",
                             "--logprobs", "2", "--ignore-eos"});
  EXPECT_EQ(lines[6].at("token_ids"), alone.at("token_ids"));
  EXPECT_EQ(lines[6].at("text"), alone.at("text"));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(lines[6]["logprobs"][i]["logprob"].get<double>(), alone["logprobs"][i]["logprob"].get<double>(), 1e-5);
  }
}

TEST_F(GenerateCliEngine, TextPromptsEqualTheirTokenIds) {
  const json by_text = single({"--prompt", "x=1+2", "--max-tokens", "5", "--ignore-eos"});
  const RunResult tokenized = run_hanlin({"tokenize", "--model", HANLIN_TOKENIZER_DIR, "--text", "x=1+2", "--json"});
  ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
  const std::vector<int> ids = json::parse(tokenized.out).get<std::vector<int>>();
  const json by_ids = single({"--prompt-ids", join_ids(ids), "--max-tokens", "5", "--ignore-eos"});
  EXPECT_EQ(by_text, by_ids);
  EXPECT_TRUE(by_text.at("text").is_string());
  const RunResult plain = generate({"--prompt", "x=1+2", "--max-tokens", "5", "--ignore-eos"});
  EXPECT_EQ(plain.out, by_text.at("text").get<std::string>() + "\n");
}

TEST_F(GenerateCliEngine, SeedsReproduceAndStopStringsCut) {
  const std::vector<std::string> sampled = {"--prompt-ids", "3,4,5", "--max-tokens", "12", "--ignore-eos",
                                            "--temperature", "1.0", "--top-k", "50"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = sampled;
    args.insert(args.end(), extra.begin(), extra.end());
    return single(args);
  };
  EXPECT_EQ(with({"--seed", "7"}), with({"--seed", "7"}));
  EXPECT_NE(with({"--seed", "7"}).at("token_ids"), with({"--seed", "8"}).at("token_ids"));
  const std::string text = with({"--seed", "7"}).at("text").get<std::string>();
  ASSERT_GE(text.size(), 6u);
  const std::string stop = text.substr(3, 2);
  const json cut = with({"--seed", "7", "--stop", stop});
  EXPECT_EQ(cut.at("text").get<std::string>(), text.substr(0, text.find(stop)));
  EXPECT_EQ(cut.at("finish_reason"), "stop");
}

TEST_F(GenerateCliEngine, PromptFlagsAreExclusiveAndTextNeedsATokenizer) {
  expect_one_line_error(generate({"--prompt", "a", "--prompt-ids", "1"}), "give exactly one of");
  expect_one_line_error(generate({}), "give exactly one of");
  expect_one_line_error(
      run_hanlin({"generate", "--model", (kModels / "qwen3-gqa-untied").string(), "--prompt", "hi"}),
      "--prompt needs the model's tokenizer");
  expect_one_line_error(generate({"--batch", "/no/such/file.jsonl"}), "--batch: cannot read");
}

}  // namespace
