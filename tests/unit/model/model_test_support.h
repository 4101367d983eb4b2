// Shared helpers for the model tests: the transformers fixtures (tests/fixtures/models/*/
// expected.json), a builder for multi-sequence BatchViews, logits comparisons, and a small
// safetensors writer for corrupt-checkpoint tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/tensor.h"
#include "model/batch_view.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"

namespace hanlin::model::test_support {

// Reference logits: the top ids and their logits, as transformers computed them.
struct TopLogits {
  std::vector<int32_t> ids;
  std::vector<double> logits;
};

struct PromptLogits {
  int32_t position = 0;
  TopLogits top;
};

struct GreedyStep {
  TopLogits top;
  double margin = 0;  // top-1 minus top-2 logit
};

struct FixtureCase {
  std::string name;
  std::vector<int32_t> prompt_ids;
  std::vector<PromptLogits> prompt_logits;
  std::vector<int32_t> greedy_tokens;
  std::vector<GreedyStep> greedy_steps;
};

struct ModelFixture {
  std::string name;
  std::filesystem::path dir;
  std::vector<std::string> covers;
  std::vector<double> inv_freq;
  double attention_scaling = 1;
  std::vector<FixtureCase> cases;
};

// Folder names under tests/fixtures/models that hold an expected.json, sorted.
std::vector<std::string> fixture_model_names();
ModelFixture load_fixture(const std::string& name);
// A gtest-safe test name for a fixture folder ("qwen3-gqa" → "qwen3_gqa").
std::string fixture_test_name(const ::testing::TestParamInfo<std::string>& info);

// ‖row[ids] − reference‖₂ / ‖reference‖₂, and the largest |row[id] − reference|.
struct LogitsError {
  double relative_l2 = 0;
  double max_abs = 0;
};
LogitsError compare_top_logits(std::span<const float> row, const TopLogits& reference);

// ‖a − b‖₂ / ‖b‖₂ over whole rows.
double relative_l2(std::span<const float> a, std::span<const float> b);

std::span<const float> logits_row(const Tensor& logits, int64_t row);
int32_t argmax(std::span<const float> row);

// One sequence's cache bookkeeping: its blocks (in any order) and how much is cached.
struct SequenceState {
  std::vector<int32_t> block_table;
  int32_t context_len = 0;
};

// Adds `tokens` of `seq` as the next rows of `view` (positions continue from context_len,
// slots from the block table) and advances seq.context_len. The rows listed in `logits_at`
// (indices into `tokens`) are requested as logits, in that order. Returns the first new row.
int32_t append_rows(BatchView& view, SequenceState& seq, std::span<const int32_t> tokens,
                    std::span<const int32_t> logits_at);

// Logits at every position in `positions` of a one-shot prefill of `prompt` on a fresh cache.
Tensor prefill_logits(Qwen3Model& model, std::span<const int32_t> prompt, std::span<const int32_t> positions);

// A fresh cache with blocks [0, n) in order, enough for `num_tokens` tokens.
SequenceState sequential_blocks(int64_t num_tokens);

// A folder under the system temp dir, removed with everything in it when this goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A tensor to write: name, safetensors dtype ("BF16", "F32", ...), shape and raw bytes.
struct TensorRecord {
  std::string name;
  std::string dtype;
  Shape shape;
  std::vector<std::byte> bytes;
};

// All tensors of a model folder's checkpoint, in name order.
std::vector<TensorRecord> read_checkpoint(const std::filesystem::path& model_dir);
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorRecord>& tensors);

}  // namespace hanlin::model::test_support
