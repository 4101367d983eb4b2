// Tensor construction, reshaping and slicing.
#include "core/tensor.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace hanlin {
namespace {

constexpr size_t kLazyZeroBytes = size_t{1} << 20;

// Page-aligned anonymous memory, zero until written; nullptr when the system refuses.
void* map_zero_pages(size_t bytes) {
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return data == MAP_FAILED ? nullptr : data;
}

}  // namespace

std::string shape_to_string(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

Tensor Tensor::zeros(Shape shape, DType dtype) {
  for (int64_t extent : shape) {
    require(extent >= 0, ErrorKind::kInvalidArgument, "negative tensor extent in " + shape_to_string(shape));
  }
  Tensor tensor;
  tensor.shape_ = std::move(shape);
  tensor.dtype_ = dtype;
  const size_t bytes = (tensor.nbytes() + 63) / 64 * 64;
  if (bytes == 0) return tensor;
  // Large buffers (a KV cache of gigabytes) come zeroed from the kernel page by page as they
  // are first touched, instead of being written whole up front.
  const bool use_pages = bytes >= kLazyZeroBytes;
  void* data = use_pages ? map_zero_pages(bytes) : std::aligned_alloc(64, bytes);
  if (!data) {
    throw Error(ErrorKind::kResourceExhausted,
                "out of host memory allocating " + std::to_string(bytes) + " bytes for a tensor " +
                    shape_to_string(tensor.shape_));
  }
  tensor.data_ = data;
  if (use_pages) {
    tensor.owner_ = std::shared_ptr<const void>(data, [bytes](const void* p) { munmap(const_cast<void*>(p), bytes); });
  } else {
    std::memset(data, 0, bytes);
    tensor.owner_ = std::shared_ptr<const void>(data, [](const void* p) { std::free(const_cast<void*>(p)); });
  }
  return tensor;
}

Tensor Tensor::borrow(void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner, Device device) {
  Tensor tensor;
  tensor.data_ = data;
  tensor.shape_ = std::move(shape);
  tensor.dtype_ = dtype;
  tensor.device_ = device;
  tensor.owner_ = std::move(owner);
  return tensor;
}

int64_t Tensor::dim(int axis) const {
  const int index = axis < 0 ? axis + rank() : axis;
  if (index < 0 || index >= rank()) {
    throw Error(ErrorKind::kInternal,
                "axis " + std::to_string(axis) + " out of range for shape " + shape_to_string(shape_));
  }
  return shape_[static_cast<size_t>(index)];
}

Tensor Tensor::reshape(Shape shape) const {
  if (shape_numel(shape) != numel()) {
    throw Error(ErrorKind::kInternal,
                "cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  }
  Tensor view = *this;
  view.shape_ = std::move(shape);
  return view;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  if (rank() == 0 || begin < 0 || end < begin || end > shape_[0]) {
    throw Error(ErrorKind::kInternal, "row slice [" + std::to_string(begin) + ", " + std::to_string(end) +
                                          ") out of range for shape " + shape_to_string(shape_));
  }
  Tensor view = *this;
  const size_t row_bytes = shape_[0] == 0 ? 0 : nbytes() / static_cast<size_t>(shape_[0]);
  view.data_ = static_cast<char*>(data_) + static_cast<size_t>(begin) * row_bytes;
  view.shape_[0] = end - begin;
  return view;
}

void Tensor::check_dtype(DType expected) const {
  if (expected != dtype_) {
    throw Error(ErrorKind::kInternal, "tensor of dtype " + std::string(dtype_name(dtype_)) +
                                          " accessed as " + std::string(dtype_name(expected)));
  }
}

}  // namespace hanlin
