// cuda::linear (cuBLASLt, bf16) on Qwen3-8B's layer shapes at T = 1, 8, 32, 256 and 8192:
// median GPU time of many runs (CUDA events, after a warm-up, L2 flushed before each run as a
// decode step's other layers would), as GB/s against the H100's 3.0 TB/s copy bandwidth and
// TFLOP/s against its 800 TFLOP/s bf16 matrix rate (GPU.md), and the roofline fraction.
//
// Usage: cuda_linear_bench [--runs N] [--bias] [--only NAME]
#include <cstdio>

#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin {
namespace {

constexpr double kCopyBandwidth = 3.0e12;  // bytes/s read + written, measured (GPU.md)
constexpr double kMatrixRate = 800e12;     // bf16 FLOP/s, measured on an 8192³ product (GPU.md)
constexpr int kWarmupRuns = 5;

struct LayerShape {
  const char* name;
  int64_t num_outputs;  // N
  int64_t num_inputs;   // K
};

// Qwen3-8B: hidden 4096, 32 query heads and 8 KV heads of 128, intermediate 12288, vocab 151936.
// The fused rows (qkv, gate_up) are what a model that concatenates those weights would run.
const LayerShape kShapes[] = {
    {"q_proj/o_proj", 4096, 4096}, {"k_proj/v_proj", 1024, 4096},    {"qkv (fused)", 6144, 4096},
    {"gate/up_proj", 12288, 4096}, {"gate_up (fused)", 24576, 4096}, {"down_proj", 4096, 12288},
    {"lm_head", 151936, 4096},
};
const int64_t kTokenCounts[] = {1, 8, 32, 256, 8192};

// A device bf16 tensor of uniform [-1, 1) values: one random 8 MiB block copied over it (the
// repetition does not matter to a GEMM's speed; zeros would flatter the tensor cores' power).
Tensor random_device_tensor(Shape shape, uint32_t seed) {
  Tensor tensor = cuda::device_zeros(std::move(shape), DType::kBF16);
  const size_t count = static_cast<size_t>(tensor.numel());
  std::vector<bf16> block(std::min<size_t>(count, size_t{1} << 22));
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(-1.0f, 1.0f);
  for (bf16& value : block) value = to_bf16(distribution(generator));
  auto* data = static_cast<bf16*>(tensor.raw());
  for (size_t done = 0; done < count; done += block.size()) {
    const size_t piece = std::min(block.size(), count - done);
    CUDA_CHECK(cudaMemcpy(data + done, block.data(), piece * sizeof(bf16), cudaMemcpyHostToDevice));
  }
  return tensor;
}

// Events and an L2-sized scratch buffer, created once.
class Timer {
 public:
  Timer() {
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    int l2_bytes = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));
    flush_bytes_ = 2 * static_cast<size_t>(l2_bytes);
    CUDA_CHECK(cudaMalloc(&flush_buffer_, flush_bytes_));
    CUDA_CHECK(cudaEventCreate(&start_));
    CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~Timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
    cudaFree(flush_buffer_);
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Median GPU seconds of `runs` calls of fn, each after a write of twice the L2 (so the weight
  // comes from memory, as in a real step); the write also keeps the GPU busy while the call
  // is being launched, so host launch latency stays out of the figure.
  template <class Fn>
  double median_seconds(int runs, Fn&& fn) {
    for (int i = 0; i < kWarmupRuns; ++i) fn();
    std::vector<double> seconds;
    for (int i = 0; i < runs; ++i) {
      CUDA_CHECK(cudaMemsetAsync(flush_buffer_, i & 0xff, flush_bytes_, nullptr));
      CUDA_CHECK(cudaEventRecord(start_, nullptr));
      fn();
      CUDA_CHECK(cudaEventRecord(stop_, nullptr));
      CUDA_CHECK(cudaEventSynchronize(stop_));
      float milliseconds = 0;
      CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start_, stop_));
      seconds.push_back(milliseconds * 1e-3);
    }
    std::nth_element(seconds.begin(), seconds.begin() + runs / 2, seconds.end());
    return seconds[static_cast<size_t>(runs / 2)];
  }

 private:
  void* flush_buffer_ = nullptr;
  size_t flush_bytes_ = 0;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

void print_row(const LayerShape& shape, int64_t num_tokens, bool with_bias, double seconds) {
  const double num_outputs = static_cast<double>(shape.num_outputs);
  const double num_inputs = static_cast<double>(shape.num_inputs);
  const double tokens = static_cast<double>(num_tokens);
  // Weight and input read, output written (and the bias read), 2 bytes each.
  const double bytes = 2 * (num_outputs * num_inputs + tokens * num_inputs + tokens * num_outputs +
                            (with_bias ? num_outputs : 0));
  const double flops = 2 * tokens * num_outputs * num_inputs;
  const double memory_seconds = bytes / kCopyBandwidth;
  const double compute_seconds = flops / kMatrixRate;
  const bool memory_bound = memory_seconds >= compute_seconds;
  std::printf("%-16s %6lld %6lld %5lld %11.1f %9.1f %6.1f%% %9.1f %6.1f%%   %-7s %6.1f%%\n", shape.name,
              static_cast<long long>(shape.num_outputs), static_cast<long long>(shape.num_inputs),
              static_cast<long long>(num_tokens), seconds * 1e6, bytes / seconds * 1e-9,
              100 * memory_seconds / seconds, flops / seconds * 1e-12, 100 * compute_seconds / seconds,
              memory_bound ? "memory" : "compute", 100 * std::max(memory_seconds, compute_seconds) / seconds);
}

void run_shape(const LayerShape& shape, int runs, bool with_bias, Timer& timer) {
  const uint32_t seed = static_cast<uint32_t>(shape.num_outputs + shape.num_inputs);
  const Tensor weight = random_device_tensor({shape.num_outputs, shape.num_inputs}, seed);
  const Tensor bias = random_device_tensor({shape.num_outputs}, seed + 1);
  for (const int64_t num_tokens : kTokenCounts) {
    const Tensor in = random_device_tensor({num_tokens, shape.num_inputs}, seed + 2);
    Tensor out = cuda::device_zeros({num_tokens, shape.num_outputs}, DType::kBF16);
    const double seconds = timer.median_seconds(
        runs, [&] { cuda::linear(out, in, weight, with_bias ? &bias : nullptr, nullptr); });
    print_row(shape, num_tokens, with_bias, seconds);
  }
}

int run(int runs, bool with_bias, const std::string& only) {
  if (cuda::device_count() == 0) {
    std::printf("no GPU\n");
    return 1;
  }
  cudaDeviceProp properties{};
  CUDA_CHECK(cudaGetDeviceProperties(&properties, 0));
  std::printf("%s, %d SMs, L2 %d MB; median of %d runs after %d warm-up, L2 flushed before each%s\n",
              properties.name, properties.multiProcessorCount, properties.l2CacheSize >> 20, runs,
              kWarmupRuns, with_bias ? "; with bias" : "");
  std::printf("limits: %.1f TB/s (bytes = weight + in + out), %.0f TFLOP/s\n\n", kCopyBandwidth * 1e-12,
              kMatrixRate * 1e-12);
  std::printf("%-16s %6s %6s %5s %11s %9s %7s %9s %7s   %-7s %7s\n", "layer", "N", "K", "T", "time (us)",
              "GB/s", "of BW", "TFLOP/s", "of MMA", "bound", "of it");
  Timer timer;
  for (const LayerShape& shape : kShapes) {
    if (!only.empty() && std::string(shape.name).find(only) == std::string::npos) continue;
    run_shape(shape, runs, with_bias, timer);
  }
  return 0;
}

}  // namespace
}  // namespace hanlin

int main(int argc, char** argv) {
  CLI::App app{"cuda::linear (cuBLASLt) on Qwen3-8B's layer shapes"};
  int runs = 50;
  bool with_bias = false;
  std::string only;
  app.add_option("--runs", runs, "Timed runs per shape (median)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_flag("--bias", with_bias, "Add a bias (the fused epilogue), as Qwen2's q/k/v projections do");
  app.add_option("--only", only, "Run only the layers whose name contains this");
  CLI11_PARSE(app, argc, argv);
  try {
    return hanlin::run(runs, with_bias, only);
  } catch (const hanlin::Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
}

#else  // HANLIN_HAS_CUDA

int main() {
  std::printf("built without CUDA\n");
  return 0;
}

#endif  // HANLIN_HAS_CUDA
