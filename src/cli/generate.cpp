// PLACEHOLDER until the owner of this subcommand lands it.
#include "cli/commands.h"
#include "core/error.h"

namespace hanlin::cli {

void add_generate_command(CLI::App& app) {
  app.add_subcommand("generate", "(not built yet)")->callback([] {
    throw Error(ErrorKind::kUnsupported, "'generate' is not built yet");
  });
}

}  // namespace hanlin::cli
