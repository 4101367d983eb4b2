// A kernel timeline of any CUDA program, hanlin's own runs included: loaded by the CUDA driver
// through CUDA_INJECTION64_PATH, it records every kernel's start and end on the GPU (CUPTI's
// concurrent-kernel activity, which does not serialise kernels) and, when the program exits,
// writes them to PREFIX.csv, a summary of the kernels launched from CUDA graphs (hanlin's decode
// steps) to PREFIX.txt and one line per burst of kernels to PREFIX.steps.txt, PREFIX being
// $HANLIN_KERNEL_TIMELINE:
//
//   export CUDA_INJECTION64_PATH=build/bench/libkernel_timeline.so HANLIN_KERNEL_TIMELINE=/tmp/step
//   hanlin bench latency --load-format dummy --preset qwen3-8b --batch-size 1 ...
//
// The summary gives, per kernel: its mean time from first block start to last block end; the mean
// gap from the end of the kernel before it (negative where a dependent launch overlaps that one);
// its marginal cost, its end minus the end of the kernel before it, which sums over a graph launch
// to the launch's span (less its first kernel) and so says what each kernel adds to a step; and
// the shared-memory carve-out the SMs ran it with. Per graph launch: the span, first start to last
// end. Gaps and marginal costs are taken within graph launches only.
//
// A burst is a run of kernels with no idle gap of kIdleBetweenSteps between them: a model step,
// launched from a graph or not (prefill and mixed steps are not). Its line gives its start, span,
// kernel count, how many came from graphs, and the kernels that took most of its time.
#include <cupti.h>
#include <cxxabi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

struct KernelRecord {
  uint64_t start = 0;
  uint64_t end = 0;
  uint32_t stream = 0;
  uint32_t graph = 0;
  uint64_t node = 0;
  uint32_t shared_executed = 0;  // the SM's shared-memory carve-out while it ran, bytes
  int32_t shared_dynamic = 0;
  int32_t grid[3] = {0, 0, 0};
  int32_t block = 0;
  std::string name;
};

std::mutex records_mutex;
std::vector<KernelRecord> records;

void check(CUptiResult result, const char* what) {
  if (result == CUPTI_SUCCESS) return;
  const char* message = nullptr;
  cuptiGetResultString(result, &message);
  std::fprintf(stderr, "kernel_timeline: %s failed: %s\n", what, message ? message : "unknown error");
}

// The demangled name up to its parameter list, without hanlin's namespaces.
std::string short_name(const char* mangled) {
  if (mangled == nullptr) return "?";
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  int depth = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '<') ++depth;
    if (name[i] == '>') --depth;
    if (name[i] == '(' && depth == 0 && name.compare(i, 21, "(anonymous namespace)") != 0) {
      name.resize(i);
      break;
    }
  }
  for (const char* prefix : {"hanlin::cuda::", "(anonymous namespace)::"}) {
    for (size_t at; (at = name.find(prefix)) != std::string::npos;) name.erase(at, std::string(prefix).size());
  }
  return name;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = size_t{16} << 20;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, *size));
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid_size) {
  std::vector<KernelRecord> batch;
  CUpti_Activity* record = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid_size, &record) == CUPTI_SUCCESS) {
    if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) continue;
    const auto* kernel = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
    KernelRecord r;
    r.start = kernel->start;
    r.end = kernel->end;
    r.stream = kernel->streamId;
    r.graph = kernel->graphId;
    r.node = kernel->graphNodeId;
    r.shared_executed = kernel->sharedMemoryExecuted;
    r.shared_dynamic = kernel->dynamicSharedMemory;
    r.grid[0] = kernel->gridX;
    r.grid[1] = kernel->gridY;
    r.grid[2] = kernel->gridZ;
    r.block = kernel->blockX * kernel->blockY * kernel->blockZ;
    r.name = short_name(kernel->name);
    batch.push_back(std::move(r));
  }
  std::free(buffer);
  std::lock_guard<std::mutex> lock(records_mutex);
  records.insert(records.end(), batch.begin(), batch.end());
}

void write_csv(const std::string& path, const std::vector<KernelRecord>& kernels) {
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return;
  std::fprintf(file, "start_ns,end_ns,stream,graph,node,shared_executed,shared_dynamic,grid,block,name\n");
  for (const KernelRecord& r : kernels) {
    std::fprintf(file, "%llu,%llu,%u,%u,%llu,%u,%d,%dx%dx%d,%d,\"%s\"\n", static_cast<unsigned long long>(r.start),
                 static_cast<unsigned long long>(r.end), r.stream, r.graph, static_cast<unsigned long long>(r.node),
                 r.shared_executed, r.shared_dynamic, r.grid[0], r.grid[1], r.grid[2], r.block, r.name.c_str());
  }
  std::fclose(file);
}

struct KernelSummary {
  int count = 0;
  int chained = 0;  // launches with a kernel before them in the same graph launch
  double busy_ns = 0;
  double gap_ns = 0;
  double marginal_ns = 0;
  std::set<uint32_t> shared_executed;
};

// Kernels launched from graphs, in start order per stream; a graph launch begins where the graph's
// first node comes round again.
void write_summary(const std::string& path, std::vector<KernelRecord> kernels) {
  std::erase_if(kernels, [](const KernelRecord& r) { return r.graph == 0; });
  std::sort(kernels.begin(), kernels.end(), [](const KernelRecord& a, const KernelRecord& b) {
    return a.stream != b.stream ? a.stream < b.stream : a.start < b.start;
  });
  std::map<std::string, KernelSummary> by_name;
  std::map<uint32_t, std::vector<double>> spans;  // per graph
  std::map<uint32_t, uint64_t> first_node;
  uint64_t launch_start = 0, launch_end = 0;
  uint32_t launch_graph = 0;
  for (size_t i = 0; i < kernels.size(); ++i) {
    const KernelRecord& r = kernels[i];
    KernelSummary& summary = by_name[r.name];
    ++summary.count;
    summary.busy_ns += static_cast<double>(r.end - r.start);
    summary.shared_executed.insert(r.shared_executed);
    const bool graph_starts_again = first_node.emplace(r.graph, r.node).first->second == r.node;
    const bool new_launch =
        i == 0 || graph_starts_again || r.graph != launch_graph || kernels[i - 1].stream != r.stream;
    if (!new_launch) {
      const KernelRecord& before = kernels[i - 1];
      ++summary.chained;
      summary.gap_ns += static_cast<double>(r.start) - static_cast<double>(before.end);
      summary.marginal_ns += static_cast<double>(r.end) - static_cast<double>(before.end);
    }
    if (new_launch) {
      if (launch_graph != 0) spans[launch_graph].push_back(static_cast<double>(launch_end - launch_start));
      launch_graph = r.graph;
      launch_start = r.start;
      launch_end = r.end;
    }
    launch_end = std::max(launch_end, r.end);
  }
  if (launch_graph != 0) spans[launch_graph].push_back(static_cast<double>(launch_end - launch_start));

  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return;
  std::fprintf(file, "kernels launched from CUDA graphs: %zu\n\n", kernels.size());
  std::fprintf(file, "%8s %10s %10s %12s %12s  %-20s %s\n", "count", "mean us", "gap us", "marginal us", "total ms",
               "carve-out KB", "kernel");
  for (const auto& [name, summary] : by_name) {
    std::string shared;
    for (uint32_t bytes : summary.shared_executed) {
      if (!shared.empty()) shared.push_back(',');
      shared.append(std::to_string(bytes / 1024));
    }
    const double chained = std::max(summary.chained, 1);
    std::fprintf(file, "%8d %10.2f %10.2f %12.2f %12.3f  %-20s %s\n", summary.count,
                 summary.busy_ns / summary.count / 1e3, summary.gap_ns / chained / 1e3,
                 summary.marginal_ns / chained / 1e3, summary.busy_ns / 1e6, shared.c_str(), name.c_str());
  }
  std::fprintf(file, "\n%8s %10s %12s %12s  %s\n", "graph", "launches", "median us", "mean us", "span of a launch");
  for (auto& [graph, values] : spans) {
    std::sort(values.begin(), values.end());
    double sum = 0;
    for (double v : values) sum += v;
    std::fprintf(file, "%8u %10zu %12.2f %12.2f\n", graph, values.size(), values[values.size() / 2] / 1e3,
                 sum / values.size() / 1e3);
  }
  std::fclose(file);
}

constexpr uint64_t kIdleBetweenSteps = 300'000;  // ns
constexpr size_t kKernelsNamedPerStep = 4;

void write_steps(const std::string& path, std::vector<KernelRecord> kernels) {
  if (kernels.empty()) return;
  std::sort(kernels.begin(), kernels.end(),
            [](const KernelRecord& a, const KernelRecord& b) { return a.start < b.start; });
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return;
  std::fprintf(file, "%10s %9s %7s %6s  %s\n", "start ms", "span ms", "kernels", "graph", "most time (ms)");
  const uint64_t origin = kernels.front().start;
  size_t first = 0;
  while (first < kernels.size()) {
    uint64_t end = kernels[first].end;
    size_t last = first + 1;
    while (last < kernels.size() && kernels[last].start <= end + kIdleBetweenSteps) {
      end = std::max(end, kernels[last].end);
      ++last;
    }
    std::map<std::string, double> busy;
    size_t from_graphs = 0;
    for (size_t i = first; i < last; ++i) {
      busy[kernels[i].name] += static_cast<double>(kernels[i].end - kernels[i].start) / 1e6;
      from_graphs += kernels[i].graph != 0;
    }
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto& [name, ms] : busy) ranked.emplace_back(ms, name);
    std::sort(ranked.rbegin(), ranked.rend());
    std::string named;
    for (size_t i = 0; i < ranked.size() && i < kKernelsNamedPerStep; ++i) {
      char figure[32];
      std::snprintf(figure, sizeof figure, " %.2f", ranked[i].first);
      named += (i > 0 ? "; " : "") + ranked[i].second + figure;
    }
    std::fprintf(file, "%10.2f %9.3f %7zu %6zu  %s\n", static_cast<double>(kernels[first].start - origin) / 1e6,
                 static_cast<double>(end - kernels[first].start) / 1e6, last - first, from_graphs, named.c_str());
    first = last;
  }
  std::fclose(file);
}

void write_timeline() {
  check(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "cuptiActivityFlushAll");
  const char* prefix = std::getenv("HANLIN_KERNEL_TIMELINE");
  const std::string base = prefix != nullptr && *prefix != '\0' ? prefix : "kernel_timeline";
  std::vector<KernelRecord> kernels;
  {
    std::lock_guard<std::mutex> lock(records_mutex);
    kernels.swap(records);
  }
  write_csv(base + ".csv", kernels);
  write_steps(base + ".steps.txt", kernels);
  write_summary(base + ".txt", std::move(kernels));
  std::fprintf(stderr, "kernel_timeline: wrote %s.csv, %s.txt and %s.steps.txt\n", base.c_str(), base.c_str(),
               base.c_str());
}

}  // namespace

// The CUDA driver calls this once, at its initialisation, in a process that names this library in
// CUDA_INJECTION64_PATH.
extern "C" int InitializeInjection() {
  check(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed), "cuptiActivityRegisterCallbacks");
  check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "cuptiActivityEnable");
  std::atexit(write_timeline);
  return 1;
}
