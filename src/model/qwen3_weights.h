// The weights of a Qwen3 / Qwen2 dense model, checked against the config, and the two ways to
// get them: borrowed from a checkpoint's mmap (no copy), or random for --load-format dummy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "io/model_config.h"
#include "io/safetensors.h"

namespace hanlin::model {

// Shapes use H = hidden, D = head_dim, Nq / Nkv = attention / key-value heads, I = intermediate.
struct Qwen3LayerWeights {
  Tensor input_norm;           // [H]
  Tensor q_proj, k_proj;       // [Nq·D, H], [Nkv·D, H]
  Tensor v_proj, o_proj;       // [Nkv·D, H], [H, Nq·D]
  Tensor q_bias, k_bias;       // [Nq·D], [Nkv·D]; undefined without attention biases
  Tensor v_bias, o_bias;       // [Nkv·D], [H]; o_bias only for Qwen3 with attention_bias
  Tensor q_norm, k_norm;       // [D]; undefined for Qwen2 (no q/k norm)
  Tensor post_attention_norm;  // [H]
  Tensor gate_proj, up_proj;   // [I, H]
  Tensor down_proj;            // [H, I]
};

struct Qwen3Weights {
  Tensor embed_tokens;  // [V, H]
  std::vector<Qwen3LayerWeights> layers;
  Tensor final_norm;  // [H]
  Tensor lm_head;     // [V, H]; the same buffer as embed_tokens when tied
};

// Which optional tensors a config implies.
bool has_qkv_bias(const io::ModelConfig& config);
bool has_o_bias(const io::ModelConfig& config);

// Takes every weight from `store`, checking presence and shape against `config`. Messages start
// with `checkpoint_label` (the safetensors file or index) and name the tensor, its shape and the
// shape config.json implies. Throws Error(kInvalidFile).
Qwen3Weights load_qwen3_weights(const io::WeightStore& store, const io::ModelConfig& config,
                                const std::string& checkpoint_label);

// Random bf16 weights of the config's shapes (normal, std 0.02; norms are ones), the same for a
// given seed whatever the pool's size. For speed and memory runs without a checkpoint.
Qwen3Weights make_dummy_qwen3_weights(const io::ModelConfig& config, uint64_t seed, ThreadPool& pool);

}  // namespace hanlin::model
