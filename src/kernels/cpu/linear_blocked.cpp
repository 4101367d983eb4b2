// The AVX2 linear kernel for many tokens (prefill): a cache-blocked matrix product. For each
// depth block of kDepthBlock inputs, a panel of 16 weight rows is widened to f32 and transposed
// once into an L1-resident buffer [depth][16]; a 6-token × 16-output micro-kernel (12 FMA
// accumulators) then sweeps every token of the token block over it.
#include <algorithm>

#include "kernels/cpu/linear_kernels.h"
#include "kernels/cpu/simd.h"

#if HANLIN_X86_KERNELS

namespace hanlin::cpu {
namespace {

constexpr int64_t kDepthBlock = 256;  // packed panel: 256 × 16 f32 = 16 KiB, half of L1
constexpr int64_t kTokenBlock = 384;  // input slice: 384 × 256 f32 = 384 KiB, in L2
constexpr int kTileTokens = 6;        // 6 × 2 accumulators + 2 weight vectors + 1 broadcast ≤ 16 registers
constexpr int kPanel = static_cast<int>(kGemmPanelRows);

// 8×8 transpose of rows[0..8) in place: rows[i][j] ↔ rows[j][i].
HANLIN_AVX2 inline void transpose8x8(__m256 rows[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(rows[0], rows[1]);
  const __m256 t1 = _mm256_unpackhi_ps(rows[0], rows[1]);
  const __m256 t2 = _mm256_unpacklo_ps(rows[2], rows[3]);
  const __m256 t3 = _mm256_unpackhi_ps(rows[2], rows[3]);
  const __m256 t4 = _mm256_unpacklo_ps(rows[4], rows[5]);
  const __m256 t5 = _mm256_unpackhi_ps(rows[4], rows[5]);
  const __m256 t6 = _mm256_unpacklo_ps(rows[6], rows[7]);
  const __m256 t7 = _mm256_unpackhi_ps(rows[6], rows[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44);
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44);
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44);
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44);
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  rows[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  rows[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  rows[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  rows[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  rows[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  rows[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  rows[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  rows[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// packed[k * 16 + j] = weight[j, k] for k < depth, j < num_rows; rows past num_rows are zero.
// weight: num_rows rows of stride `stride`, starting at the block's first input.
template <class W>
HANLIN_AVX2 void pack_panel(float* __restrict__ packed, const W* __restrict__ weight, int64_t stride,
                            int64_t num_rows, int64_t depth) {
  int64_t k = 0;
  if (num_rows == kPanel) {
    for (; k + 8 <= depth; k += 8) {
      for (int half = 0; half < 2; ++half) {
        __m256 rows[8];
        for (int j = 0; j < 8; ++j) rows[j] = avx2::load8(weight + (half * 8 + j) * stride + k);
        transpose8x8(rows);
        for (int i = 0; i < 8; ++i) _mm256_store_ps(packed + (k + i) * kPanel + half * 8, rows[i]);
      }
    }
  }
  for (; k < depth; ++k) {
    for (int64_t j = 0; j < kPanel; ++j)
      packed[k * kPanel + j] = j < num_rows ? to_f32(weight[j * stride + k]) : 0.0f;
  }
}

// c[m, 0..num_cols) = (is_first_block ? bias or 0 : c[m, ·]) + tile[m, ·] for m < num_rows.
HANLIN_AVX2 void add_tile(float* __restrict__ c, int64_t c_stride, const float* __restrict__ tile,
                          int num_rows, int64_t num_cols, bool is_first_block, const float* bias) {
  alignas(32) float base[kPanel] = {};
  if (is_first_block && bias) std::copy(bias, bias + num_cols, base);
  for (int m = 0; m < num_rows; ++m) {
    float* row = c + m * c_stride;
    const float* sums = tile + m * kPanel;
    if (num_cols == kPanel) {
      const __m256 base_low = is_first_block ? _mm256_load_ps(base) : _mm256_loadu_ps(row);
      const __m256 base_high = is_first_block ? _mm256_load_ps(base + 8) : _mm256_loadu_ps(row + 8);
      _mm256_storeu_ps(row, _mm256_add_ps(base_low, _mm256_load_ps(sums)));
      _mm256_storeu_ps(row + 8, _mm256_add_ps(base_high, _mm256_load_ps(sums + 8)));
    } else {
      for (int64_t j = 0; j < num_cols; ++j) row[j] = (is_first_block ? base[j] : row[j]) + sums[j];
    }
  }
}

// c[m, 0..num_cols) (=|+=) Σ_k a[m, k] · packed[k, :] for m < kTokens, plus bias on the first
// depth block. a: [kTokens] rows of stride a_stride; c: rows of stride c_stride.
template <int kTokens>
HANLIN_AVX2 void micro_kernel(float* __restrict__ c, int64_t c_stride, const float* __restrict__ a,
                              int64_t a_stride, const float* __restrict__ packed, int64_t depth,
                              int64_t num_cols, bool is_first_block, const float* bias) {
  __m256 acc_low[kTokens];
  __m256 acc_high[kTokens];
#pragma GCC unroll 8
  for (int m = 0; m < kTokens; ++m) acc_low[m] = acc_high[m] = _mm256_setzero_ps();
  for (int64_t k = 0; k < depth; ++k) {
    const __m256 b_low = _mm256_load_ps(packed + k * kPanel);
    const __m256 b_high = _mm256_load_ps(packed + k * kPanel + 8);
#pragma GCC unroll 8
    for (int m = 0; m < kTokens; ++m) {
      const __m256 a_value = _mm256_broadcast_ss(a + m * a_stride + k);
      acc_low[m] = _mm256_fmadd_ps(a_value, b_low, acc_low[m]);
      acc_high[m] = _mm256_fmadd_ps(a_value, b_high, acc_high[m]);
    }
  }
  // Spill the tile once through a constant-indexed loop: indexing the accumulators with a
  // run-time row below would make the compiler keep them in memory inside the k loop.
  alignas(32) float tile[kTokens][kPanel];
#pragma GCC unroll 8
  for (int m = 0; m < kTokens; ++m) {
    _mm256_store_ps(tile[m], acc_low[m]);
    _mm256_store_ps(tile[m] + 8, acc_high[m]);
  }
  add_tile(c, c_stride, &tile[0][0], kTokens, num_cols, is_first_block, bias);
}

// Runs the micro-kernel over tokens [token_begin, token_end) for one packed panel.
HANLIN_AVX2 void sweep_tokens(float* c, int64_t c_stride, const float* a, int64_t a_stride,
                              const float* packed, int64_t depth, int64_t num_cols, bool is_first_block,
                              const float* bias, int64_t num_tokens) {
  int64_t m = 0;
  for (; m + kTileTokens <= num_tokens; m += kTileTokens) {
    micro_kernel<kTileTokens>(c + m * c_stride, c_stride, a + m * a_stride, a_stride, packed, depth, num_cols,
                              is_first_block, bias);
  }
  const float* a_rest = a + m * a_stride;
  float* c_rest = c + m * c_stride;
  switch (num_tokens - m) {
    case 5:
      return micro_kernel<5>(c_rest, c_stride, a_rest, a_stride, packed, depth, num_cols, is_first_block,
                             bias);
    case 4:
      return micro_kernel<4>(c_rest, c_stride, a_rest, a_stride, packed, depth, num_cols, is_first_block,
                             bias);
    case 3:
      return micro_kernel<3>(c_rest, c_stride, a_rest, a_stride, packed, depth, num_cols, is_first_block,
                             bias);
    case 2:
      return micro_kernel<2>(c_rest, c_stride, a_rest, a_stride, packed, depth, num_cols, is_first_block,
                             bias);
    case 1:
      return micro_kernel<1>(c_rest, c_stride, a_rest, a_stride, packed, depth, num_cols, is_first_block,
                             bias);
    default:
      return;
  }
}

}  // namespace

template <class W>
void linear_rows_blocked_avx2(const LinearArgs<W>& args, int64_t row_begin, int64_t row_end) {
  alignas(64) float packed[kDepthBlock * kPanel];
  const int64_t width = args.num_inputs;
  for (int64_t t0 = 0; t0 < args.num_tokens; t0 += kTokenBlock) {
    const int64_t num_tokens = std::min(kTokenBlock, args.num_tokens - t0);
    for (int64_t k0 = 0; k0 < width; k0 += kDepthBlock) {
      const int64_t depth = std::min(kDepthBlock, width - k0);
      for (int64_t n0 = row_begin; n0 < row_end; n0 += kPanel) {
        const int64_t num_cols = std::min<int64_t>(kPanel, row_end - n0);
        pack_panel(packed, args.weight + n0 * width + k0, width, num_cols, depth);
        sweep_tokens(args.out + t0 * args.num_outputs + n0, args.num_outputs, args.in + t0 * width + k0,
                     width, packed, depth, num_cols, k0 == 0, args.bias ? args.bias + n0 : nullptr,
                     num_tokens);
      }
    }
  }
}

template void linear_rows_blocked_avx2<float>(const LinearArgs<float>&, int64_t, int64_t);
template void linear_rows_blocked_avx2<bf16>(const LinearArgs<bf16>&, int64_t, int64_t);
template void linear_rows_blocked_avx2<f16>(const LinearArgs<f16>&, int64_t, int64_t);

}  // namespace hanlin::cpu

#endif  // HANLIN_X86_KERNELS
