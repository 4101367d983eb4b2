// The inner loops of paged attention (see attention_kernels.h): scores of a tile of K rows
// against a batch of query vectors, softmax numerators, the weighted sum of a tile of V rows,
// and the block-table walk. The AVX2 versions are templated on the batch size so the
// accumulators stay in registers.
#include "kernels/cpu/attention_kernels.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/simd.h"

namespace hanlin::cpu {
namespace {

void score_tile_scalar(float* scores, int64_t stride, const QueryBatch& batch, const float* const* rows,
                       int64_t num_rows, int64_t p0, int64_t head_dim, float scale) {
  for (int i = 0; i < batch.count; ++i) {
    for (int64_t r = 0; r < num_rows; ++r) {
      float partial[8] = {};
      for (int64_t d = 0; d < head_dim; ++d) partial[d % 8] += batch.q[i][d] * rows[r][d];
      float dot = 0;
      for (const float value : partial) dot += value;
      scores[i * stride + p0 + r] = dot * scale;
    }
  }
}

void accumulate_tile_scalar(float* acc, int64_t acc_stride, const float* weights, int64_t stride, int count,
                            const float* const* rows, int64_t num_rows, int64_t p0, int64_t head_dim) {
  for (int i = 0; i < count; ++i) {
    for (int64_t r = 0; r < num_rows; ++r) {
      const float weight = weights[i * stride + p0 + r];
      for (int64_t d = 0; d < head_dim; ++d) acc[i * acc_stride + d] += weight * rows[r][d];
    }
  }
}

SoftmaxStats softmax_numerators_scalar(float* scores, int64_t last, int64_t max_last) {
  float max_score = -INFINITY;
  for (int64_t p = 0; p <= last; ++p) max_score = std::max(max_score, scores[p]);
  float sum = 0;
  for (int64_t p = 0; p <= last; ++p) {
    scores[p] = std::exp(scores[p] - max_score);
    sum += scores[p];
  }
  std::fill(scores + last + 1, scores + max_last + 1, 0.0f);
  return {max_score, sum};
}

#if HANLIN_X86_KERNELS

// Eight floats, or only the lanes in `mask` (the rest read as 0) for a row's last chunk.
HANLIN_AVX2 inline __m256 load_or_mask(const float* p, __m256i mask, bool is_tail) {
  return is_tail ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

// Positions scored per step: with few query vectors, several positions at once, so at least
// eight independent FMA chains hide the FMA latency.
constexpr int positions_per_step(int count) {
  return count == 1 ? 8 : count == 2 ? 4 : count <= 4 ? 2 : 1;
}

// scores for rows [r, r + kPositions) of the tile against the kCount query vectors.
template <int kCount, int kPositions>
HANLIN_AVX2 void score_rows(float* __restrict__ scores, int64_t stride, const QueryBatch& batch,
                            const float* const* rows, int64_t r, int64_t p0, int64_t head_dim, float scale) {
  __m256 acc[kPositions][kCount];
#pragma GCC unroll 8
  for (int j = 0; j < kPositions; ++j) {
#pragma GCC unroll 8
    for (int i = 0; i < kCount; ++i) acc[j][i] = _mm256_setzero_ps();
  }
  for (int64_t d = 0; d < head_dim; d += 8) {
    const bool is_tail = d + 8 > head_dim;
    const __m256i mask = avx2::tail_mask(head_dim - d);
#pragma GCC unroll 8
    for (int j = 0; j < kPositions; ++j) {
      const __m256 key = load_or_mask(rows[r + j] + d, mask, is_tail);
#pragma GCC unroll 8
      for (int i = 0; i < kCount; ++i) {
        acc[j][i] = _mm256_fmadd_ps(load_or_mask(batch.q[i] + d, mask, is_tail), key, acc[j][i]);
      }
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < kPositions; ++j) {
#pragma GCC unroll 8
    for (int i = 0; i < kCount; ++i)
      scores[i * stride + p0 + r + j] = avx2::horizontal_sum(acc[j][i]) * scale;
  }
}

template <int kCount>
HANLIN_AVX2 void score_tile_fixed(float* scores, int64_t stride, const QueryBatch& batch,
                                  const float* const* rows, int64_t num_rows, int64_t p0, int64_t head_dim,
                                  float scale) {
  constexpr int kPositions = positions_per_step(kCount);
  int64_t r = 0;
  for (; r + kPositions <= num_rows; r += kPositions) {
    score_rows<kCount, kPositions>(scores, stride, batch, rows, r, p0, head_dim, scale);
  }
  for (; r < num_rows; ++r) score_rows<kCount, 1>(scores, stride, batch, rows, r, p0, head_dim, scale);
}

// Output dimensions handled per sweep over the tile's rows: with few query vectors, several
// 8-wide strips at once, again for enough independent FMA chains.
constexpr int strips_per_sweep(int count) {
  return count <= 2 ? 4 : count <= 4 ? 2 : 1;
}

// acc[i][d, d + 8·kStrips) += Σ_r weights[i][p0 + r] · rows[r][d, …) over the whole tile.
template <int kCount, int kStrips>
HANLIN_AVX2 void accumulate_strips(float* __restrict__ acc, int64_t acc_stride,
                                   const float* __restrict__ weights, int64_t stride,
                                   const float* const* rows, int64_t num_rows, int64_t p0, int64_t d,
                                   int64_t head_dim) {
  __m256 sum[kCount][kStrips];
  const bool is_tail = d + 8 * kStrips > head_dim;
  __m256i mask[kStrips];
#pragma GCC unroll 8
  for (int s = 0; s < kStrips; ++s) mask[s] = avx2::tail_mask(head_dim - d - 8 * s);
#pragma GCC unroll 8
  for (int i = 0; i < kCount; ++i) {
#pragma GCC unroll 8
    for (int s = 0; s < kStrips; ++s) sum[i][s] = _mm256_loadu_ps(acc + i * acc_stride + d + 8 * s);
  }
  for (int64_t r = 0; r < num_rows; ++r) {
#pragma GCC unroll 8
    for (int s = 0; s < kStrips; ++s) {
      const __m256 value = load_or_mask(rows[r] + d + 8 * s, mask[s], is_tail);
#pragma GCC unroll 8
      for (int i = 0; i < kCount; ++i) {
        sum[i][s] = _mm256_fmadd_ps(_mm256_broadcast_ss(weights + i * stride + p0 + r), value, sum[i][s]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < kCount; ++i) {
#pragma GCC unroll 8
    for (int s = 0; s < kStrips; ++s) _mm256_storeu_ps(acc + i * acc_stride + d + 8 * s, sum[i][s]);
  }
}

template <int kCount>
HANLIN_AVX2 void accumulate_tile_fixed(float* acc, int64_t acc_stride, const float* weights, int64_t stride,
                                       const float* const* rows, int64_t num_rows, int64_t p0,
                                       int64_t head_dim) {
  constexpr int kStrips = strips_per_sweep(kCount);
  for (int64_t d = 0; d < head_dim; d += 8 * kStrips) {
    accumulate_strips<kCount, kStrips>(acc, acc_stride, weights, stride, rows, num_rows, p0, d, head_dim);
  }
}

void score_tile_avx2(float* scores, int64_t stride, const QueryBatch& batch, const float* const* rows,
                     int64_t num_rows, int64_t p0, int64_t head_dim, float scale) {
  switch (batch.count) {
    case 1:
      return score_tile_fixed<1>(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
    case 2:
      return score_tile_fixed<2>(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
    case 3:
      return score_tile_fixed<3>(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
    case 4:
      return score_tile_fixed<4>(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
    case 5:
      return score_tile_fixed<5>(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
    case 6:
      return score_tile_fixed<6>(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
    case 7:
      return score_tile_fixed<7>(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
    default:
      return score_tile_fixed<8>(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
  }
}

void accumulate_tile_avx2(float* acc, int64_t acc_stride, const float* weights, int64_t stride, int count,
                          const float* const* rows, int64_t num_rows, int64_t p0, int64_t head_dim) {
  switch (count) {
    case 1:
      return accumulate_tile_fixed<1>(acc, acc_stride, weights, stride, rows, num_rows, p0, head_dim);
    case 2:
      return accumulate_tile_fixed<2>(acc, acc_stride, weights, stride, rows, num_rows, p0, head_dim);
    case 3:
      return accumulate_tile_fixed<3>(acc, acc_stride, weights, stride, rows, num_rows, p0, head_dim);
    case 4:
      return accumulate_tile_fixed<4>(acc, acc_stride, weights, stride, rows, num_rows, p0, head_dim);
    case 5:
      return accumulate_tile_fixed<5>(acc, acc_stride, weights, stride, rows, num_rows, p0, head_dim);
    case 6:
      return accumulate_tile_fixed<6>(acc, acc_stride, weights, stride, rows, num_rows, p0, head_dim);
    case 7:
      return accumulate_tile_fixed<7>(acc, acc_stride, weights, stride, rows, num_rows, p0, head_dim);
    default:
      return accumulate_tile_fixed<8>(acc, acc_stride, weights, stride, rows, num_rows, p0, head_dim);
  }
}

HANLIN_AVX2 SoftmaxStats softmax_numerators_avx2(float* scores, int64_t last, int64_t max_last) {
  const int64_t count = last + 1;
  __m256 max8 = _mm256_set1_ps(-INFINITY);
  int64_t p = 0;
  for (; p + 8 <= count; p += 8) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(scores + p));
  float max_score = -INFINITY;
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, max8);
  for (const float lane : lanes) max_score = std::max(max_score, lane);
  for (int64_t tail = p; tail < count; ++tail) max_score = std::max(max_score, scores[tail]);

  const __m256 shift = _mm256_set1_ps(max_score);
  __m256 sum8 = _mm256_setzero_ps();
  for (p = 0; p + 8 <= count; p += 8) {
    const __m256 numerator = avx2::exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + p), shift));
    _mm256_storeu_ps(scores + p, numerator);
    sum8 = _mm256_add_ps(sum8, numerator);
  }
  if (p < count) {
    const __m256i mask = avx2::tail_mask(count - p);
    const __m256 numerator = _mm256_and_ps(
        avx2::exp8(_mm256_sub_ps(_mm256_maskload_ps(scores + p, mask), shift)), _mm256_castsi256_ps(mask));
    _mm256_maskstore_ps(scores + p, mask, numerator);
    sum8 = _mm256_add_ps(sum8, numerator);
  }
  std::fill(scores + count, scores + max_last + 1, 0.0f);
  return {max_score, avx2::horizontal_sum(sum8)};
}

#endif  // HANLIN_X86_KERNELS

}  // namespace

void score_tile(Isa isa, float* scores, int64_t stride, const QueryBatch& batch, const float* const* rows,
                int64_t num_rows, int64_t p0, int64_t head_dim, float scale) {
#if HANLIN_X86_KERNELS
  if (isa == Isa::kAvx2) return score_tile_avx2(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
#endif
  (void)isa;
  score_tile_scalar(scores, stride, batch, rows, num_rows, p0, head_dim, scale);
}

void accumulate_tile(Isa isa, float* acc, int64_t acc_stride, const float* weights, int64_t stride, int count,
                     const float* const* rows, int64_t num_rows, int64_t p0, int64_t head_dim) {
#if HANLIN_X86_KERNELS
  if (isa == Isa::kAvx2) {
    return accumulate_tile_avx2(acc, acc_stride, weights, stride, count, rows, num_rows, p0, head_dim);
  }
#endif
  (void)isa;
  accumulate_tile_scalar(acc, acc_stride, weights, stride, count, rows, num_rows, p0, head_dim);
}

SoftmaxStats softmax_numerators(Isa isa, float* scores, int64_t last, int64_t max_last) {
#if HANLIN_X86_KERNELS
  if (isa == Isa::kAvx2) return softmax_numerators_avx2(scores, last, max_last);
#endif
  (void)isa;
  return softmax_numerators_scalar(scores, last, max_last);
}

void gather_rows(const float** rows, const float* cache, const AttentionProblem& problem,
                 std::span<const int32_t> block_table, int64_t kv_head, int64_t p0, int64_t count) {
  if (count <= 0) return;
  const int64_t row_stride = problem.kv_heads * problem.head_dim;
  const float* head_cache = cache + kv_head * problem.head_dim;
  int64_t block = p0 / problem.block_size;
  int64_t offset = p0 % problem.block_size;
  const float* row =
      head_cache + (block_table[static_cast<size_t>(block)] * problem.block_size + offset) * row_stride;
  for (int64_t i = 0;;) {
    rows[i] = row;
    if (++i == count) return;
    if (++offset < problem.block_size) {
      row += row_stride;
    } else {
      offset = 0;
      row = head_cache + block_table[static_cast<size_t>(++block)] * problem.block_size * row_stride;
    }
  }
}

}  // namespace hanlin::cpu
