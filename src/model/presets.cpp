// The Qwen3 dense shape table (from the published config.json files).
#include "model/presets.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "core/error.h"

namespace hanlin::model {
namespace {

struct Preset {
  const char* name;
  int64_t hidden_size;
  int64_t num_hidden_layers;
  int64_t num_attention_heads;
  int64_t num_key_value_heads;
  int64_t intermediate_size;
  bool tie_word_embeddings;
};

constexpr Preset kPresets[] = {
    {"qwen3-0.6b", 1024, 28, 16, 8, 3072, true},    {"qwen3-1.7b", 2048, 28, 16, 8, 6144, true},
    {"qwen3-4b", 2560, 36, 32, 8, 9728, true},      {"qwen3-8b", 4096, 36, 32, 8, 12288, false},
    {"qwen3-14b", 5120, 40, 40, 8, 17408, false},   {"qwen3-32b", 5120, 64, 64, 8, 25600, false},
};

io::ModelConfig config_from(const Preset& preset) {
  io::ModelConfig config;
  config.architecture = io::Architecture::kQwen3;
  config.model_type = "qwen3";
  config.vocab_size = 151936;
  config.hidden_size = preset.hidden_size;
  config.intermediate_size = preset.intermediate_size;
  config.num_hidden_layers = preset.num_hidden_layers;
  config.num_attention_heads = preset.num_attention_heads;
  config.num_key_value_heads = preset.num_key_value_heads;
  config.head_dim = 128;
  config.rms_norm_eps = 1e-6;
  config.rope.theta = 1e6;
  config.max_position_embeddings = 40960;
  config.tie_word_embeddings = preset.tie_word_embeddings;
  config.attention_bias = false;
  config.qk_norm = true;
  config.dtype = "bfloat16";
  config.bos_token_id = 151643;
  config.eos_token_ids = {151645};
  return config;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const Preset& preset : kPresets) names.emplace_back(preset.name);
  return names;
}

io::ModelConfig preset_config(std::string_view name) {
  const std::string wanted = lowercase(name);
  for (const Preset& preset : kPresets) {
    if (wanted == preset.name) return config_from(preset);
  }
  std::string known;
  for (const Preset& preset : kPresets) {
    if (!known.empty()) known += ", ";
    known += preset.name;
  }
  throw Error(ErrorKind::kInvalidArgument, "unknown preset '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace hanlin::model
