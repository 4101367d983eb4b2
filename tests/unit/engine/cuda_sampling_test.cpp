// Sampling on the GPU (kernels/cuda/sampling.h) against the host sampler (engine/sampler.h): the
// same bf16 rows, parameters and uniforms must give the same token in every draw. Rows cover a
// peaked and a flat distribution, heavy ties (bf16 values repeat), masked tokens, vocabularies of
// odd size; the errors (NaN, nothing finite) and the kernel's own limit (a constant row) are
// checked by status. Without a GPU each test skips; without CUDA in the build the file is empty.
#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "engine/sampler.h"
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

// The host sampler's token for `row`, or nullopt-like -1 when it refuses the row.
int32_t host_token(const Row& row, const SamplingParams& params, uint64_t seed) {
  SampleInput input;
  input.logits = row;
  input.params = &params;
  input.seed = seed;
  try {
    return Sampler().sample_one(input).token_id;
  } catch (const Error&) {
    return -1;
  }
}

cuda::DrawParams draw_params(int32_t row, const SamplingParams& params, uint64_t seed) {
  cuda::DrawParams draw;
  draw.row = row;
  draw.temperature = params.temperature;
  draw.top_k = params.top_k;
  draw.top_p = params.top_p;
  draw.min_p = params.min_p;
  draw.u = counter_uniform(seed, 0, 0);  // what sample_one draws for sequence 0 at step 0
  return draw;
}

// Every draw on the device at once; results in the order of `draws`.
std::vector<cuda::DrawResult> device_draws(const std::vector<Row>& rows, const std::vector<cuda::DrawParams>& draws) {
  const auto vocab = static_cast<int64_t>(rows.front().size());
  Tensor host = Tensor::zeros({static_cast<int64_t>(rows.size()), vocab}, DType::kBF16);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t i = 0; i < vocab; ++i) host.data<bf16>()[static_cast<int64_t>(r) * vocab + i] = to_bf16(rows[r][static_cast<size_t>(i)]);
  }
  const Tensor logits = cuda::to_device(host);
  void* device_params = nullptr;
  void* device_results = nullptr;
  EXPECT_EQ(cudaMalloc(&device_params, draws.size() * sizeof(cuda::DrawParams)), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&device_results, draws.size() * sizeof(cuda::DrawResult)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(device_params, draws.data(), draws.size() * sizeof(cuda::DrawParams), cudaMemcpyHostToDevice),
            cudaSuccess);
  cuda::sample_rows(static_cast<cuda::DrawResult*>(device_results), static_cast<const cuda::DrawParams*>(device_params),
                    static_cast<int64_t>(draws.size()), logits, nullptr);
  std::vector<cuda::DrawResult> results(draws.size());
  EXPECT_EQ(cudaMemcpy(results.data(), device_results, results.size() * sizeof(cuda::DrawResult), cudaMemcpyDeviceToHost),
            cudaSuccess);
  cudaFree(device_params);
  cudaFree(device_results);
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

// For every row and parameter set, `draws_per_case` seeds: device and host tokens must agree.
void expect_same_tokens(const std::vector<Row>& rows, int draws_per_case) {
  const auto vocab = static_cast<int64_t>(rows.front().size());
  const std::vector<SamplingParams> grid = parameter_grid(vocab);
  std::vector<cuda::DrawParams> draws;
  std::vector<int32_t> expected;
  std::vector<std::string> labels;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t p = 0; p < grid.size(); ++p) {
      for (int d = 0; d < draws_per_case; ++d) {
        const uint64_t seed = 1000 * r + 10 * p + static_cast<uint64_t>(d);
        draws.push_back(draw_params(static_cast<int32_t>(r), grid[p], seed));
        expected.push_back(host_token(rows[r], grid[p], seed));
        labels.push_back("row " + std::to_string(r) + ", params " + std::to_string(p) + ", seed " + std::to_string(seed));
      }
    }
  }
  const std::vector<cuda::DrawResult> results = device_draws(rows, draws);
  int mismatches = 0;
  for (size_t i = 0; i < draws.size(); ++i) {
    ASSERT_EQ(results[i].status, cuda::DrawStatus::kDrawn) << labels[i];
    if (results[i].token_id != expected[i] && ++mismatches <= 10) {
      ADD_FAILURE() << labels[i] << ": device " << results[i].token_id << ", host " << expected[i];
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << draws.size() << " draws";
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

}  // namespace
}  // namespace hanlin::engine

#endif  // HANLIN_HAS_CUDA
