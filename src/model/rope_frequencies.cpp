// transformers' _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters and
// _compute_yarn_parameters (transformers 5), reimplemented. torch evaluates the vector parts in
// f32 one op at a time; the scalar parts (correction range, attention factor) are Python
// doubles. Each step below keeps that split so results agree to an ulp or two.
#include "model/rope_frequencies.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "core/error.h"

namespace hanlin::model {
namespace {

using io::ModelConfig;
using io::RopeType;

// base ** (arange(0, dim, 2).float() / dim): the exponent divides in f32, then pow in f32.
std::vector<float> position_frequencies(double base, int64_t dim) {
  std::vector<float> freqs(static_cast<size_t>(dim / 2));
  const float base_f = static_cast<float>(base);
  const float dim_f = static_cast<float>(dim);
  for (size_t i = 0; i < freqs.size(); ++i) {
    const float exponent = static_cast<float>(2 * i) / dim_f;
    freqs[i] = std::pow(base_f, exponent);
  }
  return freqs;
}

// 1.0 / tensor is reciprocal() in torch, f32.
std::vector<float> reciprocals(const std::vector<float>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = 1.0f / values[i];
  return out;
}

// YaRN's dimension whose wavelength makes `num_rotations` turns over `max_positions`.
double correction_dim(double num_rotations, int64_t dim, double base, double max_positions) {
  return (static_cast<double>(dim) * std::log(max_positions / (num_rotations * 2 * std::numbers::pi))) /
         (2 * std::log(base));
}

struct CorrectionRange {
  double low;
  double high;
};

CorrectionRange correction_range(const io::RopeParameters& rope, int64_t dim, double max_positions) {
  // Python's `x or default`: a zero means "unset".
  const double beta_fast = rope.beta_fast != 0 ? rope.beta_fast : 32.0;
  const double beta_slow = rope.beta_slow != 0 ? rope.beta_slow : 1.0;
  double low = correction_dim(beta_fast, dim, rope.theta, max_positions);
  double high = correction_dim(beta_slow, dim, rope.theta, max_positions);
  if (rope.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  return {std::max(low, 0.0), std::min(high, static_cast<double>(dim - 1))};
}

// clamp((arange(n) - low) / (high - low), 0, 1) in f32; high - low is a Python double first.
std::vector<float> linear_ramp(CorrectionRange range, int64_t n) {
  if (range.low == range.high) range.high += 0.001;  // transformers' guard against 0/0
  const float low = static_cast<float>(range.low);
  const float span = static_cast<float>(range.high - range.low);
  std::vector<float> ramp(static_cast<size_t>(n));
  for (size_t i = 0; i < ramp.size(); ++i) {
    ramp[i] = std::clamp((static_cast<float>(i) - low) / span, 0.0f, 1.0f);
  }
  return ramp;
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

double yarn_attention_factor(const io::RopeParameters& rope) {
  if (rope.attention_factor) return *rope.attention_factor;
  const double mscale = rope.mscale.value_or(0.0);
  const double mscale_all_dim = rope.mscale_all_dim.value_or(0.0);
  if (mscale != 0 && mscale_all_dim != 0) {
    return yarn_mscale(rope.factor, mscale) / yarn_mscale(rope.factor, mscale_all_dim);
  }
  return yarn_mscale(rope.factor, 1.0);
}

std::vector<float> yarn_inv_freq(const ModelConfig& config) {
  const io::RopeParameters& rope = config.rope;
  const int64_t dim = config.head_dim;
  // transformers 5 fills a missing original_max_position_embeddings with max_position_embeddings.
  const double original_max = static_cast<double>(
      rope.original_max_position_embeddings.value_or(config.max_position_embeddings));
  const std::vector<float> pos_freqs = position_frequencies(rope.theta, dim);
  const float factor = static_cast<float>(rope.factor);
  const std::vector<float> extrapolation = reciprocals(pos_freqs);
  std::vector<float> scaled(pos_freqs.size());
  for (size_t i = 0; i < scaled.size(); ++i) scaled[i] = factor * pos_freqs[i];
  const std::vector<float> interpolation = reciprocals(scaled);

  const std::vector<float> ramp = linear_ramp(correction_range(rope, dim, original_max), dim / 2);
  std::vector<float> inv_freq(pos_freqs.size());
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const float extrapolation_factor = 1.0f - ramp[i];
    const float interpolated = interpolation[i] * (1.0f - extrapolation_factor);
    const float extrapolated = extrapolation[i] * extrapolation_factor;
    inv_freq[i] = interpolated + extrapolated;
  }
  return inv_freq;
}

void check_rope_config(const ModelConfig& config) {
  const std::string where = "config.json: ";
  require(config.head_dim > 0 && config.head_dim % 2 == 0, ErrorKind::kInvalidFile,
          where + "RoPE needs an even head_dim, got " + std::to_string(config.head_dim));
  require(config.rope.theta > 0 && std::isfinite(config.rope.theta), ErrorKind::kInvalidFile,
          where + "rope_theta must be positive, got " + std::to_string(config.rope.theta));
  require(config.rope.factor > 0 && std::isfinite(config.rope.factor), ErrorKind::kInvalidFile,
          where + "the RoPE scaling factor must be positive, got " + std::to_string(config.rope.factor));
}

Tensor to_tensor(const std::vector<float>& values) {
  Tensor tensor = Tensor::zeros({static_cast<int64_t>(values.size())}, DType::kF32);
  std::copy(values.begin(), values.end(), tensor.data<float>());
  return tensor;
}

}  // namespace

RopeFrequencies compute_rope_frequencies(const ModelConfig& config) {
  check_rope_config(config);
  switch (config.rope.type) {
    case RopeType::kDefault:
      return {to_tensor(reciprocals(position_frequencies(config.rope.theta, config.head_dim))), 1.0f};
    case RopeType::kLinear: {
      std::vector<float> inv_freq = reciprocals(position_frequencies(config.rope.theta, config.head_dim));
      const float factor = static_cast<float>(config.rope.factor);
      for (float& value : inv_freq) value /= factor;
      return {to_tensor(inv_freq), 1.0f};
    }
    case RopeType::kYarn:
      return {to_tensor(yarn_inv_freq(config)), static_cast<float>(yarn_attention_factor(config.rope))};
  }
  throw Error(ErrorKind::kInternal, "unknown RoPE type");
}

}  // namespace hanlin::model
