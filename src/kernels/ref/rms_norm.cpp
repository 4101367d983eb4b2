// Reference RMSNorm (transformers' Qwen3RMSNorm): x * rsqrt(mean(x²) + eps) * weight, over the
// last dimension; the mean is taken in double.
#include <cmath>

#include "kernels/ref/ref_ops.h"

namespace hanlin::ref {
namespace {

// One row of `width` values; out may equal in.
void normalize_row(float* out, const float* in, const Tensor& weight, int64_t width, float eps) {
  double sum_squares = 0;
  for (int64_t i = 0; i < width; ++i) sum_squares += static_cast<double>(in[i]) * in[i];
  const double inverse_rms = 1.0 / std::sqrt(sum_squares / static_cast<double>(width) + eps);
  for (int64_t i = 0; i < width; ++i) {
    out[i] = static_cast<float>(in[i] * inverse_rms * element_as_f32(weight, i));
  }
}

}  // namespace

void rms_norm(Tensor& out, const Tensor& in, const Tensor& weight, float eps, const ops::Context&) {
  const int64_t width = weight.numel();
  const int64_t rows = in.numel() / width;
  for (int64_t r = 0; r < rows; ++r) {
    normalize_row(out.data<float>() + r * width, in.data<float>() + r * width, weight, width, eps);
  }
}

void add_rms_norm(Tensor& out, Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                  const ops::Context& ctx) {
  float* residual_data = residual.data<float>();
  const float* x_data = x.data<float>();
  for (int64_t i = 0; i < residual.numel(); ++i) residual_data[i] += x_data[i];
  ref::rms_norm(out, residual, weight, eps, ctx);
}

void head_rms_norm(Tensor& x, const Tensor& weight, float eps, const ops::Context& ctx) {
  ref::rms_norm(x, x, weight, eps, ctx);
}

}  // namespace hanlin::ref
