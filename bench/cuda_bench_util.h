// What the CUDA benchmark programs share: random bf16 device tensors, int32 device tensors, the
// number of copies of a tensor that reaches past L2, CUDA-event timing with a median over
// repeats, the GPU check and error report of their main, and the whole main of a build without
// CUDA.
#pragma once

#include <cstdio>

#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::cuda_bench {

// A device bf16 tensor of uniform [-scale, scale) values: one random block of up to 8 MiB copied
// over it (the repetition does not matter to the kernels' speed; zeros would flatter the tensor
// cores' power draw).
inline Tensor random_device_tensor(Shape shape, uint32_t seed, float scale = 1.0f) {
  Tensor tensor = cuda::device_zeros(std::move(shape), DType::kBF16);
  const size_t count = static_cast<size_t>(tensor.numel());
  std::vector<bf16> block(std::min<size_t>(count, size_t{1} << 22));
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(-scale, scale);
  for (bf16& value : block) value = to_bf16(distribution(generator));
  auto* data = static_cast<bf16*>(tensor.raw());
  for (size_t done = 0; done < count; done += block.size()) {
    const size_t piece = std::min(block.size(), count - done);
    CUDA_CHECK(cudaMemcpy(data + done, block.data(), piece * sizeof(bf16), cudaMemcpyHostToDevice));
  }
  return tensor;
}

// A device int32 tensor of `shape` holding `values`.
inline Tensor device_ints(const std::vector<int32_t>& values, Shape shape) {
  Tensor host = Tensor::zeros(std::move(shape), DType::kI32);
  std::copy(values.begin(), values.end(), host.data<int32_t>());
  return cuda::to_device(host);
}

// Enough copies of something of `bytes` that cycling through them reads at least four L2s' worth.
inline int copies_beyond_l2(double bytes) {
  int device = 0;
  int l2_bytes = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));
  return std::max(2, static_cast<int>(std::ceil(4.0 * l2_bytes / bytes)));
}

// Whether there is a GPU to measure; prints "no GPU" where there is none.
inline bool require_gpu() {
  if (cuda::device_count() == 0) {
    std::printf("no GPU\n");
    return false;
  }
  return true;
}

// The first GPU's properties (name, SM count, L2 size) for a benchmark's header line.
inline cudaDeviceProp device_properties() {
  cudaDeviceProp properties{};
  CUDA_CHECK(cudaGetDeviceProperties(&properties, 0));
  return properties;
}

// Two CUDA events that time the GPU work issued between them.
class EventTimer {
 public:
  EventTimer() {
    CUDA_CHECK(cudaEventCreate(&start_));
    CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  // GPU seconds of the work that issue() puts on `stream`.
  template <class Fn>
  double seconds(cudaStream_t stream, Fn&& issue) {
    CUDA_CHECK(cudaEventRecord(start_, stream));
    issue();
    CUDA_CHECK(cudaEventRecord(stop_, stream));
    CUDA_CHECK(cudaEventSynchronize(stop_));
    float milliseconds = 0;
    CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start_, stop_));
    return milliseconds * 1e-3;
  }

 private:
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

// The median of `count` samples sample() (the upper one of the middle two for an even count).
template <class Fn>
double median_of(int count, Fn&& sample) {
  std::vector<double> samples;
  for (int i = 0; i < count; ++i) samples.push_back(sample());
  std::nth_element(samples.begin(), samples.begin() + count / 2, samples.end());
  return samples[static_cast<size_t>(count / 2)];
}

// Median over `repeats` of the mean GPU seconds per call of a batch of `calls` back-to-back calls
// that issue_batch() puts on `stream`.
template <class Fn>
double median_seconds_per_call(EventTimer& timer, cudaStream_t stream, int calls, int repeats,
                               Fn&& issue_batch) {
  return median_of(repeats, [&] { return timer.seconds(stream, issue_batch) / calls; });
}

// Runs a benchmark's body: a hanlin::Error ends it with one line on stderr and exit status 1.
template <class Fn>
int run_reporting_errors(Fn&& body) {
  try {
    return body();
  } catch (const Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
}

}  // namespace hanlin::cuda_bench

#else  // HANLIN_HAS_CUDA

namespace hanlin::cuda_bench {

// The whole main of a benchmark built without CUDA.
inline int main_without_cuda() {
  std::printf("built without CUDA\n");
  return 0;
}

}  // namespace hanlin::cuda_bench

#endif  // HANLIN_HAS_CUDA
