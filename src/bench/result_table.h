// The results table `hanlin bench serve` prints: the same figures, in the same order, as vLLM's
// so the two read side by side.
#pragma once

#include <string>

#include "bench/metrics.h"
#include "bench/result_json.h"

namespace hanlin::bench {

std::string result_table(const RunInfo& info, const BenchmarkMetrics& metrics);

}  // namespace hanlin::bench
