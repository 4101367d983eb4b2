// ModelConfig: real Qwen config.json files in both forms parse to the right numbers;
// contradictory, missing and wrong-typed fields are rejected with the file and field named.
#include "io/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_files.h"

namespace hanlin::io {
namespace {

using testing::capture_error;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kFixtures = HANLIN_FIXTURES_DIR "/models";

// Qwen/Qwen3-0.6B config.json as published.
constexpr const char* kQwen3_0_6B = R"({
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

// Qwen/Qwen2.5-7B-Instruct config.json as published.
constexpr const char* kQwen25_7B_Instruct = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "hidden_act": "silu",
  "hidden_size": 3584,
  "initializer_range": 0.02,
  "intermediate_size": 18944,
  "max_position_embeddings": 32768,
  "max_window_layers": 28,
  "model_type": "qwen2",
  "num_attention_heads": 28,
  "num_hidden_layers": 28,
  "num_key_value_heads": 4,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 131072,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 152064
})";

// The form transformers 5 writes: rope_parameters, dtype, layer_types.
constexpr const char* kTransformers5Form = R"({
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": true,
  "bos_token_id": 0,
  "dtype": "float16",
  "eos_token_id": [7, 9],
  "head_dim": 64,
  "hidden_act": "silu",
  "hidden_size": 96,
  "intermediate_size": 192,
  "layer_types": ["full_attention", "full_attention", "full_attention"],
  "max_position_embeddings": 4096,
  "model_type": "qwen3",
  "num_attention_heads": 6,
  "num_hidden_layers": 3,
  "num_key_value_heads": 1,
  "pad_token_id": null,
  "rms_norm_eps": 1e-05,
  "rope_parameters": {"rope_theta": 500000.0, "rope_type": "yarn", "factor": 2.0,
                      "original_max_position_embeddings": 2048, "beta_fast": 16.0, "beta_slow": 2.0,
                      "attention_factor": 1.25, "mscale": 1.0, "mscale_all_dim": 0.5, "truncate": false},
  "sliding_window": null,
  "tie_word_embeddings": false,
  "use_sliding_window": false,
  "vocab_size": 3000
})";

// `base` with `edit` applied (nlohmann here only writes test input).
std::string edited(const char* base, const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json config = nlohmann::json::parse(base);
  edit(config);
  return config.dump();
}

ModelConfig parse(const std::string& text) {
  return parse_model_config(text, "config.json");
}

Error parse_error(const std::string& text) {
  return capture_error([&] { parse(text); });
}

void expect_error(const std::string& text, ErrorKind kind, const std::string& fragment) {
  const Error error = parse_error(text);
  EXPECT_EQ(error.kind(), kind) << error.what();
  EXPECT_THAT(error.what(), StartsWith("config.json: "));
  EXPECT_THAT(error.what(), HasSubstr(fragment));
}

// ---- real configs ----

TEST(ModelConfig, Qwen3_0_6BAsShipped) {
  const ModelConfig config = parse(kQwen3_0_6B);
  EXPECT_EQ(config.architecture, Architecture::kQwen3);
  EXPECT_EQ(config.model_type, "qwen3");
  EXPECT_EQ(config.vocab_size, 151936);
  EXPECT_EQ(config.hidden_size, 1024);
  EXPECT_EQ(config.intermediate_size, 3072);
  EXPECT_EQ(config.num_hidden_layers, 28);
  EXPECT_EQ(config.num_attention_heads, 16);
  EXPECT_EQ(config.num_key_value_heads, 8);
  EXPECT_EQ(config.head_dim, 128);  // explicit: 16 × 128 = 2048 is wider than hidden 1024
  EXPECT_DOUBLE_EQ(config.rms_norm_eps, 1e-6);
  EXPECT_EQ(config.rope.type, RopeType::kDefault);
  EXPECT_DOUBLE_EQ(config.rope.theta, 1e6);
  EXPECT_DOUBLE_EQ(config.rope.factor, 1.0);
  EXPECT_EQ(config.max_position_embeddings, 40960);
  EXPECT_TRUE(config.tie_word_embeddings);
  EXPECT_FALSE(config.attention_bias);
  EXPECT_TRUE(config.qk_norm);
  EXPECT_EQ(config.dtype, "bfloat16");
  EXPECT_EQ(config.bos_token_id, 151643);
  EXPECT_THAT(config.eos_token_ids, ElementsAre(151645));
}

TEST(ModelConfig, Qwen25_7BInstructAsShipped) {
  const ModelConfig config = parse(kQwen25_7B_Instruct);
  EXPECT_EQ(config.architecture, Architecture::kQwen2);
  EXPECT_EQ(config.model_type, "qwen2");
  EXPECT_EQ(config.vocab_size, 152064);
  EXPECT_EQ(config.hidden_size, 3584);
  EXPECT_EQ(config.intermediate_size, 18944);
  EXPECT_EQ(config.num_hidden_layers, 28);
  EXPECT_EQ(config.num_attention_heads, 28);
  EXPECT_EQ(config.num_key_value_heads, 4);
  EXPECT_EQ(config.head_dim, 128);  // 3584 / 28
  EXPECT_DOUBLE_EQ(config.rope.theta, 1e6);
  EXPECT_EQ(config.rope.type, RopeType::kDefault);
  EXPECT_EQ(config.max_position_embeddings, 32768);
  EXPECT_FALSE(config.tie_word_embeddings);
  EXPECT_TRUE(config.attention_bias);
  EXPECT_FALSE(config.qk_norm);
  EXPECT_THAT(config.eos_token_ids, ElementsAre(151645));
}

TEST(ModelConfig, Qwen3YarnWithRopeType) {
  const ModelConfig config = parse(edited(kQwen3_0_6B, [](auto& c) {
    c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  }));
  EXPECT_EQ(config.rope.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(config.rope.factor, 4.0);
  EXPECT_EQ(config.rope.original_max_position_embeddings, 32768);
  EXPECT_DOUBLE_EQ(config.rope.theta, 1e6);  // the top-level one
  EXPECT_DOUBLE_EQ(config.rope.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(config.rope.beta_slow, 1.0);
  EXPECT_FALSE(config.rope.attention_factor.has_value());
  EXPECT_TRUE(config.rope.truncate);
}

TEST(ModelConfig, Qwen2YarnWithLegacyType) {
  // The block Qwen2.5's model card says to add for long context.
  const ModelConfig config = parse(edited(kQwen25_7B_Instruct, [](auto& c) {
    c["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32768}};
  }));
  EXPECT_EQ(config.architecture, Architecture::kQwen2);
  EXPECT_EQ(config.rope.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(config.rope.factor, 4.0);
  EXPECT_EQ(config.rope.original_max_position_embeddings, 32768);
}

TEST(ModelConfig, YarnWithoutOriginalLengthFallsBackToMaxPositions) {
  const ModelConfig config = parse(edited(kQwen3_0_6B, [](auto& c) {
    c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 2.0}};
  }));
  EXPECT_EQ(config.rope.original_max_position_embeddings, 40960);
}

TEST(ModelConfig, LinearScaling) {
  const ModelConfig config = parse(edited(kQwen3_0_6B, [](auto& c) {
    c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.5}};
  }));
  EXPECT_EQ(config.rope.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(config.rope.factor, 2.5);
  EXPECT_FALSE(config.rope.original_max_position_embeddings.has_value());
}

TEST(ModelConfig, Transformers5Form) {
  const ModelConfig config = parse(kTransformers5Form);
  EXPECT_EQ(config.architecture, Architecture::kQwen3);
  EXPECT_EQ(config.dtype, "float16");
  EXPECT_EQ(config.head_dim, 64);
  EXPECT_EQ(config.num_key_value_heads, 1);
  EXPECT_TRUE(config.attention_bias);  // Qwen3 takes the flag from the config
  EXPECT_DOUBLE_EQ(config.rms_norm_eps, 1e-5);
  EXPECT_EQ(config.rope.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(config.rope.theta, 500000.0);
  EXPECT_DOUBLE_EQ(config.rope.factor, 2.0);
  EXPECT_EQ(config.rope.original_max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(config.rope.beta_fast, 16.0);
  EXPECT_DOUBLE_EQ(config.rope.beta_slow, 2.0);
  EXPECT_EQ(config.rope.attention_factor, 1.25);
  EXPECT_EQ(config.rope.mscale, 1.0);
  EXPECT_EQ(config.rope.mscale_all_dim, 0.5);
  EXPECT_FALSE(config.rope.truncate);
  EXPECT_EQ(config.bos_token_id, 0);
  EXPECT_THAT(config.eos_token_ids, ElementsAre(7, 9));
}

TEST(ModelConfig, RopeParametersKeyedByLayerType) {
  const ModelConfig config = parse(edited(kTransformers5Form, [](auto& c) {
    c["rope_parameters"] = {
        {"full_attention", {{"rope_type", "linear"}, {"rope_theta", 20000.0}, {"factor", 3.0}}}};
  }));
  EXPECT_EQ(config.rope.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(config.rope.theta, 20000.0);
  EXPECT_DOUBLE_EQ(config.rope.factor, 3.0);
}

TEST(ModelConfig, AgreeingDuplicatesAreAccepted) {
  const ModelConfig config = parse(edited(kTransformers5Form, [](auto& c) {
    c["torch_dtype"] = "float16";
    c["rope_theta"] = 500000.0;
    c["rope_scaling"] = c["rope_parameters"];
    c["rope_scaling"]["type"] = "yarn";
  }));
  EXPECT_EQ(config.rope.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(config.rope.theta, 500000.0);
}

TEST(ModelConfig, DefaultsWhenOptionalFieldsAreAbsent) {
  const ModelConfig config = parse(edited(kQwen25_7B_Instruct, [](auto& c) {
    for (const char* key : {"rope_theta", "rms_norm_eps", "num_key_value_heads", "tie_word_embeddings",
                            "torch_dtype", "bos_token_id", "eos_token_id", "architectures"}) {
      c.erase(key);
    }
  }));
  EXPECT_EQ(config.architecture, Architecture::kQwen2);  // from model_type alone
  EXPECT_DOUBLE_EQ(config.rope.theta, 10000.0);
  EXPECT_DOUBLE_EQ(config.rms_norm_eps, 1e-6);
  EXPECT_EQ(config.num_key_value_heads, 28);
  EXPECT_FALSE(config.tie_word_embeddings);
  EXPECT_EQ(config.dtype, "");
  EXPECT_FALSE(config.bos_token_id.has_value());
  EXPECT_TRUE(config.eos_token_ids.empty());
}

TEST(ModelConfig, ArchitecturesAloneFillsModelType) {
  const ModelConfig config = parse(edited(kQwen3_0_6B, [](auto& c) { c.erase("model_type"); }));
  EXPECT_EQ(config.architecture, Architecture::kQwen3);
  EXPECT_EQ(config.model_type, "qwen3");
}

// ---- configs transformers 5.17 saved for the model fixtures ----

TEST(ModelConfigFixtures, ReadsBothForms) {
  const ModelConfig yarn = load_model_config(kFixtures + "/qwen3-yarn/config.json");  // older form
  EXPECT_EQ(yarn.rope.type, RopeType::kYarn);
  EXPECT_DOUBLE_EQ(yarn.rope.factor, 4.0);
  EXPECT_EQ(yarn.rope.original_max_position_embeddings, 128);
  EXPECT_EQ(yarn.max_position_embeddings, 512);
  EXPECT_EQ(yarn.dtype, "float32");

  const ModelConfig linear = load_model_config(kFixtures + "/qwen3-linear-hd128/config.json");  // new form
  EXPECT_EQ(linear.rope.type, RopeType::kLinear);
  EXPECT_DOUBLE_EQ(linear.rope.factor, 2.0);
  EXPECT_EQ(linear.head_dim, 128);
  EXPECT_EQ(linear.num_key_value_heads, 1);

  const ModelConfig qwen2 = load_model_config(kFixtures + "/qwen2-bias-sharded/config.json");
  EXPECT_EQ(qwen2.architecture, Architecture::kQwen2);
  EXPECT_EQ(qwen2.head_dim, 16);  // 128 / 8
  EXPECT_TRUE(qwen2.attention_bias);
  EXPECT_FALSE(qwen2.qk_norm);
}

TEST(ModelConfigFixtures, MissingFileIsNotFound) {
  const Error error = capture_error([] { load_model_config("/nonexistent/hanlin/config.json"); });
  EXPECT_EQ(error.kind(), ErrorKind::kNotFound);
  EXPECT_THAT(error.what(), HasSubstr("/nonexistent/hanlin/config.json"));
}

// ---- not JSON, wrong architecture ----

TEST(ModelConfigErrors, NotJsonOrNotAnObject) {
  expect_error("{\"hidden_size\": 1024,", ErrorKind::kInvalidFile, "config is not valid JSON");
  expect_error("", ErrorKind::kInvalidFile, "config is not valid JSON");
  expect_error("[1]", ErrorKind::kInvalidFile, "config must be a JSON object, got an array");
}

TEST(ModelConfigErrors, UnknownArchitectureIsUnsupported) {
  const Error error = parse_error(edited(kQwen3_0_6B, [](auto& c) {
    c["architectures"] = {"LlamaForCausalLM"};
    c["model_type"] = "llama";
  }));
  EXPECT_EQ(error.kind(), ErrorKind::kUnsupported);
  EXPECT_EQ(
      std::string(error.what()),
      "config.json: architecture 'LlamaForCausalLM' is not supported; hanlin serves Qwen3ForCausalLM and "
      "Qwen2ForCausalLM");
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c.erase("architectures");
                        c["model_type"] = "qwen3_moe";
                      }),
               ErrorKind::kUnsupported, "model_type 'qwen3_moe' is not supported");
}

TEST(ModelConfigErrors, ArchitectureAndModelTypeMustAgree) {
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["model_type"] = "qwen2"; }), ErrorKind::kInvalidFile,
               "'architectures' says Qwen3ForCausalLM but 'model_type' is 'qwen2'");
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c["architectures"] = {"Qwen3ForCausalLM", "Qwen2ForCausalLM"};
                      }),
               ErrorKind::kInvalidFile, "'architectures' names two different models");
}

TEST(ModelConfigErrors, ArchitectureMustBeNamed) {
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c.erase("architectures");
                        c.erase("model_type");
                      }),
               ErrorKind::kInvalidFile, "neither 'architectures' nor 'model_type' is set");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["architectures"] = "Qwen3ForCausalLM"; }),
               ErrorKind::kInvalidFile, "'architectures' must be an array, got \"Qwen3ForCausalLM\"");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["architectures"] = {3}; }), ErrorKind::kInvalidFile,
               "'architectures' must be a list of class names");
}

// ---- sizes ----

TEST(ModelConfigErrors, WrongTypeNamesFieldAndValue) {
  const Error error = parse_error(edited(kQwen3_0_6B, [](auto& c) { c["hidden_size"] = "abc"; }));
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_EQ(std::string(error.what()), "config.json: 'hidden_size' must be a positive integer, got \"abc\"");
}

TEST(ModelConfigErrors, RequiredSizesMustBePositiveIntegers) {
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "max_position_embeddings"}) {
    // append() rather than "'" + key: GCC 12 -O3 misreports the latter under -Wrestrict.
    const std::string field = std::string(1, '\'').append(key).append(1, '\'');
    expect_error(edited(kQwen3_0_6B, [&](auto& c) { c.erase(key); }), ErrorKind::kInvalidFile,
                 field + " is missing; it must be a positive integer");
    expect_error(edited(kQwen3_0_6B, [&](auto& c) { c[key] = nullptr; }), ErrorKind::kInvalidFile,
                 field + " is missing");
    expect_error(edited(kQwen3_0_6B, [&](auto& c) { c[key] = 0; }), ErrorKind::kInvalidFile,
                 field + " must be a positive integer, got 0");
    expect_error(edited(kQwen3_0_6B, [&](auto& c) { c[key] = -4; }), ErrorKind::kInvalidFile, "got -4");
    expect_error(edited(kQwen3_0_6B, [&](auto& c) { c[key] = 1024.0; }), ErrorKind::kInvalidFile,
                 "got 1024.0");
    expect_error(edited(kQwen3_0_6B, [&](auto& c) { c[key] = true; }), ErrorKind::kInvalidFile, "got true");
  }
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["vocab_size"] = 18446744073709551615ull; }),
               ErrorKind::kInvalidFile, "'vocab_size' must be a positive integer, got 18446744073709551615");
}

TEST(ModelConfigErrors, HeadCountsMustDivide) {
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["num_key_value_heads"] = 3; }), ErrorKind::kInvalidFile,
               "'num_attention_heads' (16) must be a multiple of 'num_key_value_heads' (3)");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["num_key_value_heads"] = 0; }), ErrorKind::kInvalidFile,
               "'num_key_value_heads' must be a positive integer, got 0");
  expect_error(
      edited(kQwen25_7B_Instruct, [](auto& c) { c["hidden_size"] = 3585; }), ErrorKind::kInvalidFile,
      "'head_dim' is not set and 'hidden_size' (3585) is not divisible by 'num_attention_heads' (28)");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["head_dim"] = -128; }), ErrorKind::kInvalidFile,
               "'head_dim' must be a positive integer, got -128");
}

TEST(ModelConfigErrors, NormEpsilonMustBePositive) {
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["rms_norm_eps"] = 0; }), ErrorKind::kInvalidFile,
               "'rms_norm_eps' must be a positive number, got 0");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["rms_norm_eps"] = "1e-6"; }), ErrorKind::kInvalidFile,
               "'rms_norm_eps' must be a positive number, got \"1e-6\"");
}

TEST(ModelConfigErrors, FlagsAndTokenIdsMustHaveTheirTypes) {
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["tie_word_embeddings"] = "yes"; }),
               ErrorKind::kInvalidFile, "'tie_word_embeddings' must be true or false, got \"yes\"");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["attention_bias"] = 0; }), ErrorKind::kInvalidFile,
               "'attention_bias' must be true or false, got 0");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["eos_token_id"] = "</s>"; }), ErrorKind::kInvalidFile,
               "'eos_token_id' must be a non-negative integer or a list of them, got \"</s>\"");
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c["eos_token_id"] = {151645, -1};
                      }),
               ErrorKind::kInvalidFile, "the list holds -1");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["bos_token_id"] = 1.5; }), ErrorKind::kInvalidFile,
               "'bos_token_id' must be a non-negative integer, got 1.5");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["torch_dtype"] = 16; }), ErrorKind::kInvalidFile,
               "'torch_dtype' must be a string, got 16");
}

TEST(ModelConfigErrors, DuplicateKeysAreRejected) {
  expect_error(R"({"model_type": "qwen3", "hidden_size": 1024, "hidden_size": 2048})",
               ErrorKind::kInvalidFile, "field 'hidden_size' appears twice in the config");
}

TEST(ModelConfigErrors, DtypeFormsMustAgree) {
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["dtype"] = "float32"; }), ErrorKind::kInvalidFile,
               "'dtype' is 'float32' but 'torch_dtype' is 'bfloat16'");
}

// ---- RoPE ----

TEST(ModelConfigErrors, RopeNumbersMustBeInRange) {
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["rope_theta"] = 0; }), ErrorKind::kInvalidFile,
               "'rope_theta' must be a positive number, got 0");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["rope_theta"] = "1e6"; }), ErrorKind::kInvalidFile,
               "'rope_theta' must be a positive number, got \"1e6\"");
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c["rope_scaling"] = {{"type", "linear"}, {"factor", 0.5}};
                      }),
               ErrorKind::kInvalidFile, "'rope_scaling.factor' must be a number >= 1, got 0.5");
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c["rope_scaling"] = {{"type", "yarn"}};
                      }),
               ErrorKind::kInvalidFile, "'rope_scaling.factor' is missing");
  expect_error(edited(kTransformers5Form, [](auto& c) { c["rope_parameters"]["rope_theta"] = -1.0; }),
               ErrorKind::kInvalidFile, "'rope_parameters.rope_theta' must be a positive number, got -1.0");
  expect_error(edited(kTransformers5Form,
                      [](auto& c) { c["rope_parameters"]["original_max_position_embeddings"] = 0; }),
               ErrorKind::kInvalidFile,
               "'rope_parameters.original_max_position_embeddings' must be a positive integer");
  expect_error(edited(kTransformers5Form, [](auto& c) { c["rope_parameters"]["truncate"] = "no"; }),
               ErrorKind::kInvalidFile, "'rope_parameters.truncate' must be true or false");
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["rope_scaling"] = "yarn"; }), ErrorKind::kInvalidFile,
               "'rope_scaling' must be an object, got \"yarn\"");
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c["rope_scaling"] = {{"factor", 4.0}};
                      }),
               ErrorKind::kInvalidFile, "'rope_scaling.factor' is set but the rope type is not");
}

TEST(ModelConfigErrors, UnknownRopeTypeIsUnsupported) {
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
                      }),
               ErrorKind::kUnsupported,
               "rope type 'dynamic' is not supported; hanlin supports default, linear and yarn");
  expect_error(edited(kTransformers5Form, [](auto& c) { c["rope_parameters"]["rope_type"] = "longrope"; }),
               ErrorKind::kUnsupported, "rope type 'longrope' is not supported");
}

TEST(ModelConfigErrors, ContradictoryRopeSettings) {
  expect_error(edited(kQwen3_0_6B,
                      [](auto& c) {
                        c["rope_scaling"] = {{"type", "yarn"}, {"rope_type", "linear"}, {"factor", 2.0}};
                      }),
               ErrorKind::kInvalidFile,
               "'rope_scaling.rope_type' is 'linear' but 'rope_scaling.type' is 'yarn'");
  expect_error(edited(kTransformers5Form, [](auto& c) { c["rope_theta"] = 10000.0; }),
               ErrorKind::kInvalidFile,
               "'rope_parameters.rope_theta' (500000.0) and 'rope_theta' (10000.0) disagree");
  expect_error(edited(kTransformers5Form,
                      [](auto& c) {
                        c["rope_scaling"] = {
                            {"type", "yarn"}, {"factor", 8.0}, {"original_max_position_embeddings", 2048}};
                      }),
               ErrorKind::kInvalidFile,
               "'rope_parameters' and 'rope_scaling' describe different RoPE settings");
}

// ---- sliding window and other features hanlin does not implement ----

TEST(ModelConfigErrors, SlidingWindowIsUnsupported) {
  const Error error =
      parse_error(edited(kQwen25_7B_Instruct, [](auto& c) { c["use_sliding_window"] = true; }));
  EXPECT_EQ(error.kind(), ErrorKind::kUnsupported);
  EXPECT_EQ(std::string(error.what()),
            "config.json: sliding-window attention (use_sliding_window: true) is not supported yet");
  expect_error(edited(kTransformers5Form, [](auto& c) { c["layer_types"][1] = "sliding_attention"; }),
               ErrorKind::kUnsupported, "sliding-window attention (layer_types[1] is 'sliding_attention')");
  expect_error(edited(kQwen25_7B_Instruct, [](auto& c) { c["use_sliding_window"] = "false"; }),
               ErrorKind::kInvalidFile, "'use_sliding_window' must be true or false");
  expect_error(edited(kQwen25_7B_Instruct, [](auto& c) { c["sliding_window"] = "big"; }),
               ErrorKind::kInvalidFile, "'sliding_window' must be a non-negative integer");
}

TEST(ModelConfigErrors, LayerTypesMustMatchTheLayers) {
  expect_error(edited(kTransformers5Form, [](auto& c) { c["layer_types"].erase(0); }),
               ErrorKind::kInvalidFile, "'layer_types' lists 2 layers but 'num_hidden_layers' is 3");
  expect_error(edited(kTransformers5Form, [](auto& c) { c["layer_types"][2] = "linear_attention"; }),
               ErrorKind::kUnsupported, "layer type layer_types[2] is 'linear_attention'");
  expect_error(edited(kTransformers5Form, [](auto& c) { c["layer_types"][0] = 1; }), ErrorKind::kInvalidFile,
               "'layer_types' must be a list of layer type names");
}

TEST(ModelConfigErrors, OtherActivationsAndQuantizationAreUnsupported) {
  expect_error(edited(kQwen3_0_6B, [](auto& c) { c["hidden_act"] = "gelu"; }), ErrorKind::kUnsupported,
               "hidden_act 'gelu' is not supported");
  expect_error(edited(kQwen25_7B_Instruct,
                      [](auto& c) {
                        c["quantization_config"] = {{"quant_method", "awq"}};
                      }),
               ErrorKind::kUnsupported, "quantized checkpoints (quant_method 'awq') are not supported yet");
}

}  // namespace
}  // namespace hanlin::io
