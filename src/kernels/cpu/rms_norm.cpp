// CPU RMSNorm over the last dimension (transformers' Qwen3RMSNorm in f32):
// out = (x * 1/sqrt(mean(x²) + eps)) * weight; also the fused residual-add form and the
// per-head form used for Qwen3's q/k norm.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"

namespace hanlin::cpu {
namespace {

// Rows handed to one thread at a time: enough elements that waking a thread pays off.
int64_t row_grain(int64_t width) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1));
}

float inverse_rms(float sum_squares, int64_t width, float eps) {
  return 1.0f / std::sqrt(sum_squares / static_cast<float>(width) + eps);
}

// Eight partial sums, like the vector lanes, so the scalar path's rounding stays as small.
float sum_squares_scalar(const float* __restrict__ row, int64_t width) {
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= width; i += 8) {
    for (int lane = 0; lane < 8; ++lane) partial[lane] += row[i + lane] * row[i + lane];
  }
  for (; i < width; ++i) partial[i % 8] += row[i] * row[i];
  float sum = 0;
  for (const float value : partial) sum += value;
  return sum;
}

// out[width] = (in * scale) * weight; out may equal in.
template <class W>
void scale_row_scalar(float* out, const float* in, const W* __restrict__ weight, float scale, int64_t width) {
  for (int64_t i = 0; i < width; ++i) out[i] = (in[i] * scale) * to_f32(weight[i]);
}

#if HANLIN_X86_KERNELS

HANLIN_AVX2 float sum_squares_avx2(const float* __restrict__ row, int64_t width) {
  __m256 sum0 = _mm256_setzero_ps();
  __m256 sum1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= width; i += 16) {
    const __m256 a = _mm256_loadu_ps(row + i);
    const __m256 b = _mm256_loadu_ps(row + i + 8);
    sum0 = _mm256_fmadd_ps(a, a, sum0);
    sum1 = _mm256_fmadd_ps(b, b, sum1);
  }
  if (i + 8 <= width) {
    const __m256 a = _mm256_loadu_ps(row + i);
    sum0 = _mm256_fmadd_ps(a, a, sum0);
    i += 8;
  }
  float sum = avx2::horizontal_sum(_mm256_add_ps(sum0, sum1));
  for (; i < width; ++i) sum += row[i] * row[i];
  return sum;
}

template <class W>
HANLIN_AVX2 void scale_row_avx2(float* out, const float* in, const W* __restrict__ weight, float scale,
                                int64_t width) {
  const __m256 scale8 = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 8 <= width; i += 8) {
    const __m256 normalized = _mm256_mul_ps(_mm256_loadu_ps(in + i), scale8);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(normalized, avx2::load8(weight + i)));
  }
  for (; i < width; ++i) out[i] = (in[i] * scale) * to_f32(weight[i]);
}

// residual[width] += x; returns Σ residual².
HANLIN_AVX2 float add_and_sum_squares_avx2(float* __restrict__ residual, const float* __restrict__ x,
                                           int64_t width) {
  __m256 sum = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= width; i += 8) {
    const __m256 value = _mm256_add_ps(_mm256_loadu_ps(residual + i), _mm256_loadu_ps(x + i));
    _mm256_storeu_ps(residual + i, value);
    sum = _mm256_fmadd_ps(value, value, sum);
  }
  float total = avx2::horizontal_sum(sum);
  for (; i < width; ++i) {
    residual[i] += x[i];
    total += residual[i] * residual[i];
  }
  return total;
}

#endif

float sum_squares(const float* row, int64_t width, Isa isa) {
#if HANLIN_X86_KERNELS
  if (isa == Isa::kAvx2) return sum_squares_avx2(row, width);
#endif
  (void)isa;
  return sum_squares_scalar(row, width);
}

template <class W>
void scale_row(float* out, const float* in, const W* weight, float scale, int64_t width, Isa isa) {
#if HANLIN_X86_KERNELS
  if (isa == Isa::kAvx2) return scale_row_avx2(out, in, weight, scale, width);
#endif
  (void)isa;
  scale_row_scalar(out, in, weight, scale, width);
}

float add_and_sum_squares(float* residual, const float* x, int64_t width, Isa isa) {
#if HANLIN_X86_KERNELS
  if (isa == Isa::kAvx2) return add_and_sum_squares_avx2(residual, x, width);
#endif
  for (int64_t i = 0; i < width; ++i) residual[i] += x[i];
  return sum_squares(residual, width, isa);
}

// Normalises `rows` rows of in into out (which may equal in), weight of type W.
template <class W>
void normalize_rows(float* out, const float* in, const W* weight, int64_t rows, int64_t width, float eps,
                    const ops::Context& ctx) {
  const Isa isa = active_isa();
  parallel_for(ctx, rows, row_grain(width), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float scale = inverse_rms(sum_squares(in + r * width, width, isa), width, eps);
      scale_row(out + r * width, in + r * width, weight, scale, width, isa);
    }
  });
}

template <class W>
void add_normalize_rows(float* out, float* residual, const float* x, const W* weight, int64_t rows,
                        int64_t width, float eps, const ops::Context& ctx) {
  const Isa isa = active_isa();
  parallel_for(ctx, rows, row_grain(width), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float scale =
          inverse_rms(add_and_sum_squares(residual + r * width, x + r * width, width, isa), width, eps);
      scale_row(out + r * width, residual + r * width, weight, scale, width, isa);
    }
  });
}

// Calls fn with the weight's data as a typed pointer.
template <class Fn>
void with_weight_type(const Tensor& weight, const Fn& fn) {
  switch (weight.dtype()) {
    case DType::kBF16:
      return fn(weight.data<bf16>());
    case DType::kF16:
      return fn(weight.data<f16>());
    default:
      return fn(weight.data<float>());
  }
}

}  // namespace

void rms_norm(Tensor& out, const Tensor& in, const Tensor& weight, float eps, const ops::Context& ctx) {
  const int64_t width = weight.numel();
  with_weight_type(weight, [&](const auto* weight_data) {
    normalize_rows(out.data<float>(), in.data<float>(), weight_data, in.numel() / width, width, eps, ctx);
  });
}

void add_rms_norm(Tensor& out, Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                  const ops::Context& ctx) {
  const int64_t width = weight.numel();
  with_weight_type(weight, [&](const auto* weight_data) {
    add_normalize_rows(out.data<float>(), residual.data<float>(), x.data<float>(), weight_data,
                       residual.numel() / width, width, eps, ctx);
  });
}

void head_rms_norm(Tensor& x, const Tensor& weight, float eps, const ops::Context& ctx) {
  cpu::rms_norm(x, x, weight, eps, ctx);
}

}  // namespace hanlin::cpu
