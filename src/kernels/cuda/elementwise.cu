// Row copies through an index (the embedding gather, the paged KV-cache scatter) and the
// SiLU-gated product of the MLP, over bf16 device tensors.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/cuda/bf16_vector.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/launch_checks.h"

namespace hanlin::cuda {
namespace {

constexpr int kCopyThreads = 256;
constexpr int kSiluThreads = 256;

// Row r of `source` (or row source_rows[r]) goes to row r of `destination` (or row
// destination_rows[r]); a negative index skips the row. Rows are of one width in Words.
struct RowCopy {
  void* destination;
  const void* source;
  const int32_t* destination_rows;  // [rows] or null
  const int32_t* source_rows;       // [rows] or null
};

// One block per row r (blockIdx.x) and per copy (blockIdx.y: the k and v caches share a launch).
template <class Word>
__global__ void copy_rows_kernel(RowCopy first, RowCopy second, int64_t words_per_row) {
  allow_next_kernel();
  wait_for_previous_kernel();
  const RowCopy copy = blockIdx.y == 0 ? first : second;
  const int64_t row = blockIdx.x;
  const int64_t destination_row = copy.destination_rows ? copy.destination_rows[row] : row;
  const int64_t source_row = copy.source_rows ? copy.source_rows[row] : row;
  if (destination_row < 0 || source_row < 0) return;
  Word* __restrict__ destination = static_cast<Word*>(copy.destination) + destination_row * words_per_row;
  const Word* __restrict__ source = static_cast<const Word*>(copy.source) + source_row * words_per_row;
  for (int64_t w = threadIdx.x; w < words_per_row; w += blockDim.x) destination[w] = source[w];
}

// The widest word (16, 8, 4 or 2 bytes) that divides the row and every copy's base addresses.
int copy_word_bytes(int64_t row_bytes, const RowCopy& first, const RowCopy& second) {
  const auto address_bits = reinterpret_cast<uintptr_t>(first.destination) |
                            reinterpret_cast<uintptr_t>(first.source) |
                            reinterpret_cast<uintptr_t>(second.destination) |
                            reinterpret_cast<uintptr_t>(second.source) | static_cast<uintptr_t>(row_bytes);
  for (int bytes : {16, 8, 4}) {
    if (address_bits % bytes == 0) return bytes;
  }
  return 2;
}

template <class Word>
void launch_copy_rows(const RowCopy& first, const RowCopy& second, int num_copies, int64_t rows,
                      int64_t row_bytes, cudaStream_t stream) {
  const int64_t words_per_row = row_bytes / static_cast<int64_t>(sizeof(Word));
  const int threads = static_cast<int>(std::min<int64_t>(kCopyThreads, (words_per_row + 31) / 32 * 32));
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(num_copies));
  launch_dependent(copy_rows_kernel<Word>, grid, dim3(threads), 0, stream, 1, first, second, words_per_row);
}

// Runs one or two row copies (second ignored when num_copies is 1) of `rows` rows of row_bytes.
void copy_rows(const RowCopy& first, const RowCopy& second, int num_copies, int64_t rows, int64_t row_bytes,
               cudaStream_t stream) {
  if (rows == 0 || row_bytes == 0) return;
  switch (copy_word_bytes(row_bytes, first, num_copies == 2 ? second : first)) {
    case 16:
      return launch_copy_rows<uint4>(first, second, num_copies, rows, row_bytes, stream);
    case 8:
      return launch_copy_rows<uint2>(first, second, num_copies, rows, row_bytes, stream);
    case 4:
      return launch_copy_rows<uint32_t>(first, second, num_copies, rows, row_bytes, stream);
    default:
      return launch_copy_rows<uint16_t>(first, second, num_copies, rows, row_bytes, stream);
  }
}

// Launch ceiling for grid-stride kernels: enough blocks of `threads` to fill every SM once.
int resident_blocks(int threads) {
  int device = 0;
  int num_sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
    cudaGetLastError();  // leave no stale error for the next launch check
    num_sms = 132;       // an H100's count: only the grid size depends on it
  }
  return num_sms * (2048 / threads);
}

// Grid-stride over rows × row_vectors groups of kVec elements: row r's gate and up start at
// gate + r·in_stride and up + r·in_stride, its output at out + r·out_stride (one flat row for
// silu_mul; the two halves of each fused gate/up row for silu_mul_halves).
template <int kVec>
__global__ void silu_mul_kernel(__nv_bfloat16* out, const __nv_bfloat16* gate, const __nv_bfloat16* up,
                                int64_t rows, int64_t row_vectors, int64_t in_stride, int64_t out_stride) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t num_vectors = rows * row_vectors;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < num_vectors;
       v += stride) {
    const int64_t row = v / row_vectors;
    const int64_t column = (v - row * row_vectors) * kVec;
    float gate_values[kVec];
    float up_values[kVec];
    load_bf16<kVec>(gate + row * in_stride + column, gate_values);
    load_bf16<kVec>(up + row * in_stride + column, up_values);
#pragma unroll
    for (int k = 0; k < kVec; ++k) gate_values[k] = silu(gate_values[k]) * up_values[k];
    store_bf16<kVec>(out + row * out_stride + column, gate_values);
  }
}

template <int kVec>
void launch_silu_mul(__nv_bfloat16* out, const __nv_bfloat16* gate, const __nv_bfloat16* up, int64_t rows,
                     int64_t row_vectors, int64_t in_stride, int64_t out_stride, cudaStream_t stream) {
  const int64_t num_vectors = rows * row_vectors;
  if (num_vectors == 0) return;
  const int64_t blocks =
      std::min<int64_t>((num_vectors + kSiluThreads - 1) / kSiluThreads, resident_blocks(kSiluThreads));
  silu_mul_kernel<kVec><<<static_cast<unsigned>(blocks), kSiluThreads, 0, stream>>>(
      out, gate, up, rows, row_vectors, in_stride, out_stride);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void embedding(Tensor& out, const Tensor& table, const Tensor& ids, Stream stream) {
  constexpr const char* op = "embedding";
  check_device_tensor(op, "out", out, DType::kBF16);
  check_device_tensor(op, "table", table, DType::kBF16);
  check_device_tensor(op, "ids", ids, DType::kI32);
  check_rank(op, "table", table, 2);
  check_rank(op, "ids", ids, 1);
  check_shape(op, "out", out, {ids.dim(0), table.dim(1)});
  const RowCopy gather{out.raw(), table.raw(), nullptr, static_cast<const int32_t*>(ids.raw())};
  copy_rows(gather, gather, 1, ids.dim(0), table.dim(1) * 2, static_cast<cudaStream_t>(stream));
}

void kv_cache_write(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
                    const Tensor& slot_mapping, Stream stream) {
  constexpr const char* op = "kv_cache_write";
  check_device_tensor(op, "k_cache", k_cache, DType::kBF16);
  check_device_tensor(op, "v_cache", v_cache, DType::kBF16);
  check_device_tensor(op, "k", k, DType::kBF16);
  check_device_tensor(op, "v", v, DType::kBF16);
  check_device_tensor(op, "slot_mapping", slot_mapping, DType::kI32);
  check_rank(op, "k_cache", k_cache, 4);
  check_rank(op, "k", k, 3);
  check_shape(op, "v_cache", v_cache, k_cache.shape());
  check_shape(op, "k", k, {k.dim(0), k_cache.dim(2), k_cache.dim(3)});
  check_shape(op, "v", v, k.shape());
  check_shape(op, "slot_mapping", slot_mapping, {k.dim(0)});
  // The caches as [num_blocks * block_size] rows of kv_heads * head_dim: a slot is a row.
  const auto* slots = static_cast<const int32_t*>(slot_mapping.raw());
  const RowCopy k_scatter{k_cache.raw(), k.raw(), slots, nullptr};
  const RowCopy v_scatter{v_cache.raw(), v.raw(), slots, nullptr};
  copy_rows(k_scatter, v_scatter, 2, k.dim(0), k.dim(1) * k.dim(2) * 2, static_cast<cudaStream_t>(stream));
}

void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up, Stream stream) {
  constexpr const char* op = "silu_mul";
  check_device_tensor(op, "out", out, DType::kBF16);
  check_device_tensor(op, "gate", gate, DType::kBF16);
  check_device_tensor(op, "up", up, DType::kBF16);
  check_shape(op, "gate", gate, out.shape());
  check_shape(op, "up", up, out.shape());
  // Elementwise over the flat buffers: when all three are 16-byte aligned, 16-byte vectors for
  // every whole group of 8 elements, then a scalar launch for the last numel % 8 (or for all).
  auto* out_data = static_cast<__nv_bfloat16*>(out.raw());
  const auto* gate_data = static_cast<const __nv_bfloat16*>(gate.raw());
  const auto* up_data = static_cast<const __nv_bfloat16*>(up.raw());
  const int64_t numel = out.numel();
  const cudaStream_t cuda_stream = static_cast<cudaStream_t>(stream);
  int64_t vector_numel = 0;
  if (bf16_vector_width(kBf16PerVector, {out_data, gate_data, up_data}) == kBf16PerVector) {
    vector_numel = numel / kBf16PerVector * kBf16PerVector;
    launch_silu_mul<kBf16PerVector>(out_data, gate_data, up_data, 1, vector_numel / kBf16PerVector, 0, 0,
                                    cuda_stream);
  }
  launch_silu_mul<1>(out_data + vector_numel, gate_data + vector_numel, up_data + vector_numel, 1,
                     numel - vector_numel, 0, 0, cuda_stream);
}

void silu_mul_halves(Tensor& out, const Tensor& gate_up, Stream stream) {
  constexpr const char* op = "silu_mul_halves";
  check_device_tensor(op, "out", out, DType::kBF16);
  check_device_tensor(op, "gate_up", gate_up, DType::kBF16);
  check_rank(op, "out", out, 2);
  check_shape(op, "gate_up", gate_up, {out.dim(0), 2 * out.dim(1)});
  auto* out_data = static_cast<__nv_bfloat16*>(out.raw());
  const auto* gate_data = static_cast<const __nv_bfloat16*>(gate_up.raw());
  const int64_t width = out.dim(1);
  const auto* up_data = gate_data + width;
  const cudaStream_t cuda_stream = static_cast<cudaStream_t>(stream);
  // Rows of a width that is a multiple of 8 keep every row's start 16-byte aligned.
  if (bf16_vector_width(width, {out_data, gate_data}) == kBf16PerVector) {
    launch_silu_mul<kBf16PerVector>(out_data, gate_data, up_data, out.dim(0), width / kBf16PerVector,
                                    2 * width, width, cuda_stream);
  } else {
    launch_silu_mul<1>(out_data, gate_data, up_data, out.dim(0), width, 2 * width, width, cuda_stream);
  }
}

}  // namespace hanlin::cuda
