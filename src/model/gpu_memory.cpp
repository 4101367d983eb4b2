// GPU memory planning: plain arithmetic over the config's shapes, so it is tested without a GPU.
#include "model/gpu_memory.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "kernels/cuda/prefill_attention.h"

namespace hanlin::model {
namespace {

constexpr int64_t kBf16Bytes = 2;
// The CUDA forward's fixed allocations: cuBLASLt's workspace (32 MiB), prefill attention's split
// workspace (kPrefillSplitWorkspaceBytes), decode steps captured for up to 256 sequences (their
// logits buffers are sized for that many rows), and a margin for CUDA graphs, library handles and
// the allocator's rounding.
constexpr int64_t kGemmWorkspaceBytes = int64_t{32} << 20;
constexpr int64_t kGraphRows = 256;
constexpr int64_t kMarginBytes = int64_t{512} << 20;

std::string gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / double(int64_t{1} << 30));
  return text;
}

}  // namespace

int64_t gpu_weight_bytes(const io::ModelConfig& config) {
  const int64_t hidden = config.hidden_size;
  const int64_t q_width = config.num_attention_heads * config.head_dim;
  const int64_t kv_width = config.num_key_value_heads * config.head_dim;
  const int64_t embeddings = config.vocab_size * hidden * (config.tie_word_embeddings ? 1 : 2);
  int64_t layer = (q_width + 2 * kv_width) * hidden + hidden * q_width + 3 * config.intermediate_size * hidden;
  layer += 2 * hidden;  // the two RMSNorms
  if (config.attention_bias) layer += q_width + 2 * kv_width;
  if (config.qk_norm) layer += 2 * config.head_dim;
  return kBf16Bytes * (embeddings + hidden + config.num_hidden_layers * layer);
}

int64_t gpu_activation_bytes(const io::ModelConfig& config, int64_t max_num_batched_tokens, int64_t max_num_seqs) {
  const int64_t hidden = config.hidden_size;
  const int64_t q_width = config.num_attention_heads * config.head_dim;
  const int64_t kv_width = config.num_key_value_heads * config.head_dim;
  const int64_t inter = config.intermediate_size;
  // Per token: the residual stream's two buffers, normed, attention and MLP outputs; q and the
  // attention output; the fused q/k/v; the fused gate/up and its product.
  const int64_t per_token = kBf16Bytes * (5 * hidden + 2 * q_width + (q_width + 2 * kv_width) + 3 * inter);
  // The engine sizes the scratch for its largest step before the first (Qwen3CudaForward::reserve),
  // so it never grows past it.
  const int64_t scratch = std::max(max_num_batched_tokens, kGraphRows) * per_token;
  // Logits rows: the gathered hidden rows and the bf16 logits on the device.
  const int64_t logits = std::max(max_num_seqs, kGraphRows) * kBf16Bytes * (hidden + config.vocab_size);
  return scratch + logits + kGemmWorkspaceBytes + cuda::kPrefillSplitWorkspaceBytes + kMarginBytes;
}

GpuMemoryPlan plan_gpu_memory(const io::ModelConfig& config, double utilization, int64_t max_num_batched_tokens,
                              int64_t max_num_seqs, int64_t total_bytes, int64_t free_bytes) {
  require(std::isfinite(utilization) && utilization > 0 && utilization <= 1, ErrorKind::kInvalidArgument,
          "--gpu-memory-utilization must be in (0, 1], got " + std::to_string(utilization));
  GpuMemoryPlan plan;
  plan.total_bytes = total_bytes;
  plan.free_bytes = free_bytes;
  plan.weight_bytes = gpu_weight_bytes(config);
  plan.activation_bytes = gpu_activation_bytes(config, max_num_batched_tokens, max_num_seqs);
  const auto allowed = static_cast<int64_t>(utilization * static_cast<double>(total_bytes));
  const int64_t used_elsewhere = total_bytes - free_bytes;
  // What this process may still take: its share less what is in use, and never more than is free.
  const int64_t available = std::min(allowed - used_elsewhere, free_bytes);
  plan.kv_cache_bytes = available - plan.weight_bytes - plan.activation_bytes;
  if (plan.kv_cache_bytes <= 0) {
    char fraction[32];
    std::snprintf(fraction, sizeof(fraction), "%g", utilization);
    throw Error(ErrorKind::kResourceExhausted,
                "the model does not fit on the GPU: its weights need " + gib(plan.weight_bytes) +
                    " and its activations " + gib(plan.activation_bytes) + ", but --gpu-memory-utilization " +
                    fraction + " of " + gib(total_bytes) + " leaves " + gib(std::max<int64_t>(available, 0)) +
                    " (" + gib(free_bytes) + " free, " + gib(used_elsewhere) +
                    " in use already); nothing is left for the KV cache");
  }
  return plan;
}

}  // namespace hanlin::model
