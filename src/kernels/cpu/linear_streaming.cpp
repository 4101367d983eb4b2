// The linear kernels for few tokens (decode), where the time is the time to stream the weight
// matrix from memory: the AVX2 version reads four weight rows at a time, one from each quarter
// of its range (four long sequential streams), prefetching the row after each, widens 16
// weights per load to f32 in registers and dots them with every token while the rows are in
// L1. The scalar version is the portable fallback for any token count.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu/linear_kernels.h"
#include "kernels/cpu/simd.h"

namespace hanlin::cpu {
namespace {

// Σ a[i]·b[i] over eight partial sums (the scalar path's rounding then matches the lanes').
float dot_scalar(const float* __restrict__ a, const float* __restrict__ b, int64_t count) {
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    for (int lane = 0; lane < 8; ++lane) partial[lane] += a[i + lane] * b[i + lane];
  }
  for (; i < count; ++i) partial[i % 8] += a[i] * b[i];
  float sum = 0;
  for (const float value : partial) sum += value;
  return sum;
}

}  // namespace

template <class W>
void linear_rows_scalar(const LinearArgs<W>& args, int64_t row_begin, int64_t row_end) {
  const int64_t width = args.num_inputs;
  std::vector<float> row(static_cast<size_t>(width));  // one weight row in f32
  for (int64_t n = row_begin; n < row_end; ++n) {
    for (int64_t k = 0; k < width; ++k) row[static_cast<size_t>(k)] = to_f32(args.weight[n * width + k]);
    const float bias = args.bias ? args.bias[n] : 0.0f;
    for (int64_t t = 0; t < args.num_tokens; ++t) {
      args.out[t * args.num_outputs + n] = dot_scalar(row.data(), args.in + t * width, width) + bias;
    }
  }
}

template void linear_rows_scalar<float>(const LinearArgs<float>&, int64_t, int64_t);
template void linear_rows_scalar<bf16>(const LinearArgs<bf16>&, int64_t, int64_t);
template void linear_rows_scalar<f16>(const LinearArgs<f16>&, int64_t, int64_t);

template <class W>
const float* streaming_inputs(const LinearArgs<W>& args, std::vector<float>& storage) {
  if constexpr (!std::is_same_v<W, bf16>) {
    return args.in;
  } else {
    // Each 16-input chunk as [its 8 even inputs, its 8 odd inputs], matching load16(bf16).
    const int64_t width = args.num_inputs;
    storage.resize(static_cast<size_t>(args.num_tokens * width));
    for (int64_t t = 0; t < args.num_tokens; ++t) {
      const float* in = args.in + t * width;
      float* permuted = storage.data() + t * width;
      int64_t k = 0;
      for (; k + 16 <= width; k += 16) {
        for (int i = 0; i < 8; ++i) {
          permuted[k + i] = in[k + 2 * i];
          permuted[k + 8 + i] = in[k + 2 * i + 1];
        }
      }
      for (; k < width; ++k) permuted[k] = in[k];
    }
    return storage.data();
  }
}

template const float* streaming_inputs<float>(const LinearArgs<float>&, std::vector<float>&);
template const float* streaming_inputs<bf16>(const LinearArgs<bf16>&, std::vector<float>&);
template const float* streaming_inputs<f16>(const LinearArgs<f16>&, std::vector<float>&);

#if HANLIN_X86_KERNELS
namespace {

// 16 consecutive weights as two f32 vectors, in the order streaming_inputs lays inputs out.
struct Weights16 {
  __m256 first;
  __m256 second;
};

// bf16 pairs: the even element is the low half of each 32-bit lane (shift it up), the odd one
// already sits in the high half (mask the low half off): no cross-lane shuffle needed.
HANLIN_AVX2 inline Weights16 load16(const bf16* p) {
  const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(bits, 16)),
          _mm256_castsi256_ps(_mm256_and_si256(bits, _mm256_set1_epi32(static_cast<int>(0xffff0000u))))};
}
HANLIN_AVX2 inline Weights16 load16(const f16* p) {
  return {avx2::load8(p), avx2::load8(p + 8)};
}
HANLIN_AVX2 inline Weights16 load16(const float* p) {
  return {avx2::load8(p), avx2::load8(p + 8)};
}

// Inputs [k_begin, k_end) of out[t, r·row_step] for kRows weight rows (row_step rows apart)
// × kTokens tokens, added to out when `accumulate`, else to the bias (or 0). weight: rows of
// K; in: kTokens rows of K in the streaming layout; plain: the same inputs as given, for a
// K % 16 tail; out: row stride out_stride. prefetch (may be null): kRows rows, row_step rows
// apart, to pull into cache meanwhile, one line per row per line consumed. k_begin is a
// multiple of 16.
struct DepthRange {
  int64_t begin;
  int64_t end;
  bool accumulate;
};

template <int kRows, int kTokens, class W>
HANLIN_AVX2 void dot_tile(float* __restrict__ out, int64_t out_stride, const float* __restrict__ in,
                          const float* __restrict__ plain, const W* __restrict__ weight, int64_t width,
                          int64_t row_step, DepthRange depth, const float* bias, const W* prefetch) {
  const int64_t row_stride = row_step * width;
  constexpr int kSplit = kRows * kTokens <= 4 ? 2 : 1;  // two chains per output when there are few
  constexpr int64_t kPerLine = 64 / static_cast<int64_t>(sizeof(W));
  __m256 acc[kRows][kTokens][kSplit];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) {
#pragma GCC unroll 8
      for (int s = 0; s < kSplit; ++s) acc[r][t][s] = _mm256_setzero_ps();
    }
  }
  const int64_t full = depth.end - (depth.end - depth.begin) % 16;
  for (int64_t k = depth.begin; k < full; k += 16) {
    if (prefetch != nullptr && k % kPerLine == 0) {
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(prefetch + r * row_stride + k), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const Weights16 w = load16(weight + r * row_stride + k);
#pragma GCC unroll 8
      for (int t = 0; t < kTokens; ++t) {
        acc[r][t][0] = _mm256_fmadd_ps(w.first, _mm256_loadu_ps(in + t * width + k), acc[r][t][0]);
        acc[r][t][kSplit - 1] =
            _mm256_fmadd_ps(w.second, _mm256_loadu_ps(in + t * width + k + 8), acc[r][t][kSplit - 1]);
      }
    }
  }
  float sums[kRows][kTokens];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 8
    for (int t = 0; t < kTokens; ++t) {
      sums[r][t] = avx2::horizontal_sum(kSplit == 2 ? _mm256_add_ps(acc[r][t][0], acc[r][t][kSplit - 1])
                                                    : acc[r][t][0]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) {
      float sum = sums[r][t];
      for (int64_t k = full; k < depth.end; ++k)
        sum += to_f32(weight[r * row_stride + k]) * plain[t * width + k];
      float& target = out[t * out_stride + r * row_step];
      target = (depth.accumulate ? target : (bias ? bias[r * row_step] : 0.0f)) + sum;
    }
  }
}

// Everything tile-specific for one call: where row `row` and token `token` start.
template <class W>
struct StreamingCall {
  const LinearArgs<W>& args;
  const float* in;  // streaming layout

  // Rows row, row + row_step, … (kRows of them) for tokens [token, token + kTokens).
  template <int kRows, int kTokens>
  void tile(int64_t row, int64_t row_step, int64_t token, DepthRange depth, const W* prefetch) const {
    const int64_t width = args.num_inputs;
    dot_tile<kRows, kTokens>(args.out + token * args.num_outputs + row, args.num_outputs, in + token * width,
                             args.in + token * width, args.weight + row * width, width, row_step, depth,
                             args.bias ? args.bias + row : nullptr, prefetch);
  }

  // Inputs per pass: with more than two tokens, the inputs of four tokens over the whole of K
  // would not fit in L1 beside the weights, so K is covered in slices of 512.
  int64_t depth_step() const { return args.num_tokens <= 2 ? args.num_inputs : 512; }
};

// Rows row + {0, 1, 2, 3}·row_step × all tokens, in chunks that keep the accumulators in
// registers; the rows stay in L1 between chunks, and only the first chunk of each slice
// prefetches `next` (the four rows that follow, or null).
template <class W>
void four_rows(const StreamingCall<W>& call, int64_t row, int64_t row_step, const W* next) {
  const int64_t width = call.args.num_inputs;
  for (int64_t k0 = 0; k0 < width; k0 += call.depth_step()) {
    const DepthRange depth{k0, std::min(width, k0 + call.depth_step()), k0 > 0};
    const W* prefetch = next;
    for (int64_t t = 0; t < call.args.num_tokens;) {
      const int64_t left = call.args.num_tokens - t;
      const W* prefetch_half = prefetch ? prefetch + 2 * row_step * width : nullptr;
      if (left == 1) {
        call.template tile<4, 1>(row, row_step, t, depth, prefetch);
      } else if (left == 2) {
        call.template tile<4, 2>(row, row_step, t, depth, prefetch);
      } else if (left == 3) {
        call.template tile<2, 3>(row, row_step, t, depth, prefetch);
        call.template tile<2, 3>(row + 2 * row_step, row_step, t, depth, prefetch_half);
      } else {
        call.template tile<2, 4>(row, row_step, t, depth, prefetch);
        call.template tile<2, 4>(row + 2 * row_step, row_step, t, depth, prefetch_half);
      }
      t += left >= 4 ? 4 : left;
      prefetch = nullptr;
    }
  }
}

// One row × all tokens, for the rows left over after the groups of four.
template <class W>
void one_row(const StreamingCall<W>& call, int64_t row) {
  const DepthRange depth{0, call.args.num_inputs, false};
  for (int64_t t = 0; t < call.args.num_tokens;) {
    const int64_t left = call.args.num_tokens - t;
    if (left == 1) call.template tile<1, 1>(row, 1, t, depth, nullptr);
    if (left == 2) call.template tile<1, 2>(row, 1, t, depth, nullptr);
    if (left == 3) call.template tile<1, 3>(row, 1, t, depth, nullptr);
    if (left >= 4) call.template tile<1, 4>(row, 1, t, depth, nullptr);
    t += left >= 4 ? 4 : left;
  }
}

}  // namespace

template <class W>
void linear_rows_streaming_avx2(const LinearArgs<W>& args, const float* streaming_in, int64_t row_begin,
                                int64_t row_end) {
  // The four rows of a tile come from the four quarters of the range, so memory is read as
  // four long sequential streams: DRAM delivers about 15% more that way than when the four
  // rows are neighbours and each stream ends after one row.
  const StreamingCall<W> call{args, streaming_in};
  const int64_t quarter = (row_end - row_begin) / 4;
  for (int64_t i = 0; i < quarter; ++i) {
    const int64_t row = row_begin + i;
    four_rows(call, row, quarter, i + 1 < quarter ? args.weight + (row + 1) * args.num_inputs : nullptr);
  }
  for (int64_t row = row_begin + 4 * quarter; row < row_end; ++row) one_row(call, row);
}

template void linear_rows_streaming_avx2<float>(const LinearArgs<float>&, const float*, int64_t, int64_t);
template void linear_rows_streaming_avx2<bf16>(const LinearArgs<bf16>&, const float*, int64_t, int64_t);
template void linear_rows_streaming_avx2<f16>(const LinearArgs<f16>&, const float*, int64_t, int64_t);
#endif

}  // namespace hanlin::cpu
