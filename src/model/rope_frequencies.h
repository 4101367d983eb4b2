// RoPE inverse frequencies and attention scaling from a ModelConfig, computed as transformers'
// modeling_rope_utils does (default, linear, yarn), step by step in the same f32 order, so the
// angles fed to the rope op match the reference model's.
#pragma once

#include "core/tensor.h"
#include "io/model_config.h"

namespace hanlin::model {

struct RopeFrequencies {
  Tensor inv_freq;                // [head_dim / 2] f32
  float attention_scaling = 1.0f;  // multiplies cos and sin (YaRN's mscale; 1 otherwise)
};

// Throws Error(kInvalidFile) naming config.json for parameters transformers would reject
// (odd head_dim, theta <= 0, factor <= 0).
RopeFrequencies compute_rope_frequencies(const io::ModelConfig& config);

}  // namespace hanlin::model
