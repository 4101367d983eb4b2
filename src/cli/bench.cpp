// `hanlin bench`: `serve` measures any OpenAI-compatible server over HTTP the way vLLM's `bench
// serve` does; `latency` and `throughput` run the engine in-process, without HTTP.
#include "cli/commands.h"

namespace hanlin::cli {

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Measure serving speed (serve: over HTTP; latency, throughput: in-process)");
  bench->require_subcommand(1);
  add_bench_serve_command(*bench);
  add_bench_latency_command(*bench);
  add_bench_throughput_command(*bench);
}

}  // namespace hanlin::cli
