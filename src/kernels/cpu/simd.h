// AVX2 building blocks shared by the CPU kernels: 8-lane loads of f32/bf16/f16 as f32, sums
// across lanes and a vector exp. Every function is compiled for AVX2+FMA+F16C on its own
// (function-level target), so the rest of the binary still runs on any x86-64; callers reach
// them only after active_isa() says kAvx2.
#pragma once

#include <cstdint>

#include "core/dtype.h"

// The AVX2 code paths exist only on x86-64; defining HANLIN_PORTABLE_KERNELS leaves them out
// there too, which is how the build for other processors is checked on an x86 machine.
#if defined(__x86_64__) && !defined(HANLIN_PORTABLE_KERNELS)
#define HANLIN_X86_KERNELS 1
#else
#define HANLIN_X86_KERNELS 0
#endif

#if HANLIN_X86_KERNELS
#include <immintrin.h>

// A function attribute, not a compile flag, so one binary carries both code paths.
#define HANLIN_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace hanlin::cpu::avx2 {

HANLIN_AVX2 inline __m256 load8(const float* p) {
  return _mm256_loadu_ps(p);
}

// bf16 is the top half of an f32: widen to 32 bits and shift into place.
HANLIN_AVX2 inline __m256 load8(const bf16* p) {
  const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
}

HANLIN_AVX2 inline __m256 load8(const f16* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

HANLIN_AVX2 inline float horizontal_sum(__m256 v) {
  const __m128 pairs = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 halves = _mm_add_ps(pairs, _mm_movehl_ps(pairs, pairs));
  return _mm_cvtss_f32(_mm_add_ss(halves, _mm_movehdup_ps(halves)));
}

// The four lane sums of a, b, c, d, in that order.
HANLIN_AVX2 inline __m128 horizontal_sum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_hadd_ps(a, b);  // a01 a23 b01 b23 | a45 a67 b45 b67
  const __m256 cd = _mm256_hadd_ps(c, d);
  const __m256 abcd = _mm256_hadd_ps(ab, cd);  // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// exp(x) to about 2 ulp for x in [-87, 88]; below that it flushes toward 0 (2^-126 scale),
// which is what softmax and SiLU need. Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, then
// a degree-7 Taylor polynomial (truncation error r⁸/8! < 6e-9, below f32 rounding).
HANLIN_AVX2 inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2 high part: exact product
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);      // ln2 low part
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i scale =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(scale));
}

// Mask selecting the first `count` (0..8) lanes, for loads and stores of a row's tail.
HANLIN_AVX2 inline __m256i tail_mask(int64_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace hanlin::cpu::avx2

#endif  // HANLIN_X86_KERNELS
