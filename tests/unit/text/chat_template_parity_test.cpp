// Parity with Hugging Face: every conversation of tests/fixtures/templates/conversations.json,
// rendered with the Qwen3, Qwen2.5 and QwQ templates, must give exactly the text transformers'
// apply_chat_template gave (tests/fixtures/templates/rendered.jsonl, made on the GPU host by
// tests/reference/make_template_fixtures.py), or fail where it failed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/chat_template/chat_template.h"
#include "text/chat_template/render_context.h"

namespace hanlin::text {
namespace {

using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

const fs::path kTemplatesDir = fs::path(HANLIN_FIXTURES_DIR) / "templates";
const fs::path kTokenizerDir = HANLIN_TOKENIZER_DIR;

// HANLIN_RENDERED_JSONL may point at another rendered.jsonl (e.g. a fresh one to try out).
fs::path rendered_path() {
  const char* override_path = std::getenv("HANLIN_RENDERED_JSONL");
  return override_path != nullptr ? fs::path(override_path) : kTemplatesDir / "rendered.jsonl";
}

struct Outcome {
  bool ok = false;
  std::string text;  // the rendered text, or the error message
};

Outcome render_conversation(const ChatTemplate& chat_template, const Json& request,
                            const Json& checkpoint_variables) {
  try {
    return {true, chat_template.render(chat_template_variables(request), checkpoint_variables).text};
  } catch (const Error& error) {
    return {false, error.what()};
  }
}

// The line where two texts first differ, for a readable failure.
std::string first_difference(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  size_t from = expected.rfind('\n', i == 0 ? 0 : i - 1);
  from = from == std::string::npos ? 0 : from + 1;
  return "at byte " + std::to_string(i) +
         "\n  expected: " + Json(expected.substr(from, i - from + 60)).dump() +
         "\n  actual:   " + Json(actual.substr(from, i - from + 60)).dump();
}

TEST(ChatTemplateParity, MatchesTransformersApplyChatTemplate) {
  // The one place the parity test waits for its fixtures.
  if (!fs::exists(rendered_path())) {
    GTEST_SKIP() << rendered_path()
                 << " is not there yet: run tests/reference/make_template_fixtures.py on the "
                 << "GPU host (see its docstring) and commit its rendered.jsonl";
  }
  if (!fs::exists(kTokenizerDir / "tokenizer_config.json")) {
    GTEST_SKIP() << kTokenizerDir << " is missing: run scripts/setup.sh";
  }
  Json tokenizer_config = Json::parse(read_text_file((kTokenizerDir / "tokenizer_config.json").string()));
  Json checkpoint_variables = checkpoint_template_variables(tokenizer_config);
  std::map<std::string, ChatTemplate> templates;
  templates.emplace("Qwen-Qwen3-0.6B",
                    ChatTemplate::compile(tokenizer_config["chat_template"].get<std::string>()));
  for (const char* name : {"Qwen-Qwen2.5-7B-Instruct", "Qwen-QwQ-32B"}) {
    templates.emplace(name, ChatTemplate::compile(
                                read_text_file((kTemplatesDir / (std::string(name) + ".jinja")).string())));
  }
  Json conversations =
      Json::parse(read_text_file((kTemplatesDir / "conversations.json").string()))["conversations"];

  std::ifstream rendered(rendered_path());
  std::string line;
  size_t num_checked = 0;
  std::map<std::string, size_t> per_template;
  while (std::getline(rendered, line)) {
    if (line.empty()) continue;
    Json expected = Json::parse(line);
    if (expected.contains("meta")) continue;
    std::string name = expected["template"];
    size_t index = expected["conversation"];
    ASSERT_TRUE(templates.count(name)) << "unknown template " << name;
    ASSERT_LT(index, conversations.size());
    SCOPED_TRACE(name + " conversation #" + std::to_string(index) + " (" + expected.value("name", "") + ")");
    Outcome outcome =
        render_conversation(templates.at(name), conversations[index]["request"], checkpoint_variables);
    if (expected.contains("error")) {
      EXPECT_FALSE(outcome.ok) << "transformers failed (" << expected["error"] << ") but hanlin rendered:\n"
                               << outcome.text;
    } else {
      ASSERT_TRUE(outcome.ok) << "hanlin failed: " << outcome.text;
      const std::string& want = expected["text"].get_ref<const std::string&>();
      EXPECT_EQ(outcome.text, want) << first_difference(want, outcome.text);
    }
    ++num_checked;
    ++per_template[name];
  }
  // Every template must have rendered every conversation: a short fixture proves less.
  EXPECT_EQ(per_template.size(), 3u);
  for (const auto& [name, count] : per_template) EXPECT_EQ(count, conversations.size()) << name;
  EXPECT_GE(conversations.size(), 30u);
  std::cout << "checked " << num_checked << " renders against " << rendered_path() << "\n";
}

}  // namespace
}  // namespace hanlin::text
