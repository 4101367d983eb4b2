// Reference linear layer: out[t, n] = Σ_k in[t, k] · weight[n, k] (+ bias[n]), summed in double.
#include "kernels/ref/ref_ops.h"

namespace hanlin::ref {

void linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, const ops::Context& ctx) {
  const int64_t num_outputs = weight.dim(0);
  const int64_t num_inputs = weight.dim(1);
  const int64_t num_tokens = in.numel() / num_inputs;
  const float* in_data = in.data<float>();  // [T, K]
  float* out_data = out.data<float>();      // [T, N]
  for_each_output(num_tokens * num_outputs, ctx, [&](int64_t item) {
    const int64_t t = item / num_outputs;
    const int64_t n = item % num_outputs;
    double sum = bias ? element_as_f32(*bias, n) : 0.0;
    for (int64_t k = 0; k < num_inputs; ++k) {
      sum += static_cast<double>(in_data[t * num_inputs + k]) * element_as_f32(weight, n * num_inputs + k);
    }
    out_data[item] = static_cast<float>(sum);
  });
}

}  // namespace hanlin::ref
