// Device tensors: allocation (freed with the last Tensor copy), host <-> device copies,
// stream synchronisation, and how many GPUs there are.
#include <cuda_runtime.h>

#include <cstring>
#include <memory>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::cuda {
namespace {

// An uninitialised device tensor; cudaFree runs when its last copy goes.
Tensor allocate(Shape shape, DType dtype) {
  for (int64_t extent : shape) {
    require(extent >= 0, ErrorKind::kInvalidArgument, "negative tensor extent in " + shape_to_string(shape));
  }
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  if (bytes == 0) return Tensor::borrow(nullptr, std::move(shape), dtype, {}, Device::kCuda);
  void* data = nullptr;
  CUDA_CHECK(cudaMalloc(&data, bytes));
  // cudaFree's status is dropped: a deleter must not throw, and at process exit the runtime
  // may already be unloading.
  std::shared_ptr<const void> owner(data, [](const void* pointer) { cudaFree(const_cast<void*>(pointer)); });
  return Tensor::borrow(data, std::move(shape), dtype, std::move(owner), Device::kCuda);
}

void require_device(const Tensor& tensor, Device device, const char* function) {
  if (tensor.device() != device || !tensor.defined()) {
    throw Error(ErrorKind::kInternal, std::string("cuda::") + function + ": the tensor " +
                                          shape_to_string(tensor.shape()) + " is not on the " +
                                          (device == Device::kCuda ? "GPU" : "host"));
  }
}

}  // namespace

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no GPU: not an error here, and not for the next check
    return 0;
  }
  return count;
}

int multiprocessor_count() {
  int device = 0;
  int count = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

Tensor device_zeros(Shape shape, DType dtype) {
  Tensor tensor = allocate(std::move(shape), dtype);
  if (tensor.nbytes() == 0) return tensor;
  CUDA_CHECK(cudaMemsetAsync(tensor.raw(), 0, tensor.nbytes(), nullptr));
  // Zeros must be in place for work on any stream, including non-blocking ones.
  CUDA_CHECK(cudaStreamSynchronize(nullptr));
  return tensor;
}

Tensor to_device(const Tensor& host) {
  require_device(host, Device::kCpu, "to_device");
  Tensor device = allocate(host.shape(), host.dtype());
  if (device.nbytes() == 0) return device;
  CUDA_CHECK(cudaMemcpy(device.raw(), host.raw(), host.nbytes(), cudaMemcpyHostToDevice));
  // From pageable memory cudaMemcpy may return before the DMA lands; wait for it, so the data
  // is in place for work on any stream, including non-blocking ones.
  CUDA_CHECK(cudaStreamSynchronize(nullptr));
  return device;
}

Tensor to_host(const Tensor& device) {
  require_device(device, Device::kCuda, "to_host");
  Tensor host = Tensor::zeros(device.shape(), device.dtype());
  if (host.nbytes() > 0)
    CUDA_CHECK(cudaMemcpy(host.raw(), device.raw(), host.nbytes(), cudaMemcpyDeviceToHost));
  return host;
}

void copy_device_bytes(void* destination, const void* source, size_t bytes, Stream stream) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)));
}

Tensor pinned_host_zeros(Shape shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  if (bytes == 0) return Tensor::zeros(std::move(shape), dtype);
  void* data = nullptr;
  CUDA_CHECK(cudaHostAlloc(&data, bytes, cudaHostAllocDefault));
  std::memset(data, 0, bytes);
  std::shared_ptr<const void> owner(data, [](const void* pointer) { cudaFreeHost(const_cast<void*>(pointer)); });
  return Tensor::borrow(data, std::move(shape), dtype, std::move(owner), Device::kCpu);
}

namespace {

void check_same_size(const Tensor& a, const Tensor& b, const char* function) {
  if (a.nbytes() != b.nbytes()) {
    throw Error(ErrorKind::kInternal, std::string("cuda::") + function + ": " + std::to_string(a.nbytes()) +
                                          " bytes into " + std::to_string(b.nbytes()));
  }
}

}  // namespace

void copy_to_device_async(Tensor& device, const Tensor& host, Stream stream) {
  require_device(device, Device::kCuda, "copy_to_device_async");
  require_device(host, Device::kCpu, "copy_to_device_async");
  check_same_size(host, device, "copy_to_device_async");
  if (host.nbytes() == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(device.raw(), host.raw(), host.nbytes(), cudaMemcpyHostToDevice,
                             static_cast<cudaStream_t>(stream)));
}

void copy_to_host_async(Tensor& host, const Tensor& device, Stream stream) {
  require_device(device, Device::kCuda, "copy_to_host_async");
  require_device(host, Device::kCpu, "copy_to_host_async");
  check_same_size(device, host, "copy_to_host_async");
  if (host.nbytes() == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(host.raw(), device.raw(), host.nbytes(), cudaMemcpyDeviceToHost,
                             static_cast<cudaStream_t>(stream)));
}

MemoryInfo memory_info() {
  MemoryInfo info;
  CUDA_CHECK(cudaMemGetInfo(&info.free_bytes, &info.total_bytes));
  return info;
}

void synchronize(Stream stream) {
  CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
}

}  // namespace hanlin::cuda
