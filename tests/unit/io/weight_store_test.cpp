// WeightStore: one-file and sharded model folders, the index's consistency checks, and the
// real checkpoints transformers saved for the model fixtures.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "test_files.h"

namespace hanlin::io {
namespace {

using testing::build_safetensors;
using testing::capture_error;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::raw_bytes;
using ::testing::StartsWith;
using testing::TempDir;
using testing::write_file;

const std::string kFixtures = HANLIN_FIXTURES_DIR "/models";

class WeightStoreTest : public ::testing::Test {
 protected:
  // Two shards: "a" and "b" in the first, "c" in the second.
  void write_two_shards() {
    write_file(dir_.file("shard-1.safetensors"),
               build_safetensors({{"a", "F32", "[2]", raw_bytes<float>({1.0f, 2.0f})},
                                  {"b", "F32", "[1]", raw_bytes<float>({3.0f})}}));
    write_file(dir_.file("shard-2.safetensors"),
               build_safetensors({{"c", "F32", "[1]", raw_bytes<float>({4.0f})}}));
  }
  void write_index(const std::string& weight_map) {
    write_file(dir_.file("model.safetensors.index.json"),
               R"({"metadata": {"total_size": 16}, "weight_map": )" + weight_map + "}");
  }
  Error open_error() {
    return capture_error([&] { WeightStore::open_dir(dir_.path().string()); });
  }
  std::string index_path() const { return dir_.file("model.safetensors.index.json"); }

  TempDir dir_;
};

constexpr const char* kTwoShardMap =
    R"({"a": "shard-1.safetensors", "b": "shard-1.safetensors", "c": "shard-2.safetensors"})";

TEST_F(WeightStoreTest, OpensASingleFile) {
  write_file(dir_.file("model.safetensors"),
             build_safetensors({{"w", "F32", "[2]", raw_bytes<float>({5.0f, 6.0f})}}));
  const WeightStore store = WeightStore::open_dir(dir_.path().string());
  EXPECT_THAT(store.names(), ElementsAre("w"));
  EXPECT_TRUE(store.contains("w"));
  EXPECT_FALSE(store.contains("v"));
  EXPECT_EQ(store.get("w").data<float>()[1], 6.0f);
}

TEST_F(WeightStoreTest, OpensShardsThroughTheIndex) {
  write_two_shards();
  write_index(kTwoShardMap);
  const WeightStore store = WeightStore::open_dir(dir_.path().string());
  EXPECT_THAT(store.names(), ElementsAre("a", "b", "c"));
  EXPECT_EQ(store.get("a").data<float>()[1], 2.0f);
  EXPECT_EQ(store.get("b").data<float>()[0], 3.0f);
  EXPECT_EQ(store.get("c").data<float>()[0], 4.0f);
}

TEST_F(WeightStoreTest, CopiesStayUsableAfterTheOriginalIsGone) {
  write_two_shards();
  write_index(kTwoShardMap);
  std::optional<WeightStore> original = WeightStore::open_dir(dir_.path().string());
  const WeightStore copy = *original;
  original.reset();
  EXPECT_EQ(copy.get("c").data<float>()[0], 4.0f);
}

TEST_F(WeightStoreTest, MissingNameNamesFolderAndTensor) {
  write_two_shards();
  write_index(kTwoShardMap);
  const WeightStore store = WeightStore::open_dir(dir_.path().string());
  const Error error = capture_error([&] { store.get("lm_head.weight"); });
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_THAT(error.what(), StartsWith(dir_.path().string() + ": "));
  EXPECT_THAT(error.what(), HasSubstr("'lm_head.weight'"));
}

TEST_F(WeightStoreTest, EmptyFolderIsNotFound) {
  const Error error = open_error();
  EXPECT_EQ(error.kind(), ErrorKind::kNotFound);
  EXPECT_EQ(std::string(error.what()),
            dir_.path().string() + ": no model.safetensors or model.safetensors.index.json");
}

TEST_F(WeightStoreTest, RejectsIndexNamingAMissingShard) {
  write_two_shards();
  write_index(R"({"a": "shard-1.safetensors", "c": "shard-9.safetensors"})");
  const Error error = open_error();
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_THAT(error.what(), StartsWith(index_path() + ": "));
  EXPECT_THAT(error.what(), HasSubstr("shard 'shard-9.safetensors' is not in"));
}

TEST_F(WeightStoreTest, RejectsIndexNamingATensorTheShardLacks) {
  write_two_shards();
  write_index(R"({"a": "shard-1.safetensors", "b": "shard-1.safetensors", "c": "shard-2.safetensors",)"
              R"( "lm_head.weight": "shard-2.safetensors"})");
  const Error error = open_error();
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_THAT(error.what(), StartsWith(index_path() + ": "));
  EXPECT_THAT(
      error.what(),
      HasSubstr("puts tensor 'lm_head.weight' in 'shard-2.safetensors', but that shard does not hold it"));
}

TEST_F(WeightStoreTest, RejectsIndexPointingAtTheWrongShard) {
  write_two_shards();
  write_index(R"({"a": "shard-2.safetensors", "b": "shard-1.safetensors", "c": "shard-2.safetensors"})");
  EXPECT_THAT(open_error().what(), HasSubstr("puts tensor 'a' in 'shard-2.safetensors'"));
}

TEST_F(WeightStoreTest, RejectsShardPathsOutsideTheFolder) {
  write_two_shards();
  for (const char* shard : {"../shard-1.safetensors", "..", "sub/shard-1.safetensors", "/etc/passwd", ""}) {
    write_index(std::string(R"({"a": ")") + shard + R"("})");
    const Error error = open_error();
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile) << shard;
    EXPECT_THAT(error.what(), StartsWith(index_path() + ": "));
    EXPECT_THAT(error.what(), HasSubstr("must be a plain file name in the model folder")) << shard;
  }
}

TEST_F(WeightStoreTest, RejectsATensorInTwoShards) {
  write_file(dir_.file("shard-1.safetensors"),
             build_safetensors({{"a", "F32", "[1]", raw_bytes<float>({1.0f})}}));
  write_file(dir_.file("shard-2.safetensors"),
             build_safetensors({{"a", "F32", "[1]", raw_bytes<float>({2.0f})},
                                {"c", "F32", "[1]", raw_bytes<float>({3.0f})}}));
  write_index(R"({"a": "shard-1.safetensors", "c": "shard-2.safetensors"})");
  const Error error = open_error();
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_THAT(error.what(), StartsWith(dir_.path().string() + ": "));
  EXPECT_THAT(error.what(),
              HasSubstr("tensor 'a' is in both 'shard-1.safetensors' and 'shard-2.safetensors'"));
}

TEST_F(WeightStoreTest, ValidatesEveryShard) {
  write_two_shards();
  write_file(dir_.file("shard-2.safetensors"), testing::safetensors_bytes("not json"));
  write_index(kTwoShardMap);
  const Error error = open_error();
  EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  EXPECT_THAT(error.what(), StartsWith(dir_.file("shard-2.safetensors") + ": header is not valid JSON"));
}

TEST_F(WeightStoreTest, RejectsMalformedIndexes) {
  write_two_shards();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"weight_map\": ", "not valid JSON"},
      {"[]", "index must be a JSON object, got an array"},
      {"{\"metadata\": {}}", "'weight_map' is missing"},
      {"{\"weight_map\": {}}", "'weight_map' lists no tensors"},
      {"{\"weight_map\": [\"a\"]}", "'weight_map' must be an object, got an array"},
      {"{\"weight_map\": {\"a\": 1}}", "entry for tensor 'a' must be a shard file name, got 1"},
      {R"({"weight_map": {"a": "shard-1.safetensors", "a": "shard-2.safetensors"}})", "'a' appears twice"},
  };
  for (const auto& [text, fragment] : cases) {
    write_file(index_path(), text);
    const Error error = open_error();
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile) << text;
    EXPECT_THAT(error.what(), StartsWith(index_path() + ": ")) << text;
    EXPECT_THAT(error.what(), HasSubstr(fragment)) << text;
  }
}

// ---- checkpoints saved by transformers (tests/fixtures/models) ----

TEST(WeightStoreFixtures, ShardedQwen2HoldsEveryIndexedTensor) {
  const std::string dir = kFixtures + "/qwen2-bias-sharded";
  std::ifstream index_file(dir + "/model.safetensors.index.json");
  const auto index = nlohmann::json::parse(index_file);
  const WeightStore store = WeightStore::open_dir(dir);
  EXPECT_EQ(store.names().size(), index["weight_map"].size());
  for (const auto& [name, shard] : index["weight_map"].items()) EXPECT_TRUE(store.contains(name)) << name;
  // config.json: vocab 2500, hidden 128, 8 heads of 16, 2 kv heads, Qwen2 biases, bf16.
  const Tensor embed = store.get("model.embed_tokens.weight");
  EXPECT_EQ(embed.dtype(), DType::kBF16);
  EXPECT_EQ(embed.shape(), (Shape{2500, 128}));
  EXPECT_EQ(store.get("model.layers.1.self_attn.q_proj.bias").shape(), (Shape{128}));
  EXPECT_EQ(store.get("model.layers.1.self_attn.k_proj.weight").shape(), (Shape{32, 128}));
  EXPECT_EQ(store.get("model.layers.0.mlp.down_proj.weight").shape(), (Shape{128, 256}));
}

TEST(WeightStoreFixtures, SingleFileCheckpointsInEachDtype) {
  // config.json of each: qwen3-yarn f32 (vocab 2048, hidden 64), qwen3-mqa-tied f16
  // (vocab 3000, hidden 96, head_dim 64, 1 kv head), qwen3-gqa-untied bf16.
  const WeightStore yarn = WeightStore::open_dir(kFixtures + "/qwen3-yarn");
  EXPECT_EQ(yarn.get("model.embed_tokens.weight").dtype(), DType::kF32);
  EXPECT_EQ(yarn.get("model.embed_tokens.weight").shape(), (Shape{2048, 64}));
  EXPECT_EQ(yarn.get("model.layers.0.self_attn.q_norm.weight").shape(), (Shape{32}));

  const WeightStore mqa = WeightStore::open_dir(kFixtures + "/qwen3-mqa-tied");
  EXPECT_EQ(mqa.get("model.embed_tokens.weight").dtype(), DType::kF16);
  EXPECT_EQ(mqa.get("model.embed_tokens.weight").shape(), (Shape{3000, 96}));
  EXPECT_EQ(mqa.get("model.layers.2.self_attn.k_proj.weight").shape(), (Shape{64, 96}));

  const WeightStore gqa = WeightStore::open_dir(kFixtures + "/qwen3-gqa-untied");
  EXPECT_EQ(gqa.get("lm_head.weight").dtype(), DType::kBF16);
  EXPECT_EQ(gqa.get("lm_head.weight").shape(), (Shape{2048, 64}));
}

}  // namespace
}  // namespace hanlin::io
