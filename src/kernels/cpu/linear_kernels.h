// Internal to kernels/cpu: the pieces of linear (out[T, N] = in[T, K] · weight[N, K]ᵀ + bias).
// Each kernel computes the outputs of weight rows [row_begin, row_end) for all T tokens, so
// linear.cpp can split N across threads.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "kernels/cpu/simd.h"

namespace hanlin::cpu {

// One call's operands; W is float, bf16 or f16.
template <class W>
struct LinearArgs {
  float* out;           // [T, N]
  const float* in;      // [T, K]
  const W* weight;      // [N, K]
  const float* bias;    // [N] or null
  int64_t num_tokens;   // T
  int64_t num_outputs;  // N
  int64_t num_inputs;   // K
};

// Portable: each weight row converted once, then dotted with every token.
template <class W>
void linear_rows_scalar(const LinearArgs<W>& args, int64_t row_begin, int64_t row_end);

// The inputs laid out as linear_rows_streaming_avx2 reads them: args.in itself, or for bf16
// weights a copy in `storage` with each 16-input chunk reordered as [evens, odds].
template <class W>
const float* streaming_inputs(const LinearArgs<W>& args, std::vector<float>& storage);

// AVX2, few tokens (decode): streams weight rows from memory four at a time, dotting each with
// every token while the rows are in L1. streaming_in comes from streaming_inputs.
template <class W>
void linear_rows_streaming_avx2(const LinearArgs<W>& args, const float* streaming_in, int64_t row_begin,
                                int64_t row_end);

// AVX2, many tokens (prefill): weight tiles converted to f32 once, in panels of
// kGemmPanelRows rows, and reused by a 6×16 register-blocked micro-kernel across all tokens.
// row_begin/row_end are multiples of kGemmPanelRows, or row_end = N.
constexpr int64_t kGemmPanelRows = 16;
template <class W>
void linear_rows_blocked_avx2(const LinearArgs<W>& args, int64_t row_begin, int64_t row_end);

}  // namespace hanlin::cpu
