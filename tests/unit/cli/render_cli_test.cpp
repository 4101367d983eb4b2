// `hanlin render` run as a subprocess: it prints exactly the rendered prompt (no added newline),
// finds the checkpoint's template where transformers would, and fails with one clear line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using hanlin::test::RunResult;

const std::string kTokenizerDir = HANLIN_TOKENIZER_DIR;

// The shared scratch folder, its paths as strings.
class ScratchDir {
 public:
  std::string file(const std::string& name, const std::string& content) const {
    return dir_.file(name, content).string();
  }
  std::string path() const { return dir_.path().string(); }

 private:
  hanlin::test::ScratchDir dir_;
};

// Runs hanlin with `args`, standard input from `stdin_path` (or /dev/null).
RunResult run_hanlin(const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null") {
  return hanlin::test::run_hanlin(args, stdin_path);
}

bool has_real_tokenizer() {
  return fs::exists(fs::path(kTokenizerDir) / "tokenizer_config.json");
}

int count_lines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

TEST(RenderCli, PrintsTheQwen3PromptExactly) {
  if (!has_real_tokenizer()) GTEST_SKIP() << kTokenizerDir << " is missing: run scripts/setup.sh";
  ScratchDir scratch;
  std::string request = scratch.file("request.json", R"({"model": "qwen3",
      "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好"}],
      "chat_template_kwargs": {"enable_thinking": false}})");
  RunResult result = run_hanlin({"render", "--model", kTokenizerDir, "--request", request});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  // Hand-derived from the Qwen3 template: system turn, user turn, generation prompt with an empty
  // think block because enable_thinking is false; nothing after it (no newline added).
  EXPECT_EQ(result.out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
  EXPECT_EQ(result.err, "");
}

TEST(RenderCli, ReadsTheRequestFromStandardInput) {
  ScratchDir scratch;
  std::string tmpl = scratch.file("t.jinja", "{{ messages[0].content }}|{{ add_generation_prompt }}");
  std::string request = scratch.file(
      "request.json", R"({"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": false})");
  RunResult result =
      run_hanlin({"render", "--model", scratch.path(), "--template", tmpl, "--request", "-"}, request);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "hi|False");
}

TEST(RenderCli, FindsTheTemplateWhereTransformersDoes) {
  ScratchDir model;
  std::string request = model.file("request.json", R"({"messages": [{"role": "user", "content": "x"}]})");
  // A list of named templates: the one named "default".
  model.file("tokenizer_config.json", R"({"eos_token": "</s>", "chat_template": [
      {"name": "tool_use", "template": "tool"}, {"name": "default", "template": "default {{ eos_token }}"}]})");
  RunResult result = run_hanlin({"render", "--model", model.path(), "--request", request});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "default </s>");
  // chat_template.jinja, in newer checkpoints, comes first.
  model.file("chat_template.jinja", "jinja file {{ messages|length }}\n");
  result = run_hanlin({"render", "--model", model.path(), "--request", request});
  EXPECT_EQ(result.out, "jinja file 1");
  // --template overrides both.
  std::string tmpl = model.file("other.jinja", "override");
  result = run_hanlin({"render", "--model", model.path(), "--request", request, "--template", tmpl});
  EXPECT_EQ(result.out, "override");
}

TEST(RenderCli, ErrorsAreOneLineWithANonZeroExit) {
  ScratchDir model;
  std::string good = model.file("good.json", R"({"messages": [{"role": "user", "content": "x"}]})");
  std::string bad_json = model.file("bad.json", "{\"messages\": [");
  std::string bad_type = model.file("type.json", R"({"messages": [{"role": "user", "content": 3}]})");
  std::string image = model.file(
      "image.json",
      R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})");
  std::string raising = model.file("raise.jinja", "{{ raise_exception('only user turns, please') }}");
  std::string broken = model.file("broken.jinja", "{% if %}");
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"render", "--model", model.path(), "--request", good}, 3, "pass --template"},
      {{"render", "--model", model.path(), "--request", bad_json, "--template", raising},
       2,
       "not valid JSON"},
      {{"render", "--model", model.path(), "--request", bad_type, "--template", raising},
       2,
       "messages[0].content"},
      {{"render", "--model", model.path(), "--request", image, "--template", raising}, 2, "image_url"},
      {{"render", "--model", model.path(), "--request", good, "--template", raising},
       2,
       "only user turns, please"},
      {{"render", "--model", model.path(), "--request", good, "--template", broken},
       3,
       "chat template line 1, column"},
      {{"render", "--model", model.path() + "/nope", "--request", good}, 3, "not a directory"},
      {{"render", "--model", model.path(), "--request", model.path() + "/missing.json", "--template",
        raising},
       3,
       "missing.json"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args.back());
    RunResult result = run_hanlin(c.args);
    EXPECT_EQ(result.exit_code, c.exit_code) << result.err;
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(count_lines(result.err), 1) << result.err;
    EXPECT_NE(result.err.find(c.message), std::string::npos) << result.err;
  }
  RunResult missing_flag = run_hanlin({"render", "--model", model.path()});
  EXPECT_NE(missing_flag.exit_code, 0);
}

TEST(RenderCli, HelpExplainsEveryFlag) {
  RunResult result = run_hanlin({"render", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* flag :
       {"--model", "--request", "--template", "tokenizer_config.json", "chat_template_kwargs"}) {
    EXPECT_NE(result.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
