// Physical limits of a model shape: bytes read per decode step, FLOPs per prefill (GPU.md).
#include "cli/bench_limits.h"

#include <algorithm>

namespace hanlin::cli {
namespace {

constexpr int64_t kWeightBytes = 2;  // bf16
constexpr int64_t kKvBytes = 2;      // bf16 K/V pools on the GPU

int64_t attention_parameters(const io::ModelConfig& config) {
  const int64_t q_width = config.num_attention_heads * config.head_dim;
  const int64_t kv_width = config.num_key_value_heads * config.head_dim;
  const int64_t projections = config.hidden_size * (q_width + 2 * kv_width) + q_width * config.hidden_size;
  const int64_t biases = config.attention_bias ? q_width + 2 * kv_width : 0;
  const int64_t qk_norms = config.qk_norm ? 2 * config.head_dim : 0;
  return projections + biases + qk_norms;
}

int64_t mlp_parameters(const io::ModelConfig& config) {
  return 3 * config.hidden_size * config.intermediate_size;
}

}  // namespace

ShapeCosts shape_costs(const io::ModelConfig& config) {
  ShapeCosts costs;
  const int64_t norms = 2 * config.hidden_size;  // input and post-attention RMSNorm
  costs.layer_parameters =
      config.num_hidden_layers * (attention_parameters(config) + mlp_parameters(config) + norms);
  costs.lm_head_parameters = config.vocab_size * config.hidden_size;
  const int64_t final_norm = config.hidden_size;
  costs.weight_bytes_per_step =
      kWeightBytes * (costs.layer_parameters + final_norm + costs.lm_head_parameters);
  costs.kv_bytes_per_token =
      2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * kKvBytes;
  costs.attention_flops_factor = 4 * config.num_hidden_layers * config.num_attention_heads * config.head_dim;
  return costs;
}

int64_t layer_flops_per_token(const ShapeCosts& costs) {
  return 2 * costs.layer_parameters;
}

double prefill_flops(const ShapeCosts& costs, int64_t num_new_tokens, int64_t num_cached_tokens) {
  const double new_tokens = static_cast<double>(num_new_tokens);
  // Causal: new token i attends to the cached keys and the i new ones before it and itself.
  const double keys_attended = new_tokens * (static_cast<double>(num_cached_tokens) + new_tokens / 2);
  return static_cast<double>(layer_flops_per_token(costs)) * new_tokens +
         static_cast<double>(costs.attention_flops_factor) * keys_attended +
         2.0 * static_cast<double>(costs.lm_head_parameters);
}

double prefill_floor_seconds(const ShapeCosts& costs, const GpuPeaks& peaks, int64_t num_new_tokens,
                             int64_t num_cached_tokens, int64_t batch_size) {
  const double flops =
      static_cast<double>(batch_size) * prefill_flops(costs, num_new_tokens, num_cached_tokens);
  const double compute = flops / peaks.matrix_flops_per_second;
  const double memory = static_cast<double>(costs.weight_bytes_per_step) / peaks.bandwidth_bytes_per_second;
  return std::max(compute, memory);
}

double decode_step_floor_seconds(const ShapeCosts& costs, const GpuPeaks& peaks, int64_t batch_size,
                                 int64_t context_len) {
  const double sequences = static_cast<double>(batch_size);
  const double context = static_cast<double>(context_len);
  const double bytes = static_cast<double>(costs.weight_bytes_per_step) +
                       sequences * context * static_cast<double>(costs.kv_bytes_per_token);
  const double flops = sequences * (static_cast<double>(layer_flops_per_token(costs)) +
                                    2.0 * static_cast<double>(costs.lm_head_parameters) +
                                    static_cast<double>(costs.attention_flops_factor) * context);
  return std::max(bytes / peaks.bandwidth_bytes_per_second, flops / peaks.matrix_flops_per_second);
}

nlohmann::json limits_json(const ShapeCosts& costs, const GpuPeaks& peaks, int64_t input_len,
                           int64_t output_len, int64_t cached_len, int64_t batch_size) {
  // Decode step j (1 .. output_len - 1) attends to cached + input + j keys: the mean is about this.
  const int64_t decode_context = cached_len + input_len + output_len / 2;
  return {
      {"peak_bandwidth_bytes_per_second", peaks.bandwidth_bytes_per_second},
      {"peak_matrix_flops_per_second", peaks.matrix_flops_per_second},
      {"layer_parameters", costs.layer_parameters},
      {"lm_head_parameters", costs.lm_head_parameters},
      {"weight_bytes_per_step", costs.weight_bytes_per_step},
      {"kv_bytes_per_token", costs.kv_bytes_per_token},
      {"layer_flops_per_token", layer_flops_per_token(costs)},
      {"prefill_flops", static_cast<double>(batch_size) * prefill_flops(costs, input_len, cached_len)},
      {"prefill_floor_ms", 1e3 * prefill_floor_seconds(costs, peaks, input_len, cached_len, batch_size)},
      {"decode_context_len", decode_context},
      {"decode_step_floor_ms", 1e3 * decode_step_floor_seconds(costs, peaks, batch_size, decode_context)},
  };
}

}  // namespace hanlin::cli
