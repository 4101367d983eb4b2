// The physical limits a benchmark figure is measured against (GPU.md): decode is bound by the
// bytes each step reads, prefill by the FLOPs it computes. Costs come from the model's shape
// alone, so they are the same for dummy and real weights.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "io/model_config.h"

namespace hanlin::cli {

// The peak rates of the GPU host (GPU.md: H100 SXM, measured).
struct GpuPeaks {
  double bandwidth_bytes_per_second = 3.0e12;  // device-to-device copy, bytes read + written
  double matrix_flops_per_second = 800e12;     // bf16 8192³ product
};

// What one token costs, from the shape. Weights are bf16 (2 bytes), as hanlin runs them.
struct ShapeCosts {
  int64_t layer_parameters = 0;        // every decoder layer: attention, MLP, norms, biases
  int64_t lm_head_parameters = 0;      // vocab × hidden: read whole for logits, tied or not
  int64_t weight_bytes_per_step = 0;   // layers + final norm + lm_head; not the embedding (gathered)
  int64_t kv_bytes_per_token = 0;      // K and V of one token in every layer, bf16
  int64_t attention_flops_factor = 0;  // 4 · layers · heads · head_dim: × query rows × keys attended
};

ShapeCosts shape_costs(const io::ModelConfig& config);

// 2 · layer parameters: the FLOPs of one token through the layers' matrices.
int64_t layer_flops_per_token(const ShapeCosts& costs);

// FLOPs of prefilling `num_new_tokens` after `num_cached_tokens` already in the KV cache, for
// one sequence: the layers for every new token, causal attention over the cached and new keys,
// and the lm_head for the one row that needs logits.
double prefill_flops(const ShapeCosts& costs, int64_t num_new_tokens, int64_t num_cached_tokens);

// The least time that prefill can take: the FLOPs at the matrix rate, or reading the weights
// once if that is longer. For `batch_size` sequences prefilled in one step.
double prefill_floor_seconds(const ShapeCosts& costs, const GpuPeaks& peaks, int64_t num_new_tokens,
                             int64_t num_cached_tokens, int64_t batch_size);

// The least time one decode step of `batch_size` sequences at `context_len` tokens can take:
// reading the weights and every sequence's KV rows, or its FLOPs if that is longer.
double decode_step_floor_seconds(const ShapeCosts& costs, const GpuPeaks& peaks, int64_t batch_size,
                                 int64_t context_len);

// The costs, peaks and floors of a run (prefill of input_len after cached_len; decode of
// output_len - 1 steps at the mean context), as the `limits` object of a benchmark's JSON.
nlohmann::json limits_json(const ShapeCosts& costs, const GpuPeaks& peaks, int64_t input_len,
                           int64_t output_len, int64_t cached_len, int64_t batch_size);

}  // namespace hanlin::cli
