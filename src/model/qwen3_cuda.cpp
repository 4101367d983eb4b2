// Qwen3CudaForward: device weights, the per-step upload of the batch's integers, and the layer
// loop through hanlin::cuda ops on the default stream.
#include "model/qwen3_cuda.h"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <tuple>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/prefill_attention.h"
#include "kernels/cuda/sampling.h"

namespace hanlin::model {
namespace {

// Decode steps of up to this many sequences run as captured graphs, padded to a power of two.
constexpr int64_t kMaxGraphBatch = 256;
// Sequences with at least this many query rows in a step go to the tensor-core attention kernel,
// whose 128-row tiles cost about as much as the row-by-row kernel at some 7 rows.
constexpr int32_t kMinTiledQueryRows = 16;

// The warm-up's largest prefill: larger steps are rare enough (a benchmark's whole prompt at once)
// not to be worth the start-up time; 8,192 rows of Qwen3-8B take about 0.25 s on an H100.
constexpr int64_t kMostWarmUpTokens = 8192;

// The int32 elements pack() lays a step out in: token ids, positions, slots, row → sequence, row →
// sequence for the decode kernel, the decode kernel's rows (rows each), sequences (3 per slot),
// logits rows, block tables (slots × width), tiles.
int64_t staged_ints(int64_t rows, int64_t seq_slots, int64_t logits_slots, int64_t width, int64_t tile_ints) {
  return 6 * rows + 3 * seq_slots + logits_slots + seq_slots * width + tile_ints;
}

int64_t graph_bucket(int64_t num_rows) {
  int64_t bucket = 1;
  while (bucket < num_rows) bucket *= 2;
  return bucket;
}

bool is_present(const Tensor& tensor) { return tensor.defined() && tensor.numel() > 0; }

const Tensor* optional_tensor(const Tensor& tensor) { return is_present(tensor) ? &tensor : nullptr; }

// The tensor as bf16 on the host: itself when it is bf16 already.
Tensor as_bf16(const Tensor& host) {
  if (host.dtype() == DType::kBF16) return host;
  Tensor converted = Tensor::zeros(host.shape(), DType::kBF16);
  bf16* out = converted.data<bf16>();
  for (int64_t i = 0; i < host.numel(); ++i) {
    out[i] = to_bf16(host.dtype() == DType::kF32 ? host.data<float>()[i] : to_f32(host.data<f16>()[i]));
  }
  return converted;
}

int64_t weights_bytes(const Qwen3Weights& weights) {
  int64_t bytes = 0;
  auto add = [&](const Tensor& tensor) {
    if (is_present(tensor)) bytes += tensor.numel() * 2;  // as bf16
  };
  add(weights.embed_tokens);
  add(weights.final_norm);
  if (weights.lm_head.raw() != weights.embed_tokens.raw()) add(weights.lm_head);
  for (const Qwen3LayerWeights& layer : weights.layers) {
    for (const Tensor* tensor : {&layer.input_norm, &layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj,
                                 &layer.q_bias, &layer.k_bias, &layer.v_bias, &layer.o_bias, &layer.q_norm,
                                 &layer.k_norm, &layer.post_attention_norm, &layer.gate_proj, &layer.up_proj,
                                 &layer.down_proj}) {
      add(*tensor);
    }
  }
  return bytes;
}

void check_fits(int64_t bytes) {
  const cuda::MemoryInfo memory = cuda::memory_info();
  const auto gib = [](double value) { return std::to_string(value / double(1 << 30)).substr(0, 5) + " GiB"; };
  require(static_cast<size_t>(bytes) < memory.free_bytes, ErrorKind::kResourceExhausted,
          "the model's weights need " + gib(static_cast<double>(bytes)) + " of GPU memory but only " +
              gib(static_cast<double>(memory.free_bytes)) + " of " + gib(static_cast<double>(memory.total_bytes)) +
              " are free");
}

Tensor device_copy(const Tensor& host) { return is_present(host) ? cuda::to_device(as_bf16(host)) : Tensor(); }

// The parts' rows one after another in one device tensor (bf16); empty when every part is.
Tensor device_stack(std::initializer_list<const Tensor*> parts) {
  int64_t rows = 0;
  Shape shape;
  for (const Tensor* part : parts) {
    if (!is_present(*part)) continue;
    shape = part->shape();
    rows += part->dim(0);
  }
  if (rows == 0) return Tensor();
  shape[0] = rows;
  Tensor stacked = cuda::device_zeros(shape, DType::kBF16);
  int64_t row = 0;
  for (const Tensor* part : parts) {
    if (!is_present(*part)) continue;
    Tensor destination = stacked.slice_rows(row, row + part->dim(0));
    cuda::copy_to_device_async(destination, as_bf16(*part), nullptr);
    row += part->dim(0);
  }
  cuda::synchronize(nullptr);
  return stacked;
}

Qwen3CudaWeights device_weights(const Qwen3Weights& host) {
  Qwen3CudaWeights device;
  device.embed_tokens = device_copy(host.embed_tokens);
  device.final_norm = device_copy(host.final_norm);
  // Tied embeddings stay one buffer on the device too.
  device.lm_head = host.lm_head.raw() == host.embed_tokens.raw() ? device.embed_tokens : device_copy(host.lm_head);
  for (const Qwen3LayerWeights& layer : host.layers) {
    Qwen3CudaLayer& out = device.layers.emplace_back();
    out.input_norm = device_copy(layer.input_norm);
    out.qkv = device_stack({&layer.q_proj, &layer.k_proj, &layer.v_proj});
    out.qkv_bias = device_stack({&layer.q_bias, &layer.k_bias, &layer.v_bias});
    out.o_proj = device_copy(layer.o_proj);
    out.o_bias = device_copy(layer.o_bias);
    out.q_norm = device_copy(layer.q_norm);
    out.k_norm = device_copy(layer.k_norm);
    out.post_attention_norm = device_copy(layer.post_attention_norm);
    out.gate_up = device_stack({&layer.gate_proj, &layer.up_proj});
    out.down_proj = device_copy(layer.down_proj);
  }
  return device;
}

}  // namespace

Qwen3CudaForward::Qwen3CudaForward(const io::ModelConfig& config, const Qwen3Weights& host_weights,
                                   const RopeFrequencies& rope, ThreadPool* pool)
    : config_(config), pool_(pool), attention_scaling_(rope.attention_scaling), weight_bytes_(weights_bytes(host_weights)) {
  require(cuda::device_count() > 0, ErrorKind::kUnsupported, "--device cuda: no GPU found");
  check_fits(weight_bytes_);
  weights_ = device_weights(host_weights);
  inv_freq_ = cuda::to_device(rope.inv_freq);
  stream_owner_ = cuda::create_stream();
  stream_ = stream_owner_.get();
}

Qwen3CudaForward::DeviceBatch Qwen3CudaForward::pack(const BatchView& batch, Staging& staging, int64_t graph_rows) {
  const auto num_tokens = batch.num_tokens();
  const auto num_seqs = static_cast<int64_t>(batch.seqs.size());
  int64_t max_blocks = 1;
  for (const ops::AttentionSeq& seq : batch.seqs) max_blocks = std::max(max_blocks, static_cast<int64_t>(seq.block_table.size()));
  // A captured step has fixed shapes: graph_rows rows and sequences, tables graph_blocks_ wide.
  const int64_t rows = graph_rows > 0 ? graph_rows : num_tokens;
  const int64_t seq_slots = graph_rows > 0 ? graph_rows : num_seqs;
  const int64_t logits_slots = graph_rows > 0 ? graph_rows : static_cast<int64_t>(batch.logits_rows.size());
  const int64_t width = graph_rows > 0 ? graph_blocks_ : max_blocks;
  // Captured steps are decode steps: no tiles.
  std::vector<int32_t> tiles;
  const bool tiled = graph_rows == 0 && cuda::prefill_attention_supports(config_.head_dim);
  if (tiled) {
    std::vector<std::array<int32_t, 3>> seq_rows;
    for (const ops::AttentionSeq& seq : batch.seqs) seq_rows.push_back({seq.q_start, seq.q_len, seq.context_len});
    tiles = cuda::prefill_tiles(seq_rows, kMinTiledQueryRows);
  }
  const auto tile_ints = static_cast<int64_t>(tiles.size());
  const int64_t total = staged_ints(rows, seq_slots, logits_slots, width, tile_ints);
  require(graph_rows == 0 || total <= staging.capacity, ErrorKind::kInternal,
          "a captured step outgrew the graphs' staging buffer");
  if (total > staging.capacity) {
    staging.capacity = std::max(total, 2 * staging.capacity);
    staging.host = cuda::pinned_host_zeros({staging.capacity}, DType::kI32);
    staging.device = cuda::device_zeros({staging.capacity}, DType::kI32);
  }
  int32_t* host = staging.host.data<int32_t>();
  int64_t offset = 0;
  auto take = [&](int64_t count) {
    int32_t* at = host + offset;
    offset += count;
    return at;
  };
  int32_t* token_ids = take(rows);
  int32_t* positions = take(rows);
  int32_t* slots = take(rows);
  int32_t* row_seq = take(rows);
  int32_t* decode_row_seq = take(rows);
  int32_t* decode_rows = take(rows);
  int32_t* seqs = take(3 * seq_slots);
  int32_t* logits_rows = take(logits_slots);
  int32_t* tables = take(seq_slots * width);
  int32_t* tile_rows = take(tile_ints);
  std::copy(tiles.begin(), tiles.end(), tile_rows);
  // Padding rows (captured steps) read token 0 at position 0, write no cache slot and belong
  // to no sequence: attention leaves them alone and their logits are never looked at.
  std::fill_n(token_ids, rows, 0);
  std::fill_n(positions, rows, 0);
  std::fill_n(slots, rows, -1);
  std::fill_n(row_seq, rows, -1);
  std::fill_n(seqs, 3 * seq_slots, 0);
  std::copy(batch.token_ids.begin(), batch.token_ids.end(), token_ids);
  std::copy(batch.positions.begin(), batch.positions.end(), positions);
  std::copy(batch.slot_mapping.begin(), batch.slot_mapping.end(), slots);
  std::copy(batch.logits_rows.begin(), batch.logits_rows.end(), logits_rows);
  for (int64_t i = static_cast<int64_t>(batch.logits_rows.size()); i < logits_slots; ++i) logits_rows[i] = static_cast<int32_t>(i);
  for (int64_t s = 0; s < num_seqs; ++s) {
    const ops::AttentionSeq& seq = batch.seqs[static_cast<size_t>(s)];
    seqs[3 * s] = seq.q_start;
    seqs[3 * s + 1] = seq.q_len;
    seqs[3 * s + 2] = seq.context_len;
    std::copy(seq.block_table.begin(), seq.block_table.end(), tables + s * width);
    std::fill_n(row_seq + seq.q_start, seq.q_len, static_cast<int32_t>(s));
  }
  // The decode kernel skips the rows of the sequences the tiles cover.
  std::copy_n(row_seq, rows, decode_row_seq);
  int64_t num_decode_rows = 0;
  int64_t longest_decode_context = 0;
  int64_t decode_keys = 0;  // summed over the decode rows (a row of a sequence reads up to its context)
  int64_t longest_tiled_context = 0;
  for (const ops::AttentionSeq& seq : batch.seqs) {
    if (tiled && seq.q_len >= kMinTiledQueryRows) {
      std::fill_n(decode_row_seq + seq.q_start, seq.q_len, -1);
      longest_tiled_context = std::max<int64_t>(longest_tiled_context, seq.context_len);
      continue;
    }
    std::iota(decode_rows + num_decode_rows, decode_rows + num_decode_rows + seq.q_len, seq.q_start);
    num_decode_rows += seq.q_len;
    longest_decode_context = std::max<int64_t>(longest_decode_context, seq.context_len);
    decode_keys += seq.q_len * static_cast<int64_t>(seq.context_len);
  }
  auto view = [&](const int32_t* host_at, Shape shape) {
    int32_t* device_at = staging.device.data<int32_t>() + (host_at - host);
    return Tensor::borrow(device_at, std::move(shape), DType::kI32, {}, Device::kCuda);
  };
  DeviceBatch device;
  device.used = total;
  device.token_ids = view(token_ids, {rows});
  device.positions = view(positions, {rows});
  device.slot_mapping = view(slots, {rows});
  device.row_seq = view(row_seq, {rows});
  device.seqs = view(seqs, {seq_slots, 3});
  device.logits_rows = view(logits_rows, {logits_slots});
  device.block_tables = view(tables, {seq_slots, width});
  device.decode_row_seq = view(decode_row_seq, {rows});
  device.decode_rows = view(decode_rows, {num_decode_rows});
  device.tiles = view(tile_rows, {tile_ints / 2, 2});
  device.has_decode_rows = num_decode_rows > 0 || graph_rows > 0;
  device.longest_tiled_context = longest_tiled_context;
  // Beside tiles the decode kernel takes its rows only, so those size its launch; otherwise all
  // rows (padding included, in a captured step) go to it.
  device.lists_decode_rows = !tiles.empty();
  device.attention_way = cuda::attention_way(device.lists_decode_rows ? num_decode_rows : rows,
                                             longest_decode_context, decode_keys);
  return device;
}

void Qwen3CudaForward::ensure_logits_buffers(int64_t num_rows) {
  if (num_rows <= logits_buffers_.capacity) return;
  graphs_.clear();  // they point into the old buffers
  LogitsBuffers& buffers = logits_buffers_;
  buffers = LogitsBuffers{};
  buffers.capacity = std::max<int64_t>(num_rows, 8);
  buffers.rows = cuda::device_zeros({buffers.capacity, config_.hidden_size}, DType::kBF16);
  buffers.device = cuda::device_zeros({buffers.capacity, config_.vocab_size}, DType::kBF16);
  buffers.host = cuda::pinned_host_zeros({buffers.capacity, config_.vocab_size}, DType::kBF16);
}

void Qwen3CudaForward::ensure_scratch(int64_t num_tokens) {
  if (num_tokens <= scratch_.capacity) return;
  graphs_.clear();  // they point into the old buffers
  // Geometric growth: a few reallocations while the engine warms up, then none (each one drops
  // the captured graphs).
  num_tokens = std::max(num_tokens, 2 * scratch_.capacity);
  const int64_t hidden = config_.hidden_size;
  const int64_t q_width = config_.num_attention_heads * config_.head_dim;
  const int64_t kv_width = config_.num_key_value_heads * config_.head_dim;
  const int64_t inter = config_.intermediate_size;
  scratch_ = Scratch{};  // free the old buffers before taking bigger ones
  auto make = [&](int64_t width) { return cuda::device_zeros({num_tokens, width}, DType::kBF16); };
  scratch_.residual = make(hidden);
  scratch_.next_residual = make(hidden);
  scratch_.normed = make(hidden);
  scratch_.attn_out = make(hidden);
  scratch_.mlp_out = make(hidden);
  scratch_.q = make(q_width);
  scratch_.attn = make(q_width);
  scratch_.qkv = make(q_width + 2 * kv_width);
  scratch_.gate_up = make(2 * inter);
  scratch_.activated = make(inter);
  scratch_.capacity = num_tokens;
}

// The layer's input (the residual stream before its input norm) → attn_out [T, H]; writes this
// layer's K/V rows into the cache.
void Qwen3CudaForward::attention_block(int64_t layer, const DeviceBatch& batch, KvCache& cache, int64_t num_tokens,
                                       const cuda::PreNorm& input) {
  const Qwen3CudaLayer& w = weights_.layers[static_cast<size_t>(layer)];
  const int64_t head_dim = config_.head_dim;
  Tensor qkv = scratch_.qkv.slice_rows(0, num_tokens);
  cuda::linear(qkv, input, w.qkv, optional_tensor(w.qkv_bias), stream_);
  Tensor q_heads = scratch_.q.slice_rows(0, num_tokens).reshape({num_tokens, config_.num_attention_heads, head_dim});
  const Tensor* q_norm = config_.qk_norm ? &w.q_norm : nullptr;
  const Tensor* k_norm = config_.qk_norm ? &w.k_norm : nullptr;
  cuda::qkv_rope_cache_write(q_heads, cache.keys(layer), cache.values(layer), qkv, q_norm, k_norm,
                             static_cast<float>(config_.rms_norm_eps), batch.positions, inv_freq_,
                             attention_scaling_, batch.slot_mapping, stream_);
  Tensor attn = scratch_.attn.slice_rows(0, num_tokens);
  Tensor attn_heads = attn.reshape({num_tokens, config_.num_attention_heads, head_dim});
  // transformers scales scores by head_dim ** -0.5, a Python double, applied in f32.
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim), -0.5));
  if (batch.has_decode_rows) {
    if (batch.lists_decode_rows) {
      cuda::paged_attention(attn_heads, q_heads, cache.keys(layer), cache.values(layer), batch.seqs,
                            batch.block_tables, batch.decode_row_seq, batch.decode_rows, scale,
                            batch.attention_way, stream_);
    } else {
      cuda::paged_attention(attn_heads, q_heads, cache.keys(layer), cache.values(layer), batch.seqs,
                            batch.block_tables, batch.decode_row_seq, scale, batch.attention_way, stream_);
    }
  }
  if (batch.tiles.dim(0) > 0) {
    cuda::prefill_attention(attn_heads, q_heads, cache.keys(layer), cache.values(layer), batch.seqs,
                            batch.block_tables, batch.tiles, scale, stream_, batch.longest_tiled_context);
  }
  Tensor attn_out = scratch_.attn_out.slice_rows(0, num_tokens);
  cuda::linear(attn_out, attn, w.o_proj, optional_tensor(w.o_bias), stream_);
}

// The residual stream before the post-attention norm, whose output is x → mlp_out [T, H] =
// down(silu(gate(x)) · up(x)).
void Qwen3CudaForward::mlp_block(int64_t layer, int64_t num_tokens, const cuda::PreNorm& input) {
  const Qwen3CudaLayer& w = weights_.layers[static_cast<size_t>(layer)];
  Tensor activated = scratch_.activated.slice_rows(0, num_tokens);
  cuda::gated_linear(activated, input, w.gate_up, scratch_.gate_up, stream_);
  Tensor mlp_out = scratch_.mlp_out.slice_rows(0, num_tokens);
  cuda::linear(mlp_out, activated, w.down_proj, nullptr, stream_);
}

// The last residual add and final norm over all rows, then lm_head on the requested rows only.
void Qwen3CudaForward::final_logits(const DeviceBatch& batch, Tensor& residual, int64_t num_tokens,
                                    int64_t num_rows) {
  if (num_rows == 0) return;
  Tensor normed = scratch_.normed.slice_rows(0, num_tokens);
  cuda::add_rms_norm(normed, residual, scratch_.mlp_out.slice_rows(0, num_tokens), weights_.final_norm,
                     static_cast<float>(config_.rms_norm_eps), stream_);
  Tensor rows = logits_buffers_.rows.slice_rows(0, num_rows);
  cuda::embedding(rows, normed, batch.logits_rows, stream_);  // a gather of the rows asked for
  Tensor device_logits = logits_buffers_.device.slice_rows(0, num_rows);
  cuda::linear(device_logits, rows, weights_.lm_head, nullptr, stream_);
}

namespace {

// The residual stream in two buffers. A product that folds in the norm before it (cuda::PreNorm)
// reads one buffer while its first block writes the sum to the other, so they trade places at
// each add.
struct ResidualStream {
  Tensor current;
  Tensor other;

  // The norm of current + delta (of current alone without delta), the sum becoming current.
  cuda::PreNorm add_and_norm(const Tensor* delta, const Tensor& weight, float eps, const Tensor& normed) {
    const cuda::PreNorm input{
        .residual = current, .delta = delta, .residual_out = other, .weight = weight, .eps = eps, .normed = normed};
    if (delta) std::swap(current, other);
    return input;
  }
};

}  // namespace

void Qwen3CudaForward::issue_step(const DeviceBatch& batch, KvCache& cache, int64_t num_tokens, int64_t num_rows) {
  const float eps = static_cast<float>(config_.rms_norm_eps);
  ResidualStream residual{scratch_.residual.slice_rows(0, num_tokens),
                          scratch_.next_residual.slice_rows(0, num_tokens)};
  const Tensor normed = scratch_.normed.slice_rows(0, num_tokens);
  const Tensor attn_out = scratch_.attn_out.slice_rows(0, num_tokens);
  const Tensor mlp_out = scratch_.mlp_out.slice_rows(0, num_tokens);
  cuda::embedding(residual.current, weights_.embed_tokens, batch.token_ids, stream_);
  for (int64_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    const Qwen3CudaLayer& w = weights_.layers[static_cast<size_t>(layer)];
    const Tensor* previous_mlp = layer == 0 ? nullptr : &mlp_out;
    attention_block(layer, batch, cache, num_tokens, residual.add_and_norm(previous_mlp, w.input_norm, eps, normed));
    mlp_block(layer, num_tokens, residual.add_and_norm(&attn_out, w.post_attention_norm, eps, normed));
  }
  final_logits(batch, residual.current, num_tokens, num_rows);
}

Qwen3CudaForward::HostBuffers::~HostBuffers() {
  for (const auto& [buffer, bytes] : free) std::free(buffer);
}

// An f32 [num_rows, vocab] host tensor whose buffer goes back to host_buffers_ when its last copy
// goes; the smallest free buffer that fits is reused. Buffers hold a power of two of rows, so a
// batch growing a row at a time allocates a few sizes rather than one per size, and at most
// kMaxFreeBuffers wait unused (the smallest are freed first).
Tensor Qwen3CudaForward::host_logits(int64_t num_rows) {
  constexpr size_t kMaxFreeBuffers = 4;
  const Shape shape = {num_rows, config_.vocab_size};
  const size_t bytes = static_cast<size_t>(num_rows * config_.vocab_size) * sizeof(float);
  if (bytes == 0) return Tensor::zeros(shape, DType::kF32);
  void* buffer = nullptr;
  size_t capacity = 0;
  {
    std::lock_guard lock(host_buffers_->mutex);
    auto& free = host_buffers_->free;
    auto best = free.end();
    for (auto it = free.begin(); it != free.end(); ++it) {
      if (it->second >= bytes && (best == free.end() || it->second < best->second)) best = it;
    }
    if (best != free.end()) {
      std::tie(buffer, capacity) = *best;
      free.erase(best);
    }
  }
  if (!buffer) {
    const auto row_bytes = static_cast<size_t>(config_.vocab_size) * sizeof(float);
    capacity = std::bit_ceil(static_cast<size_t>(num_rows)) * row_bytes;
    capacity = (capacity + 63) / 64 * 64;
    buffer = std::aligned_alloc(64, capacity);
    require(buffer != nullptr, ErrorKind::kResourceExhausted,
            "out of host memory for " + std::to_string(num_rows) + " logits rows");
  }
  std::shared_ptr<const void> owner(buffer, [buffers = host_buffers_, capacity](const void* data) {
    std::lock_guard lock(buffers->mutex);
    auto& free = buffers->free;
    free.emplace_back(const_cast<void*>(data), capacity);
    if (free.size() > kMaxFreeBuffers) {
      const auto smallest = std::min_element(free.begin(), free.end(),
                                             [](const auto& a, const auto& b) { return a.second < b.second; });
      std::free(smallest->first);
      free.erase(smallest);
    }
  });
  return Tensor::borrow(buffer, shape, DType::kF32, std::move(owner), Device::kCpu);
}

// The first `num_rows` logits rows from pinned memory as f32 (the step must have finished).
Tensor Qwen3CudaForward::logits_to_f32(int64_t num_rows) {
  Tensor logits = host_logits(num_rows);
  if (num_rows == 0) return logits;
  const bf16* from = logits_buffers_.host.data<bf16>();
  float* to = logits.data<float>();
  const auto convert = [from, to](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) to[i] = to_f32(from[i]);
  };
  // Parallel only for several rows: at one row (152K values, ≈ 0.1 ms) waking the pool's threads
  // costs about what it saves, and their spinning competes with the engine thread for cores.
  constexpr int64_t kGrain = int64_t{1} << 18;
  if (pool_ && logits.numel() >= 4 * kGrain) {
    pool_->parallel_for(logits.numel(), kGrain, convert);
  } else {
    convert(0, logits.numel());
  }
  return logits;
}

void Qwen3CudaForward::eager_step(const BatchView& batch, KvCache& cache) {
  const int64_t num_tokens = batch.num_tokens();
  const auto num_rows = static_cast<int64_t>(batch.logits_rows.size());
  ensure_scratch(num_tokens);
  ensure_logits_buffers(num_rows);
  const DeviceBatch device_batch = pack(batch, staging_, 0);
  Tensor device_part = staging_.device.slice_rows(0, device_batch.used);
  cuda::copy_to_device_async(device_part, staging_.host.slice_rows(0, device_batch.used), stream_);
  issue_step(device_batch, cache, num_tokens, num_rows);
}

// A decode step whose logits rows are its rows in order, small enough to capture.
bool Qwen3CudaForward::can_use_graph(const BatchView& batch) const {
  const int64_t num_tokens = batch.num_tokens();
  if (num_tokens > kMaxGraphBatch || static_cast<int64_t>(batch.seqs.size()) != num_tokens) return false;
  if (static_cast<int64_t>(batch.logits_rows.size()) != num_tokens) return false;
  for (int64_t i = 0; i < num_tokens; ++i) {
    if (batch.logits_rows[static_cast<size_t>(i)] != i) return false;
    if (static_cast<int64_t>(batch.seqs[static_cast<size_t>(i)].block_table.size()) > graph_blocks_) return false;
  }
  return true;
}

// Decode steps replay a graph captured for their padded size: the first step of a size runs
// eagerly through the same fixed buffers (which also warms cuBLASLt's plans), then is captured.
void Qwen3CudaForward::graph_step(const BatchView& batch, KvCache& cache) {
  const int64_t num_tokens = batch.num_tokens();
  const int64_t bucket = graph_bucket(num_tokens);
  ensure_scratch(kMaxGraphBatch);
  ensure_logits_buffers(kMaxGraphBatch);
  // Sized once for the largest bucket, so no graph's pointers ever move: pack() must never grow it,
  // or every graph captured before would go on reading and writing the freed buffers.
  const int64_t most_ints = staged_ints(kMaxGraphBatch, kMaxGraphBatch, kMaxGraphBatch, graph_blocks_, 0);
  if (graph_staging_.capacity < most_ints) {
    graphs_.clear();
    graph_staging_.capacity = most_ints;
    graph_staging_.host = cuda::pinned_host_zeros({most_ints}, DType::kI32);
    graph_staging_.device = cuda::device_zeros({most_ints}, DType::kI32);
  }
  const DeviceBatch device_batch = pack(batch, graph_staging_, bucket);
  Tensor device_part = graph_staging_.device.slice_rows(0, device_batch.used);
  const Tensor host_part = graph_staging_.host.slice_rows(0, device_batch.used);
  // Attention walks short and long contexts different ways (cuda::attention_way), and a graph
  // replays the way it was captured with: one graph per size and way.
  const GraphKey key{bucket, device_batch.attention_way};
  const auto found = graphs_.find(key);
  if (found != graphs_.end()) {
    cuda::launch_graph(*found->second, stream_);
  } else {
    cuda::copy_to_device_async(device_part, host_part, stream_);
    issue_step(device_batch, cache, bucket, bucket);
    cuda::synchronize(stream_);
    cuda::begin_capture(stream_);
    cuda::copy_to_device_async(device_part, host_part, stream_);
    issue_step(device_batch, cache, bucket, bucket);
    graphs_[key] = cuda::end_capture(stream_);
  }
}

StepLogits Qwen3CudaForward::forward(const BatchView& batch, KvCache& cache, const StepSampling& sampling) {
  batch.validate(cache.num_blocks(), cache.block_size());
  require(cache.device() == Device::kCuda, ErrorKind::kInternal, "the CUDA forward needs its KV cache on the GPU");
  for (int32_t id : batch.token_ids) {
    require(id >= 0 && id < config_.vocab_size, ErrorKind::kInvalidArgument,
            "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
  }
  // Captured steps bake the block-table width in: the most blocks a sequence can hold.
  const int64_t widest = std::min(cache.num_blocks(), (config_.max_position_embeddings + cache.block_size() - 1) / cache.block_size());
  // They also bake in the cache's buffers: a step over another cache (a model serving several
  // in turn, as tests and benchmarks do) must not replay a graph that writes into the old one.
  std::vector<const void*> cache_buffers;
  for (int64_t layer = 0; layer < cache.num_layers(); ++layer) {
    cache_buffers.push_back(cache.keys(layer).raw());
    cache_buffers.push_back(cache.values(layer).raw());
  }
  if (graph_blocks_ != widest || graph_cache_buffers_ != cache_buffers) {
    graphs_.clear();
    graph_blocks_ = widest;
    graph_cache_buffers_ = std::move(cache_buffers);
  }
  const auto num_rows = static_cast<int64_t>(batch.logits_rows.size());
  require(sampling.host_rows.empty() || static_cast<int64_t>(sampling.host_rows.size()) == num_rows,
          ErrorKind::kInternal, "a step's host rows do not match its logits rows");
  for (const TokenDraw& draw : sampling.draws) {
    require(draw.row >= 0 && draw.row < num_rows, ErrorKind::kInternal,
            "a draw names logits row " + std::to_string(draw.row) + " of " + std::to_string(num_rows));
    require(draw.first_edit >= 0 && draw.num_edits >= 0 &&
                draw.num_edits <= static_cast<int64_t>(sampling.edits.size()) - draw.first_edit,
            ErrorKind::kInternal, "a draw's edits lie outside the step's");
  }
  if (graphs_enabled_ && can_use_graph(batch)) {
    graph_step(batch, cache);
  } else {
    eager_step(batch, cache);
  }
  return sample_and_collect(num_rows, sampling);
}

namespace {

// A step of `num_seqs` sequences, each the last `q_len` rows of a context of `context_len` over
// cache blocks 0, 1, … (the sequences share them), writing nothing (every slot -1), with logits and
// a draw (Qwen3's sampling defaults) for each sequence's last row.
struct WarmUpStep {
  std::vector<int32_t> table;
  BatchView batch;
  StepSampling sampling;

  WarmUpStep(int64_t num_seqs, int64_t q_len, int64_t context_len, int64_t block_size) {
    table.resize(static_cast<size_t>((context_len + block_size - 1) / block_size));
    std::iota(table.begin(), table.end(), 0);
    for (int64_t s = 0; s < num_seqs; ++s) {
      const auto start = static_cast<int32_t>(s * q_len);
      batch.seqs.push_back({start, static_cast<int32_t>(q_len), static_cast<int32_t>(context_len), table});
      for (int64_t i = context_len - q_len; i < context_len; ++i) batch.positions.push_back(static_cast<int32_t>(i));
      batch.logits_rows.push_back(start + static_cast<int32_t>(q_len) - 1);
      TokenDraw draw;
      draw.row = static_cast<int32_t>(s);
      draw.top_k = 20;
      draw.temperature = 0.6;
      draw.top_p = 0.95;
      draw.u = 0.5;
      sampling.draws.push_back(draw);
    }
    batch.token_ids.assign(batch.positions.size(), 0);
    batch.slot_mapping.assign(batch.positions.size(), -1);
  }
};

}  // namespace

void Qwen3CudaForward::reserve(const KvCache& cache, int64_t max_tokens, int64_t max_seqs) {
  // A step's rows each take a cache slot, so no step has more than the cache holds (several
  // sequences' chunks may together pass one context's length, though).
  const int64_t most_tokens = std::min(max_tokens, cache.num_blocks() * cache.block_size());
  ensure_scratch(std::max(most_tokens, kMaxGraphBatch));
  ensure_logits_buffers(std::max(max_seqs, kMaxGraphBatch));
}

WarmUp Qwen3CudaForward::warm_up(KvCache& cache, int64_t max_tokens, int64_t max_seqs) {
  const auto start = std::chrono::steady_clock::now();
  reserve(cache, max_tokens, max_seqs);
  int64_t most_context = cache.num_blocks() * cache.block_size();
  if (config_.max_position_embeddings > 0) most_context = std::min(most_context, config_.max_position_embeddings);
  WarmUp done;
  // Prefill chunks of 16, 32, … rows at the end of the longest context the ladder reaches, so that
  // attention also takes its way for few queries over many keys.
  const int64_t top = std::min({max_tokens, most_context, kMostWarmUpTokens});
  std::vector<int64_t> prefill_sizes;
  for (int64_t tokens = kMinTiledQueryRows; tokens < top; tokens *= 2) prefill_sizes.push_back(tokens);
  if (top >= kMinTiledQueryRows) prefill_sizes.push_back(top);
  for (const int64_t tokens : prefill_sizes) {
    const WarmUpStep step(1, tokens, top, cache.block_size());
    forward(step.batch, cache, step.sampling);
    ++done.prefill_steps;
  }
  // Decode steps of every padded batch size, at contexts that take each of attention's ways there
  // (cuda::attention_way): each is captured once.
  const int64_t decode_contexts[] = {1, cuda::kShortAttentionContext + 1, cuda::kSplitAttentionContext,
                                     cuda::kTensorCoreAttentionMaxKeys + 1};
  for (int64_t seqs = 1; seqs <= graph_bucket(std::min(max_seqs, kMaxGraphBatch)); seqs *= 2) {
    for (const int64_t context : decode_contexts) {
      if (context > most_context) continue;
      const WarmUpStep step(seqs, 1, context, cache.block_size());
      forward(step.batch, cache, step.sampling);
      ++done.decode_steps;
    }
  }
  done.decode_graphs = static_cast<int64_t>(graphs_.size());
  done.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return done;
}

namespace {

// Int32 elements holding `count` structs of type T (buffers of plain bytes are int32 tensors).
template <class T>
int64_t ints_for(int64_t count) {
  static_assert(sizeof(T) % sizeof(int32_t) == 0);
  return static_cast<int64_t>(sizeof(T) / sizeof(int32_t)) * count;
}

bool asks_logprobs(const StepSampling& sampling) {
  return std::any_of(sampling.draws.begin(), sampling.draws.end(),
                     [](const TokenDraw& draw) { return draw.num_logprobs >= 0; });
}

// Copies `items` into the pinned buffer `host` and from there to `device`, on the stream.
template <class T>
void upload(const std::vector<T>& items, Tensor& host, Tensor& device, cuda::Stream stream) {
  const int64_t ints = ints_for<T>(static_cast<int64_t>(items.size()));
  std::memcpy(host.raw(), items.data(), items.size() * sizeof(T));
  Tensor device_part = device.slice_rows(0, ints);
  cuda::copy_to_device_async(device_part, host.slice_rows(0, ints), stream);
}

}  // namespace

void Qwen3CudaForward::ensure_draw_buffers(int64_t num_draws, int64_t num_edits) {
  DrawBuffers& buffers = draw_buffers_;
  if (num_draws > buffers.capacity) {
    buffers.capacity = std::max<int64_t>(num_draws, 2 * buffers.capacity);
    buffers.host_params = cuda::pinned_host_zeros({ints_for<cuda::DrawParams>(buffers.capacity)}, DType::kI32);
    buffers.device_params = cuda::device_zeros({ints_for<cuda::DrawParams>(buffers.capacity)}, DType::kI32);
    buffers.host_results = cuda::pinned_host_zeros({ints_for<cuda::DrawResult>(buffers.capacity)}, DType::kI32);
    buffers.device_results = cuda::device_zeros({ints_for<cuda::DrawResult>(buffers.capacity)}, DType::kI32);
    buffers.host_logprobs = cuda::pinned_host_zeros({ints_for<cuda::DrawLogprobs>(buffers.capacity)}, DType::kI32);
    buffers.device_logprobs = cuda::device_zeros({ints_for<cuda::DrawLogprobs>(buffers.capacity)}, DType::kI32);
  }
  if (num_edits > buffers.edit_capacity) {
    buffers.edit_capacity = std::max<int64_t>(num_edits, 2 * buffers.edit_capacity);
    buffers.host_edits = cuda::pinned_host_zeros({ints_for<cuda::LogitEdit>(buffers.edit_capacity)}, DType::kI32);
    buffers.device_edits = cuda::device_zeros({ints_for<cuda::LogitEdit>(buffers.edit_capacity)}, DType::kI32);
  }
}

void Qwen3CudaForward::issue_draws(int64_t num_rows, const StepSampling& sampling) {
  const auto num_draws = static_cast<int64_t>(sampling.draws.size());
  const auto num_edits = static_cast<int64_t>(sampling.edits.size());
  ensure_draw_buffers(num_draws, num_edits);
  DrawBuffers& buffers = draw_buffers_;
  upload(sampling.draws, buffers.host_params, buffers.device_params, stream_);
  if (num_edits > 0) upload(sampling.edits, buffers.host_edits, buffers.device_edits, stream_);
  cuda::sample_rows(static_cast<cuda::DrawResult*>(buffers.device_results.raw()),
                    static_cast<cuda::DrawLogprobs*>(buffers.device_logprobs.raw()),
                    static_cast<const cuda::DrawParams*>(buffers.device_params.raw()), num_draws,
                    num_edits > 0 ? static_cast<const cuda::LogitEdit*>(buffers.device_edits.raw()) : nullptr,
                    num_edits, logits_buffers_.device.slice_rows(0, num_rows), stream_);
  const int64_t result_ints = ints_for<cuda::DrawResult>(num_draws);
  Tensor host_results = buffers.host_results.slice_rows(0, result_ints);
  cuda::copy_to_host_async(host_results, buffers.device_results.slice_rows(0, result_ints), stream_);
  if (asks_logprobs(sampling)) {
    const int64_t logprob_ints = ints_for<cuda::DrawLogprobs>(num_draws);
    Tensor host_logprobs = buffers.host_logprobs.slice_rows(0, logprob_ints);
    cuda::copy_to_host_async(host_logprobs, buffers.device_logprobs.slice_rows(0, logprob_ints), stream_);
  }
}

// Logits rows `rows` (indices into the step's rows) to the pinned host buffer's slots from
// first_slot on, in order: one copy when they are all the step's rows, else one per row.
void Qwen3CudaForward::copy_rows_to_host(const std::vector<int32_t>& rows, int64_t first_slot, int64_t num_rows) {
  if (rows.empty()) return;
  const auto count = static_cast<int64_t>(rows.size());
  if (first_slot == 0 && count == num_rows) {
    Tensor host = logits_buffers_.host.slice_rows(0, num_rows);
    cuda::copy_to_host_async(host, logits_buffers_.device.slice_rows(0, num_rows), stream_);
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    const int64_t row = rows[static_cast<size_t>(i)];
    Tensor host = logits_buffers_.host.slice_rows(first_slot + i, first_slot + i + 1);
    cuda::copy_to_host_async(host, logits_buffers_.device.slice_rows(row, row + 1), stream_);
  }
}

StepLogits Qwen3CudaForward::sample_and_collect(int64_t num_rows, const StepSampling& sampling) {
  const auto num_draws = static_cast<int64_t>(sampling.draws.size());
  std::vector<int32_t> returned;  // logits rows copied back, in slot order
  for (int32_t row = 0; row < num_rows; ++row) {
    if (sampling.host_rows.empty() || sampling.host_rows[static_cast<size_t>(row)]) returned.push_back(row);
  }
  if (num_draws > 0) issue_draws(num_rows, sampling);
  copy_rows_to_host(returned, 0, num_rows);
  cuda::synchronize(stream_);
  StepLogits step;
  if (num_draws > 0) {
    const auto* results = static_cast<const cuda::DrawResult*>(draw_buffers_.host_results.raw());
    step.draws.assign(results, results + num_draws);
    if (asks_logprobs(sampling)) {
      const auto* logprobs = static_cast<const cuda::DrawLogprobs*>(draw_buffers_.host_logprobs.raw());
      step.logprobs.assign(logprobs, logprobs + num_draws);
    }
  }
  // Rows whose draw the kernel left to the host come back too (rare: see cuda::sample_rows).
  std::vector<int32_t> left;
  for (const cuda::DrawResult& result : step.draws) {
    const int32_t row = sampling.draws[static_cast<size_t>(&result - step.draws.data())].row;
    if (result.status == cuda::DrawStatus::kLeftToHost &&
        std::find(returned.begin(), returned.end(), row) == returned.end() &&
        std::find(left.begin(), left.end(), row) == left.end()) {
      left.push_back(row);
    }
  }
  if (!left.empty()) {
    copy_rows_to_host(left, static_cast<int64_t>(returned.size()), num_rows);
    cuda::synchronize(stream_);
    returned.insert(returned.end(), left.begin(), left.end());
  }
  step.host_row.assign(static_cast<size_t>(num_rows), -1);
  for (size_t slot = 0; slot < returned.size(); ++slot) step.host_row[static_cast<size_t>(returned[slot])] = static_cast<int32_t>(slot);
  step.logits = logits_to_f32(static_cast<int64_t>(returned.size()));
  return step;
}

}  // namespace hanlin::model
