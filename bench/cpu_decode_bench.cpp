// CPU decode and prefill speed of Qwen3 at real sizes (dummy bf16 weights), against the
// machine's measured memory read bandwidth: batch-1 decode reads every weight once per token,
// so bytes per token ÷ bandwidth is its floor (TESTING.md §6: benchmarks report the ratio).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/batch_view.h"
#include "model/kv_cache.h"
#include "model/presets.h"
#include "model/qwen3.h"

namespace {

using hanlin::Tensor;
using hanlin::ThreadPool;
using hanlin::model::BatchView;
using hanlin::model::KvCache;
using hanlin::model::Qwen3Model;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// Sums [begin, end) as kStreams interleaved sequential streams: one stream per core leaves
// bandwidth unused (too few misses in flight); a GEMV reads many weight rows at once too.
uint64_t sum_streams(const uint64_t* data, int64_t begin, int64_t end) {
  constexpr int64_t kStreams = 8;
  const int64_t per_stream = (end - begin) / kStreams;
  uint64_t sums[kStreams] = {};
  for (int64_t i = 0; i < per_stream; ++i) {
    for (int64_t s = 0; s < kStreams; ++s) sums[s] += data[begin + s * per_stream + i];
  }
  uint64_t total = 0;
  for (int64_t i = begin + kStreams * per_stream; i < end; ++i) total += data[i];
  for (uint64_t sum : sums) total += sum;
  return total;
}

// Best of `repeats` multi-threaded streaming reads of a `bytes`-long buffer, in bytes/s.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int repeats) {
  const size_t words = bytes / sizeof(uint64_t);
  std::vector<uint64_t> buffer(words);
  pool.parallel_for(static_cast<int64_t>(words), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) buffer[static_cast<size_t>(i)] = static_cast<uint64_t>(i);
  });
  std::atomic<uint64_t> total{0};  // consumed below so the reads cannot be optimised away
  double best = 0;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    const Clock::time_point start = Clock::now();
    pool.parallel_for(static_cast<int64_t>(words), 1 << 16, [&](int64_t begin, int64_t end) {
      total.fetch_add(sum_streams(buffer.data(), begin, end), std::memory_order_relaxed);
    });
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / seconds_since(start));
  }
  if (total.load() == 42) std::printf(" ");
  return best;
}

// Bytes one decode token reads: every layer weight and the final norm once, and the lm_head
// (when tied, that is the whole embedding table; the embedding lookup itself reads one row).
int64_t weight_bytes_per_token(const Qwen3Model& model) {
  const auto& w = model.weights();
  int64_t bytes = static_cast<int64_t>(w.final_norm.nbytes() + w.lm_head.nbytes());
  for (const auto& layer : w.layers) {
    for (const Tensor* t : {&layer.input_norm, &layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj,
                            &layer.q_bias, &layer.k_bias, &layer.v_bias, &layer.o_bias, &layer.q_norm,
                            &layer.k_norm, &layer.post_attention_norm, &layer.gate_proj, &layer.up_proj,
                            &layer.down_proj}) {
      if (t->defined()) bytes += static_cast<int64_t>(t->nbytes());
    }
  }
  return bytes;
}

// One sequence on blocks [0, n): rows `tokens` at positions [start, start + tokens.size()).
BatchView sequence_rows(const std::vector<int32_t>& tokens, int32_t start, const std::vector<int32_t>& block_table) {
  BatchView view;
  view.token_ids = tokens;
  view.positions.resize(tokens.size());
  std::iota(view.positions.begin(), view.positions.end(), start);
  view.slot_mapping = view.positions;
  const int32_t count = static_cast<int32_t>(tokens.size());
  view.seqs.push_back({0, count, start + count, block_table});
  view.logits_rows = {count - 1};
  return view;
}

std::vector<int32_t> prompt_of(int64_t length) {
  std::vector<int32_t> tokens(static_cast<size_t>(length));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 7919 + 13) % 150000);
  return tokens;
}

struct Options {
  std::vector<std::string> presets = {"qwen3-0.6b", "qwen3-1.7b"};
  int threads = 0;
  int steps = 32;
  int prompt = 64;
  std::vector<int> prefill_lengths = {128, 512};
  int repeats = 3;
  double bandwidth_gb = 2.0;
};

// Median seconds per decode step after a prompt of options.prompt tokens.
double time_decode(Qwen3Model& model, const Options& options) {
  const int64_t total = options.prompt + options.steps;
  KvCache cache(model.config(), (total + KvCache::kBlockSize - 1) / KvCache::kBlockSize);
  std::vector<int32_t> table(static_cast<size_t>(cache.num_blocks()));
  std::iota(table.begin(), table.end(), 0);
  Tensor logits = model.forward(sequence_rows(prompt_of(options.prompt), 0, table), cache);
  std::vector<double> times;
  for (int step = 0; step < options.steps; ++step) {
    const float* row = logits.data<float>();
    const int32_t next = static_cast<int32_t>(std::max_element(row, row + logits.dim(1)) - row);
    const Clock::time_point start = Clock::now();
    logits = model.forward(sequence_rows({next}, options.prompt + step, table), cache);
    times.push_back(seconds_since(start));
  }
  return median(times);
}

// Median seconds of a one-shot prefill of `length` tokens on a fresh cache.
double time_prefill(Qwen3Model& model, int length, int repeats) {
  KvCache cache(model.config(), (length + KvCache::kBlockSize - 1) / KvCache::kBlockSize);
  std::vector<int32_t> table(static_cast<size_t>(cache.num_blocks()));
  std::iota(table.begin(), table.end(), 0);
  const std::vector<int32_t> prompt = prompt_of(length);
  model.forward(sequence_rows(prompt, 0, table), cache);  // warm-up: scratch buffers, page faults
  std::vector<double> times;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    const Clock::time_point start = Clock::now();
    model.forward(sequence_rows(prompt, 0, table), cache);
    times.push_back(seconds_since(start));
  }
  return median(times);
}

void bench_preset(const std::string& preset, const Options& options, ThreadPool& pool, double bandwidth) {
  const Clock::time_point load_start = Clock::now();
  Qwen3Model model = Qwen3Model::dummy(hanlin::model::preset_config(preset), 0, pool);
  std::printf("\n%s: dummy bf16 weights made in %.1f s\n", preset.c_str(), seconds_since(load_start));
  const double bytes = static_cast<double>(weight_bytes_per_token(model));
  const double step = time_decode(model, options);
  const double floor = bytes / bandwidth;
  std::printf("  decode (batch 1, after %d prompt tokens, median of %d steps): %.2f tok/s, %.1f ms/token\n",
              options.prompt, options.steps, 1.0 / step, step * 1e3);
  std::printf("  bytes read per decode token: %.3f GB (layer weights + final norm + lm_head%s)\n", bytes / 1e9,
              model.config().tie_word_embeddings ? " = tied embedding table" : "");
  std::printf("  bandwidth floor: %.1f ms/token; achieved %.2f GB/s = %.0f%% of measured bandwidth\n", floor * 1e3,
              bytes / step / 1e9, 100.0 * floor / step);
  // Prefill FLOPs: 2 per weight element per token (lm_head only for the last row; ignored).
  const double layer_weights = bytes - static_cast<double>(model.weights().lm_head.nbytes());
  for (int length : options.prefill_lengths) {
    const double seconds = time_prefill(model, length, options.repeats);
    std::printf("  prefill %d tokens (median of %d): %.1f tok/s, %.1f s, ~%.0f GFLOP/s in the linears\n", length,
                options.repeats, length / seconds, seconds, 2.0 * (layer_weights / 2.0) * length / seconds / 1e9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU decode/prefill benchmark of Qwen3 presets with dummy bf16 weights"};
  Options options;
  app.add_option("--preset", options.presets, "Presets to run (qwen3-0.6b, qwen3-1.7b, ...)")->capture_default_str();
  app.add_option("--threads", options.threads, "Threads; 0 means one per hardware thread")->capture_default_str();
  app.add_option("--steps", options.steps, "Decode steps timed (>= 16)")->capture_default_str()->check(CLI::Range(16, 100000));
  app.add_option("--prompt", options.prompt, "Prompt tokens before decoding")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--prefill", options.prefill_lengths, "Prefill lengths timed")->capture_default_str();
  app.add_option("--repeats", options.repeats, "Prefill repeats (median)")->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--bandwidth-gb", options.bandwidth_gb, "Buffer size of the bandwidth test in GB (>= 1)")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 64.0));
  CLI11_PARSE(app, argc, argv);
  try {
    ThreadPool pool(options.threads);
    const double bandwidth = measure_read_bandwidth(pool, static_cast<size_t>(options.bandwidth_gb * 1e9), 5);
    std::printf("threads: %d\nmemory read bandwidth (best of 5 over %.1f GB): %.2f GB/s\n", pool.num_threads(),
                options.bandwidth_gb, bandwidth / 1e9);
    for (const std::string& preset : options.presets) bench_preset(preset, options, pool, bandwidth);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cpu_decode_bench: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
