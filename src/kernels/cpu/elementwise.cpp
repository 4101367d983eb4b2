// CPU embedding lookup (gather + widen to f32) and SiLU-gated product.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"

namespace hanlin::cpu {
namespace {

template <class T>
void widen_row_scalar(float* __restrict__ out, const T* __restrict__ in, int64_t width) {
  for (int64_t i = 0; i < width; ++i) out[i] = to_f32(in[i]);
}

void silu_mul_scalar(float* __restrict__ out, const float* __restrict__ gate, const float* __restrict__ up,
                     int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

#if HANLIN_X86_KERNELS

template <class T>
HANLIN_AVX2 void widen_row_avx2(float* __restrict__ out, const T* __restrict__ in, int64_t width) {
  int64_t i = 0;
  for (; i + 8 <= width; i += 8) _mm256_storeu_ps(out + i, avx2::load8(in + i));
  for (; i < width; ++i) out[i] = to_f32(in[i]);
}

HANLIN_AVX2 void silu_mul_avx2(float* __restrict__ out, const float* __restrict__ gate,
                               const float* __restrict__ up, int64_t count) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 sigmoid_denominator = _mm256_add_ps(one, avx2::exp8(_mm256_sub_ps(_mm256_setzero_ps(), g)));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, sigmoid_denominator), _mm256_loadu_ps(up + i)));
  }
  silu_mul_scalar(out + i, gate + i, up + i, count - i);
}

#endif

template <class T>
void widen_row(float* out, const T* in, int64_t width, Isa isa) {
#if HANLIN_X86_KERNELS
  if (isa == Isa::kAvx2) return widen_row_avx2(out, in, width);
#endif
  (void)isa;
  widen_row_scalar(out, in, width);
}

template <class T>
void gather_rows(float* out, const T* table, std::span<const int32_t> token_ids, int64_t width,
                 const ops::Context& ctx) {
  const Isa isa = active_isa();
  const int64_t grain = std::max<int64_t>(1, 32768 / width);
  parallel_for(ctx, static_cast<int64_t>(token_ids.size()), grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      widen_row(out + t * width, table + int64_t{token_ids[static_cast<size_t>(t)]} * width, width, isa);
    }
  });
}

}  // namespace

void embedding(Tensor& out, const Tensor& table, std::span<const int32_t> token_ids,
               const ops::Context& ctx) {
  const int64_t width = table.dim(1);
  switch (table.dtype()) {
    case DType::kBF16:
      return gather_rows(out.data<float>(), table.data<bf16>(), token_ids, width, ctx);
    case DType::kF16:
      return gather_rows(out.data<float>(), table.data<f16>(), token_ids, width, ctx);
    default:
      return gather_rows(out.data<float>(), table.data<float>(), token_ids, width, ctx);
  }
}

void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up, const ops::Context& ctx) {
  float* out_data = out.data<float>();
  const float* gate_data = gate.data<float>();
  const float* up_data = up.data<float>();
  const Isa isa = active_isa();
  parallel_for(ctx, out.numel(), 16384, [&](int64_t begin, int64_t end) {
#if HANLIN_X86_KERNELS
    if (isa == Isa::kAvx2)
      return silu_mul_avx2(out_data + begin, gate_data + begin, up_data + begin, end - begin);
#endif
    (void)isa;
    silu_mul_scalar(out_data + begin, gate_data + begin, up_data + begin, end - begin);
  });
}

}  // namespace hanlin::cpu
