// Placeholder until `hanlin bench serve` lands.
#include "cli/commands.h"
namespace hanlin::cli {
void add_bench_serve_command(CLI::App& bench) { bench.add_subcommand("serve", "(not built yet)"); }
}  // namespace hanlin::cli
