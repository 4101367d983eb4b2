// `hanlin render` run as a subprocess: it prints exactly the rendered prompt (no added newline),
// finds the checkpoint's template where transformers would, and fails with one clear line.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;

const std::string kTokenizerDir = HANLIN_TOKENIZER_DIR;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// A scratch folder for one test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir()
      : path_(fs::temp_directory_path() /
              ("hanlin_render_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))) {
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// Runs hanlin with `args`, standard input from `stdin_path` (or /dev/null).
RunResult run_hanlin(const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null") {
  ScratchDir scratch;
  std::string out_path = scratch.file("stdout", "");
  std::string err_path = scratch.file("stderr", "");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_TRUNC, 0);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_TRUNC, 0);
  std::vector<std::string> argv_strings = {HANLIN_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  RunResult result;
  if (posix_spawn(&pid, HANLIN_BINARY, &actions, nullptr, argv.data(), environ) == 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
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
