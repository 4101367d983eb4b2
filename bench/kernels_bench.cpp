// Kernel speed against the machine's limits: read memory bandwidth, linear at T = 1 (bf16
// weights streamed from memory, Qwen3-0.6B shapes) as a fraction of it, linear at T = 256 in
// GFLOP/s, paged-attention decode at context 4096 in GB/s of K/V read, and causal prefill
// attention over 2048 tokens in GFLOP/s.
//
// Usage: kernels_bench [--threads N] [--scalar] [--only a|b|c|d|e]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace hanlin {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int kRepeats = 5;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Best wall time of `repeats` runs of fn.
double best_time(int repeats, const std::function<void()>& fn) {
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, seconds_since(start));
  }
  return best;
}

#if defined(__x86_64__)
// Sums `count` words (a multiple of 16) with four independent chains; with `prefetch_ahead`
// (bytes, 0 = none) it also asks for the line that far ahead, as the kernels do.
__attribute__((target("avx2"))) uint64_t sum_words_avx2(const uint64_t* data, int64_t count,
                                                        int64_t prefetch_ahead) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  __m256i acc2 = _mm256_setzero_si256(), acc3 = _mm256_setzero_si256();
  const char* bytes = reinterpret_cast<const char*>(data);
  for (int64_t i = 0; i + 16 <= count; i += 16) {
    if (prefetch_ahead > 0) {
      _mm_prefetch(bytes + i * 8 + prefetch_ahead, _MM_HINT_T0);
      _mm_prefetch(bytes + i * 8 + prefetch_ahead + 64, _MM_HINT_T0);
    }
    acc0 = _mm256_add_epi64(acc0, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i)));
    acc1 = _mm256_add_epi64(acc1, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 4)));
    acc2 = _mm256_add_epi64(acc2, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 8)));
    acc3 = _mm256_add_epi64(acc3, _mm256_load_si256(reinterpret_cast<const __m256i*>(data + i + 12)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(acc0, acc1), _mm256_add_epi64(acc2, acc3)));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

// The same words read as four concurrent streams, one per quarter (count a multiple of 16).
__attribute__((target("avx2"))) uint64_t sum_words_4_streams_avx2(const uint64_t* data, int64_t count) {
  const int64_t quarter = count / 4;
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};
  for (int64_t i = 0; i + 4 <= quarter; i += 4) {
    for (int s = 0; s < 4; ++s) {
      acc[s] = _mm256_add_epi64(acc[s],
                                _mm256_load_si256(reinterpret_cast<const __m256i*>(data + s * quarter + i)));
    }
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3])));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

// prefetch_ahead < 0 reads four concurrent streams instead of one.
uint64_t sum_words(const uint64_t* data, int64_t count, int64_t prefetch_ahead) {
#if defined(__x86_64__)
  if (cpu::active_isa() == cpu::Isa::kAvx2) {
    return prefetch_ahead < 0 ? sum_words_4_streams_avx2(data, count)
                              : sum_words_avx2(data, count, prefetch_ahead);
  }
#endif
  (void)prefetch_ahead;
  return std::accumulate(data, data + count, uint64_t{0});
}

// (a) Streaming read of a 2 GiB buffer by every thread of the pool: the best of kRepeats runs
// each of a plain read, of reads that also prefetch 1 or 4 KiB ahead, and of four concurrent
// streams per thread (as the linear kernel reads four rows), so the figure the
// kernels are compared with is the most this machine delivered, not the easiest to beat.
double read_bandwidth(ThreadPool& pool) {
  const int64_t bytes = 2 * kGiB;
  Tensor buffer = Tensor::zeros({bytes / 4}, DType::kI32);  // zero-filled: pages are touched
  const auto* words = static_cast<const uint64_t*>(buffer.raw());
  const int64_t num_words = bytes / 8;
  const int64_t chunk = 1 << 20;  // words per task: 8 MiB
  std::vector<uint64_t> sink(static_cast<size_t>(pool.num_threads()) * 8);
  double best_seconds = 1e30;
  for (const int64_t prefetch_ahead : {0, 1024, 4096, -1}) {
    best_seconds = std::min(best_seconds, best_time(kRepeats, [&] {
                              pool.parallel_for(num_words / chunk, 1, [&](int64_t begin, int64_t end) {
                                uint64_t sum = 0;
                                for (int64_t c = begin; c < end; ++c)
                                  sum += sum_words(words + c * chunk, chunk, prefetch_ahead);
                                sink[static_cast<size_t>(begin % pool.num_threads()) * 8] += sum;
                              });
                            }));
  }
  return static_cast<double>(bytes) / best_seconds / 1e9;
}

// Copies of one weight shape until they fill `min_bytes`, so every call reads from memory.
std::vector<Tensor> weight_copies(int64_t num_outputs, int64_t num_inputs, int64_t min_bytes) {
  Tensor first = Tensor::zeros({num_outputs, num_inputs}, DType::kBF16);
  std::mt19937 generator(1);
  for (int64_t i = 0; i < first.numel(); ++i) {
    first.data<bf16>()[i] = to_bf16(static_cast<float>(generator() % 2001) * 1e-3f - 1.0f);
  }
  const int64_t count = std::max<int64_t>(
      1, (min_bytes + static_cast<int64_t>(first.nbytes()) - 1) / static_cast<int64_t>(first.nbytes()));
  std::vector<Tensor> copies{first};
  for (int64_t i = 1; i < count; ++i) {
    copies.push_back(Tensor::zeros(first.shape(), DType::kBF16));
    std::memcpy(copies.back().raw(), first.raw(), first.nbytes());
  }
  return copies;
}

struct LinearShape {
  const char* name;
  int64_t num_inputs;
  int64_t num_outputs;
};

// Seconds per linear call at `tokens` tokens, cycling through the weight copies.
double linear_seconds(const std::vector<Tensor>& weights, int64_t tokens, const ops::Context& ctx) {
  Tensor in = Tensor::zeros({tokens, weights[0].dim(1)}, DType::kF32);
  std::fill_n(in.data<float>(), in.numel(), 0.5f);
  Tensor out = Tensor::zeros({tokens, weights[0].dim(0)}, DType::kF32);
  const double seconds = best_time(kRepeats, [&] {
    for (const Tensor& weight : weights) ops::linear(out, in, weight, nullptr, ctx);
  });
  return seconds / static_cast<double>(weights.size());
}

// (d) One decode row per sequence copy at context 4096 (16 heads, 8 kv heads, head_dim 128):
// seconds per call, and the K/V bytes each call reads.
std::pair<double, double> attention_decode(const ops::Context& ctx) {
  const int64_t context = 4096, heads = 16, kv_heads = 8, head_dim = 128, block_size = 16;
  const int64_t num_blocks = context / block_size;
  const double bytes_per_call = 2.0 * static_cast<double>(context * kv_heads * head_dim * 4);
  const int64_t copies = std::max<int64_t>(1, static_cast<int64_t>(kGiB / bytes_per_call));
  std::vector<Tensor> k_caches, v_caches;
  for (int64_t i = 0; i < copies; ++i) {
    k_caches.push_back(Tensor::zeros({num_blocks, block_size, kv_heads, head_dim}, DType::kF32));
    v_caches.push_back(Tensor::zeros({num_blocks, block_size, kv_heads, head_dim}, DType::kF32));
    std::fill_n(k_caches.back().data<float>(), k_caches.back().numel(), 0.01f);
    std::fill_n(v_caches.back().data<float>(), v_caches.back().numel(), 0.02f);
  }
  std::vector<int32_t> table(static_cast<size_t>(num_blocks));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937(2));
  const ops::AttentionSeq seq{0, 1, static_cast<int32_t>(context), table};
  Tensor q = Tensor::zeros({1, heads, head_dim}, DType::kF32);
  std::fill_n(q.data<float>(), q.numel(), 0.1f);
  Tensor out = Tensor::zeros({1, heads, head_dim}, DType::kF32);
  const double seconds = best_time(kRepeats, [&] {
    for (int64_t i = 0; i < copies; ++i) {
      ops::paged_attention(out, q, k_caches[static_cast<size_t>(i)], v_caches[static_cast<size_t>(i)],
                           {&seq, 1}, 0.088f, ctx);
    }
  });
  return {seconds / static_cast<double>(copies), bytes_per_call};
}

void print_attention_decode(const ops::Context& ctx, double bandwidth) {
  const auto [seconds, bytes] = attention_decode(ctx);
  const double gb_per_s = bytes / seconds / 1e9;
  std::printf("\n(d) paged_attention decode, context 4096, 16 heads / 8 kv heads, head_dim 128\n");
  std::printf("    %10.1f us/call %10.2f GB/s of K/V %9.0f%% of (a)\n", seconds * 1e6, gb_per_s,
              100 * gb_per_s / bandwidth);
}

// (e) Causal attention of one 2048-token prefill (16 heads / 8 kv heads, head_dim 128): seconds
// and the FLOPs of its QKᵀ and PV products over the visible positions.
std::pair<double, double> attention_prefill(const ops::Context& ctx) {
  const int64_t tokens = 2048, heads = 16, kv_heads = 8, head_dim = 128, block_size = 16;
  const int64_t num_blocks = tokens / block_size;
  Tensor k_cache = Tensor::zeros({num_blocks, block_size, kv_heads, head_dim}, DType::kF32);
  Tensor v_cache = Tensor::zeros({num_blocks, block_size, kv_heads, head_dim}, DType::kF32);
  std::fill_n(k_cache.data<float>(), k_cache.numel(), 0.01f);
  std::fill_n(v_cache.data<float>(), v_cache.numel(), 0.02f);
  std::vector<int32_t> table(static_cast<size_t>(num_blocks));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937(3));
  const ops::AttentionSeq seq{0, static_cast<int32_t>(tokens), static_cast<int32_t>(tokens), table};
  Tensor q = Tensor::zeros({tokens, heads, head_dim}, DType::kF32);
  std::fill_n(q.data<float>(), q.numel(), 0.1f);
  Tensor out = Tensor::zeros({tokens, heads, head_dim}, DType::kF32);
  const double seconds = best_time(3, [&] {
    ops::paged_attention(out, q, k_cache, v_cache, {&seq, 1}, 0.088f, ctx);
  });
  const double visible_pairs = static_cast<double>(tokens) * static_cast<double>(tokens + 1) / 2;
  return {seconds, 2.0 * 2.0 * visible_pairs * static_cast<double>(head_dim * heads)};
}

constexpr LinearShape kShapes[] = {{"1024->3072 (gate/up)", 1024, 3072},
                                   {"3072->1024 (down)", 3072, 1024},
                                   {"1024->151936 (lm_head)", 1024, 151936}};

void print_linear_streaming(const ops::Context& ctx, double bandwidth) {
  std::printf("(b) linear, T = 1, bf16 weights, streamed from memory\n");
  std::printf("    %-26s %10s %10s %10s\n", "shape", "us/call", "GB/s", "of (a)");
  for (const LinearShape& shape : kShapes) {
    const std::vector<Tensor> weights = weight_copies(shape.num_outputs, shape.num_inputs, kGiB);
    const double seconds = linear_seconds(weights, 1, ctx);
    const double gb_per_s = static_cast<double>(weights[0].nbytes()) / seconds / 1e9;
    std::printf("    %-26s %10.1f %10.2f %9.0f%%\n", shape.name, seconds * 1e6, gb_per_s,
                100 * gb_per_s / bandwidth);
  }
}

void print_linear_compute(const ops::Context& ctx) {
  std::printf("\n(c) linear, bf16 weights, by token count (weights reused: compute-bound)\n");
  std::printf("    %-26s %6s %10s %10s\n", "shape", "T", "ms/call", "GFLOP/s");
  for (const LinearShape& shape : kShapes) {
    const std::vector<Tensor> weights = weight_copies(shape.num_outputs, shape.num_inputs, 0);
    for (const int64_t tokens : {1, 2, 4, 8, 16, 256}) {
      if (shape.num_outputs > 100000 && tokens != 256) continue;
      const double seconds = linear_seconds(weights, tokens, ctx);
      const double flops = 2.0 * static_cast<double>(tokens * shape.num_inputs * shape.num_outputs);
      std::printf("    %-26s %6ld %10.3f %10.1f\n", shape.name, static_cast<long>(tokens), seconds * 1e3,
                  flops / seconds / 1e9);
    }
  }
}

void print_attention_prefill(const ops::Context& ctx) {
  const auto [seconds, flops] = attention_prefill(ctx);
  std::printf("\n(e) paged_attention prefill, 2048 tokens, 16 heads / 8 kv heads, head_dim 128\n");
  std::printf("    %10.1f ms/call %10.1f GFLOP/s\n", seconds * 1e3, flops / seconds / 1e9);
}

int run(int argc, char** argv) {
  int num_threads = 0;
  std::string only;  // run one section (and (a), which the ratios need)
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) num_threads = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--scalar") == 0) cpu::set_max_isa(cpu::Isa::kScalar);
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  const auto wanted = [&](const char* section) { return only.empty() || only == section; };
  ThreadPool pool(num_threads);
  const ops::Context ctx{&pool};
  std::printf("kernels_bench: %d threads, %s kernels\n\n", pool.num_threads(),
              cpu::active_isa() == cpu::Isa::kAvx2 ? "AVX2" : "scalar");
  const double bandwidth = read_bandwidth(pool);
  std::printf("%-44s %10.2f GB/s\n\n", "(a) memory read bandwidth (2 GiB, best of 20)", bandwidth);
  if (wanted("b")) print_linear_streaming(ctx, bandwidth);
  if (wanted("c")) print_linear_compute(ctx);
  if (wanted("d")) print_attention_decode(ctx, bandwidth);
  if (wanted("e")) print_attention_prefill(ctx);
  return 0;
}

}  // namespace
}  // namespace hanlin

int main(int argc, char** argv) {
  return hanlin::run(argc, argv);
}
