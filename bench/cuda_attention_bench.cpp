// Prefill attention alone, causal: cuda::prefill_attention (tensor cores) on one sequence of 4K,
// 8K and 16K tokens at Qwen3-8B's heads (32 query, 8 kv, head dim 128) and at Qwen2.5-0.5B's
// (14 query, 2 kv, head dim 64), against cuda::paged_attention (CUDA cores) up to 4K. Random bf16
// data, block tables in shuffled order; median GPU time of many runs (CUDA events, after a
// warm-up); TFLOP/s counting 4 · heads · head_dim · L² / 2 for causal attention.
//
// Usage: cuda_attention_bench [--runs N]
#include <cstdio>

#include "cuda_bench_util.h"

#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "core/tensor.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/prefill_attention.h"

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
                          nullptr);
  });
  print_row("paged (cores)", shape, num_tokens, paged);
}

int run(int runs) {
  if (!cuda_bench::require_gpu()) return 1;
  const cudaDeviceProp properties = cuda_bench::device_properties();
  std::printf("%s, %d SMs; causal prefill attention, one sequence; median of %d runs after %d warm-up\n\n",
              properties.name, properties.multiProcessorCount, runs, kWarmupRuns);
  std::printf("%-16s %-13s %9s %4s %7s %10s %9s\n", "kernel", "shape", "heads/kv", "dim", "tokens",
              "time (ms)", "TFLOP/s");
  const AttentionShape qwen3_8b = {"Qwen3-8B", 32, 8, 128};
  const AttentionShape qwen25_05b = {"Qwen2.5-0.5B", 14, 2, 64};
  for (const int64_t num_tokens : {4096, 8192, 16384})
    run_shape(qwen3_8b, num_tokens, num_tokens <= 4096, runs);
  for (const int64_t num_tokens : {4096, 16384}) run_shape(qwen25_05b, num_tokens, false, runs);
  return 0;
}

}  // namespace
}  // namespace hanlin

int main(int argc, char** argv) {
  CLI::App app{"causal prefill attention: tensor-core prefill kernel vs the paged CUDA-core kernel"};
  int runs = 11;
  app.add_option("--runs", runs, "Timed runs per shape (median)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  CLI11_PARSE(app, argc, argv);
  return hanlin::cuda_bench::run_reporting_errors([&] { return hanlin::run(runs); });
}

#else  // HANLIN_HAS_CUDA

int main() { return hanlin::cuda_bench::main_without_cuda(); }

#endif  // HANLIN_HAS_CUDA
