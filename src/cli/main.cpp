// hanlin's entry point: parses the command line and runs one subcommand. Errors thrown
// anywhere below end here as one line on stderr and a non-zero exit status.
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace {

int exit_code_for(hanlin::ErrorKind kind) {
  switch (kind) {
    case hanlin::ErrorKind::kInvalidArgument: return 2;
    case hanlin::ErrorKind::kNotFound:
    case hanlin::ErrorKind::kInvalidFile: return 3;
    case hanlin::ErrorKind::kUnsupported: return 4;
    case hanlin::ErrorKind::kResourceExhausted: return 5;
    case hanlin::ErrorKind::kInternal: return 70;
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hanlin: a private serving system for the Qwen model family"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hanlin 0.1.0");
  hanlin::cli::add_generate_command(app);
  hanlin::cli::add_tokenize_command(app);
  hanlin::cli::add_render_command(app);
  hanlin::cli::add_serve_command(app);
  hanlin::cli::add_bench_command(app);
  // Flag errors in the same one-line form as every other error (help still prints in full).
  app.failure_message([](const CLI::App*, const CLI::Error& error) {
    return "hanlin: error: " + std::string(error.what()) + " (see --help)\n";
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const hanlin::Error& error) {
    std::fprintf(stderr, "hanlin: error: %s\n", error.what());
    return exit_code_for(error.kind());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "hanlin: internal error: %s\n", error.what());
    return 70;
  }
  return 0;
}
