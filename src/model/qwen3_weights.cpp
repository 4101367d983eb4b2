// Qwen3 / Qwen2 weight loading (names as transformers saves them) and dummy weights.
#include "model/qwen3_weights.h"

#include <charconv>
#include <algorithm>
#include <string_view>

#include "core/error.h"

namespace hanlin::model {
namespace {

using io::ModelConfig;

// One tensor the config implies: its checkpoint name, shape, and where it goes.
struct WeightSpec {
  std::string name;
  Shape shape;
  Tensor* slot;
};

void add_layer_specs(const ModelConfig& config, int64_t layer, Qwen3LayerWeights& w, std::vector<WeightSpec>& specs) {
  const int64_t hidden = config.hidden_size;
  const int64_t q_width = config.num_attention_heads * config.head_dim;
  const int64_t kv_width = config.num_key_value_heads * config.head_dim;
  const int64_t inter = config.intermediate_size;
  const std::string prefix = "model.layers." + std::to_string(layer) + ".";
  const std::string attn = prefix + "self_attn.";
  specs.push_back({prefix + "input_layernorm.weight", {hidden}, &w.input_norm});
  specs.push_back({attn + "q_proj.weight", {q_width, hidden}, &w.q_proj});
  specs.push_back({attn + "k_proj.weight", {kv_width, hidden}, &w.k_proj});
  specs.push_back({attn + "v_proj.weight", {kv_width, hidden}, &w.v_proj});
  specs.push_back({attn + "o_proj.weight", {hidden, q_width}, &w.o_proj});
  if (has_qkv_bias(config)) {
    specs.push_back({attn + "q_proj.bias", {q_width}, &w.q_bias});
    specs.push_back({attn + "k_proj.bias", {kv_width}, &w.k_bias});
    specs.push_back({attn + "v_proj.bias", {kv_width}, &w.v_bias});
  }
  if (has_o_bias(config)) specs.push_back({attn + "o_proj.bias", {hidden}, &w.o_bias});
  if (config.qk_norm) {
    specs.push_back({attn + "q_norm.weight", {config.head_dim}, &w.q_norm});
    specs.push_back({attn + "k_norm.weight", {config.head_dim}, &w.k_norm});
  }
  specs.push_back({prefix + "post_attention_layernorm.weight", {hidden}, &w.post_attention_norm});
  specs.push_back({prefix + "mlp.gate_proj.weight", {inter, hidden}, &w.gate_proj});
  specs.push_back({prefix + "mlp.up_proj.weight", {inter, hidden}, &w.up_proj});
  specs.push_back({prefix + "mlp.down_proj.weight", {hidden, inter}, &w.down_proj});
}

// Every tensor of the model, in checkpoint order; lm_head only when untied.
std::vector<WeightSpec> weight_specs(const ModelConfig& config, Qwen3Weights& weights) {
  std::vector<WeightSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {config.vocab_size, config.hidden_size}, &weights.embed_tokens});
  weights.layers.resize(static_cast<size_t>(config.num_hidden_layers));
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    add_layer_specs(config, layer, weights.layers[static_cast<size_t>(layer)], specs);
  }
  specs.push_back({"model.norm.weight", {config.hidden_size}, &weights.final_norm});
  if (!config.tie_word_embeddings) {
    specs.push_back({"lm_head.weight", {config.vocab_size, config.hidden_size}, &weights.lm_head});
  }
  return specs;
}

void finish_tying(const ModelConfig& config, Qwen3Weights& weights) {
  if (config.tie_word_embeddings) weights.lm_head = weights.embed_tokens;
}

bool is_norm(const std::string& name) { return name.ends_with("norm.weight"); }

void check_config_dims(const ModelConfig& config) {
  const auto positive = [](int64_t value, const char* field) {
    require(value > 0, ErrorKind::kInvalidFile,
            std::string("config.json: ") + field + " must be positive, got " + std::to_string(value));
  };
  positive(config.vocab_size, "vocab_size");
  positive(config.hidden_size, "hidden_size");
  positive(config.intermediate_size, "intermediate_size");
  positive(config.num_hidden_layers, "num_hidden_layers");
  positive(config.num_attention_heads, "num_attention_heads");
  positive(config.num_key_value_heads, "num_key_value_heads");
  positive(config.head_dim, "head_dim");
  require(config.num_attention_heads % config.num_key_value_heads == 0, ErrorKind::kInvalidFile,
          "config.json: num_attention_heads (" + std::to_string(config.num_attention_heads) +
              ") must be a multiple of num_key_value_heads (" + std::to_string(config.num_key_value_heads) + ")");
}

void check_weight(const Tensor& tensor, const WeightSpec& spec, const std::string& label) {
  require(tensor.shape() == spec.shape, ErrorKind::kInvalidFile,
          label + ": '" + spec.name + "' has shape " + shape_to_string(tensor.shape()) + ", expected " +
              shape_to_string(spec.shape) + " from config.json");
  const DType dtype = tensor.dtype();
  require(dtype == DType::kF32 || dtype == DType::kBF16 || dtype == DType::kF16, ErrorKind::kInvalidFile,
          label + ": '" + spec.name + "' has dtype " + std::string(dtype_name(dtype)) +
              ", expected F32, BF16 or F16");
}

// Layers past num_hidden_layers mean config.json and the weights describe different models.
void check_no_extra_layers(const io::WeightStore& store, const ModelConfig& config, const std::string& label) {
  constexpr std::string_view kPrefix = "model.layers.";
  for (const std::string& name : store.names()) {
    if (!name.starts_with(kPrefix)) continue;
    int64_t layer = -1;
    const char* begin = name.data() + kPrefix.size();
    std::from_chars(begin, name.data() + name.size(), layer);
    require(layer < config.num_hidden_layers, ErrorKind::kInvalidFile,
            label + ": holds '" + name + "' but config.json has num_hidden_layers " +
                std::to_string(config.num_hidden_layers));
  }
}

// splitmix64: a tiny, well-mixed generator; one state per chunk keeps fills deterministic
// whatever the thread count.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Sum of four 16-bit uniforms (Irwin-Hall), recentred and scaled to unit variance: close
// enough to normal for dummy weights, and cheap enough for billions of values.
float unit_normal_sample(uint64_t& state) {
  const uint64_t bits = splitmix64(state);
  float sum = 0.0f;
  for (int part = 0; part < 4; ++part) sum += static_cast<float>((bits >> (16 * part)) & 0xffffu);
  const float uniform_sum = sum / 65536.0f;  // in [0, 4), mean 2, variance 1/3
  return (uniform_sum - 2.0f) * 1.7320508f;
}

void fill_random(Tensor& tensor, uint64_t seed, float stddev, ThreadPool& pool) {
  constexpr int64_t kChunk = 1 << 16;
  bf16* data = tensor.data<bf16>();
  const int64_t count = tensor.numel();
  const int64_t num_chunks = (count + kChunk - 1) / kChunk;
  pool.parallel_for(num_chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t chunk = first; chunk < last; ++chunk) {
      uint64_t state = seed * 0x100000001b3ull + static_cast<uint64_t>(chunk);
      const int64_t end = std::min(count, (chunk + 1) * kChunk);
      for (int64_t i = chunk * kChunk; i < end; ++i) data[i] = to_bf16(stddev * unit_normal_sample(state));
    }
  });
}

void fill_ones(Tensor& tensor) {
  bf16* data = tensor.data<bf16>();
  for (int64_t i = 0; i < tensor.numel(); ++i) data[i] = to_bf16(1.0f);
}

}  // namespace

bool has_qkv_bias(const ModelConfig& config) {
  return config.architecture == io::Architecture::kQwen2 || config.attention_bias;
}

bool has_o_bias(const ModelConfig& config) {
  // Qwen2 never biases o_proj; Qwen3 biases all four projections when attention_bias is set.
  return config.architecture == io::Architecture::kQwen3 && config.attention_bias;
}

Qwen3Weights load_qwen3_weights(const io::WeightStore& store, const ModelConfig& config,
                                const std::string& checkpoint_label) {
  check_config_dims(config);
  Qwen3Weights weights;
  for (const WeightSpec& spec : weight_specs(config, weights)) {
    require(store.contains(spec.name), ErrorKind::kInvalidFile,
            checkpoint_label + ": tensor '" + spec.name + "' is missing (config.json implies shape " +
                shape_to_string(spec.shape) + ")");
    Tensor tensor = store.get(spec.name);
    check_weight(tensor, spec, checkpoint_label);
    *spec.slot = std::move(tensor);
  }
  check_no_extra_layers(store, config, checkpoint_label);
  finish_tying(config, weights);
  return weights;
}

Qwen3Weights make_dummy_qwen3_weights(const ModelConfig& config, uint64_t seed, ThreadPool& pool) {
  check_config_dims(config);
  Qwen3Weights weights;
  uint64_t tensor_seed = seed;
  for (const WeightSpec& spec : weight_specs(config, weights)) {
    *spec.slot = Tensor::zeros(spec.shape, DType::kBF16);
    if (is_norm(spec.name)) {
      fill_ones(*spec.slot);
    } else {
      fill_random(*spec.slot, splitmix64(tensor_seed), 0.02f, pool);
    }
  }
  finish_tying(config, weights);
  return weights;
}

}  // namespace hanlin::model
