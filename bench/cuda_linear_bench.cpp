// cuda::linear (our decode kernel up to T = 2, cuBLASLt beyond; bf16) and cuda::gated_linear on
// Qwen3-8B's (or --model qwen3-14b's) layer shapes at T = 1, 2, 4, 8, 9, 32, 256 and 8192:
// mean GPU time of back-to-back calls that cycle through copies of the weight larger than L2
// together (CUDA events, after a warm-up, median of 5 such batches), as GB/s against the H100's 3.0 TB/s copy bandwidth and
// TFLOP/s against its 800 TFLOP/s bf16 matrix rate (GPU.md), and the roofline fraction.
//
// Usage: cuda_linear_bench [--runs N] [--bias] [--only NAME] [--model qwen3-8b|qwen3-14b]
#include <cstdio>

#include "cuda_bench_util.h"

#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin {
namespace {

using cuda_bench::copies_beyond_l2;
using cuda_bench::random_device_tensor;

constexpr double kCopyBandwidth = 3.0e12;  // bytes/s read + written, measured (GPU.md)
constexpr double kMatrixRate = 800e12;     // bf16 FLOP/s, measured on an 8192³ product (GPU.md)
constexpr int kWarmupRuns = 5;
constexpr int kRepeats = 5;

struct LayerShape {
  const char* name;
  int64_t num_outputs;  // N
  int64_t num_inputs;   // K
};

// Qwen3-8B: hidden 4096, 32 query heads and 8 KV heads of 128, intermediate 12288, vocab 151936.
// The fused rows (qkv, gate_up) are what the model runs; "gated" is gated_linear over gate_up
// (the silu·up product written instead of both halves).
const std::vector<LayerShape> kQwen3_8b = {
    {"q_proj/o_proj", 4096, 4096}, {"k_proj/v_proj", 1024, 4096},    {"qkv (fused)", 6144, 4096},
    {"gate/up_proj", 12288, 4096}, {"gate_up (fused)", 24576, 4096}, {"down_proj", 4096, 12288},
    {"lm_head", 151936, 4096}, {"gated (fused)", 24576, 4096},
};
// Qwen3-14B: hidden 5120, 40 query heads and 8 KV heads of 128, intermediate 17408.
const std::vector<LayerShape> kQwen3_14b = {
    {"q_proj/o_proj", 5120, 5120}, {"k_proj/v_proj", 1024, 5120},    {"qkv (fused)", 7168, 5120},
    {"gate/up_proj", 17408, 5120}, {"gate_up (fused)", 34816, 5120}, {"down_proj", 5120, 17408},
    {"lm_head", 151936, 5120}, {"gated (fused)", 34816, 5120},
};
const int64_t kTokenCounts[] = {1, 2, 4, 8, 9, 32, 256, 8192};

// Times calls back to back, as a decode step issues them, each reading a different copy of the
// weight so that it comes from memory and not from L2. (Flushing L2 with a write before each call
// instead leaves up to 50 MB of dirty lines whose write-back competes with the call's reads: that
// understated the small shapes by up to half.) Returns the median over kRepeats of the mean GPU
// seconds of `runs` back-to-back calls fn(i), i = 0, 1, …, after kWarmupRuns calls.
template <class Fn>
double seconds_per_call(cuda_bench::EventTimer& timer, int runs, Fn&& fn) {
  for (int i = 0; i < kWarmupRuns; ++i) fn(i);
  return cuda_bench::median_seconds_per_call(timer, nullptr, runs, kRepeats, [&] {
    for (int i = 0; i < runs; ++i) fn(i);
  });
}

void print_row(const LayerShape& shape, int64_t num_tokens, bool with_bias, double seconds) {
  const double num_outputs = static_cast<double>(shape.num_outputs);
  const double num_inputs = static_cast<double>(shape.num_inputs);
  const double tokens = static_cast<double>(num_tokens);
  // Weight and input read, output written (and the bias read), 2 bytes each.
  const bool gated = std::string(shape.name).starts_with("gated");
  const double written = gated ? num_outputs / 2 : num_outputs;
  const double bytes = 2 * (num_outputs * num_inputs + tokens * num_inputs + tokens * written +
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

void run_shape(const LayerShape& shape, int runs, bool with_bias, cuda_bench::EventTimer& timer) {
  const uint32_t seed = static_cast<uint32_t>(shape.num_outputs + shape.num_inputs);
  const int copies = copies_beyond_l2(2.0 * static_cast<double>(shape.num_outputs * shape.num_inputs));
  std::vector<Tensor> weights;
  for (int c = 0; c < copies; ++c) {
    weights.push_back(random_device_tensor({shape.num_outputs, shape.num_inputs}, seed + static_cast<uint32_t>(c)));
  }
  const Tensor bias = random_device_tensor({shape.num_outputs}, seed + 1);
  const bool gated = std::string(shape.name).starts_with("gated");
  for (const int64_t num_tokens : kTokenCounts) {
    const Tensor in = random_device_tensor({num_tokens, shape.num_inputs}, seed + 2);
    Tensor out = cuda::device_zeros({num_tokens, shape.num_outputs}, DType::kBF16);
    Tensor gated_out = cuda::device_zeros({num_tokens, shape.num_outputs / 2}, DType::kBF16);
    const double seconds = seconds_per_call(timer, runs, [&](int i) {
      const Tensor& weight = weights[static_cast<size_t>(i % copies)];
      if (gated) return cuda::gated_linear(gated_out, in, weight, out, nullptr);
      cuda::linear(out, in, weight, with_bias ? &bias : nullptr, nullptr);
    });
    print_row(shape, num_tokens, with_bias, seconds);
  }
}

int run(int runs, bool with_bias, const std::string& only, const std::string& model) {
  if (!cuda_bench::require_gpu()) return 1;
  const cudaDeviceProp properties = cuda_bench::device_properties();
  std::printf("%s, %d SMs, L2 %d MB; %d back-to-back calls over weight copies beyond L2, after %d warm-up%s\n",
              properties.name, properties.multiProcessorCount, properties.l2CacheSize >> 20, runs,
              kWarmupRuns, with_bias ? "; with bias" : "");
  std::printf("limits: %.1f TB/s (bytes = weight + in + out), %.0f TFLOP/s\n\n", kCopyBandwidth * 1e-12,
              kMatrixRate * 1e-12);
  std::printf("%-16s %6s %6s %5s %11s %9s %7s %9s %7s   %-7s %7s\n", "layer", "N", "K", "T", "time (us)",
              "GB/s", "of BW", "TFLOP/s", "of MMA", "bound", "of it");
  cuda_bench::EventTimer timer;
  for (const LayerShape& shape : model == "qwen3-14b" ? kQwen3_14b : kQwen3_8b) {
    if (!only.empty() && std::string(shape.name).find(only) == std::string::npos) continue;
    run_shape(shape, runs, with_bias, timer);
  }
  return 0;
}

}  // namespace
}  // namespace hanlin

int main(int argc, char** argv) {
  CLI::App app{"cuda::linear and cuda::gated_linear on Qwen3-8B's or Qwen3-14B's layer shapes"};
  int runs = 50;
  bool with_bias = false;
  std::string only;
  std::string model = "qwen3-8b";
  app.add_option("--runs", runs, "Back-to-back calls per timed batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_flag("--bias", with_bias, "Add a bias (the fused epilogue), as Qwen2's q/k/v projections do");
  app.add_option("--only", only, "Run only the layers whose name contains this");
  app.add_option("--model", model, "Whose layer shapes")
      ->capture_default_str()
      ->check(CLI::IsMember({"qwen3-8b", "qwen3-14b"}));
  CLI11_PARSE(app, argc, argv);
  return hanlin::cuda_bench::run_reporting_errors([&] { return hanlin::run(runs, with_bias, only, model); });
}

#else  // HANLIN_HAS_CUDA

int main() { return hanlin::cuda_bench::main_without_cuda(); }

#endif  // HANLIN_HAS_CUDA
