// cuda::linear through cuBLASLt: out[T, N] = in[T, K] · weight[N, K]ᵀ (+ bias[N]), bf16 in and
// out, f32 accumulation, the bias added in the GEMM's epilogue.
//
// Decode-sized products (at most kMaxGemvTokens rows) go to our own kernel instead (gemv.cu), and
// so do products whose K is not a multiple of 8 (scalar_linear: cuBLASLt gave wrong sums there).
//
// cuBLASLt is column-major. Our row-major [R, C] matrices are its column-major [C, R], so we
// compute outᵀ[N, T] = weight[N, K] · inᵀ[K, T] — the "TN" GEMM:
//   A = weight, stored column-major [K, N] (ld K), used transposed → N × K
//   B = in,     stored column-major [K, T] (ld K), used as is      → K × T
//   D = out,    stored column-major [N, T] (ld N)
// The bias epilogue adds a vector as long as D's rows (N): bias[n] to every token's output n.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/launch_checks.h"

namespace hanlin::cuda {
namespace {

// cuBLASLt's advice for Hopper: at least 32 MiB lets it pick its fastest (split-K, stream-K) kernels.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;
// Cached plans per thread and device; past this the cache starts over, so a server seeing
// every prefill length stays bounded (a plan is four small descriptors and an algorithm).
constexpr size_t kMaxCachedPlans = 4096;
// The strongest alignment cuBLASLt's heuristic asks about (its default assumption).
constexpr uint32_t kMaxAlignmentBytes = 256;
// cuBLASLt's alignment preferences cover A, B, C and D but not the epilogue's bias, and the
// heuristic may pick a kernel that assumes more than bf16's 2 bytes: on an H100, a bias 2 bytes
// past a 4-byte boundary gave wrong sums without an error (4, 8 and 16 were right; test
// UnalignedRowSlices). Below 16 bytes (PyTorch's threshold for the same fault) the bias is
// first copied to an aligned buffer.
constexpr uint32_t kBiasAlignmentBytes = 16;

// Kind from a cuBLAS status: out of memory is kResourceExhausted, anything else kInternal.
void check_cublas(cublasStatus_t status, std::string_view call) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  const ErrorKind kind =
      status == CUBLAS_STATUS_ALLOC_FAILED ? ErrorKind::kResourceExhausted : ErrorKind::kInternal;
  throw Error(kind, "cuBLASLt call " + std::string(call) + " failed: " + cublasLtGetStatusName(status) +
                        " (" + cublasLtGetStatusString(status) + ")");
}

// RAII over cuBLASLt's create/destroy pairs. Destruction ignores errors: it runs at thread or
// process exit, when there is nobody to report to.
template <class Handle, cublasStatus_t (*destroy)(Handle)>
struct Destroyer {
  void operator()(Handle handle) const { destroy(handle); }
};
template <class Handle, cublasStatus_t (*destroy)(Handle)>
using Owned = std::unique_ptr<std::remove_pointer_t<Handle>, Destroyer<Handle, destroy>>;

using LtHandle = Owned<cublasLtHandle_t, cublasLtDestroy>;
using MatmulDesc = Owned<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using MatrixLayout = Owned<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using Preference = Owned<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

struct DeviceFree {
  void operator()(void* pointer) const { cudaFree(pointer); }
};
using DeviceBuffer = std::unique_ptr<void, DeviceFree>;

// Largest power of two (up to 256) dividing the address: what the heuristic must assume.
uint32_t alignment_of(const void* pointer) {
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  uint32_t alignment = kMaxAlignmentBytes;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

// The alignment every row of a bf16 matrix of `row_length` elements starting at `pointer` has
// (the base's, or less when the rows' length in bytes has fewer factors of two).
uint32_t matrix_alignment(const void* pointer, int64_t row_length) {
  const auto row_bytes = static_cast<uintptr_t>(row_length) * 2;
  return alignment_of(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(pointer) | row_bytes));
}

// What decides the descriptors and the algorithm: the problem's shape and the buffers' alignment.
struct PlanKey {
  int64_t num_tokens = 0;
  int64_t num_outputs = 0;
  int64_t num_inputs = 0;
  bool has_bias = false;
  uint32_t weight_alignment = 0;
  uint32_t in_alignment = 0;
  uint32_t out_alignment = 0;
  uint32_t bias_alignment = 0;
  auto operator<=>(const PlanKey&) const = default;
};

// The descriptors and algorithm for one PlanKey; only the bias pointer changes between calls.
struct Plan {
  MatmulDesc matmul;
  MatrixLayout weight_layout;  // A: column-major [K, N], transposed
  MatrixLayout in_layout;      // B: column-major [K, T]
  MatrixLayout out_layout;     // C and D: column-major [N, T]
  cublasLtMatmulAlgo_t algo{};
};

// One thread's cuBLASLt state on one device. Thread-local because the op's signature carries
// only a stream, and cuBLASLt handles are meant to be used by one host thread at a time. The
// workspace and the bias copy are shared by the thread's calls on every stream: calls one
// thread makes on two streams must not overlap in time (order them with events, or use two
// threads). Both are allocated on first use: make one call of each shape before capturing a
// CUDA graph (cudaMalloc and the heuristic cannot run inside a capture).
struct DeviceState {
  LtHandle handle;
  DeviceBuffer workspace;
  DeviceBuffer bias_copy;  // for under-aligned biases; grows to the widest seen
  size_t bias_copy_bytes = 0;
  std::map<PlanKey, Plan> plans;
};

template <class Value>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const Value& value) {
  check_cublas(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)),
               "cublasLtMatmulDescSetAttribute");
}

template <class Value>
void set_preference(cublasLtMatmulPreference_t preference, cublasLtMatmulPreferenceAttributes_t attribute,
                    const Value& value) {
  check_cublas(cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof(value)),
               "cublasLtMatmulPreferenceSetAttribute");
}

DeviceState make_device_state() {
  DeviceState state;
  cublasLtHandle_t handle = nullptr;
  check_cublas(cublasLtCreate(&handle), "cublasLtCreate");
  state.handle.reset(handle);
  void* workspace = nullptr;
  CUDA_CHECK(cudaMalloc(&workspace, kWorkspaceBytes));
  state.workspace.reset(workspace);
  return state;
}

DeviceState& current_device_state() {
  thread_local std::map<int, DeviceState> states;  // by device ordinal
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  auto found = states.find(device);
  if (found == states.end()) found = states.emplace(device, make_device_state()).first;
  return found->second;
}

// A bf16 column-major matrix of `rows` × `columns` with leading dimension `rows` (packed).
MatrixLayout make_layout(int64_t rows, int64_t columns) {
  cublasLtMatrixLayout_t layout = nullptr;
  check_cublas(cublasLtMatrixLayoutCreate(&layout, CUDA_R_16BF, static_cast<uint64_t>(rows),
                                          static_cast<uint64_t>(columns), rows),
               "cublasLtMatrixLayoutCreate");
  return MatrixLayout(layout);
}

// f32 compute and scale; op(A) = Aᵀ; the bias epilogue (bf16 vector) when there is a bias.
MatmulDesc make_matmul_desc(bool has_bias, const void* bias) {
  cublasLtMatmulDesc_t desc = nullptr;
  check_cublas(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
  MatmulDesc owned(desc);
  set_desc(desc, CUBLASLT_MATMUL_DESC_TRANSA, cublasOperation_t{CUBLAS_OP_T});
  set_desc(desc, CUBLASLT_MATMUL_DESC_TRANSB, cublasOperation_t{CUBLAS_OP_N});
  if (has_bias) {
    set_desc(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, cublasLtEpilogue_t{CUBLASLT_EPILOGUE_BIAS});
    set_desc(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, int32_t{CUDA_R_16BF});
    set_desc(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias);  // the heuristic reads its alignment
  }
  return owned;
}

std::string describe(const PlanKey& key) {
  return "T " + std::to_string(key.num_tokens) + ", N " + std::to_string(key.num_outputs) + ", K " +
         std::to_string(key.num_inputs) + (key.has_bias ? ", with bias" : "") +
         ", alignments (weight, in, out" + (key.has_bias ? ", bias) " : ") ") +
         std::to_string(key.weight_alignment) + ", " + std::to_string(key.in_alignment) + ", " +
         std::to_string(key.out_alignment) + (key.has_bias ? ", " + std::to_string(key.bias_alignment) : "") +
         " bytes";
}

// Builds the descriptors and asks cuBLASLt's heuristic for its best algorithm within our workspace.
Plan make_plan(cublasLtHandle_t handle, const PlanKey& key, const void* bias) {
  Plan plan;
  plan.matmul = make_matmul_desc(key.has_bias, bias);
  plan.weight_layout = make_layout(key.num_inputs, key.num_outputs);
  plan.in_layout = make_layout(key.num_inputs, key.num_tokens);
  plan.out_layout = make_layout(key.num_outputs, key.num_tokens);

  cublasLtMatmulPreference_t raw_preference = nullptr;
  check_cublas(cublasLtMatmulPreferenceCreate(&raw_preference), "cublasLtMatmulPreferenceCreate");
  const Preference preference(raw_preference);
  set_preference(raw_preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t{kWorkspaceBytes});
  set_preference(raw_preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.weight_alignment);
  set_preference(raw_preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.in_alignment);
  set_preference(raw_preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.out_alignment);
  set_preference(raw_preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.out_alignment);
  // Split-K partial sums in f32 only: a reduction "in place" in out, or in out's type, rounds every
  // partial sum to bf16. With those allowed, outputs whose rows are not whole 16-byte pieces
  // (N = 1028, 1030 and 2006) came out up to 10 % off on an H100 without an error; with them
  // excluded they match (test CudaLinearVsRef), and Qwen3-8B's shapes kept their speed.
  set_preference(raw_preference, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                 uint32_t{CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE});

  cublasLtMatmulHeuristicResult_t result{};
  int num_results = 0;
  check_cublas(cublasLtMatmulAlgoGetHeuristic(
                   handle, plan.matmul.get(), plan.weight_layout.get(), plan.in_layout.get(),
                   plan.out_layout.get(), plan.out_layout.get(), raw_preference, 1, &result, &num_results),
               "cublasLtMatmulAlgoGetHeuristic");
  if (num_results == 0 || result.state != CUBLAS_STATUS_SUCCESS) {
    throw Error(ErrorKind::kInternal, "cuda::linear: cuBLASLt has no algorithm for " + describe(key));
  }
  plan.algo = result.algo;
  return plan;
}

Plan& find_or_make_plan(DeviceState& state, const PlanKey& key, const void* bias) {
  auto found = state.plans.find(key);
  if (found != state.plans.end()) return found->second;
  if (state.plans.size() >= kMaxCachedPlans) state.plans.clear();
  return state.plans.emplace(key, make_plan(state.handle.get(), key, bias)).first->second;
}

// in [..., K] and out [..., N] with the same leading dimensions (T rows), all bf16 on the GPU.
void check_linear(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias) {
  constexpr const char* kOp = "linear";
  check_device_tensor(kOp, "weight", weight, DType::kBF16);
  check_device_tensor(kOp, "in", in, DType::kBF16);
  check_device_tensor(kOp, "out", out, DType::kBF16);
  check_rank(kOp, "weight", weight, 2);
  const int64_t num_outputs = weight.dim(0);
  const int64_t num_inputs = weight.dim(1);
  if (num_inputs == 0)
    fail_check(kOp, "weight " + shape_to_string(weight.shape()) + " has no columns (K = 0)");
  if (in.rank() == 0 || in.dim(-1) != num_inputs) {
    fail_check(kOp, "in " + shape_to_string(in.shape()) + " does not end in the weight's K " +
                        std::to_string(num_inputs) + " (weight " + shape_to_string(weight.shape()) + ")");
  }
  Shape out_shape = in.shape();
  out_shape.back() = num_outputs;
  check_shape(kOp, "out", out, out_shape);
  if (out.raw() == in.raw() && out.numel() > 0) fail_check(kOp, "out must not alias in");
  if (bias) {
    check_device_tensor(kOp, "bias", *bias, DType::kBF16);
    check_shape(kOp, "bias", *bias, {num_outputs});
  }
}

// gate_up [2I, K], in [T, K], out [T, I], scratch [≥ T, 2I], all bf16 on the GPU.
void check_gated_linear(const Tensor& out, const Tensor& in, const Tensor& gate_up, const Tensor& scratch) {
  constexpr const char* kOp = "gated_linear";
  check_device_tensor(kOp, "gate_up", gate_up, DType::kBF16);
  check_device_tensor(kOp, "in", in, DType::kBF16);
  check_device_tensor(kOp, "out", out, DType::kBF16);
  check_device_tensor(kOp, "scratch", scratch, DType::kBF16);
  check_rank(kOp, "gate_up", gate_up, 2);
  check_rank(kOp, "in", in, 2);
  if (gate_up.dim(0) % 2 != 0) fail_check(kOp, "gate_up " + shape_to_string(gate_up.shape()) + " has an odd row count");
  const int64_t num_tokens = in.dim(0);
  const int64_t width = gate_up.dim(0) / 2;
  check_shape(kOp, "in", in, {num_tokens, gate_up.dim(1)});
  check_shape(kOp, "out", out, {num_tokens, width});
  if (scratch.rank() != 2 || scratch.dim(0) < num_tokens || scratch.dim(1) != 2 * width) {
    fail_check(kOp, "scratch " + shape_to_string(scratch.shape()) + " is not [≥" + std::to_string(num_tokens) +
                        ", " + std::to_string(2 * width) + "]");
  }
}

// The bias itself when it is aligned enough for cuBLASLt's epilogue, else an aligned copy made
// on `stream` (so it is in place before the GEMM that reads it).
const void* epilogue_bias(DeviceState& state, const Tensor& bias, cudaStream_t stream) {
  if (alignment_of(bias.raw()) >= kBiasAlignmentBytes) return bias.raw();
  if (state.bias_copy_bytes < bias.nbytes()) {
    state.bias_copy.reset();  // cudaFree waits for the GEMMs that may still read it
    state.bias_copy_bytes = 0;
    void* copy = nullptr;
    CUDA_CHECK(cudaMalloc(&copy, bias.nbytes()));
    state.bias_copy.reset(copy);
    state.bias_copy_bytes = bias.nbytes();
  }
  CUDA_CHECK(
      cudaMemcpyAsync(state.bias_copy.get(), bias.raw(), bias.nbytes(), cudaMemcpyDeviceToDevice, stream));
  return state.bias_copy.get();
}

}  // namespace

void linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, Stream stream) {
  check_linear(out, in, weight, bias);
  const int64_t num_inputs = weight.dim(1);
  const int64_t num_tokens = in.numel() / num_inputs;
  const int64_t num_outputs = weight.dim(0);
  if (num_tokens == 0 || num_outputs == 0) return;  // nothing to write
  if (gemv_applies(num_tokens, in, weight)) return gemv(out, in, weight, bias, num_tokens, stream);
  if (num_inputs % 8 != 0) return scalar_linear(out, in, weight, bias, num_tokens, stream);

  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  DeviceState& state = current_device_state();
  const void* bias_data = bias ? epilogue_bias(state, *bias, cuda_stream) : nullptr;
  const PlanKey key{
      .num_tokens = num_tokens,
      .num_outputs = num_outputs,
      .num_inputs = num_inputs,
      .has_bias = bias != nullptr,
      .weight_alignment = matrix_alignment(weight.raw(), num_inputs),
      .in_alignment = matrix_alignment(in.raw(), num_inputs),
      .out_alignment = matrix_alignment(out.raw(), num_outputs),
      .bias_alignment = bias ? alignment_of(bias_data) : 0,
  };
  Plan& plan = find_or_make_plan(state, key, bias_data);
  if (bias) set_desc(plan.matmul.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias_data);
  const float alpha = 1.0f;
  const float beta = 0.0f;  // C is not read; it names D's layout only
  check_cublas(
      cublasLtMatmul(state.handle.get(), plan.matmul.get(), &alpha, weight.raw(), plan.weight_layout.get(),
                     in.raw(), plan.in_layout.get(), &beta, out.raw(), plan.out_layout.get(), out.raw(),
                     plan.out_layout.get(), &plan.algo, state.workspace.get(), kWorkspaceBytes, cuda_stream),
      "cublasLtMatmul");
}

void linear(Tensor& out, const PreNorm& in, const Tensor& weight, const Tensor* bias, Stream stream) {
  const int64_t num_tokens = check_pre_norm("linear", in);
  check_linear(out, in.residual, weight, bias);
  if (num_tokens == 0 || weight.dim(0) == 0) return;
  if (gemv_applies(num_tokens, in, weight)) return gemv(out, in, weight, bias, num_tokens, stream);
  pre_norm(in, stream);
  linear(out, in.normed, weight, bias, stream);
}

void gated_linear(Tensor& out, const Tensor& in, const Tensor& gate_up, Tensor& scratch, Stream stream) {
  check_gated_linear(out, in, gate_up, scratch);
  const int64_t num_tokens = in.dim(0);
  const int64_t width = gate_up.dim(0) / 2;
  if (num_tokens == 0 || width == 0) return;
  if (gemv_applies(num_tokens, in, gate_up)) return gated_gemv(out, in, gate_up, num_tokens, stream);
  Tensor product = scratch.slice_rows(0, num_tokens);
  linear(product, in, gate_up, nullptr, stream);
  silu_mul_halves(out, product, stream);
}

void gated_linear(Tensor& out, const PreNorm& in, const Tensor& gate_up, Tensor& scratch, Stream stream) {
  const int64_t num_tokens = check_pre_norm("gated_linear", in);
  check_gated_linear(out, in.residual, gate_up, scratch);
  if (num_tokens == 0 || gate_up.dim(0) == 0) return;
  if (gemv_applies(num_tokens, in, gate_up)) return gated_gemv(out, in, gate_up, num_tokens, stream);
  pre_norm(in, stream);
  gated_linear(out, in.normed, gate_up, scratch, stream);
}

}  // namespace hanlin::cuda
