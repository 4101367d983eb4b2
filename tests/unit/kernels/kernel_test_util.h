// Helpers for the kernel tests: seeded random tensors of any float dtype, and comparisons that
// report the largest absolute and relative error and where it occurred.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/ref/ref_ops.h"

namespace hanlin::test {

constexpr double kF32Epsilon = 5.9604644775390625e-08;  // unit roundoff of f32, 2^-24

// A tensor of `dtype` filled with uniform values in [low, high) from `seed`, rounded to the dtype.
inline Tensor random_tensor(const Shape& shape, DType dtype, uint32_t seed, float low = -1.0f,
                            float high = 1.0f) {
  Tensor tensor = Tensor::zeros(shape, dtype);
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(low, high);
  for (int64_t i = 0; i < tensor.numel(); ++i) {
    const float value = distribution(generator);
    switch (dtype) {
      case DType::kF32:
        tensor.data<float>()[i] = value;
        break;
      case DType::kBF16:
        tensor.data<bf16>()[i] = to_bf16(value);
        break;
      case DType::kF16:
        tensor.data<f16>()[i] = to_f16(value);
        break;
      case DType::kI32:
        tensor.data<int32_t>()[i] = static_cast<int32_t>(value * 1000);
        break;
    }
  }
  return tensor;
}

// `call` throws Error(kInternal): a launcher's check of a caller bug.
inline void expect_internal_error(const std::string& what, const std::function<void()>& call) {
  try {
    call();
    ADD_FAILURE() << what << ": no error thrown";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInternal) << what << ": " << error.what();
  }
}

// A deep copy (Tensor copies share their buffer).
inline Tensor clone(const Tensor& tensor) {
  Tensor copy = Tensor::zeros(tensor.shape(), tensor.dtype());
  std::copy_n(static_cast<const char*>(tensor.raw()), tensor.nbytes(), static_cast<char*>(copy.raw()));
  return copy;
}

inline Tensor from_values(const Shape& shape, const std::vector<float>& values, DType dtype = DType::kF32) {
  Tensor tensor = Tensor::zeros(shape, dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kF32) tensor.data<float>()[i] = values[i];
    if (dtype == DType::kBF16) tensor.data<bf16>()[i] = to_bf16(values[i]);
    if (dtype == DType::kF16) tensor.data<f16>()[i] = to_f16(values[i]);
  }
  return tensor;
}

inline std::vector<float> values_of(const Tensor& tensor) {
  std::vector<float> values(static_cast<size_t>(tensor.numel()));
  for (int64_t i = 0; i < tensor.numel(); ++i)
    values[static_cast<size_t>(i)] = ref::element_as_f32(tensor, i);
  return values;
}

// Passes when |actual[i] − expected[i]| ≤ allowed[i] for every i (NaN never passes); the
// message gives the worst element and the largest absolute and relative errors.
inline ::testing::AssertionResult within(const std::vector<float>& actual, const std::vector<float>& expected,
                                         const std::vector<double>& allowed) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << expected.size();
  }
  double max_abs = 0;
  double max_rel = 0;
  size_t worst = 0;
  double worst_excess = -INFINITY;
  size_t failures = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double error = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    const bool ok = error <= allowed[i];  // false for NaN
    if (!ok) ++failures;
    max_abs = std::isnan(error) ? INFINITY : std::max(max_abs, error);
    if (expected[i] != 0) max_rel = std::max(max_rel, error / std::fabs(expected[i]));
    const double excess = std::isnan(error) ? INFINITY : error - allowed[i];
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  std::ostringstream report;
  report << "max abs error " << max_abs << ", max rel error " << max_rel << " over " << actual.size()
         << " values; worst at " << worst << ": actual " << actual[worst] << ", expected " << expected[worst]
         << ", allowed " << allowed[worst];
  if (failures > 0)
    return ::testing::AssertionFailure() << failures << " values out of tolerance; " << report.str();
  return ::testing::AssertionSuccess() << report.str();
}

// The common case: allowed = atol + rtol·|expected|.
inline ::testing::AssertionResult close_to(const std::vector<float>& actual,
                                           const std::vector<float>& expected, double atol, double rtol) {
  std::vector<double> allowed(expected.size());
  for (size_t i = 0; i < expected.size(); ++i) allowed[i] = atol + rtol * std::fabs(expected[i]);
  return within(actual, expected, allowed);
}

inline ::testing::AssertionResult close_to(const Tensor& actual, const Tensor& expected, double atol,
                                           double rtol) {
  return close_to(values_of(actual), values_of(expected), atol, rtol);
}

inline const char* isa_name(cpu::Isa isa) {
  return isa == cpu::Isa::kAvx2 ? "avx2" : "scalar";
}

// A context whose pool is every hardware thread, for references at real shapes (the GPU tests':
// alone, the reference of one 5125-token prefill or 12288 × 4096 product takes a minute).
inline ops::Context reference_context() {
  static ThreadPool pool(0);
  return ops::Context{&pool};
}

// Base for the CPU-vs-reference tests: runs each test once per instruction set (the scalar
// fallback forced through set_max_isa) with a two-thread pool.
class CpuVsRef : public ::testing::TestWithParam<cpu::Isa> {
 protected:
  void SetUp() override { cpu::set_max_isa(GetParam()); }
  void TearDown() override { cpu::set_max_isa(cpu::Isa::kAvx2); }
  // The ISA this test exercises is really the one in use (skips AVX2 on machines without it).
  bool isa_available() const { return cpu::active_isa() == GetParam(); }

  static ThreadPool& pool() {
    static ThreadPool shared(2);
    return shared;
  }
  ops::Context threaded() const { return ops::Context{&pool()}; }
};

// Names the parameterised instances "scalar" and "avx2".
struct IsaName {
  std::string operator()(const ::testing::TestParamInfo<cpu::Isa>& param_info) const {
    return isa_name(param_info.param);
  }
};
inline auto all_isas() {
  return ::testing::Values(cpu::Isa::kScalar, cpu::Isa::kAvx2);
}

}  // namespace hanlin::test
