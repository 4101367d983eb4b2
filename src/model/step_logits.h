// What a step asks of its logits rows besides computing them, and what it gets back: tokens
// drawn where the logits are (on the GPU, cuda::sample_rows), and the rows the caller samples
// itself, copied to the host as f32. A step whose rows are all drawn on the GPU copies token ids
// back instead of 600 KB per row (Qwen's 151,936 logits).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "kernels/cuda/sampling.h"

namespace hanlin::model {

// A draw's `row` indexes BatchView::logits_rows.
using TokenDraw = cuda::DrawParams;
using DrawResult = cuda::DrawResult;
using DrawStatus = cuda::DrawStatus;
using LogitEdit = cuda::LogitEdit;
using DrawLogprobs = cuda::DrawLogprobs;

struct StepSampling {
  std::vector<TokenDraw> draws;
  std::vector<LogitEdit> edits;  // the draws' processing: each draw's edit range indexes it
  // Per logits row: 1 when the caller wants it on the host. Empty: every row.
  std::vector<uint8_t> host_rows;
};

struct StepLogits {
  Tensor logits;                  // f32 [rows returned, vocab] on the host
  std::vector<int32_t> host_row;  // per logits row: its row in `logits`, or -1 when not returned
  // Per draw. kLeftToHost: not drawn (a model on the CPU draws nothing), and its row is returned.
  std::vector<DrawResult> draws;
  // Per draw, when any draw of the step asks for logprobs (else empty); filled for those that do.
  std::vector<DrawLogprobs> logprobs;
};

}  // namespace hanlin::model
