// The results table; see result_table.h.
#include "bench/result_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hanlin::bench {
namespace {

constexpr int kWidth = 52;

std::string heading(const std::string& title, char fill) {
  const int padding = kWidth - static_cast<int>(title.size()) - 2;
  const int left = padding / 2;
  return std::string(static_cast<size_t>(std::max(left, 0)), fill) + " " + title + " " +
         std::string(static_cast<size_t>(std::max(padding - left, 0)), fill) + "\n";
}

std::string row(const std::string& label, const std::string& value) {
  char line[160];
  std::snprintf(line, sizeof(line), "%-40s %s\n", label.c_str(), value.c_str());
  return line;
}

std::string fixed(double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f", value);
  return text;
}

std::string distribution_rows(const std::string& title, const std::string& name, const Distribution& values) {
  return heading(title, '-') + row("Mean " + name + " (ms):", fixed(values.mean)) +
         row("Median " + name + " (ms):", fixed(values.median)) + row("Std " + name + " (ms):", fixed(values.std)) +
         row("P90 " + name + " (ms):", fixed(values.p90)) + row("P99 " + name + " (ms):", fixed(values.p99));
}

}  // namespace

std::string result_table(const RunInfo& info, const BenchmarkMetrics& metrics) {
  std::string table = heading("Serving Benchmark Result", '=');
  table += row("Successful requests:", std::to_string(metrics.completed));
  table += row("Failed requests:", std::to_string(metrics.failed));
  if (info.max_concurrency > 0) table += row("Maximum request concurrency:", std::to_string(info.max_concurrency));
  if (!std::isinf(info.request_rate)) table += row("Request rate configured (RPS):", fixed(info.request_rate));
  table += row("Benchmark duration (s):", fixed(info.duration_s));
  table += row("Total input tokens:", std::to_string(metrics.total_input));
  table += row("Total generated tokens:", std::to_string(metrics.total_output));
  table += row("Request throughput (req/s):", fixed(metrics.request_throughput));
  if (info.has_goodput) table += row("Request goodput (req/s):", fixed(metrics.request_goodput));
  table += row("Output token throughput (tok/s):", fixed(metrics.output_throughput));
  table += row("Peak output token throughput (tok/s):", fixed(metrics.max_output_tokens_per_s));
  table += row("Peak concurrent requests:", std::to_string(metrics.max_concurrent_requests));
  table += row("Total token throughput (tok/s):", fixed(metrics.total_token_throughput));
  table += distribution_rows("Time to First Token", "TTFT", metrics.ttft);
  table += distribution_rows("Time per Output Token (excl. 1st token)", "TPOT", metrics.tpot);
  table += distribution_rows("Inter-token Latency", "ITL", metrics.itl);
  table += distribution_rows("End-to-end Latency", "E2EL", metrics.e2el);
  table += std::string(kWidth, '=') + "\n";
  return table;
}

}  // namespace hanlin::bench
