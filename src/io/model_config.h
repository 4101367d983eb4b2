// ModelConfig: what hanlin needs from a checkpoint's config.json, validated, in one struct.
// Reads both config.json forms: the one checkpoints ship with (top-level rope_theta,
// rope_scaling with "type" or "rope_type", torch_dtype) and the one transformers 5 writes
// (rope_parameters, dtype).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hanlin::io {

enum class Architecture { kQwen3, kQwen2 };

enum class RopeType { kDefault, kLinear, kYarn };

// RoPE frequency parameters (transformers' "rope_parameters").
struct RopeParameters {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;
  double factor = 1.0;                              // linear, yarn
  std::optional<int64_t> original_max_position_embeddings;  // yarn
  std::optional<double> attention_factor;           // yarn: overrides the computed mscale
  double beta_fast = 32.0;                          // yarn
  double beta_slow = 1.0;                           // yarn
  std::optional<double> mscale;                     // yarn (DeepSeek style), rarely set
  std::optional<double> mscale_all_dim;             // yarn
  bool truncate = true;                             // yarn: round the correction range
};

struct ModelConfig {
  Architecture architecture = Architecture::kQwen3;
  std::string model_type;  // "qwen3" or "qwen2", as written
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // explicit in Qwen3; hidden_size / heads when absent
  double rms_norm_eps = 1e-6;
  RopeParameters rope;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases: always for Qwen2, per config for Qwen3
  bool qk_norm = true;          // per-head q/k RMSNorm: Qwen3 yes, Qwen2 no
  std::string dtype;            // "bfloat16", "float16", "float32" (informational)
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
};

// Parses config.json text; `path` is used only in messages. Throws Error(kInvalidFile /
// kUnsupported) naming the file and the field.
ModelConfig parse_model_config(const std::string& json_text, const std::string& path);
ModelConfig load_model_config(const std::string& path);

// Defaults a checkpoint asks for in generation_config.json.
struct GenerationConfig {
  std::vector<int64_t> eos_token_ids;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> top_k;
  std::optional<double> min_p;
  std::optional<double> repetition_penalty;
  std::optional<bool> do_sample;
  std::optional<int64_t> max_new_tokens;
};

GenerationConfig parse_generation_config(const std::string& json_text, const std::string& path);
// A missing file gives an empty GenerationConfig; a malformed one throws.
GenerationConfig load_generation_config(const std::string& path);

}  // namespace hanlin::io
