// How a GPU's memory is shared out: the weights, the forward's activations at the engine's
// largest step, and the KV cache taking what --gpu-memory-utilization leaves. vLLM's meaning of
// the fraction: the share of the whole GPU this process may use, with what other processes
// already hold counted against it.
#pragma once

#include <cstdint>

#include "io/model_config.h"

namespace hanlin::model {

struct GpuMemoryPlan {
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;  // before anything of the model was allocated
  int64_t weight_bytes = 0;
  int64_t activation_bytes = 0;  // scratch, logits buffers, library workspaces and a margin
  int64_t kv_cache_bytes = 0;
};

// Bytes of the model's weights in bf16 on the GPU (tied embeddings counted once).
int64_t gpu_weight_bytes(const io::ModelConfig& config);

// Bytes the CUDA forward may allocate besides weights and cache, for steps of up to
// max_num_batched_tokens tokens and max_num_seqs sequences.
int64_t gpu_activation_bytes(const io::ModelConfig& config, int64_t max_num_batched_tokens, int64_t max_num_seqs);

// The plan for a GPU with `total_bytes` of memory of which `free_bytes` are free now. Throws
// Error(kResourceExhausted) naming every figure when nothing is left for the KV cache, and
// Error(kInvalidArgument) for a utilization outside (0, 1].
GpuMemoryPlan plan_gpu_memory(const io::ModelConfig& config, double utilization, int64_t max_num_batched_tokens,
                              int64_t max_num_seqs, int64_t total_bytes, int64_t free_bytes);

}  // namespace hanlin::model
