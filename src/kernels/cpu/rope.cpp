// CPU rotary embedding, neox layout (transformers' Qwen3/Qwen2 apply_rotary_pos_emb): per
// token, cos/sin of the f32 angle position·inv_freq[i] are computed once and applied to every
// head: out[i] = x[i]·cos − x[i+half]·sin, out[i+half] = x[i+half]·cos + x[i]·sin.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"

namespace hanlin::cpu {
namespace {

// cos_sin[0, half) = cos, cos_sin[half, 2·half) = sin, both scaled.
void fill_cos_sin(float* __restrict__ cos_sin, int32_t position, const float* __restrict__ inv_freq,
                  int64_t half, float attention_scaling) {
  for (int64_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(position) * inv_freq[i];  // in f32, as transformers does
    cos_sin[i] = std::cos(angle) * attention_scaling;
    cos_sin[half + i] = std::sin(angle) * attention_scaling;
  }
}

void rotate_head_scalar(float* __restrict__ head, const float* __restrict__ cos_sin, int64_t half) {
  for (int64_t i = 0; i < half; ++i) {
    const float x1 = head[i];
    const float x2 = head[i + half];
    head[i] = x1 * cos_sin[i] - x2 * cos_sin[half + i];
    head[i + half] = x2 * cos_sin[i] + x1 * cos_sin[half + i];
  }
}

#if HANLIN_X86_KERNELS

HANLIN_AVX2 void rotate_head_avx2(float* __restrict__ head, const float* __restrict__ cos_sin, int64_t half) {
  int64_t i = 0;
  for (; i + 8 <= half; i += 8) {
    const __m256 x1 = _mm256_loadu_ps(head + i);
    const __m256 x2 = _mm256_loadu_ps(head + half + i);
    const __m256 cos_value = _mm256_loadu_ps(cos_sin + i);
    const __m256 sin_value = _mm256_loadu_ps(cos_sin + half + i);
    _mm256_storeu_ps(head + i, _mm256_fmsub_ps(x1, cos_value, _mm256_mul_ps(x2, sin_value)));
    _mm256_storeu_ps(head + half + i, _mm256_fmadd_ps(x2, cos_value, _mm256_mul_ps(x1, sin_value)));
  }
  for (; i < half; ++i) {
    const float x1 = head[i];
    const float x2 = head[i + half];
    head[i] = x1 * cos_sin[i] - x2 * cos_sin[half + i];
    head[i + half] = x2 * cos_sin[i] + x1 * cos_sin[half + i];
  }
}

#endif

void rotate_head(float* head, const float* cos_sin, int64_t half, Isa isa) {
#if HANLIN_X86_KERNELS
  if (isa == Isa::kAvx2) return rotate_head_avx2(head, cos_sin, half);
#endif
  (void)isa;
  rotate_head_scalar(head, cos_sin, half);
}

}  // namespace

void rope(Tensor& x, std::span<const int32_t> positions, const Tensor& inv_freq, float attention_scaling,
          const ops::Context& ctx) {
  const int64_t num_heads = x.dim(1);
  const int64_t head_dim = x.dim(2);
  const int64_t half = head_dim / 2;
  float* data = x.data<float>();  // [T, heads, head_dim]
  const float* frequencies = inv_freq.data<float>();
  const Isa isa = active_isa();
  const int64_t grain = std::max<int64_t>(1, 8192 / (num_heads * head_dim + 1));
  parallel_for(ctx, static_cast<int64_t>(positions.size()), grain, [&](int64_t begin, int64_t end) {
    std::vector<float> cos_sin(static_cast<size_t>(2 * half));
    for (int64_t t = begin; t < end; ++t) {
      fill_cos_sin(cos_sin.data(), positions[static_cast<size_t>(t)], frequencies, half, attention_scaling);
      for (int64_t h = 0; h < num_heads; ++h)
        rotate_head(data + (t * num_heads + h) * head_dim, cos_sin.data(), half, isa);
    }
  });
}

}  // namespace hanlin::cpu
