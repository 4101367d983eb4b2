// Attention kernels alone. Prefill, causal: cuda::prefill_attention (tensor cores) on one
// sequence of 4K, 8K and 16K tokens at Qwen3-8B's heads (32 query, 8 kv, head dim 128) and at
// Qwen2.5-0.5B's (14 query, 2 kv, head dim 64), against cuda::paged_attention (CUDA cores) up to
// 4K; TFLOP/s counting 4 · heads · head_dim · L² / 2. Decode: cuda::paged_attention on one decode
// row per sequence at Qwen3-8B's heads, batch 1 to 64 and context 128 to 32K, as a decode step
// runs it (replayed from a CUDA graph, back to back, cycling through copies of the KV blocks that
// together pass four L2s so the reads come from memory); GB/s of K and V read against --peak-tbs,
// and beside it the least time a kernel that only reads those bytes takes the same way (the floor,
// kv_read_floor.h): what no attention kernel can beat at that shape.
// Random bf16 data, block tables in shuffled order; median GPU time of many runs (CUDA events,
// after a warm-up).
//
// Usage: cuda_attention_bench [--runs N] [--only prefill|decode] [--peak-tbs X] [--batches B...]
//                             [--contexts L...]
//                             [--way auto|tensor-cores-short|tensor-cores|tensor-cores-wide|clusters|workspace]
//                             [--spread S]
#include <cstdio>

#include "cuda_bench_util.h"

#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/prefill_attention.h"
#include "kv_read_floor.h"

namespace hanlin {
namespace {

using cuda_bench::device_ints;
using cuda_bench::random_device_tensor;

constexpr int kWarmupRuns = 3;
constexpr int64_t kBlockSize = 16;

struct AttentionShape {
  const char* model;
  int64_t heads;
  int64_t kv_heads;
  int64_t head_dim;
};

// One prompt of num_tokens tokens whose K/V fill the cache through a shuffled block table.
struct PrefillInputs {
  Tensor q, out, k_cache, v_cache, seqs, block_tables, tiles, row_seq;

  PrefillInputs(const AttentionShape& shape, int64_t num_tokens) {
    const int64_t num_blocks = (num_tokens + kBlockSize - 1) / kBlockSize;
    q = random_device_tensor({num_tokens, shape.heads, shape.head_dim}, 1);
    out = cuda::device_zeros({num_tokens, shape.heads, shape.head_dim}, DType::kBF16);
    k_cache = random_device_tensor({num_blocks, kBlockSize, shape.kv_heads, shape.head_dim}, 2);
    v_cache = random_device_tensor({num_blocks, kBlockSize, shape.kv_heads, shape.head_dim}, 3);
    const std::array<int32_t, 3> seq = {0, static_cast<int32_t>(num_tokens),
                                        static_cast<int32_t>(num_tokens)};
    seqs = device_ints({seq[0], seq[1], seq[2]}, {1, 3});
    std::vector<int32_t> table(static_cast<size_t>(num_blocks));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), std::mt19937(4));
    block_tables = device_ints(table, {1, num_blocks});
    const std::vector<int32_t> tile_list = cuda::prefill_tiles(std::vector{seq}, 2);
    tiles = device_ints(tile_list, {static_cast<int64_t>(tile_list.size() / 2), 2});
    row_seq = device_ints(std::vector<int32_t>(static_cast<size_t>(num_tokens), 0), {num_tokens});
  }
};

// Median GPU seconds of `runs` calls of fn after kWarmupRuns.
template <class Fn>
double median_seconds(int runs, Fn&& fn) {
  cuda_bench::EventTimer timer;
  for (int i = 0; i < kWarmupRuns; ++i) fn();
  return cuda_bench::median_of(runs, [&] { return timer.seconds(nullptr, fn); });
}

void print_row(const char* kernel, const AttentionShape& shape, int64_t num_tokens, double seconds) {
  const double length = static_cast<double>(num_tokens);
  const double flops = 4.0 * static_cast<double>(shape.heads * shape.head_dim) * length * length / 2;
  std::printf("%-16s %-13s %5lld/%-3lld %4lld %7lld %10.3f %9.1f\n", kernel, shape.model,
              static_cast<long long>(shape.heads), static_cast<long long>(shape.kv_heads),
              static_cast<long long>(shape.head_dim), static_cast<long long>(num_tokens), seconds * 1e3,
              flops / seconds * 1e-12);
}

void run_shape(const AttentionShape& shape, int64_t num_tokens, bool with_paged, int runs) {
  PrefillInputs in(shape, num_tokens);
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  const double prefill = median_seconds(runs, [&] {
    cuda::prefill_attention(in.out, in.q, in.k_cache, in.v_cache, in.seqs, in.block_tables, in.tiles, scale,
                            nullptr);
  });
  print_row("prefill (mma)", shape, num_tokens, prefill);
  if (!with_paged) return;
  const double paged = median_seconds(runs, [&] {
    cuda::paged_attention(in.out, in.q, in.k_cache, in.v_cache, in.seqs, in.block_tables, in.row_seq, scale,
                          cuda::attention_way(num_tokens, num_tokens), nullptr);
  });
  print_row("paged (cores)", shape, num_tokens, paged);
}

void run_prefill(int runs) {
  std::printf("causal prefill attention, one sequence; median of %d runs after %d warm-up\n\n", runs,
              kWarmupRuns);
  std::printf("%-16s %-13s %9s %4s %7s %10s %9s\n", "kernel", "shape", "heads/kv", "dim", "tokens",
              "time (ms)", "TFLOP/s");
  const AttentionShape qwen3_8b = {"Qwen3-8B", 32, 8, 128};
  const AttentionShape qwen25_05b = {"Qwen2.5-0.5B", 14, 2, 64};
  for (const int64_t num_tokens : {4096, 8192, 16384})
    run_shape(qwen3_8b, num_tokens, num_tokens <= 4096, runs);
  for (const int64_t num_tokens : {4096, 16384}) run_shape(qwen25_05b, num_tokens, false, runs);
}

// The decode shapes to time: every batch at every context.
struct DecodeSweep {
  std::vector<int64_t> batches = {1, 2, 8, 64};
  std::vector<int64_t> contexts = {128, 1024, 4096, 16384, 32768};
  std::string way = "auto";  // or one way for every shape: "tensor-cores-short", "tensor-cores", …
  double spread = 0.0;       // the rows' contexts spread evenly over context · (1 ± spread)

  cuda::AttentionWay way_for(int64_t batch, int64_t longest, int64_t total) const {
    if (way == "tensor-cores-short") return cuda::AttentionWay::kTensorCoresShort;
    if (way == "tensor-cores") return cuda::AttentionWay::kTensorCores;
    if (way == "tensor-cores-wide") return cuda::AttentionWay::kTensorCoresWide;
    if (way == "clusters") return cuda::AttentionWay::kClusters;
    if (way == "workspace") return cuda::AttentionWay::kWorkspace;
    return cuda::attention_way(batch, longest, total);
  }
};
constexpr int kMaxCallsPerGraph = 400;

int64_t blocks_for(int64_t context) {
  return (context + kBlockSize - 1) / kBlockSize;
}

// Cache blocks every decode shape draws from, handed out in shuffled order: twice the largest
// batch × context, so even that shape has two copies to alternate between.
struct KvPool {
  Tensor k_cache, v_cache;
  std::vector<int32_t> order;

  KvPool(const AttentionShape& shape, const DecodeSweep& sweep) {
    const auto longest = static_cast<int64_t>(
        std::ceil((1.0 + sweep.spread) * static_cast<double>(*std::max_element(sweep.contexts.begin(),
                                                                                sweep.contexts.end()))));
    const int64_t num_blocks = 2 * *std::max_element(sweep.batches.begin(), sweep.batches.end()) * blocks_for(longest);
    k_cache = random_device_tensor({num_blocks, kBlockSize, shape.kv_heads, shape.head_dim}, 5);
    v_cache = random_device_tensor({num_blocks, kBlockSize, shape.kv_heads, shape.head_dim}, 6);
    order.resize(static_cast<size_t>(num_blocks));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(7));
  }
};

// The rows' contexts: `context` each, or spread evenly from context · (1 − spread) up to
// context · (1 + spread) (about the same keys in all, one length per row: a batch of documents).
std::vector<int64_t> row_contexts(int64_t batch, int64_t context, double spread) {
  std::vector<int64_t> contexts(static_cast<size_t>(batch), context);
  if (batch == 1 || spread == 0.0) return contexts;
  for (int64_t row = 0; row < batch; ++row) {
    const double step = 2.0 * spread * static_cast<double>(row) / static_cast<double>(batch - 1);
    contexts[static_cast<size_t>(row)] =
        std::max<int64_t>(1, std::llround(static_cast<double>(context) * (1.0 - spread + step)));
  }
  return contexts;
}

// One decode row per sequence, at row_contexts; call i reads the blocks of copy i % copies.
struct DecodeInputs {
  Tensor q, out, seqs, row_seq;
  std::vector<Tensor> block_tables;  // per copy: [batch, blocks_for(longest)], disjoint blocks
  double kv_bytes = 0;               // K and V read per call
  int64_t context = 0;               // the rows' mean: the read floor reads that many keys a row
  int64_t longest = 0;
  int64_t total = 0;  // the rows' contexts summed

  DecodeInputs(const AttentionShape& shape, const KvPool& pool, int64_t batch, int64_t context_len, double spread) {
    q = random_device_tensor({batch, shape.heads, shape.head_dim}, 8);
    out = cuda::device_zeros({batch, shape.heads, shape.head_dim}, DType::kBF16);
    const std::vector<int64_t> contexts = row_contexts(batch, context_len, spread);
    total = std::accumulate(contexts.begin(), contexts.end(), int64_t{0});
    context = total / batch;
    longest = *std::max_element(contexts.begin(), contexts.end());
    std::vector<int32_t> seq_rows, rows(static_cast<size_t>(batch));
    std::iota(rows.begin(), rows.end(), 0);
    for (const int32_t row : rows) {
      seq_rows.insert(seq_rows.end(), {row, 1, static_cast<int32_t>(contexts[static_cast<size_t>(row)])});
    }
    seqs = device_ints(seq_rows, {batch, 3});
    row_seq = device_ints(rows, {batch});
    kv_bytes = 2.0 * 2.0 * static_cast<double>(total * shape.kv_heads * shape.head_dim);
    const int64_t table_size = batch * blocks_for(longest);
    const int copies = std::min(cuda_bench::copies_beyond_l2(kv_bytes),
                                static_cast<int>(static_cast<int64_t>(pool.order.size()) / table_size));
    for (int c = 0; c < copies; ++c) {
      const auto first = pool.order.begin() + c * table_size;
      block_tables.push_back(
          device_ints(std::vector<int32_t>(first, first + table_size), {batch, blocks_for(longest)}));
    }
  }
};

// Mean GPU seconds per call over a CUDA graph of back-to-back calls of issue(copy), median of `runs`
// replays.
template <class Issue>
double graph_seconds(const DecodeInputs& in, int runs, cudaStream_t stream, Issue&& issue) {
  const size_t copies = in.block_tables.size();
  for (size_t i = 0; i < copies; ++i) issue(i);
  const int calls = std::max(static_cast<int>(copies),
                             std::min(kMaxCallsPerGraph, static_cast<int>(std::ceil(1e9 / in.kv_bytes))));
  cuda::begin_capture(stream);
  for (int i = 0; i < calls; ++i) issue(static_cast<size_t>(i) % copies);
  const std::shared_ptr<cuda::Graph> graph = cuda::end_capture(stream);
  cuda::launch_graph(*graph, stream);
  cuda_bench::EventTimer timer;
  return cuda_bench::median_seconds_per_call(timer, stream, calls, runs,
                                             [&] { cuda::launch_graph(*graph, stream); });
}

// One decode shape's times: the attention call, and the read floor both ways (kv_read_floor.h).
struct DecodeTimes {
  double attention, floor_after_wait, floor_before_wait;
};

DecodeTimes decode_times(const KvPool& pool, DecodeInputs& in, cuda::AttentionWay way, float scale, int runs,
                         cudaStream_t stream) {
  Tensor sink = cuda::device_zeros({cuda_bench::kFloorSinkWords}, DType::kI32);
  const auto floor = [&](cuda_bench::FloorReads reads) {
    return graph_seconds(in, runs, stream, [&](size_t copy) {
      cuda_bench::read_kv_floor(pool.k_cache, pool.v_cache, in.block_tables[copy], in.context, reads, sink, stream);
    });
  };
  return {
      .attention = graph_seconds(in, runs, stream,
                                 [&](size_t copy) {
                                   cuda::paged_attention(in.out, in.q, pool.k_cache, pool.v_cache, in.seqs,
                                                         in.block_tables[copy], in.row_seq, scale, way, stream);
                                 }),
      .floor_after_wait = floor(cuda_bench::FloorReads::kAfterWait),
      .floor_before_wait = floor(cuda_bench::FloorReads::kBeforeWait),
  };
}

double share(double bytes, double seconds, double peak_tbs) {
  return 100.0 * bytes / seconds / (peak_tbs * 1e12);
}

void run_decode(const DecodeSweep& sweep, int runs, double peak_tbs) {
  const AttentionShape shape = {"Qwen3-8B", 32, 8, 128};
  std::printf(
      "decode attention (paged, the way %s), %s heads %lld/%lld dim %lld, one row per "
      "sequence, contexts %s; in a CUDA graph, median of %d replays; share of %.2f TB/s. Floor: a kernel that "
      "only reads the same K/V bytes, its reads after the dependent-launch wait / before it\n\n",
      sweep.way == "auto" ? "cuda::attention_way picks" : ("forced: " + sweep.way).c_str(), shape.model,
      static_cast<long long>(shape.heads), static_cast<long long>(shape.kv_heads),
      static_cast<long long>(shape.head_dim),
      sweep.spread == 0.0 ? "equal" : ("spread over +-" + std::to_string(std::lround(100 * sweep.spread)) + " %").c_str(),
      runs, peak_tbs);
  std::printf("%5s %7s %10s %10s %9s %7s %-12s %17s %17s\n", "batch", "context", "KV (MB)", "time (us)", "GB/s",
              "share", "way", "floor after (us)", "floor before (us)");
  const KvPool pool(shape, sweep);
  const std::shared_ptr<void> stream_owner = cuda::create_stream();
  const auto stream = static_cast<cudaStream_t>(stream_owner.get());
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  for (const int64_t batch : sweep.batches) {
    for (const int64_t context : sweep.contexts) {
      DecodeInputs in(shape, pool, batch, context, sweep.spread);
      const cuda::AttentionWay way = sweep.way_for(batch, in.longest, in.total);
      const DecodeTimes times = decode_times(pool, in, way, scale, runs, stream);
      std::printf("%5lld %7lld %10.1f %10.2f %9.1f %6.1f%% %-12s %9.2f %6.1f%% %9.2f %6.1f%%\n",
                  static_cast<long long>(batch), static_cast<long long>(context), in.kv_bytes * 1e-6,
                  times.attention * 1e6, in.kv_bytes / times.attention * 1e-9,
                  share(in.kv_bytes, times.attention, peak_tbs),
                  cuda::attention_way_name(way), times.floor_after_wait * 1e6,
                  share(in.kv_bytes, times.floor_after_wait, peak_tbs), times.floor_before_wait * 1e6,
                  share(in.kv_bytes, times.floor_before_wait, peak_tbs));
    }
  }
}

int run(int runs, const std::string& only, double peak_tbs, const DecodeSweep& sweep) {
  if (!cuda_bench::require_gpu()) return 1;
  const cudaDeviceProp properties = cuda_bench::device_properties();
  std::printf("%s, %d SMs\n\n", properties.name, properties.multiProcessorCount);
  if (only != "decode") run_prefill(runs);
  if (only.empty()) std::printf("\n");
  if (only != "prefill") run_decode(sweep, runs, peak_tbs);
  return 0;
}

}  // namespace
}  // namespace hanlin

int main(int argc, char** argv) {
  CLI::App app{"attention kernels alone: causal prefill (tensor cores vs CUDA cores) and paged decode"};
  int runs = 11;
  std::string only;
  double peak_tbs = 3.0;
  hanlin::DecodeSweep sweep;
  app.add_option("--runs", runs, "Timed runs per shape (median)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--only", only, "Run one part: prefill or decode")
      ->check(CLI::IsMember({"prefill", "decode"}));
  app.add_option("--peak-tbs", peak_tbs, "Memory bandwidth the decode reads are compared with, TB/s")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batches", sweep.batches, "Decode batch sizes")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--contexts", sweep.contexts, "Decode context lengths")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--way", sweep.way, "Decode: the way cuda::attention_way picks (auto), or one way for every shape")
      ->capture_default_str()
      ->check(CLI::IsMember(
          {"auto", "tensor-cores-short", "tensor-cores", "tensor-cores-wide", "clusters", "workspace"}));
  app.add_option("--spread", sweep.spread,
                 "Decode: the rows' contexts spread evenly over context x (1 +- spread), the floor reading their mean")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.95));
  CLI11_PARSE(app, argc, argv);
  return hanlin::cuda_bench::run_reporting_errors([&] { return hanlin::run(runs, only, peak_tbs, sweep); });
}

#else  // HANLIN_HAS_CUDA

int main() { return hanlin::cuda_bench::main_without_cuda(); }

#endif  // HANLIN_HAS_CUDA
