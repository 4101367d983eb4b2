// CPU linear: out[T, N] = in[T, K] · weight[N, K]ᵀ (+ bias). Picks the kernel by token count
// (streaming for decode, cache-blocked for prefill) and splits the N output rows into chunks
// that the pool's threads take in turn, each streaming its own part of the weight matrix.
#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/linear_kernels.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"

namespace hanlin::cpu {
namespace {

// Up to this many tokens, dotting rows that sit in L1 with every token beats packing them for
// the blocked kernel (kernels_bench, section c: about even at 8 for K = 3072, ahead for K = 1024).
constexpr int64_t kMaxStreamingTokens = 8;

// Runs kernel(args, row_begin, row_end) over the rows in chunks of whole `unit`s, at least
// `min_chunks_per_thread` chunks per thread (more when that leaves a chunk under 64 KiB of
// weights, so waking a thread pays off).
template <class W, class Kernel>
void split_rows(const LinearArgs<W>& args, int64_t unit, int64_t min_chunks_per_thread,
                const ops::Context& ctx, const Kernel& kernel) {
  const int64_t num_units = (args.num_outputs + unit - 1) / unit;
  const int64_t unit_bytes = unit * args.num_inputs * static_cast<int64_t>(sizeof(W));
  const int64_t num_threads = ctx.pool ? ctx.pool->num_threads() : 1;
  const int64_t grain = std::max({int64_t{1}, (int64_t{64} << 10) / std::max<int64_t>(unit_bytes, 1),
                                  num_units / (num_threads * min_chunks_per_thread)});
  parallel_for(ctx, num_units, grain, [&](int64_t begin, int64_t end) {
    kernel(args, begin * unit, std::min(end * unit, args.num_outputs));
  });
}

template <class W>
void run_linear(const LinearArgs<W>& args, const ops::Context& ctx) {
#if HANLIN_X86_KERNELS
  if (active_isa() == Isa::kAvx2) {
    if (args.num_tokens <= kMaxStreamingTokens) {
      std::vector<float> storage;
      const float* streaming_in = streaming_inputs(args, storage);
      // Two long chunks per thread: long sequential streams read fastest (linear_streaming.cpp).
      return split_rows(args, 1, 2, ctx, [&](const LinearArgs<W>& same_args, int64_t begin, int64_t end) {
        linear_rows_streaming_avx2(same_args, streaming_in, begin, end);
      });
    }
    return split_rows(args, kGemmPanelRows, 8, ctx, linear_rows_blocked_avx2<W>);
  }
#endif
  split_rows(args, 4, 8, ctx, linear_rows_scalar<W>);
}

// The bias as f32: the tensor's own data when it is f32, otherwise widened into `storage`.
const float* bias_as_f32(const Tensor* bias, std::vector<float>& storage) {
  if (!bias) return nullptr;
  if (bias->dtype() == DType::kF32) return bias->data<float>();
  storage.resize(static_cast<size_t>(bias->numel()));
  for (int64_t i = 0; i < bias->numel(); ++i) {
    storage[static_cast<size_t>(i)] =
        bias->dtype() == DType::kBF16 ? to_f32(bias->data<bf16>()[i]) : to_f32(bias->data<f16>()[i]);
  }
  return storage.data();
}

template <class W>
void linear_typed(Tensor& out, const Tensor& in, const Tensor& weight, const float* bias,
                  const ops::Context& ctx) {
  const int64_t num_inputs = weight.dim(1);
  const LinearArgs<W> args{out.data<float>(),       in.data<float>(), weight.data<W>(), bias,
                           in.numel() / num_inputs, weight.dim(0),    num_inputs};
  if (args.num_tokens == 0 || args.num_outputs == 0) return;
  run_linear(args, ctx);
}

}  // namespace

void linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
            const ops::Context& ctx) {
  std::vector<float> bias_storage;
  const float* bias_f32 = bias_as_f32(bias, bias_storage);
  switch (weight.dtype()) {
    case DType::kBF16:
      return linear_typed<bf16>(out, in, weight, bias_f32, ctx);
    case DType::kF16:
      return linear_typed<f16>(out, in, weight, bias_f32, ctx);
    default:
      return linear_typed<float>(out, in, weight, bias_f32, ctx);
  }
}

}  // namespace hanlin::cpu
