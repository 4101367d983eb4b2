// Helpers for the tests that run the hanlin binary (HANLIN_BINARY) as a subprocess: a scratch
// folder, the run itself with its exit code, stdout and stderr captured, and the check that a
// failed run printed exactly one "hanlin: error: " line.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

extern char** environ;

namespace hanlin::test {

struct RunResult {
  bool exited = false;  // false: killed by a signal
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// A scratch folder for one test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir()
      : path_(std::filesystem::temp_directory_path() /
              ("hanlin_cli_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Writes `content` to the file `name` in the folder and returns its path.
  std::filesystem::path file(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return path_ / name;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline std::atomic<int> counter_{0};
  std::filesystem::path path_;
};

// Runs the hanlin binary with `args`, stdout and stderr captured through files; standard input
// from `stdin_path`, or this process's own when it is empty.
inline RunResult run_hanlin(const std::vector<std::string>& args, const std::string& stdin_path = "") {
  ScratchDir capture;
  const std::string out_path = (capture.path() / "out").string();
  const std::string err_path = (capture.path() / "err").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!stdin_path.empty()) posix_spawn_file_actions_addopen(&actions, 0, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> argv_storage = {HANLIN_BINARY};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  RunResult result;
  const int spawn_error = posix_spawn(&pid, HANLIN_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    ADD_FAILURE() << "cannot run " << HANLIN_BINARY;
    return result;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exited = WIFEXITED(status);
  result.exit_code = result.exited ? WEXITSTATUS(status) : -1;
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

// Asserts that stderr is exactly one "hanlin: error: " line and that it holds `must_contain`.
inline void expect_error_line(const RunResult& result, const std::string& must_contain) {
  EXPECT_TRUE(result.err.starts_with("hanlin: error: ")) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_NE(result.err.find(must_contain), std::string::npos)
      << "'" << must_contain << "' not in: " << result.err;
}

// Asserts a failed run: exited (no signal) with `exit_code` and exactly one "hanlin: error: " line.
inline void expect_one_line_error(const RunResult& result, int exit_code, const std::string& must_contain) {
  EXPECT_TRUE(result.exited) << "killed by a signal; stderr: " << result.err;
  EXPECT_EQ(result.exit_code, exit_code) << result.err;
  expect_error_line(result, must_contain);
}

// Asserts a failed run: exited (no signal) non-zero with exactly one "hanlin: error: " line and
// nothing on stdout.
inline void expect_one_line_error(const RunResult& result, const std::string& must_contain) {
  EXPECT_TRUE(result.exited) << "killed by a signal; stderr: " << result.err;
  EXPECT_NE(result.exit_code, 0);
  expect_error_line(result, must_contain);
  EXPECT_EQ(result.out, "");
}

}  // namespace hanlin::test
