// Loading a Qwen3/Qwen2 checkpoint: every missing tensor, wrong shape or config/weights
// mismatch is a clear error naming the tensor and the shapes; tied embeddings share storage;
// dummy weights are deterministic.
#include "model/qwen3_weights.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/thread_pool.h"
#include "io/model_config.h"
#include "model/qwen3.h"
#include "model_test_support.h"

namespace hanlin::model {
namespace {

namespace fs = std::filesystem;
namespace support = hanlin::model::test_support;
using nlohmann::json;

// The first fixture whose config.json satisfies `wanted`.
std::string find_fixture(const std::function<bool(const io::ModelConfig&)>& wanted) {
  for (const std::string& name : support::fixture_model_names()) {
    const fs::path config = fs::path(HANLIN_FIXTURES_DIR) / "models" / name / "config.json";
    if (wanted(io::load_model_config(config.string()))) return name;
  }
  return "";
}

// A copy of fixture `name` in a temp dir whose tensors and config.json the test may rewrite.
class CheckpointCopy {
 public:
  explicit CheckpointCopy(const std::string& name) : source_(fs::path(HANLIN_FIXTURES_DIR) / "models" / name) {
    tensors_ = support::read_checkpoint(source_);
    std::ifstream file(source_ / "config.json");
    config_ = json::parse(file);
  }

  std::vector<support::TensorRecord>& tensors() { return tensors_; }
  json& config() { return config_; }
  support::TensorRecord& tensor(const std::string& name) {
    const auto found = std::find_if(tensors_.begin(), tensors_.end(), [&](const auto& t) { return t.name == name; });
    if (found == tensors_.end()) throw std::runtime_error("fixture has no tensor " + name);
    return *found;
  }
  void remove(const std::string& name) {
    std::erase_if(tensors_, [&](const support::TensorRecord& t) { return t.name == name; });
  }
  // config.json's num_hidden_layers, and layer_types (transformers 5 writes one per layer).
  void set_num_layers(int64_t num_layers) {
    config_["num_hidden_layers"] = num_layers;
    if (config_.contains("layer_types") && config_["layer_types"].is_array() && !config_["layer_types"].empty()) {
      const json first = config_["layer_types"][0];
      config_["layer_types"] = json(std::vector<json>(static_cast<size_t>(num_layers), first));
    }
  }
  std::string weights_path() const { return (dir_.path() / "model.safetensors").string(); }

  // Writes the folder and loads it; returns the error message (empty when it loads).
  std::string load_error() {
    support::write_safetensors(dir_.path() / "model.safetensors", tensors_);
    std::ofstream(dir_.path() / "config.json") << config_.dump(2);
    ThreadPool pool(1);
    try {
      Qwen3Model::load(dir_.path().string(), pool);
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile) << error.what();
      return error.what();
    }
    return "";
  }

 private:
  fs::path source_;
  support::TempDir dir_;
  std::vector<support::TensorRecord> tensors_;
  json config_;
};

class Qwen3WeightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = find_fixture([](const io::ModelConfig&) { return true; });
    if (name_.empty()) GTEST_FAIL() << "no model fixtures";
    config_ = io::load_model_config((fs::path(HANLIN_FIXTURES_DIR) / "models" / name_ / "config.json").string());
  }

  std::string shape(std::initializer_list<int64_t> dims) const { return shape_to_string(Shape(dims)); }

  std::string name_;
  io::ModelConfig config_;
};

TEST_F(Qwen3WeightsTest, UnchangedCopyLoads) {
  CheckpointCopy copy(name_);
  EXPECT_EQ(copy.load_error(), "");
}

TEST_F(Qwen3WeightsTest, MissingTensorIsNamedWithItsExpectedShape) {
  CheckpointCopy copy(name_);
  copy.remove("model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(copy.load_error(), copy.weights_path() + ": tensor 'model.layers.0.mlp.up_proj.weight' is missing " +
                                   "(config.json implies shape " +
                                   shape({config_.intermediate_size, config_.hidden_size}) + ")");
}

TEST_F(Qwen3WeightsTest, WrongShapeNamesBothShapes) {
  CheckpointCopy copy(name_);
  const std::string name = "model.layers." + std::to_string(config_.num_hidden_layers - 1) + ".self_attn.q_proj.weight";
  support::TensorRecord& q_proj = copy.tensor(name);
  const int64_t rows = q_proj.shape[0];
  const int64_t cols = q_proj.shape[1];
  q_proj.shape = {rows / 2, cols};
  q_proj.bytes.resize(q_proj.bytes.size() / 2);
  EXPECT_EQ(copy.load_error(), copy.weights_path() + ": '" + name + "' has shape " + shape({rows / 2, cols}) +
                                   ", expected " + shape({rows, cols}) + " from config.json");
}

TEST_F(Qwen3WeightsTest, ConfigWithMoreLayersThanTheWeights) {
  CheckpointCopy copy(name_);
  copy.set_num_layers(config_.num_hidden_layers + 1);
  const std::string missing = "model.layers." + std::to_string(config_.num_hidden_layers) + ".input_layernorm.weight";
  EXPECT_EQ(copy.load_error(), copy.weights_path() + ": tensor '" + missing + "' is missing (config.json implies shape " +
                                   shape({config_.hidden_size}) + ")");
}

TEST_F(Qwen3WeightsTest, ConfigWithFewerLayersThanTheWeights) {
  CheckpointCopy copy(name_);
  copy.set_num_layers(config_.num_hidden_layers - 1);
  const std::string message = copy.load_error();
  EXPECT_TRUE(message.starts_with(copy.weights_path() + ": holds 'model.layers." +
                                  std::to_string(config_.num_hidden_layers - 1) + "."))
      << message;
  EXPECT_TRUE(message.ends_with("but config.json has num_hidden_layers " +
                                std::to_string(config_.num_hidden_layers - 1)))
      << message;
}

TEST_F(Qwen3WeightsTest, ConfigIntermediateSizeDisagreesWithTheWeights) {
  CheckpointCopy copy(name_);
  copy.config()["intermediate_size"] = config_.intermediate_size * 2;
  EXPECT_EQ(copy.load_error(), copy.weights_path() + ": 'model.layers.0.mlp.gate_proj.weight' has shape " +
                                   shape({config_.intermediate_size, config_.hidden_size}) + ", expected " +
                                   shape({config_.intermediate_size * 2, config_.hidden_size}) + " from config.json");
}

TEST_F(Qwen3WeightsTest, IntegerWeightsAreRejected) {
  CheckpointCopy copy(name_);
  support::TensorRecord& norm = copy.tensor("model.norm.weight");
  norm.dtype = "I32";
  norm.bytes.resize(static_cast<size_t>(config_.hidden_size) * 4);
  EXPECT_EQ(copy.load_error(), copy.weights_path() + ": 'model.norm.weight' has dtype I32, expected F32, BF16 or F16");
}

TEST(Qwen3WeightsFixtures, UntiedModelNeedsLmHead) {
  const std::string name = find_fixture([](const io::ModelConfig& c) { return !c.tie_word_embeddings; });
  ASSERT_FALSE(name.empty()) << "no untied fixture";
  CheckpointCopy copy(name);
  copy.remove("lm_head.weight");
  EXPECT_TRUE(copy.load_error().starts_with(copy.weights_path() + ": tensor 'lm_head.weight' is missing"));
}

TEST(Qwen3WeightsFixtures, Qwen2NeedsItsProjectionBiases) {
  const std::string name = find_fixture([](const io::ModelConfig& c) { return c.architecture == io::Architecture::kQwen2; });
  ASSERT_FALSE(name.empty()) << "no Qwen2 fixture";
  CheckpointCopy copy(name);
  copy.remove("model.layers.0.self_attn.k_proj.bias");
  EXPECT_TRUE(copy.load_error().starts_with(copy.weights_path() + ": tensor 'model.layers.0.self_attn.k_proj.bias' is missing"));
}

TEST(Qwen3WeightsFixtures, TiedModelReadsLmHeadFromTheEmbedding) {
  const std::string name = find_fixture([](const io::ModelConfig& c) { return c.tie_word_embeddings; });
  ASSERT_FALSE(name.empty()) << "no tied fixture";
  ThreadPool pool(1);
  const Qwen3Model model = Qwen3Model::load((fs::path(HANLIN_FIXTURES_DIR) / "models" / name).string(), pool);
  EXPECT_EQ(model.weights().lm_head.raw(), model.weights().embed_tokens.raw());
}

io::ModelConfig tiny_config() {
  io::ModelConfig config;
  config.vocab_size = 96;
  config.hidden_size = 32;
  config.intermediate_size = 48;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.head_dim = 16;
  config.max_position_embeddings = 256;
  config.tie_word_embeddings = true;
  return config;
}

TEST(DummyWeights, HaveTheConfigShapesAndDoNotDependOnThreadCount) {
  ThreadPool one(1);
  ThreadPool two(2);
  const Qwen3Weights a = make_dummy_qwen3_weights(tiny_config(), 5, one);
  const Qwen3Weights b = make_dummy_qwen3_weights(tiny_config(), 5, two);
  ASSERT_EQ(a.layers.size(), 2u);
  EXPECT_EQ(a.layers[1].q_proj.shape(), Shape({64, 32}));
  EXPECT_EQ(a.layers[1].down_proj.shape(), Shape({32, 48}));
  EXPECT_EQ(a.lm_head.raw(), a.embed_tokens.raw());
  const Tensor& wa = a.layers[1].gate_proj;
  const Tensor& wb = b.layers[1].gate_proj;
  EXPECT_TRUE(std::equal(wa.data<bf16>(), wa.data<bf16>() + wa.numel(), wb.data<bf16>(),
                         [](bf16 x, bf16 y) { return x.bits == y.bits; }));
  double sum_sq = 0;
  for (int64_t i = 0; i < wa.numel(); ++i) sum_sq += std::pow(to_f32(wa.data<bf16>()[i]), 2);
  EXPECT_NEAR(std::sqrt(sum_sq / static_cast<double>(wa.numel())), 0.02, 0.002);
  EXPECT_EQ(to_f32(a.layers[0].input_norm.data<bf16>()[0]), 1.0f);
}

TEST(DummyWeights, GiveFiniteLogits) {
  ThreadPool pool(2);
  Qwen3Model model = Qwen3Model::dummy(tiny_config(), 1, pool);
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5};
  const Tensor logits = support::prefill_logits(model, prompt, std::vector<int32_t>{4});
  for (float value : support::logits_row(logits, 0)) ASSERT_TRUE(std::isfinite(value));
}

}  // namespace
}  // namespace hanlin::model
