// Sampling on the GPU: a token drawn from a bf16 logits row where it lies, so a step copies
// token ids back instead of logits rows. The draw is the host sampler's (engine/sampler.h): the
// row's processing (logit bias, repetition penalty, presence and frequency penalties, banned
// tokens), then greedy, or temperature, then top-k (ties with the k-th kept), top-p over the
// top-k mass, min-p, and the inverse CDF of the uniform `u` over the kept tokens in draw order
// (most likely first, ties by lower id). Logprobs too: the drawn token's and the most likely
// tokens' log-softmax of the raw row.
//
// Processing arrives as edits: one per token it touches, computed by the host from the request
// (engine::append_logit_edits). The kernel applies them with the host's float and double
// operations, in the host's order, so the processed row is the host's bit for bit.
//
// Compiled only when the build has CUDA (HANLIN_CUDA); this header needs no CUDA headers.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::cuda {

// One draw: which row, its processing, the parameters, the uniform. Plain data, copied to the
// device as is.
struct DrawParams {
  int32_t row = 0;           // row of the logits
  int32_t top_k = 0;         // <= 0: off
  double temperature = 0;    // 0: greedy
  double top_p = 1;          // 1: off
  double min_p = 0;          // 0: off
  double u = 0;              // in [0, 1)
  int32_t first_edit = 0;    // the row's edits: edits[first_edit, first_edit + num_edits)
  int32_t num_edits = 0;
  double repetition_penalty = 1;
  double presence_penalty = 0;
  double frequency_penalty = 0;
  int32_t num_logprobs = -1;  // < 0: none; else the drawn token's logprob and this many top ones
  int32_t unused = 0;         // padding, zeroed: the struct is copied to the device byte for byte
};

// A token whose logit the row's processing changes, and what changes it. Applied in the host
// sampler's order: + bias (kEditBias); the repetition penalty (kEditRepetition: the token is in
// the prompt or the output); − (frequency_penalty × output_count + presence_penalty) when
// output_count > 0; −inf (kEditBan). A row's edits name each token at most once.
struct LogitEdit {
  int32_t id = 0;
  uint32_t flags = 0;
  float bias = 0;
  int32_t output_count = 0;
};
constexpr uint32_t kEditBias = 1;
constexpr uint32_t kEditRepetition = 2;
constexpr uint32_t kEditBan = 4;

enum class DrawStatus : int32_t {
  kDrawn = 0,
  kNaN = 1,        // the row holds NaN
  kNoFinite = 2,   // no token has a finite logit (all -inf, or +inf)
  kLeftToHost = 3,  // beyond the kernel's limits (see sample_rows): draw on the host
};

struct DrawResult {
  int32_t token_id = -1;
  DrawStatus status = DrawStatus::kLeftToHost;
};

// A draw's logprobs (when it asks): log-softmax of the raw row (before processing), as the
// host sampler reports them. The top ones are in draw order.
constexpr int kMaxTopLogprobs = 20;
struct DrawLogprobs {
  float sampled = 0;
  int32_t num_top = 0;
  int32_t top_ids[kMaxTopLogprobs] = {};
  float top_logprobs[kMaxTopLogprobs] = {};
};

// results[i] = the draw draws[i] makes from logits [rows, vocab] bf16 (a device tensor), and
// logprobs[i] its logprobs when it asks for them (logprobs may be null when no draw does).
// draws, results and logprobs are device arrays of num_draws entries; each row index must be in
// range. edits is a device array of num_edits entries (null when there are none) that the draws'
// edit ranges index. A draw is left to the host (kLeftToHost) when one logit value repeats 65,536
// times or more in its row, when its processing leaves more than kMaxOffGridLogits logits off
// the bf16 grid, when an edit names a token outside the row, or when it asks for logprobs of a
// raw row holding NaN or +inf (the host reports the error) or for more than kMaxTopLogprobs.
void sample_rows(DrawResult* results, DrawLogprobs* logprobs, const DrawParams* draws, int64_t num_draws,
                 const LogitEdit* edits, int64_t num_edits, const Tensor& logits, Stream stream);

// How many processed logits of one row may fall between bf16 values (a repetition penalty
// makes most of the tokens it touches do so) before the row is left to the host.
constexpr int64_t kMaxOffGridLogits = 4096;

}  // namespace hanlin::cuda
