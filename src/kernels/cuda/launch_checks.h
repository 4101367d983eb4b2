// Input checks shared by the launchers of kernels/cuda (a failed check is a caller bug:
// Error(kInternal) naming the op and the tensor), and the choice of a kernel's vector width.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace hanlin::cuda {

// Throws Error(kInternal, "cuda::<op>: <what>"); messages are built only on failure.
[[noreturn]] inline void fail_check(const char* op, const std::string& what) {
  throw Error(ErrorKind::kInternal, std::string("cuda::") + op + ": " + what);
}

// `tensor` is a defined device tensor of `dtype`.
inline void check_device_tensor(const char* op, const char* name, const Tensor& tensor, DType dtype) {
  if (tensor.device() != Device::kCuda || !tensor.defined()) {
    fail_check(op, std::string(name) + " is not a GPU tensor");
  }
  if (tensor.dtype() != dtype) {
    fail_check(op, std::string(name) + " has dtype " + std::string(dtype_name(tensor.dtype())) +
                       ", expected " + std::string(dtype_name(dtype)));
  }
}

inline void check_shape(const char* op, const char* name, const Tensor& tensor, const Shape& expected) {
  if (tensor.shape() != expected) {
    fail_check(op, std::string(name) + " has shape " + shape_to_string(tensor.shape()) + ", expected " +
                       shape_to_string(expected));
  }
}

inline void check_rank(const char* op, const char* name, const Tensor& tensor, int rank) {
  if (tensor.rank() != rank) {
    fail_check(op, std::string(name) + " has shape " + shape_to_string(tensor.shape()) + ", expected rank " +
                       std::to_string(rank));
  }
}

// Elements per 16-byte access of a 2-byte dtype.
inline constexpr int kBf16PerVector = 8;

// 8 when every row of `row_length` 2-byte elements starting at each pointer can be read in
// 16-byte pieces (the length a multiple of 8, the pointers 16-byte aligned), else 1.
inline int bf16_vector_width(int64_t row_length, std::initializer_list<const void*> pointers) {
  if (row_length % kBf16PerVector != 0) return 1;
  for (const void* pointer : pointers) {
    if (reinterpret_cast<uintptr_t>(pointer) % 16 != 0) return 1;
  }
  return kBf16PerVector;
}

}  // namespace hanlin::cuda
