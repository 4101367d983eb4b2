// KvCache allocation and sizing from a memory budget.
#include "model/kv_cache.h"

#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::model {

KvCache::KvCache(const io::ModelConfig& config, int64_t num_blocks, Device device)
    : num_blocks_(num_blocks), device_(device) {
  require(num_blocks >= 1, ErrorKind::kInvalidArgument,
          "a KV cache needs at least one block, got " + std::to_string(num_blocks));
  const Shape shape = {num_blocks, kBlockSize, config.num_key_value_heads, config.head_dim};
  const DType dtype = dtype_on(device);
  auto pool = [&] { return device == Device::kCuda ? cuda::device_zeros(shape, dtype) : Tensor::zeros(shape, dtype); };
  keys_.reserve(static_cast<size_t>(config.num_hidden_layers));
  values_.reserve(static_cast<size_t>(config.num_hidden_layers));
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    keys_.push_back(pool());
    values_.push_back(pool());
  }
}

void KvCache::copy_block(int64_t from, int64_t to) {
  require(from >= 0 && from < num_blocks_ && to >= 0 && to < num_blocks_, ErrorKind::kInternal,
          "copy_block: blocks " + std::to_string(from) + " -> " + std::to_string(to) + " outside [0, " +
              std::to_string(num_blocks_) + ")");
  if (from == to) return;
  auto copy = [&](Tensor& pool) {
    const size_t block_bytes = pool.nbytes() / static_cast<size_t>(num_blocks_);
    auto* base = static_cast<std::byte*>(pool.raw());
    std::byte* destination = base + static_cast<size_t>(to) * block_bytes;
    const std::byte* source = base + static_cast<size_t>(from) * block_bytes;
    if (device_ == Device::kCuda) {
      cuda::copy_device_bytes(destination, source, block_bytes, nullptr);
    } else {
      std::memcpy(destination, source, block_bytes);
    }
  };
  for (size_t layer = 0; layer < keys_.size(); ++layer) {
    copy(keys_[layer]);
    copy(values_[layer]);
  }
  // The forward runs on a stream of its own that does not wait for the default one.
  if (device_ == Device::kCuda) cuda::synchronize(nullptr);
}

int64_t KvCache::bytes_per_block(const io::ModelConfig& config, Device device) {
  const int64_t per_layer = 2 * kBlockSize * config.num_key_value_heads * config.head_dim *
                            static_cast<int64_t>(dtype_size(dtype_on(device)));
  return per_layer * config.num_hidden_layers;
}

int64_t KvCache::num_blocks_for_budget(const io::ModelConfig& config, double gigabytes, Device device) {
  require(std::isfinite(gigabytes) && gigabytes > 0, ErrorKind::kInvalidArgument,
          "the KV cache budget must be a positive number of GiB, got " + std::to_string(gigabytes));
  const double budget_bytes = gigabytes * 1024.0 * 1024.0 * 1024.0;
  return static_cast<int64_t>(budget_bytes / static_cast<double>(bytes_per_block(config, device)));
}

}  // namespace hanlin::model
