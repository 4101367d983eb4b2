// Sampling on the GPU: a token drawn from a bf16 logits row where it lies, so a step copies
// token ids back instead of logits rows. The draw is the host sampler's (engine/sampler.h) for
// a row that needs no processing (no bias, penalty or ban): greedy, or temperature, then top-k
// (ties with the k-th kept), top-p over the top-k mass, min-p, and the inverse CDF of the
// uniform `u` over the kept tokens in draw order (most likely first, ties by lower id).
//
// Compiled only when the build has CUDA (HANLIN_CUDA); this header needs no CUDA headers.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::cuda {

// One draw: which row, the parameters, the uniform. Plain data, copied to the device as is.
struct DrawParams {
  int32_t row = 0;           // row of the logits
  int32_t top_k = 0;         // <= 0: off
  double temperature = 0;    // 0: greedy
  double top_p = 1;          // 1: off
  double min_p = 0;          // 0: off
  double u = 0;              // in [0, 1)
};

enum class DrawStatus : int32_t {
  kDrawn = 0,
  kNaN = 1,        // the row holds NaN
  kNoFinite = 2,   // no token has a finite logit (all -inf, or +inf)
  kLeftToHost = 3,  // a logit value repeats too often for the kernel's counters: draw on the host
};

struct DrawResult {
  int32_t token_id = -1;
  DrawStatus status = DrawStatus::kLeftToHost;
};

// results[i] = the draw draws[i] makes from logits [rows, vocab] bf16 (a device tensor).
// draws and results are device arrays of num_draws entries; each row index must be in range.
void sample_rows(DrawResult* results, const DrawParams* draws, int64_t num_draws, const Tensor& logits,
                 Stream stream);

}  // namespace hanlin::cuda
