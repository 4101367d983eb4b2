// config.json → ModelConfig. Accepts the form published Qwen checkpoints ship (top-level
// rope_theta, rope_scaling, torch_dtype) and the one transformers 5 writes (rope_parameters,
// dtype, layer_types); rejects contradictions and anything hanlin would silently get wrong.
#include "io/model_config.h"

#include <array>
#include <string_view>

#include "core/error.h"
#include "core/mapped_file.h"
#include "io/json_fields.h"

namespace hanlin::io {
namespace {

constexpr int kMaxConfigDepth = 32;
constexpr double kDefaultRopeTheta = 10000.0;  // transformers' default when a config omits it
constexpr double kDefaultRmsNormEps = 1e-6;

struct ArchitectureInfo {
  Architecture architecture;
  std::string_view class_name;  // config.json "architectures"
  std::string_view model_type;  // config.json "model_type"
};

constexpr std::array<ArchitectureInfo, 2> kArchitectures = {{
    {Architecture::kQwen3, "Qwen3ForCausalLM", "qwen3"},
    {Architecture::kQwen2, "Qwen2ForCausalLM", "qwen2"},
}};

struct RopeTypeInfo {
  RopeType type;
  std::string_view name;
};

constexpr std::array<RopeTypeInfo, 3> kRopeTypes = {{
    {RopeType::kDefault, "default"},
    {RopeType::kLinear, "linear"},
    {RopeType::kYarn, "yarn"},
}};

[[noreturn]] void unsupported(const std::string& path, const std::string& problem) {
  throw Error(ErrorKind::kUnsupported, path + ": " + problem);
}

const ArchitectureInfo* architecture_by_class(std::string_view class_name) {
  for (const ArchitectureInfo& info : kArchitectures) {
    if (info.class_name == class_name) return &info;
  }
  return nullptr;
}

const ArchitectureInfo* architecture_by_model_type(std::string_view model_type) {
  for (const ArchitectureInfo& info : kArchitectures) {
    if (info.model_type == model_type) return &info;
  }
  return nullptr;
}

// The architecture "architectures" names, or nullptr when the list is absent or empty.
const ArchitectureInfo* architecture_from_class_list(const JsonFields& fields) {
  const Json* classes = fields.array("architectures");
  if (!classes || classes->empty()) return nullptr;
  const ArchitectureInfo* found = nullptr;
  for (const Json& class_json : *classes) {
    if (!class_json.is_string()) fields.fail_type("architectures", "a list of class names", *classes);
    const auto class_name = class_json.get<std::string>();
    const ArchitectureInfo* info = architecture_by_class(class_name);
    if (!info) {
      unsupported(fields.path(),
                  "architecture " + quote_text(class_name) +
                      " is not supported; hanlin serves Qwen3ForCausalLM and Qwen2ForCausalLM");
    }
    if (found && found != info) fields.fail("'architectures' names two different models");
    found = info;
  }
  return found;
}

const ArchitectureInfo& read_architecture(const JsonFields& fields) {
  const ArchitectureInfo* from_classes = architecture_from_class_list(fields);
  const std::optional<std::string> model_type = fields.string("model_type");
  const ArchitectureInfo* from_type = model_type ? architecture_by_model_type(*model_type) : nullptr;
  if (model_type && !from_type && !from_classes) {
    unsupported(fields.path(),
                "model_type " + quote_text(*model_type) + " is not supported; hanlin serves qwen3 and qwen2");
  }
  if (model_type && from_classes && from_type != from_classes) {
    fields.fail("'architectures' says " + std::string(from_classes->class_name) + " but 'model_type' is " +
                quote_text(*model_type) + "; they must name the same model");
  }
  if (from_classes) return *from_classes;
  if (from_type) return *from_type;
  fields.fail("neither 'architectures' nor 'model_type' is set, so the model cannot be identified");
}

// "rope_type" or the older "type"; "default" when neither is set and nothing is scaled.
RopeType read_rope_type(const JsonFields& rope) {
  const std::optional<std::string> modern = rope.string("rope_type");
  const std::optional<std::string> legacy = rope.string("type");
  if (modern && legacy && *modern != *legacy) {
    rope.fail(rope.field_name("rope_type") + " is " + quote_text(*modern) + " but " +
              rope.field_name("type") + " is " + quote_text(*legacy) + "; they must agree");
  }
  const std::optional<std::string> name = modern ? modern : legacy;
  if (!name) {
    if (rope.has("factor")) rope.fail(rope.field_name("factor") + " is set but the rope type is not");
    return RopeType::kDefault;
  }
  for (const RopeTypeInfo& info : kRopeTypes) {
    if (info.name == *name) return info.type;
  }
  unsupported(rope.path(), "rope type " + quote_text(*name) +
                               " is not supported; hanlin supports default, linear and yarn");
}

void read_yarn_fields(const JsonFields& rope, int64_t max_position_embeddings, RopeParameters& parameters) {
  // transformers falls back to max_position_embeddings when the original length is absent.
  parameters.original_max_position_embeddings =
      rope.integer("original_max_position_embeddings", IntegerRule::kPositive)
          .value_or(max_position_embeddings);
  parameters.attention_factor = rope.number("attention_factor", NumberRule::kPositive);
  parameters.beta_fast = rope.number("beta_fast", NumberRule::kPositive).value_or(parameters.beta_fast);
  parameters.beta_slow = rope.number("beta_slow", NumberRule::kPositive).value_or(parameters.beta_slow);
  parameters.mscale = rope.number("mscale", NumberRule::kNonNegative);
  parameters.mscale_all_dim = rope.number("mscale_all_dim", NumberRule::kNonNegative);
  parameters.truncate = rope.boolean("truncate").value_or(parameters.truncate);
}

// One rope object ("rope_parameters" or "rope_scaling"); its own rope_theta wins over the
// top-level one only when they agree.
RopeParameters read_rope_object(const JsonFields& rope, std::optional<double> top_level_theta,
                                int64_t max_position_embeddings) {
  RopeParameters parameters;
  parameters.type = read_rope_type(rope);
  const std::optional<double> theta = rope.number("rope_theta", NumberRule::kPositive);
  if (theta && top_level_theta && *theta != *top_level_theta) {
    rope.fail(rope.field_name("rope_theta") + " (" + describe_json(Json(*theta)) + ") and 'rope_theta' (" +
              describe_json(Json(*top_level_theta)) + ") disagree");
  }
  parameters.theta = theta.value_or(top_level_theta.value_or(kDefaultRopeTheta));
  if (parameters.type != RopeType::kDefault) {
    parameters.factor = rope.required_number("factor", NumberRule::kAtLeastOne);
  }
  if (parameters.type == RopeType::kYarn) read_yarn_fields(rope, max_position_embeddings, parameters);
  return parameters;
}

bool same_rope(const RopeParameters& a, const RopeParameters& b) {
  return a.type == b.type && a.theta == b.theta && a.factor == b.factor &&
         a.original_max_position_embeddings == b.original_max_position_embeddings &&
         a.attention_factor == b.attention_factor && a.beta_fast == b.beta_fast &&
         a.beta_slow == b.beta_slow && a.mscale == b.mscale && a.mscale_all_dim == b.mscale_all_dim &&
         a.truncate == b.truncate;
}

// transformers 5 may key rope_parameters by layer type; Qwen models use full attention only.
JsonFields modern_rope_fields(const Json& rope_parameters, const std::string& path) {
  const auto it = rope_parameters.find("full_attention");
  if (it != rope_parameters.end() && it->is_object())
    return JsonFields(*it, path, "rope_parameters.full_attention.");
  return JsonFields(rope_parameters, path, "rope_parameters.");
}

RopeParameters read_rope(const JsonFields& fields, int64_t max_position_embeddings) {
  const std::optional<double> top_level_theta = fields.number("rope_theta", NumberRule::kPositive);
  const Json* modern = fields.object("rope_parameters");
  const Json* legacy = fields.object("rope_scaling");
  std::optional<RopeParameters> from_modern;
  std::optional<RopeParameters> from_legacy;
  if (modern) {
    from_modern = read_rope_object(modern_rope_fields(*modern, fields.path()), top_level_theta,
                                   max_position_embeddings);
  }
  if (legacy) {
    from_legacy = read_rope_object(JsonFields(*legacy, fields.path(), "rope_scaling."), top_level_theta,
                                   max_position_embeddings);
  }
  if (from_modern && from_legacy && !same_rope(*from_modern, *from_legacy)) {
    fields.fail("'rope_parameters' and 'rope_scaling' describe different RoPE settings; keep one");
  }
  if (from_modern) return *from_modern;
  if (from_legacy) return *from_legacy;
  RopeParameters parameters;
  parameters.theta = top_level_theta.value_or(kDefaultRopeTheta);
  return parameters;
}

void read_attention_shape(const JsonFields& fields, ModelConfig& config) {
  config.num_attention_heads = fields.required_integer("num_attention_heads", IntegerRule::kPositive);
  config.num_key_value_heads =
      fields.integer("num_key_value_heads", IntegerRule::kPositive).value_or(config.num_attention_heads);
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    fields.fail("'num_attention_heads' (" + std::to_string(config.num_attention_heads) +
                ") must be a multiple of 'num_key_value_heads' (" +
                std::to_string(config.num_key_value_heads) + ")");
  }
  if (const std::optional<int64_t> head_dim = fields.integer("head_dim", IntegerRule::kPositive)) {
    config.head_dim = *head_dim;
    return;
  }
  if (config.hidden_size % config.num_attention_heads != 0) {
    fields.fail("'head_dim' is not set and 'hidden_size' (" + std::to_string(config.hidden_size) +
                ") is not divisible by 'num_attention_heads' (" + std::to_string(config.num_attention_heads) +
                ")");
  }
  config.head_dim = config.hidden_size / config.num_attention_heads;
}

void reject_sliding_window(const JsonFields& fields, int64_t num_hidden_layers) {
  // sliding_window alone is fine: Qwen2.5 ships a size with use_sliding_window false.
  fields.integer("sliding_window", IntegerRule::kNonNegative);
  fields.integer("max_window_layers", IntegerRule::kNonNegative);
  if (fields.boolean("use_sliding_window").value_or(false)) {
    unsupported(fields.path(), "sliding-window attention (use_sliding_window: true) is not supported yet");
  }
  const Json* layer_types = fields.array("layer_types");
  if (!layer_types) return;
  if (static_cast<int64_t>(layer_types->size()) != num_hidden_layers) {
    fields.fail("'layer_types' lists " + std::to_string(layer_types->size()) +
                " layers but 'num_hidden_layers' is " + std::to_string(num_hidden_layers));
  }
  for (size_t layer = 0; layer < layer_types->size(); ++layer) {
    const Json& type = (*layer_types)[layer];
    if (!type.is_string()) fields.fail_type("layer_types", "a list of layer type names", *layer_types);
    const std::string where =
        "layer_types[" + std::to_string(layer) + "] is " + quote_text(type.get<std::string>());
    if (type == "sliding_attention")
      unsupported(fields.path(), "sliding-window attention (" + where + ") is not supported yet");
    if (type != "full_attention")
      unsupported(fields.path(), "layer type " + where + "; hanlin supports only full_attention");
  }
}

std::string read_dtype(const JsonFields& fields) {
  const std::optional<std::string> modern = fields.string("dtype");
  const std::optional<std::string> legacy = fields.string("torch_dtype");
  if (modern && legacy && *modern != *legacy) {
    fields.fail("'dtype' is " + quote_text(*modern) + " but 'torch_dtype' is " + quote_text(*legacy) +
                "; they must agree");
  }
  return modern.value_or(legacy.value_or(""));
}

// Settings that would make hanlin compute something else than the checkpoint expects.
void reject_unsupported_features(const JsonFields& fields) {
  if (const std::optional<std::string> activation = fields.string("hidden_act");
      activation && *activation != "silu") {
    unsupported(fields.path(),
                "hidden_act " + quote_text(*activation) + " is not supported; Qwen models use silu");
  }
  if (const Json* quantization = fields.object("quantization_config")) {
    const auto method = quantization->find("quant_method");
    const std::string named = method != quantization->end() && method->is_string()
                                  ? " (quant_method " + quote_text(method->get<std::string>()) + ")"
                                  : "";
    unsupported(fields.path(), "quantized checkpoints" + named + " are not supported yet");
  }
}

void read_sizes(const JsonFields& fields, ModelConfig& config) {
  config.vocab_size = fields.required_integer("vocab_size", IntegerRule::kPositive);
  config.hidden_size = fields.required_integer("hidden_size", IntegerRule::kPositive);
  config.intermediate_size = fields.required_integer("intermediate_size", IntegerRule::kPositive);
  config.num_hidden_layers = fields.required_integer("num_hidden_layers", IntegerRule::kPositive);
  config.max_position_embeddings = fields.required_integer("max_position_embeddings", IntegerRule::kPositive);
  config.rms_norm_eps = fields.number("rms_norm_eps", NumberRule::kPositive).value_or(kDefaultRmsNormEps);
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& path) {
  const Json root = parse_json_strict(json_text, path, "config", "field", kMaxConfigDepth);
  require_json_object(root, path, "config");
  const JsonFields fields(root, path);

  ModelConfig config;
  const ArchitectureInfo& architecture = read_architecture(fields);
  config.architecture = architecture.architecture;
  config.model_type = fields.string("model_type").value_or(std::string(architecture.model_type));
  reject_unsupported_features(fields);
  read_sizes(fields, config);
  read_attention_shape(fields, config);
  reject_sliding_window(fields, config.num_hidden_layers);
  config.rope = read_rope(fields, config.max_position_embeddings);
  config.tie_word_embeddings = fields.boolean("tie_word_embeddings").value_or(false);
  // Qwen2 always has q/k/v biases (transformers hard-codes them); Qwen3 reads the flag.
  const bool attention_bias = fields.boolean("attention_bias").value_or(false);
  config.attention_bias = config.architecture == Architecture::kQwen2 || attention_bias;
  config.qk_norm = config.architecture == Architecture::kQwen3;
  config.dtype = read_dtype(fields);
  config.bos_token_id = fields.integer("bos_token_id", IntegerRule::kNonNegative);
  config.eos_token_ids = fields.integer_or_list("eos_token_id", IntegerRule::kNonNegative);
  return config;
}

ModelConfig load_model_config(const std::string& path) {
  return parse_model_config(read_text_file(path), path);
}

}  // namespace hanlin::io
