// Sampling on the GPU (kernels/cuda/sampling.h) against the host sampler (engine/sampler.h): the
// same bf16 rows, parameters, processing and uniforms must give the same token in every draw.
// Rows cover a peaked and a flat distribution, heavy ties (bf16 values repeat), masked tokens,
// vocabularies of odd size; processing covers bias, repetition, presence and frequency
// penalties and bans, with processed logits on and off the bf16 grid; logprobs come from the raw
// row as the host reports them; the errors (NaN, nothing finite) and the kernel's own limits (a constant row, too many logits off the grid, an edit
// outside the row) are checked by status. Without a GPU each test skips; without CUDA in the build the file is empty.
#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "engine/sampler.h"
#include "engine_test_support.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/sampling.h"

namespace hanlin::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Rows of one vocabulary, as bf16 values (the host sampler reads them as f32).
using Row = std::vector<float>;

Row rounded(Row row) {
  for (float& x : row) x = to_f32(to_bf16(x));
  return row;
}

Row normal_row(int64_t vocab, double sigma, uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<double> normal(0.0, sigma);
  Row row(static_cast<size_t>(vocab));
  for (float& x : row) x = static_cast<float>(normal(generator));
  return rounded(row);
}

// Integers in [-4, 4]: every value held by about a ninth of the vocabulary.
Row tied_row(int64_t vocab, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int> value(-4, 4);
  Row row(static_cast<size_t>(vocab));
  for (float& x : row) x = static_cast<float>(value(generator));
  return row;
}

Row half_masked(Row row) {
  for (size_t i = 0; i < row.size(); i += 2) row[i] = -kInf;
  return row;
}

// A draw: which row, the parameters, and the sequence state processing reads.
struct Case {
  int32_t row = 0;
  SamplingParams params;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> output_ids;
  std::vector<int32_t> banned_ids;
  uint64_t seed = 0;
  std::string label;
};

SampleInput input_of(const Case& c, std::span<const float> logits) {
  SampleInput input;
  input.logits = logits;
  input.params = &c.params;
  input.prompt_ids = c.prompt_ids;
  input.output_ids = c.output_ids;
  input.banned_ids = c.banned_ids;
  input.seed = c.seed;
  return input;
}

// The host sampler's token for the case, or -1 when it refuses the row.
int32_t host_token(const std::vector<Row>& rows, const Case& c) {
  try {
    return Sampler().sample_one(input_of(c, rows[static_cast<size_t>(c.row)])).token_id;
  } catch (const Error&) {
    return -1;
  }
}

// The case as the engine hands it to the GPU: parameters, the uniform the host draws with, and
// the row's processing appended to `edits`.
cuda::DrawParams draw_params(const Case& c, std::vector<cuda::LogitEdit>& edits) {
  cuda::DrawParams draw;
  draw.row = c.row;
  draw.temperature = c.params.temperature;
  draw.top_k = c.params.top_k;
  draw.top_p = c.params.top_p;
  draw.min_p = c.params.min_p;
  draw.u = counter_uniform(c.seed, 0, c.output_ids.size());  // what sample_one draws for sequence 0
  draw.first_edit = static_cast<int32_t>(edits.size());
  EXPECT_TRUE(append_logit_edits(input_of(c, {}), edits)) << c.label;
  draw.num_edits = static_cast<int32_t>(edits.size()) - draw.first_edit;
  draw.repetition_penalty = c.params.repetition_penalty;
  draw.presence_penalty = c.params.presence_penalty;
  draw.frequency_penalty = c.params.frequency_penalty;
  draw.num_logprobs = c.params.logprobs.value_or(-1);
  return draw;
}

cuda::DrawParams draw_params(int32_t row, const SamplingParams& params, uint64_t seed) {
  std::vector<cuda::LogitEdit> none;
  return draw_params(Case{row, params, {}, {}, {}, seed, ""}, none);
}

// Device memory holding a copy of `items` (released with the object).
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& items) {
    if (items.empty()) return;
    EXPECT_EQ(cudaMalloc(&data_, items.size() * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(data_, items.data(), items.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cudaFree(data_); }
  T* get() const { return static_cast<T*>(data_); }

 private:
  void* data_ = nullptr;
};

// Every draw on the device at once; results (and logprobs, when `logprobs` is given) in the order
// of `draws`.
std::vector<cuda::DrawResult> device_draws(const std::vector<Row>& rows, const std::vector<cuda::DrawParams>& draws,
                                           const std::vector<cuda::LogitEdit>& edits = {},
                                           std::vector<cuda::DrawLogprobs>* logprobs = nullptr) {
  const auto vocab = static_cast<int64_t>(rows.front().size());
  Tensor host = Tensor::zeros({static_cast<int64_t>(rows.size()), vocab}, DType::kBF16);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t i = 0; i < vocab; ++i) host.data<bf16>()[static_cast<int64_t>(r) * vocab + i] = to_bf16(rows[r][static_cast<size_t>(i)]);
  }
  const Tensor logits = cuda::to_device(host);
  const DeviceArray<cuda::DrawParams> device_params(draws);
  const DeviceArray<cuda::LogitEdit> device_edits(edits);
  const DeviceArray<cuda::DrawResult> device_results(std::vector<cuda::DrawResult>(draws.size()));
  const DeviceArray<cuda::DrawLogprobs> device_logprobs(std::vector<cuda::DrawLogprobs>(draws.size()));
  cuda::sample_rows(device_results.get(), device_logprobs.get(), device_params.get(), static_cast<int64_t>(draws.size()),
                    device_edits.get(), static_cast<int64_t>(edits.size()), logits, nullptr);
  std::vector<cuda::DrawResult> results(draws.size());
  EXPECT_EQ(cudaMemcpy(results.data(), device_results.get(), results.size() * sizeof(cuda::DrawResult),
                       cudaMemcpyDeviceToHost),
            cudaSuccess);
  if (logprobs != nullptr) {
    logprobs->resize(draws.size());
    EXPECT_EQ(cudaMemcpy(logprobs->data(), device_logprobs.get(), logprobs->size() * sizeof(cuda::DrawLogprobs),
                         cudaMemcpyDeviceToHost),
              cudaSuccess);
  }
  return results;
}

SamplingParams params_of(double temperature, int32_t top_k, double top_p, double min_p) {
  SamplingParams params;
  params.temperature = temperature;
  params.top_k = top_k;
  params.top_p = top_p;
  params.min_p = min_p;
  return params;
}

std::vector<SamplingParams> parameter_grid(int64_t vocab) {
  return {params_of(0, 0, 1, 0),      params_of(1, 0, 1, 0),       params_of(0.7, 20, 1, 0),
          params_of(1, 0, 0.95, 0),   params_of(0.6, 20, 0.95, 0), params_of(1.3, 50, 0.8, 0.05),
          params_of(1, 0, 1, 0.1),    params_of(1, 1, 1, 0),       params_of(1, 0, 0.01, 0),
          params_of(2, static_cast<int32_t>(vocab), 0.5, 0), params_of(0.05, 0, 0.9, 0.2)};
}

// Device and host tokens must agree on every case.
void expect_same_draws(const std::vector<Row>& rows, const std::vector<Case>& cases) {
  std::vector<cuda::DrawParams> draws;
  std::vector<cuda::LogitEdit> edits;
  std::vector<int32_t> expected;
  for (const Case& c : cases) {
    draws.push_back(draw_params(c, edits));
    expected.push_back(host_token(rows, c));
  }
  const std::vector<cuda::DrawResult> results = device_draws(rows, draws, edits);
  int mismatches = 0;
  for (size_t i = 0; i < draws.size(); ++i) {
    ASSERT_EQ(results[i].status, cuda::DrawStatus::kDrawn) << cases[i].label;
    if (results[i].token_id != expected[i] && ++mismatches <= 10) {
      ADD_FAILURE() << cases[i].label << ": device " << results[i].token_id << ", host " << expected[i];
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << draws.size() << " draws";
}

// For every row and parameter set, `draws_per_case` seeds, with the processing `base` gives.
std::vector<Case> grid_cases(const std::vector<Row>& rows, int draws_per_case, const Case& base = {}) {
  const auto vocab = static_cast<int64_t>(rows.front().size());
  const std::vector<SamplingParams> grid = parameter_grid(vocab);
  std::vector<Case> cases;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t p = 0; p < grid.size(); ++p) {
      for (int d = 0; d < draws_per_case; ++d) {
        Case c = base;
        c.row = static_cast<int32_t>(r);
        const SamplingParams& sampling = grid[p];
        c.params.temperature = sampling.temperature;
        c.params.top_k = sampling.top_k;
        c.params.top_p = sampling.top_p;
        c.params.min_p = sampling.min_p;
        c.seed = 1000 * r + 10 * p + static_cast<uint64_t>(d);
        c.label = base.label + "row " + std::to_string(r) + ", params " + std::to_string(p) + ", seed " +
                  std::to_string(c.seed);
        cases.push_back(std::move(c));
      }
    }
  }
  return cases;
}

void expect_same_tokens(const std::vector<Row>& rows, int draws_per_case) {
  expect_same_draws(rows, grid_cases(rows, draws_per_case));
}

// `count` token ids in [0, vocab).
std::vector<int32_t> random_ids(int64_t vocab, size_t count, uint32_t seed) {
  return test_support::random_prompt(count, seed, static_cast<int32_t>(vocab));
}

// The `count` most likely tokens of `row`: processing matters most where the draws land.
std::vector<int32_t> top_ids(const Row& row, size_t count) {
  std::vector<int32_t> ids(row.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(count), ids.end(),
                    [&](int32_t a, int32_t b) { return row[static_cast<size_t>(a)] > row[static_cast<size_t>(b)]; });
  ids.resize(count);
  return ids;
}

class CudaSampling : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
  }
};

TEST_F(CudaSampling, QwenVocabularyRowsDrawWhatTheHostDraws) {
  constexpr int64_t kVocab = 151936;
  const std::vector<Row> rows = {normal_row(kVocab, 3.0, 1), normal_row(kVocab, 0.05, 2), tied_row(kVocab, 3),
                                 half_masked(normal_row(kVocab, 2.0, 4))};
  expect_same_tokens(rows, 8);
}

TEST_F(CudaSampling, OddVocabulariesDrawWhatTheHostDraws) {
  for (int64_t vocab : {1, 7, 1001, 2048, 4099}) {
    SCOPED_TRACE("vocab " + std::to_string(vocab));
    expect_same_tokens({normal_row(vocab, 1.0, 5), tied_row(vocab, 6)}, 6);
  }
}

TEST_F(CudaSampling, ManyUniformsOverOneFlatRowDrawWhatTheHostDraws) {
  // A flat row puts the draw deep into the order, where the run-length arithmetic is exercised.
  expect_same_tokens({normal_row(32768, 0.02, 7)}, 200);
}

TEST_F(CudaSampling, RowsWithoutAFiniteMaximumOrWithNaNAreRefused) {
  constexpr int64_t kVocab = 1000;
  Row nan_row = normal_row(kVocab, 1.0, 8);
  nan_row[517] = std::numeric_limits<float>::quiet_NaN();
  Row masked(kVocab, -kInf);
  Row positive_infinity = normal_row(kVocab, 1.0, 9);
  positive_infinity[3] = kInf;
  const std::vector<Row> rows = {nan_row, masked, positive_infinity};
  std::vector<cuda::DrawParams> draws;
  for (int32_t r = 0; r < 3; ++r) {
    draws.push_back(draw_params(r, params_of(0, 0, 1, 0), 1));
    draws.push_back(draw_params(r, params_of(1, 40, 0.9, 0), 1));
  }
  const std::vector<cuda::DrawResult> results = device_draws(rows, draws);
  const cuda::DrawStatus expected[] = {cuda::DrawStatus::kNaN, cuda::DrawStatus::kNaN,
                                       cuda::DrawStatus::kNoFinite, cuda::DrawStatus::kNoFinite,
                                       cuda::DrawStatus::kNoFinite, cuda::DrawStatus::kNoFinite};
  for (size_t i = 0; i < draws.size(); ++i) EXPECT_EQ(results[i].status, expected[i]) << "draw " << i;
}

TEST_F(CudaSampling, AValueRepeatedBeyondTheCountersIsLeftToTheHost) {
  constexpr int64_t kVocab = 151936;
  Row constant(kVocab, 0.5f);
  constant[kVocab - 1] = 2.0f;
  const std::vector<cuda::DrawResult> results =
      device_draws({constant}, {draw_params(0, params_of(1, 0, 1, 0), 1), draw_params(0, params_of(0, 0, 1, 0), 1)});
  EXPECT_EQ(results[0].status, cuda::DrawStatus::kLeftToHost);
  // Greedy needs no counters.
  EXPECT_EQ(results[1].status, cuda::DrawStatus::kDrawn);
  EXPECT_EQ(results[1].token_id, kVocab - 1);
}

TEST_F(CudaSampling, NegativeAndPositiveZeroAreOneValue) {
  // The host compares -0 and +0 equal, so the first of them by id wins a greedy draw.
  Row row(64, -1.0f);
  row[10] = -0.0f;
  row[20] = 0.0f;
  const std::vector<cuda::DrawResult> results = device_draws({row}, {draw_params(0, params_of(0, 0, 1, 0), 1)});
  EXPECT_EQ(results[0].token_id, 10);
  expect_same_tokens({row}, 50);
}

// ---- Processing: bias, penalties and bans, applied on the device from the row's edits ----

Case processing(double repetition, double presence, double frequency, std::vector<std::pair<int32_t, float>> bias,
                std::vector<int32_t> prompt, std::vector<int32_t> output, std::vector<int32_t> banned,
                std::string label) {
  Case c;
  c.params.repetition_penalty = repetition;
  c.params.presence_penalty = presence;
  c.params.frequency_penalty = frequency;
  c.params.logit_bias = std::move(bias);
  c.prompt_ids = std::move(prompt);
  c.output_ids = std::move(output);
  c.banned_ids = std::move(banned);
  c.label = std::move(label) + ": ";
  return c;
}

TEST_F(CudaSampling, ProcessedQwenVocabularyRowsDrawWhatTheHostDraws) {
  constexpr int64_t kVocab = 151936;
  const std::vector<Row> rows = {normal_row(kVocab, 3.0, 11), tied_row(kVocab, 12), normal_row(kVocab, 0.05, 13)};
  // Tokens where the draws land, so processing changes what is drawn: the likeliest of row 0.
  const std::vector<int32_t> likely = top_ids(rows[0], 40);
  std::vector<int32_t> output(likely.begin(), likely.begin() + 12);
  output.insert(output.end(), likely.begin(), likely.begin() + 4);  // repeats: frequency counts 2
  std::vector<int32_t> prompt = random_ids(kVocab, 2000, 14);
  prompt.insert(prompt.end(), likely.begin() + 12, likely.begin() + 30);
  const std::vector<Case> bases = {
      // Qwen2.5's default: most touched logits fall between bf16 values.
      processing(1.05, 0, 0, {}, prompt, output, {}, "repetition 1.05"),
      processing(1.3, 0, 0, {}, prompt, output, {}, "repetition 1.3"),
      // On the tied row these land on other integers: edited and unedited tokens tie.
      processing(1, 1.0, 1.0, {}, {}, output, {}, "presence 1, frequency 1"),
      processing(1, 0.5, 0.25, {}, {}, output, {}, "presence 0.5, frequency 0.25"),
      processing(1, 0, 0, {{likely[5], 5.0f}, {likely[0], -100.0f}, {7, 0.3f}, {likely[1], 0.0f}}, {}, {}, {},
                 "bias"),
      processing(1, 0, 0, {}, {}, {}, {likely[0], likely[1], likely[2], 151643, 151645}, "bans"),
      processing(1.1, -0.4, 0.3, {{likely[3], 2.5f}, {likely[20], -1.25f}}, prompt, output, {likely[6], 151643},
                 "all of them"),
  };
  for (const Case& base : bases) {
    SCOPED_TRACE(base.label);
    expect_same_draws(rows, grid_cases(rows, 4, base));
  }
}

TEST_F(CudaSampling, ProcessedOddVocabulariesDrawWhatTheHostDraws) {
  for (int64_t vocab : {1, 7, 1001, 4099}) {
    SCOPED_TRACE("vocab " + std::to_string(vocab));
    const std::vector<Row> rows = {normal_row(vocab, 1.0, 15), tied_row(vocab, 16)};
    const std::vector<int32_t> ids = random_ids(vocab, 40, 17);
    const Case base = processing(1.2, 0.5, 0.5, {{ids[0], 1.5f}}, ids, {ids.begin(), ids.begin() + 20},
                                 vocab > 1 ? std::vector<int32_t>{ids[1]} : std::vector<int32_t>{},
                                 "vocab " + std::to_string(vocab));
    expect_same_draws(rows, grid_cases(rows, 4, base));
  }
}

TEST_F(CudaSampling, TooManyLogitsOffTheGridAreLeftToTheHost) {
  constexpr int64_t kVocab = 151936;
  const std::vector<Row> rows = {normal_row(kVocab, 3.0, 18)};
  std::vector<int32_t> prompt(static_cast<size_t>(cuda::kMaxOffGridLogits) + 1000);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(i * 7);
  Case sampled = processing(1.05, 0, 0, {}, prompt, {}, {}, "sampled");
  sampled.params.temperature = 1.0;
  Case greedy = processing(1.05, 0, 0, {}, prompt, {}, {}, "greedy");
  greedy.params.temperature = 0;
  std::vector<cuda::LogitEdit> edits;
  const std::vector<cuda::DrawParams> draws = {draw_params(sampled, edits), draw_params(greedy, edits)};
  const std::vector<cuda::DrawResult> results = device_draws(rows, draws, edits);
  EXPECT_EQ(results[0].status, cuda::DrawStatus::kLeftToHost);
  // Greedy keeps no list of them.
  EXPECT_EQ(results[1].status, cuda::DrawStatus::kDrawn);
  EXPECT_EQ(results[1].token_id, host_token(rows, greedy));
}

TEST_F(CudaSampling, ProcessingThatMasksEveryTokenOrNamesOneOutsideTheRowIsRefused) {
  constexpr int64_t kVocab = 1000;
  const std::vector<Row> rows = {normal_row(kVocab, 1.0, 19)};
  std::vector<int32_t> every(kVocab);
  for (int32_t i = 0; i < kVocab; ++i) every[static_cast<size_t>(i)] = i;
  std::vector<Case> cases = {processing(1, 0, 0, {}, {}, {}, every, "all banned, greedy"),
                             processing(1, 0, 0, {}, {}, {}, every, "all banned, sampled"),
                             processing(1, 0, 0, {}, {}, {}, {kVocab}, "outside, greedy"),
                             processing(1, 0, 0, {}, {}, {}, {kVocab}, "outside, sampled")};
  cases[0].params.temperature = 0;
  cases[1].params.temperature = 1.0;
  cases[2].params.temperature = 0;
  cases[3].params.temperature = 1.0;
  std::vector<cuda::LogitEdit> edits;
  std::vector<cuda::DrawParams> draws;
  for (const Case& c : cases) draws.push_back(draw_params(c, edits));
  const std::vector<cuda::DrawResult> results = device_draws(rows, draws, edits);
  EXPECT_EQ(results[0].status, cuda::DrawStatus::kNoFinite);
  EXPECT_EQ(results[1].status, cuda::DrawStatus::kNoFinite);
  // The host sampler reports the id; the kernel hands such a row back to it.
  EXPECT_EQ(results[2].status, cuda::DrawStatus::kLeftToHost);
  EXPECT_EQ(results[3].status, cuda::DrawStatus::kLeftToHost);
  for (const Case& c : cases) EXPECT_EQ(host_token(rows, c), -1) << c.label;
}

// ---- Logprobs of the raw row ----

// The logprobs are the host's up to the order of one double sum (then rounded to float).
constexpr float kLogprobTolerance = 1e-5f;

void expect_same_logprobs(const std::vector<Row>& rows, std::vector<Case> cases) {
  std::vector<cuda::DrawParams> draws;
  std::vector<cuda::LogitEdit> edits;
  std::vector<SampleResult> expected;
  for (const Case& c : cases) {
    draws.push_back(draw_params(c, edits));
    expected.push_back(Sampler().sample_one(input_of(c, rows[static_cast<size_t>(c.row)])));
  }
  std::vector<cuda::DrawLogprobs> logprobs;
  const std::vector<cuda::DrawResult> results = device_draws(rows, draws, edits, &logprobs);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].label);
    ASSERT_EQ(results[i].status, cuda::DrawStatus::kDrawn);
    EXPECT_EQ(results[i].token_id, expected[i].token_id);
    EXPECT_NEAR(logprobs[i].sampled, expected[i].logprobs.sampled.logprob, kLogprobTolerance);
    ASSERT_EQ(logprobs[i].num_top, static_cast<int32_t>(expected[i].logprobs.top.size()));
    for (int32_t k = 0; k < logprobs[i].num_top; ++k) {
      EXPECT_EQ(logprobs[i].top_ids[k], expected[i].logprobs.top[static_cast<size_t>(k)].token_id) << "top " << k;
      EXPECT_NEAR(logprobs[i].top_logprobs[k], expected[i].logprobs.top[static_cast<size_t>(k)].logprob,
                  kLogprobTolerance)
          << "top " << k;
    }
  }
}

TEST_F(CudaSampling, LogprobsAreTheHostSamplersRawLogSoftmax) {
  constexpr int64_t kVocab = 151936;
  // A peaked row, heavy ties (the top list cuts through a value's run, lower ids first), a row
  // with masked tokens, and a processed draw (logprobs stay those of the raw row).
  const std::vector<Row> rows = {normal_row(kVocab, 3.0, 21), tied_row(kVocab, 22), half_masked(normal_row(kVocab, 2.0, 23))};
  std::vector<Case> cases;
  for (int32_t r = 0; r < 3; ++r) {
    for (int32_t top : {0, 1, 5, 20}) {
      for (double temperature : {0.0, 0.8}) {
        Case c;
        c.row = r;
        c.params.temperature = temperature;
        c.params.top_p = 0.9;
        c.params.logprobs = top;
        c.seed = static_cast<uint64_t>(100 * r + top);
        c.label = "row " + std::to_string(r) + ", top " + std::to_string(top) + ", T " + std::to_string(temperature);
        cases.push_back(c);
      }
    }
  }
  Case processed = cases.back();
  processed.params.repetition_penalty = 1.3;
  processed.params.logit_bias = {{top_ids(rows[2], 1)[0], -50.0f}};
  processed.prompt_ids = top_ids(rows[2], 30);
  processed.label += ", processed";
  cases.push_back(processed);
  expect_same_logprobs(rows, cases);
}

TEST_F(CudaSampling, LogprobsOfATinyVocabularyListEveryFiniteToken) {
  Row row = {1.0f, -kInf, 0.5f, 0.5f, -2.0f};
  Case c;
  c.params.temperature = 0;
  c.params.logprobs = 20;  // more than the 4 finite tokens
  c.label = "tiny";
  expect_same_logprobs({row}, {c});
}

TEST_F(CudaSampling, LogprobsOfARawRowTheHostRefusesAreLeftToTheHost) {
  // A NaN the processing bans: the draw is fine, the raw row's logprobs are not.
  Row row = normal_row(100, 1.0, 24);
  row[7] = std::numeric_limits<float>::quiet_NaN();
  Case c = processing(1, 0, 0, {}, {}, {}, {7}, "banned NaN");
  c.params.temperature = 0;
  c.params.logprobs = 2;
  std::vector<cuda::LogitEdit> edits;
  const std::vector<cuda::DrawParams> draws = {draw_params(c, edits)};
  EXPECT_EQ(device_draws({row}, draws, edits)[0].status, cuda::DrawStatus::kLeftToHost);
  EXPECT_EQ(host_token({row}, c), -1);
}

}  // namespace
}  // namespace hanlin::engine

#endif  // HANLIN_HAS_CUDA
