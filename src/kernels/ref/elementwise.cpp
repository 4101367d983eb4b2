// Reference embedding lookup, SiLU-gated product, and the dtype-agnostic element reader.
#include <cmath>

#include "core/error.h"
#include "kernels/ref/ref_ops.h"

namespace hanlin::ref {

float element_as_f32(const Tensor& tensor, int64_t index) {
  switch (tensor.dtype()) {
    case DType::kF32:
      return tensor.data<float>()[index];
    case DType::kBF16:
      return to_f32(tensor.data<bf16>()[index]);
    case DType::kF16:
      return to_f32(tensor.data<f16>()[index]);
    case DType::kI32:
      break;
  }
  throw Error(ErrorKind::kInternal, "ref: tensor of dtype I32 read as a float");
}

void embedding(Tensor& out, const Tensor& table, std::span<const int32_t> token_ids, const ops::Context&) {
  const int64_t hidden = table.dim(-1);
  float* out_data = out.data<float>();  // [T, hidden]
  for (size_t t = 0; t < token_ids.size(); ++t) {
    for (int64_t i = 0; i < hidden; ++i) {
      out_data[static_cast<int64_t>(t) * hidden + i] = element_as_f32(table, token_ids[t] * hidden + i);
    }
  }
}

void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up, const ops::Context&) {
  const float* gate_data = gate.data<float>();
  const float* up_data = up.data<float>();
  float* out_data = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double g = gate_data[i];
    out_data[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up_data[i]);
  }
}

}  // namespace hanlin::ref
