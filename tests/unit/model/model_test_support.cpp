// Fixture loading, BatchView building and checkpoint writing for the model tests.
#include "model_test_support.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"

namespace hanlin::model::test_support {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The fixtures of this checkout; HANLIN_FIXTURES_DIR in the environment overrides the built-in
// path, so a test binary built on one machine can run from a copy of the tree on another.
fs::path models_dir() {
  const char* override_dir = std::getenv("HANLIN_FIXTURES_DIR");
  return fs::path(override_dir != nullptr ? override_dir : HANLIN_FIXTURES_DIR) / "models";
}

TopLogits parse_top(const json& entry) {
  TopLogits top;
  top.ids = entry.at("top_ids").get<std::vector<int32_t>>();
  top.logits = entry.at("top_logits").get<std::vector<double>>();
  if (top.ids.size() != top.logits.size()) throw std::runtime_error("top_ids and top_logits differ in length");
  return top;
}

FixtureCase parse_case(const json& entry) {
  FixtureCase fixture_case;
  fixture_case.name = entry.at("name").get<std::string>();
  fixture_case.prompt_ids = entry.at("prompt_ids").get<std::vector<int32_t>>();
  for (const json& logits : entry.at("prompt_logits")) {
    fixture_case.prompt_logits.push_back({logits.at("position").get<int32_t>(), parse_top(logits)});
  }
  const json& greedy = entry.at("greedy");
  fixture_case.greedy_tokens = greedy.at("token_ids").get<std::vector<int32_t>>();
  for (const json& step : greedy.at("steps")) {
    fixture_case.greedy_steps.push_back({parse_top(step), step.at("margin").get<double>()});
  }
  return fixture_case;
}

}  // namespace

std::vector<std::string> fixture_model_names() {
  std::vector<std::string> names;
  if (!fs::is_directory(models_dir())) return names;
  for (const fs::directory_entry& entry : fs::directory_iterator(models_dir())) {
    if (fs::exists(entry.path() / "expected.json")) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

ModelFixture load_fixture(const std::string& name) {
  ModelFixture fixture;
  fixture.name = name;
  fixture.dir = models_dir() / name;
  std::ifstream file(fixture.dir / "expected.json");
  const json expected = json::parse(file);
  fixture.covers = expected.value("covers", std::vector<std::string>{});
  fixture.inv_freq = expected.at("rope").at("inv_freq").get<std::vector<double>>();
  fixture.attention_scaling = expected.at("rope").at("attention_scaling").get<double>();
  for (const json& entry : expected.at("cases")) fixture.cases.push_back(parse_case(entry));
  return fixture;
}

std::string fixture_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

LogitsError compare_top_logits(std::span<const float> row, const TopLogits& reference) {
  LogitsError error;
  double diff_sq = 0;
  double ref_sq = 0;
  for (size_t i = 0; i < reference.ids.size(); ++i) {
    const double diff = static_cast<double>(row[static_cast<size_t>(reference.ids[i])]) - reference.logits[i];
    diff_sq += diff * diff;
    ref_sq += reference.logits[i] * reference.logits[i];
    error.max_abs = std::max(error.max_abs, std::abs(diff));
  }
  error.relative_l2 = std::sqrt(diff_sq / ref_sq);
  if (!std::isfinite(error.relative_l2)) error.relative_l2 = INFINITY;  // NaN never passes
  return error;
}

double relative_l2(std::span<const float> a, std::span<const float> b) {
  double diff_sq = 0;
  double ref_sq = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = static_cast<double>(a[i]) - b[i];
    diff_sq += diff * diff;
    ref_sq += static_cast<double>(b[i]) * b[i];
  }
  const double error = std::sqrt(diff_sq / ref_sq);
  return std::isfinite(error) ? error : INFINITY;
}

std::span<const float> logits_row(const Tensor& logits, int64_t row) {
  const int64_t vocab = logits.dim(1);
  return {logits.data<float>() + row * vocab, static_cast<size_t>(vocab)};
}

int32_t argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

int32_t append_rows(BatchView& view, SequenceState& seq, std::span<const int32_t> tokens,
                    std::span<const int32_t> logits_at) {
  const int32_t first_row = static_cast<int32_t>(view.token_ids.size());
  const int32_t num_new = static_cast<int32_t>(tokens.size());
  for (int32_t i = 0; i < num_new; ++i) {
    const int32_t position = seq.context_len + i;
    view.token_ids.push_back(tokens[static_cast<size_t>(i)]);
    view.positions.push_back(position);
    const int32_t block = seq.block_table.at(static_cast<size_t>(position / KvCache::kBlockSize));
    view.slot_mapping.push_back(block * static_cast<int32_t>(KvCache::kBlockSize) + position % KvCache::kBlockSize);
  }
  seq.context_len += num_new;
  view.seqs.push_back({first_row, num_new, seq.context_len, seq.block_table});
  for (int32_t index : logits_at) view.logits_rows.push_back(first_row + index);
  return first_row;
}

SequenceState sequential_blocks(int64_t num_tokens) {
  SequenceState seq;
  const int64_t num_blocks = (num_tokens + KvCache::kBlockSize - 1) / KvCache::kBlockSize;
  for (int32_t block = 0; block < num_blocks; ++block) seq.block_table.push_back(block);
  return seq;
}

Tensor prefill_logits(Qwen3Model& model, std::span<const int32_t> prompt, std::span<const int32_t> positions) {
  SequenceState seq = sequential_blocks(static_cast<int64_t>(prompt.size()));
  KvCache cache(model.config(), static_cast<int64_t>(seq.block_table.size()), model.device());
  BatchView view;
  append_rows(view, seq, prompt, positions);
  return model.forward(view, cache);
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          ("hanlin_model_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::vector<TensorRecord> read_checkpoint(const fs::path& model_dir) {
  const io::WeightStore store = io::WeightStore::open_dir(model_dir.string());
  std::vector<TensorRecord> records;
  for (const std::string& name : store.names()) {
    const Tensor tensor = store.get(name);
    const auto* begin = static_cast<const std::byte*>(tensor.raw());
    records.push_back({name, std::string(dtype_name(tensor.dtype())), tensor.shape(),
                       std::vector<std::byte>(begin, begin + tensor.nbytes())});
  }
  return records;
}

void write_safetensors(const fs::path& path, const std::vector<TensorRecord>& tensors) {
  json header = json::object();
  size_t offset = 0;
  for (const TensorRecord& tensor : tensors) {
    header[tensor.name] = {{"dtype", tensor.dtype},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // the format pads the header to 8 bytes
  const uint64_t header_size = header_text.size();
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char*>(&header_size), sizeof(header_size));
  file.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  for (const TensorRecord& tensor : tensors) {
    file.write(reinterpret_cast<const char*>(tensor.bytes.data()), static_cast<std::streamsize>(tensor.bytes.size()));
  }
  if (!file) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace hanlin::model::test_support
