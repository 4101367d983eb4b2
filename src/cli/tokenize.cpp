// PLACEHOLDER until the owner of this subcommand lands it.
#include "cli/commands.h"
#include "core/error.h"

namespace hanlin::cli {

void add_tokenize_command(CLI::App& app) {
  app.add_subcommand("tokenize", "(not built yet)")->callback([] {
    throw Error(ErrorKind::kUnsupported, "'tokenize' is not built yet");
  });
}

}  // namespace hanlin::cli
