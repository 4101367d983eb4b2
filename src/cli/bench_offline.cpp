// Placeholder until `hanlin bench latency` and `hanlin bench throughput` land.
#include "cli/commands.h"
namespace hanlin::cli {
void add_bench_latency_command(CLI::App& bench) { bench.add_subcommand("latency", "(not built yet)"); }
void add_bench_throughput_command(CLI::App& bench) { bench.add_subcommand("throughput", "(not built yet)"); }
}  // namespace hanlin::cli
