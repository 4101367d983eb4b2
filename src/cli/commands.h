// Each subcommand of `hanlin` lives in its own file and registers itself on the app here.
#pragma once

#include <CLI/CLI.hpp>

namespace hanlin::cli {

// Each adds a subcommand to `app`; its callback runs the command and throws hanlin::Error
// on failure (main turns that into a one-line message and a non-zero exit).
void add_generate_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_render_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_bench_command(CLI::App& app);

// `hanlin bench`'s own subcommands, added to the `bench` command.
void add_bench_serve_command(CLI::App& bench);
void add_bench_latency_command(CLI::App& bench);
void add_bench_throughput_command(CLI::App& bench);

}  // namespace hanlin::cli
