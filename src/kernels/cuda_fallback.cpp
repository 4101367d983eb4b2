// The CUDA ops in a build without CUDA: no device is ever found, and anything that would need
// one says the build has no CUDA instead of failing to link.
#ifndef HANLIN_HAS_CUDA

#include "core/error.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/sampling.h"

namespace hanlin::cuda {
namespace {

[[noreturn]] void no_cuda() {
  throw Error(ErrorKind::kUnsupported, "this hanlin was built without CUDA (rebuild where nvcc is installed)");
}

}  // namespace

int device_count() { return 0; }
Tensor device_zeros(Shape, DType) { no_cuda(); }
Tensor to_device(const Tensor&) { no_cuda(); }
Tensor to_host(const Tensor&) { no_cuda(); }
void synchronize(Stream) { no_cuda(); }
void copy_device_bytes(void*, const void*, size_t, Stream) { no_cuda(); }
MemoryInfo memory_info() { no_cuda(); }
class Graph {};
std::shared_ptr<void> create_stream() { no_cuda(); }
void begin_capture(Stream) { no_cuda(); }
std::shared_ptr<Graph> end_capture(Stream) { no_cuda(); }
void launch_graph(const Graph&, Stream) { no_cuda(); }
Tensor pinned_host_zeros(Shape, DType) { no_cuda(); }
void copy_to_device_async(Tensor&, const Tensor&, Stream) { no_cuda(); }
void copy_to_host_async(Tensor&, const Tensor&, Stream) { no_cuda(); }
void embedding(Tensor&, const Tensor&, const Tensor&, Stream) { no_cuda(); }
void rms_norm(Tensor&, const Tensor&, const Tensor&, float, Stream) { no_cuda(); }
void add_rms_norm(Tensor&, Tensor&, const Tensor&, const Tensor&, float, Stream) { no_cuda(); }
void add_rms_norm(Tensor&, Tensor&, const Tensor&, const Tensor&, const Tensor&, float, Stream) { no_cuda(); }
void pre_norm(const PreNorm&, Stream) { no_cuda(); }
void head_rms_norm(Tensor&, const Tensor&, float, Stream) { no_cuda(); }
void rope(Tensor&, const Tensor&, const Tensor&, float, Stream) { no_cuda(); }
void silu_mul(Tensor&, const Tensor&, const Tensor&, Stream) { no_cuda(); }
void silu_mul_halves(Tensor&, const Tensor&, Stream) { no_cuda(); }
void gated_linear(Tensor&, const Tensor&, const Tensor&, Tensor&, Stream) { no_cuda(); }
void gated_linear(Tensor&, const PreNorm&, const Tensor&, Tensor&, Stream) { no_cuda(); }
void qkv_rope_cache_write(Tensor&, Tensor&, Tensor&, const Tensor&, const Tensor*, const Tensor*, float, const Tensor&,
                          const Tensor&, float, const Tensor&, Stream) {
  no_cuda();
}
void kv_cache_write(Tensor&, Tensor&, const Tensor&, const Tensor&, const Tensor&, Stream) { no_cuda(); }
void linear(Tensor&, const Tensor&, const Tensor&, const Tensor*, Stream) { no_cuda(); }
void linear(Tensor&, const PreNorm&, const Tensor&, const Tensor*, Stream) { no_cuda(); }
bool prefill_attention_supports(int64_t) { return false; }
std::vector<int32_t> prefill_tiles(std::span<const std::array<int32_t, 3>>, int32_t) { no_cuda(); }
void prefill_attention(Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                       const Tensor&, float, Stream, int64_t) {
  no_cuda();
}
void paged_attention(Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     float, AttentionWay, Stream) {
  no_cuda();
}
void paged_attention(Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                     const Tensor&, float, AttentionWay, Stream) {
  no_cuda();
}
void sample_rows(DrawResult*, DrawLogprobs*, const DrawParams*, int64_t, const LogitEdit*, int64_t, const Tensor&, Stream) {
  no_cuda();
}

}  // namespace hanlin::cuda

#endif  // HANLIN_HAS_CUDA
