// Tensor: a shape and dtype over a buffer it owns or borrows (an mmap'd checkpoint, say).
// Tensors are contiguous, row-major; copying a Tensor shares the buffer, never the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace hanlin {

enum class Device : uint8_t { kCpu, kCuda };

using Shape = std::vector<int64_t>;

std::string shape_to_string(const Shape& shape);
int64_t shape_numel(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;

  // A new zero-filled CPU buffer, 64-byte aligned.
  static Tensor zeros(Shape shape, DType dtype);
  // A view of memory someone else owns; `owner` (may be empty) keeps it alive.
  static Tensor borrow(void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner = {},
                       Device device = Device::kCpu);

  bool defined() const { return data_ != nullptr || numel() == 0; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // Size of dimension `axis`; negative counts from the end.
  int64_t dim(int axis) const;
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }

  // Typed access; throws if T does not match the dtype.
  template <class T>
  T* data();
  template <class T>
  const T* data() const;

  // The same buffer with another shape of equal numel.
  Tensor reshape(Shape shape) const;
  // Rows [begin, end) of the first dimension, sharing the buffer.
  Tensor slice_rows(int64_t begin, int64_t end) const;

 private:
  void check_dtype(DType expected) const;

  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCpu;
  std::shared_ptr<const void> owner_;
};

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::kF32; }
template <>
constexpr DType dtype_of<bf16>() { return DType::kBF16; }
template <>
constexpr DType dtype_of<f16>() { return DType::kF16; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::kI32; }

template <class T>
T* Tensor::data() {
  check_dtype(dtype_of<T>());
  return static_cast<T*>(data_);
}

template <class T>
const T* Tensor::data() const {
  check_dtype(dtype_of<T>());
  return static_cast<const T*>(data_);
}

}  // namespace hanlin
