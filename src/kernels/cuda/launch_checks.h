// Input checks shared by the launchers of kernels/cuda (a failed check is a caller bug:
// Error(kInternal) naming the op and the tensor), and the choice of a kernel's vector width.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/cuda/cuda_ops.h"

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

// A PreNorm's tensors: bf16 on the GPU, residual [rows, H] ending in the weight's H, normed (and, with
// delta, delta and residual_out) of residual's shape, residual_out overlapping neither residual nor
// delta. Returns the row count. Defined in norms.cu.
int64_t check_pre_norm(const char* op, const PreNorm& in);

// The inputs the attention launchers share (ops::paged_attention's layout): bf16 out and q [T,
// heads, head_dim], bf16 caches [num_blocks, block_size, kv_heads, head_dim] with a block size
// above 0, heads a multiple of kv_heads, int32 seqs [S, 3] and block_tables [S, max_blocks].
inline void check_paged_attention_inputs(const char* op, const Tensor& out, const Tensor& q, const Tensor& k_cache,
                                         const Tensor& v_cache, const Tensor& seqs, const Tensor& block_tables) {
  check_device_tensor(op, "out", out, DType::kBF16);
  check_device_tensor(op, "q", q, DType::kBF16);
  check_device_tensor(op, "k_cache", k_cache, DType::kBF16);
  check_device_tensor(op, "v_cache", v_cache, DType::kBF16);
  check_device_tensor(op, "seqs", seqs, DType::kI32);
  check_device_tensor(op, "block_tables", block_tables, DType::kI32);
  check_rank(op, "k_cache", k_cache, 4);
  check_rank(op, "q", q, 3);
  check_shape(op, "v_cache", v_cache, k_cache.shape());
  check_shape(op, "q", q, {q.dim(0), q.dim(1), k_cache.dim(3)});
  check_shape(op, "out", out, q.shape());
  check_rank(op, "seqs", seqs, 2);
  check_shape(op, "seqs", seqs, {seqs.dim(0), 3});
  check_rank(op, "block_tables", block_tables, 2);
  check_shape(op, "block_tables", block_tables, {seqs.dim(0), block_tables.dim(1)});
  const int64_t num_heads = q.dim(1);
  const int64_t kv_heads = k_cache.dim(2);
  if (kv_heads == 0 || num_heads % kv_heads != 0) {
    fail_check(op, std::to_string(num_heads) + " query heads do not divide into " + std::to_string(kv_heads) +
                       " kv heads");
  }
  if (k_cache.dim(1) == 0) fail_check(op, "the caches' block_size is 0");
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
