// GenerationConfig: the sampling defaults of real checkpoints; a missing file is empty and a
// malformed one is an error naming the file and field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/model_config.h"
#include "test_files.h"

namespace hanlin::io {
namespace {

using testing::capture_error;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Qwen/Qwen3-0.6B generation_config.json as published.
constexpr const char* kQwen3 = R"({
  "bos_token_id": 151643,
  "do_sample": true,
  "eos_token_id": [151645, 151643],
  "pad_token_id": 151643,
  "temperature": 0.6,
  "top_k": 20,
  "top_p": 0.95,
  "transformers_version": "4.51.0"
})";

// Qwen/Qwen2.5-7B-Instruct generation_config.json as published.
constexpr const char* kQwen25 = R"({
  "bos_token_id": 151643,
  "pad_token_id": 151643,
  "do_sample": true,
  "eos_token_id": [151645, 151643],
  "repetition_penalty": 1.05,
  "temperature": 0.7,
  "top_p": 0.8,
  "top_k": 20,
  "transformers_version": "4.37.0"
})";

GenerationConfig parse(const std::string& text) {
  return parse_generation_config(text, "generation_config.json");
}

void expect_error(const std::string& text, const std::string& fragment) {
  const Error error = capture_error([&] { parse(text); });
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile) << text;
  EXPECT_THAT(error.what(), StartsWith("generation_config.json: "));
  EXPECT_THAT(error.what(), HasSubstr(fragment)) << text;
}

TEST(GenerationConfig, Qwen3AsShipped) {
  const GenerationConfig config = parse(kQwen3);
  EXPECT_THAT(config.eos_token_ids, ElementsAre(151645, 151643));
  EXPECT_EQ(config.temperature, 0.6);
  EXPECT_EQ(config.top_k, 20);
  EXPECT_EQ(config.top_p, 0.95);
  EXPECT_EQ(config.do_sample, true);
  EXPECT_FALSE(config.min_p.has_value());
  EXPECT_FALSE(config.repetition_penalty.has_value());
  EXPECT_FALSE(config.max_new_tokens.has_value());
}

TEST(GenerationConfig, Qwen25AsShipped) {
  const GenerationConfig config = parse(kQwen25);
  EXPECT_EQ(config.repetition_penalty, 1.05);
  EXPECT_EQ(config.temperature, 0.7);
  EXPECT_EQ(config.top_p, 0.8);
  EXPECT_EQ(config.top_k, 20);
}

TEST(GenerationConfig, SingleEosMinPAndMaxNewTokens) {
  const GenerationConfig config = parse(
      R"({"eos_token_id": 2, "min_p": 0.05, "max_new_tokens": 512, "do_sample": false, "temperature": 0})");
  EXPECT_THAT(config.eos_token_ids, ElementsAre(2));
  EXPECT_EQ(config.min_p, 0.05);
  EXPECT_EQ(config.max_new_tokens, 512);
  EXPECT_EQ(config.do_sample, false);
  EXPECT_EQ(config.temperature, 0.0);
}

TEST(GenerationConfig, NullMeansAbsent) {
  const GenerationConfig config = parse(R"({"temperature": null, "top_k": null, "eos_token_id": null})");
  EXPECT_FALSE(config.temperature.has_value());
  EXPECT_FALSE(config.top_k.has_value());
  EXPECT_TRUE(config.eos_token_ids.empty());
}

TEST(GenerationConfig, MissingFileIsEmpty) {
  const GenerationConfig config = load_generation_config("/nonexistent/hanlin/generation_config.json");
  EXPECT_TRUE(config.eos_token_ids.empty());
  EXPECT_FALSE(config.temperature.has_value());
  EXPECT_FALSE(config.do_sample.has_value());
}

TEST(GenerationConfig, LoadsAFixture) {
  const GenerationConfig config =
      load_generation_config(HANLIN_FIXTURES_DIR "/models/qwen3-yarn/generation_config.json");
  EXPECT_THAT(config.eos_token_ids, ElementsAre(2047));
}

TEST(GenerationConfig, MalformedFileIsAnError) {
  testing::TempDir dir;
  const std::string path = dir.file("generation_config.json");
  testing::write_file(path, "{\"temperature\": ");
  const Error error = capture_error([&] { load_generation_config(path); });
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_THAT(error.what(), StartsWith(path + ": generation config is not valid JSON"));
}

TEST(GenerationConfig, RejectsWrongTypesAndRanges) {
  expect_error("[]", "generation config must be a JSON object, got an array");
  expect_error(R"({"temperature": "hot"})", "'temperature' must be a non-negative number, got \"hot\"");
  expect_error(R"({"temperature": -0.5})", "'temperature' must be a non-negative number, got -0.5");
  expect_error(R"({"top_p": 1.5})", "'top_p' must be a number between 0 and 1, got 1.5");
  expect_error(R"({"min_p": -0.1})", "'min_p' must be a number between 0 and 1, got -0.1");
  expect_error(R"({"top_k": -1})", "'top_k' must be a non-negative integer, got -1");
  expect_error(R"({"top_k": 2.5})", "'top_k' must be a non-negative integer, got 2.5");
  expect_error(R"({"repetition_penalty": 0})", "'repetition_penalty' must be a positive number, got 0");
  expect_error(R"({"do_sample": "yes"})", "'do_sample' must be true or false, got \"yes\"");
  expect_error(R"({"max_new_tokens": 0})", "'max_new_tokens' must be a positive integer, got 0");
  expect_error(R"({"eos_token_id": [1, "x"]})",
               "'eos_token_id' must be a non-negative integer or a list of them");
  expect_error(R"({"top_k": 1, "top_k": 2})", "field 'top_k' appears twice");
}

}  // namespace
}  // namespace hanlin::io
