// Shared by the tokenizer tests: the real Qwen3 tokenizer, the parity corpus, and what Hugging
// Face `tokenizers` made of it (tests/fixtures/text/, written by
// tests/reference/make_tokenizer_fixtures.py on the GPU host).
#pragma once

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/tokenizer.h"

namespace hanlin::text::testing {

// THE ONE PLACE that decides what happens when a parity fixture file is missing: with false,
// the parity tests skip with kMissingFixtures; flip to true to make a missing file a failure.
inline constexpr bool kFixturesRequired = true;
inline constexpr const char* kMissingFixtures =
    "tokenizer parity fixtures are missing: run tests/reference/make_tokenizer_fixtures.py on the GPU host "
    "and copy its output into tests/fixtures/text/";
inline constexpr const char* kMissingTokenizer =
    "third_party/qwen3-tokenizer/tokenizer.json is missing: run scripts/setup.sh";

inline std::string text_fixture_path(const std::string& name) {
  return std::string(HANLIN_FIXTURES_DIR) + "/text/" + name;
}

// Every line of a JSONL file, parsed; nullopt when the file does not exist.
inline std::optional<std::vector<nlohmann::json>> read_jsonl(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::vector<nlohmann::json> values;
  std::string line;
  while (std::getline(file, line)) {
    if (!line.empty()) values.push_back(nlohmann::json::parse(line));
  }
  return values;
}

// The corpus lines (tests/fixtures/text/corpus.jsonl), read once.
inline const std::vector<std::string>* corpus_lines() {
  static const auto lines = []() -> std::unique_ptr<std::vector<std::string>> {
    auto values = read_jsonl(text_fixture_path("corpus.jsonl"));
    if (!values) return nullptr;
    auto result = std::make_unique<std::vector<std::string>>();
    for (const auto& value : *values) result->push_back(value.get<std::string>());
    return result;
  }();
  return lines.get();
}

// The ids Hugging Face gave each corpus line (corpus_ids.jsonl), read once.
inline const std::vector<std::vector<TokenId>>* corpus_ids() {
  static const auto ids = []() -> std::unique_ptr<std::vector<std::vector<TokenId>>> {
    auto values = read_jsonl(text_fixture_path("corpus_ids.jsonl"));
    if (!values) return nullptr;
    auto result = std::make_unique<std::vector<std::vector<TokenId>>>();
    for (const auto& value : *values) result->push_back(value.get<std::vector<TokenId>>());
    return result;
  }();
  return ids.get();
}

// The real Qwen3 tokenizer, loaded once; null when setup.sh has not fetched it.
inline const Tokenizer* qwen3_tokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = []() -> std::unique_ptr<Tokenizer> {
    const std::string dir = HANLIN_TOKENIZER_DIR;
    if (!std::ifstream(dir + "/tokenizer.json")) return nullptr;
    return std::make_unique<Tokenizer>(Tokenizer::load(dir));
  }();
  return tokenizer.get();
}

// A readable rendering of ids around `position` for failure messages.
inline std::string ids_around(const std::vector<TokenId>& ids, size_t position) {
  std::ostringstream out;
  const size_t first = position >= 5 ? position - 5 : 0;
  out << "[" << first << "..]";
  for (size_t index = first; index < ids.size() && index < position + 6; ++index) {
    out << (index == position ? " >" : " ") << ids[index];
  }
  return out.str();
}

}  // namespace hanlin::text::testing

// Skips the calling test when a fixture is absent (or fails it, per kFixturesRequired).
#define HANLIN_REQUIRE_FIXTURE(pointer, message)                    \
  do {                                                              \
    if ((pointer) == nullptr) {                                     \
      if (::hanlin::text::testing::kFixturesRequired) FAIL() << (message); \
      GTEST_SKIP() << (message);                                    \
    }                                                               \
  } while (false)
