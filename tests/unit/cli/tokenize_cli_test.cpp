// `hanlin tokenize` run as a subprocess with the real Qwen3 tokenizer: its output lines are
// byte-for-byte the Hugging Face fixture lines, and bad input ends in one clear error line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace hanlin::test;  // cli_test_util.h

const std::string kTokenizerDir = HANLIN_TOKENIZER_DIR;
const fs::path kTextFixtures = fs::path(HANLIN_FIXTURES_DIR) / "text";

std::vector<std::string> read_lines(const fs::path& path, size_t limit) {
  std::ifstream file(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (lines.size() < limit && std::getline(file, line)) lines.push_back(line);
  return lines;
}

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(fs::path(kTokenizerDir) / "tokenizer.json")) {
      GTEST_SKIP() << "third_party/qwen3-tokenizer is missing: run scripts/setup.sh";
    }
  }
};

// "Hello" = 9707 and "Ġworld" = 1879 in tokenizer.json's vocab; <|im_end|> = 151645.
TEST_F(TokenizeCli, TextPrintsAJsonArrayOfIds) {
  const RunResult run = run_hanlin({"tokenize", "--model", kTokenizerDir, "--text", "Hello world"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "[9707,1879]\n");
  EXPECT_EQ(run_hanlin({"tokenize", "--model", kTokenizerDir, "--text", "", "--json"}).out, "[]\n");
}

TEST_F(TokenizeCli, SpecialTokensParsedByDefaultAndPlainWithNoSpecial) {
  EXPECT_EQ(run_hanlin({"tokenize", "--model", kTokenizerDir, "--text", "<|im_end|>"}).out, "[151645]\n");
  const RunResult plain = run_hanlin({"tokenize", "--model", kTokenizerDir, "--text", "<|im_end|>", "--no-special"});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out, "[151645]\n");
  EXPECT_GT(std::count(plain.out.begin(), plain.out.end(), ','), 1);
}

// The first 2000 corpus lines through --jsonl: the output is the Hugging Face fixture, byte for byte.
TEST_F(TokenizeCli, JsonlOutputEqualsTheHuggingFaceFixture) {
  const auto inputs = read_lines(kTextFixtures / "corpus.jsonl", 2000);
  const auto expected = read_lines(kTextFixtures / "corpus_ids.jsonl", 2000);
  if (inputs.empty() || expected.size() != inputs.size()) GTEST_SKIP() << "tokenizer parity fixtures are missing";
  ScratchDir scratch;
  std::string content;
  for (const std::string& line : inputs) content += line + "\n";
  const fs::path input = scratch.file("input.jsonl", content);
  const RunResult run = run_hanlin({"tokenize", "--model", kTokenizerDir, "--jsonl", input.string()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::istringstream output(run.out);
  std::string line;
  for (size_t index = 0; index < expected.size(); ++index) {
    ASSERT_TRUE(std::getline(output, line)) << "output ends after " << index << " lines";
    ASSERT_EQ(line, expected[index]) << "corpus line " << index;
  }
  EXPECT_FALSE(std::getline(output, line)) << "extra output: " << line;
}

TEST_F(TokenizeCli, BadInputIsOneErrorLine) {
  ScratchDir scratch;
  const fs::path not_string = scratch.file("bad.jsonl", "\"fine\"\n{\"text\": 1}\n");
  const RunResult bad_line = run_hanlin({"tokenize", "--model", kTokenizerDir, "--jsonl", not_string.string()});
  expect_one_line_error(bad_line, 2, "bad.jsonl:2: expected a JSON string");
  const fs::path not_json = scratch.file("broken.jsonl", "\"unterminated\n");
  expect_one_line_error(run_hanlin({"tokenize", "--model", kTokenizerDir, "--jsonl", not_json.string()}), 2,
                        "broken.jsonl:1: not JSON");
  expect_one_line_error(run_hanlin({"tokenize", "--model", kTokenizerDir, "--text", "ok\xFF"}), 2,
                        "not valid UTF-8: byte 0xff at byte offset 2");
  const fs::path lone_surrogate = scratch.file("surrogate.jsonl", "\"\\ud800\"\n");
  const RunResult surrogate = run_hanlin({"tokenize", "--model", kTokenizerDir, "--jsonl", lone_surrogate.string()});
  EXPECT_NE(surrogate.exit_code, 0);
  EXPECT_TRUE(surrogate.err.starts_with("hanlin: error: ")) << surrogate.err;
  expect_one_line_error(run_hanlin({"tokenize", "--model", scratch.path().string(), "--text", "x"}), 3,
                        "no tokenizer.json");
  expect_one_line_error(run_hanlin({"tokenize", "--model", kTokenizerDir}), 2, "give either --text or --jsonl");
  expect_one_line_error(run_hanlin({"tokenize", "--model", kTokenizerDir, "--jsonl", "/nonexistent.jsonl"}), 3,
                        "cannot open /nonexistent.jsonl");
}

TEST_F(TokenizeCli, MalformedTokenizerJsonIsOneErrorLine) {
  ScratchDir scratch;
  scratch.file("tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": 3}}");
  const RunResult run = run_hanlin({"tokenize", "--model", scratch.path().string(), "--text", "x"});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_TRUE(run.err.starts_with("hanlin: error: tokenizer.json: ")) << run.err;
}

TEST_F(TokenizeCli, HelpExplainsEveryFlag) {
  const RunResult run = run_hanlin({"tokenize", "--help"});
  EXPECT_EQ(run.exit_code, 0);
  for (const char* flag : {"--model", "--text", "--jsonl", "--json", "--no-special"}) {
    EXPECT_NE(run.out.find(flag), std::string::npos) << flag << " missing from:\n" << run.out;
  }
}

}  // namespace
