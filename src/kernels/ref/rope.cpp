// Reference rotary embedding, neox layout, as transformers' Qwen3/Qwen2: the angle is the f32
// product position · inv_freq; cos and sin are taken in double of that f32 angle.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace hanlin::ref {

void rope(Tensor& x, std::span<const int32_t> positions, const Tensor& inv_freq, float attention_scaling,
          const ops::Context&) {
  const int64_t num_heads = x.dim(1);
  const int64_t head_dim = x.dim(2);
  const int64_t half = head_dim / 2;
  const float* frequencies = inv_freq.data<float>();  // [head_dim / 2]
  float* data = x.data<float>();                      // [T, heads, head_dim]
  for (size_t t = 0; t < positions.size(); ++t) {
    for (int64_t h = 0; h < num_heads; ++h) {
      float* head = data + (static_cast<int64_t>(t) * num_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float angle = static_cast<float>(positions[t]) * frequencies[i];
        const double cos_value = std::cos(static_cast<double>(angle)) * attention_scaling;
        const double sin_value = std::sin(static_cast<double>(angle)) * attention_scaling;
        const double x1 = head[i];
        const double x2 = head[i + half];
        head[i] = static_cast<float>(x1 * cos_value - x2 * sin_value);
        head[i + half] = static_cast<float>(x2 * cos_value + x1 * sin_value);
      }
    }
  }
}

}  // namespace hanlin::ref
