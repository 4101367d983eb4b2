// KvCache: the paged K/V pools a model writes and attends over (ARCHITECTURE.md, "KV cache").
// Per layer, K and V are [num_blocks][block_size][kv_heads][head_dim]: f32 on the CPU, bf16 on
// a GPU; which blocks belong to which sequence is the caller's business (block tables in the
// BatchView).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "io/model_config.h"

namespace hanlin::model {

class KvCache {
 public:
  static constexpr int64_t kBlockSize = 16;

  // Zero-filled pools of `num_blocks` blocks for every layer of `config`. num_blocks >= 1.
  KvCache(const io::ModelConfig& config, int64_t num_blocks, Device device = Device::kCpu);

  // The element type of the pools on `device`.
  static DType dtype_on(Device device) { return device == Device::kCuda ? DType::kBF16 : DType::kF32; }
  // Bytes one block takes across all layers, K and V.
  static int64_t bytes_per_block(const io::ModelConfig& config, Device device = Device::kCpu);
  // How many whole blocks fit in `gigabytes` (GiB, as --kv-cache-gb says); 0 when none fits.
  static int64_t num_blocks_for_budget(const io::ModelConfig& config, double gigabytes, Device device = Device::kCpu);

  Device device() const { return device_; }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return kBlockSize; }
  int64_t capacity_tokens() const { return num_blocks_ * kBlockSize; }

  // Copies block `from` into block `to` in every layer, K and V (copy-on-write of a block two
  // sequences shared). Both must be in [0, num_blocks).
  void copy_block(int64_t from, int64_t to);

  Tensor& keys(int64_t layer) { return keys_.at(static_cast<size_t>(layer)); }
  Tensor& values(int64_t layer) { return values_.at(static_cast<size_t>(layer)); }

 private:
  int64_t num_blocks_;
  Device device_;
  std::vector<Tensor> keys_;    // per layer [num_blocks, block_size, kv_heads, head_dim]
  std::vector<Tensor> values_;  // per layer, same shape
};

}  // namespace hanlin::model
