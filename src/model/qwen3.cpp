// Qwen3Model: loading and the forward pass. The layer structure follows transformers'
// Qwen3DecoderLayer / Qwen2DecoderLayer: pre-norm attention and SwiGLU MLP, each added to
// the residual stream (fused with the next norm through ops::add_rms_norm).
#include "model/qwen3.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>

#include "core/error.h"
#include "kernels/ops.h"

namespace hanlin::model {
namespace {

// What error messages call the checkpoint: its one safetensors file, or its shard index.
std::string checkpoint_label(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  if (std::filesystem::exists(dir / "model.safetensors")) return (dir / "model.safetensors").string();
  if (std::filesystem::exists(dir / "model.safetensors.index.json")) {
    return (dir / "model.safetensors.index.json").string();
  }
  return model_dir;
}

const Tensor* optional_tensor(const Tensor& tensor) { return tensor.defined() && tensor.numel() > 0 ? &tensor : nullptr; }

// Copies `rows` of src [T, H] into a new [rows.size(), H] tensor.
Tensor gather_rows(const Tensor& src, std::span<const int32_t> rows) {
  const int64_t width = src.dim(1);
  Tensor out = Tensor::zeros({static_cast<int64_t>(rows.size()), width}, DType::kF32);
  const float* from = src.data<float>();
  float* to = out.data<float>();
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(to + static_cast<int64_t>(i) * width, from + int64_t{rows[i]} * width,
                static_cast<size_t>(width) * sizeof(float));
  }
  return out;
}

}  // namespace

Qwen3Model::Qwen3Model(io::ModelConfig config, std::optional<io::WeightStore> store, Qwen3Weights weights,
                       ThreadPool& pool)
    : config_(std::move(config)),
      store_(std::move(store)),
      weights_(std::move(weights)),
      rope_(compute_rope_frequencies(config_)),
      pool_(&pool) {}

Qwen3Model Qwen3Model::load(const std::string& model_dir, ThreadPool& pool) {
  io::ModelConfig config = io::load_model_config((std::filesystem::path(model_dir) / "config.json").string());
  io::WeightStore store = io::WeightStore::open_dir(model_dir);
  Qwen3Weights weights = load_qwen3_weights(store, config, checkpoint_label(model_dir));
  return Qwen3Model(std::move(config), std::move(store), std::move(weights), pool);
}

Qwen3Model Qwen3Model::dummy(const io::ModelConfig& config, uint64_t seed, ThreadPool& pool) {
  Qwen3Weights weights = make_dummy_qwen3_weights(config, seed, pool);
  return Qwen3Model(config, std::nullopt, std::move(weights), pool);
}

void Qwen3Model::ensure_scratch(int64_t num_tokens) {
  if (num_tokens <= scratch_.capacity) return;
  const int64_t hidden = config_.hidden_size;
  const int64_t q_width = config_.num_attention_heads * config_.head_dim;
  const int64_t kv_width = config_.num_key_value_heads * config_.head_dim;
  const int64_t inter = config_.intermediate_size;
  scratch_ = Scratch{};  // free the old buffers before taking bigger ones
  scratch_.residual = Tensor::zeros({num_tokens, hidden}, DType::kF32);
  scratch_.normed = Tensor::zeros({num_tokens, hidden}, DType::kF32);
  scratch_.attn_out = Tensor::zeros({num_tokens, hidden}, DType::kF32);
  scratch_.mlp_out = Tensor::zeros({num_tokens, hidden}, DType::kF32);
  scratch_.q = Tensor::zeros({num_tokens, q_width}, DType::kF32);
  scratch_.attn = Tensor::zeros({num_tokens, q_width}, DType::kF32);
  scratch_.k = Tensor::zeros({num_tokens, kv_width}, DType::kF32);
  scratch_.v = Tensor::zeros({num_tokens, kv_width}, DType::kF32);
  scratch_.gate = Tensor::zeros({num_tokens, inter}, DType::kF32);
  scratch_.up = Tensor::zeros({num_tokens, inter}, DType::kF32);
  scratch_.activated = Tensor::zeros({num_tokens, inter}, DType::kF32);
  scratch_.capacity = num_tokens;
}

void Qwen3Model::check_token_ids(const BatchView& batch) const {
  for (int32_t id : batch.token_ids) {
    require(id >= 0 && id < config_.vocab_size, ErrorKind::kInvalidArgument,
            "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                std::to_string(config_.vocab_size) + ")");
  }
}

// normed [T, H] → attn_out [T, H]; writes this layer's K/V rows into the cache.
void Qwen3Model::attention_block(int64_t layer, const BatchView& batch, KvCache& cache, int64_t num_tokens) {
  const Qwen3LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const ops::Context ctx{pool_};
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const int64_t head_dim = config_.head_dim;
  const Tensor normed = scratch_.normed.slice_rows(0, num_tokens);
  Tensor q = scratch_.q.slice_rows(0, num_tokens);  // [T, Nq·D]
  Tensor k = scratch_.k.slice_rows(0, num_tokens);  // [T, Nkv·D]
  Tensor v = scratch_.v.slice_rows(0, num_tokens);  // [T, Nkv·D]
  ops::linear(q, normed, w.q_proj, optional_tensor(w.q_bias), ctx);
  ops::linear(k, normed, w.k_proj, optional_tensor(w.k_bias), ctx);
  ops::linear(v, normed, w.v_proj, optional_tensor(w.v_bias), ctx);

  Tensor q_heads = q.reshape({num_tokens, config_.num_attention_heads, head_dim});
  Tensor k_heads = k.reshape({num_tokens, config_.num_key_value_heads, head_dim});
  const Tensor v_heads = v.reshape({num_tokens, config_.num_key_value_heads, head_dim});
  if (config_.qk_norm) {
    ops::head_rms_norm(q_heads, w.q_norm, eps, ctx);
    ops::head_rms_norm(k_heads, w.k_norm, eps, ctx);
  }
  ops::rope(q_heads, batch.positions, rope_.inv_freq, rope_.attention_scaling, ctx);
  ops::rope(k_heads, batch.positions, rope_.inv_freq, rope_.attention_scaling, ctx);
  ops::kv_cache_write(cache.keys(layer), cache.values(layer), k_heads, v_heads, batch.slot_mapping, ctx);

  Tensor attn = scratch_.attn.slice_rows(0, num_tokens);  // [T, Nq·D]
  Tensor attn_heads = attn.reshape({num_tokens, config_.num_attention_heads, head_dim});
  // transformers scales scores by head_dim ** -0.5, a Python double, applied in f32.
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim), -0.5));
  ops::paged_attention(attn_heads, q_heads, cache.keys(layer), cache.values(layer), batch.seqs, scale, ctx);
  Tensor attn_out = scratch_.attn_out.slice_rows(0, num_tokens);
  ops::linear(attn_out, attn, w.o_proj, optional_tensor(w.o_bias), ctx);
}

// normed [T, H] → mlp_out [T, H] = down(silu(gate(x)) · up(x)).
void Qwen3Model::mlp_block(int64_t layer, int64_t num_tokens) {
  const Qwen3LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const ops::Context ctx{pool_};
  const Tensor normed = scratch_.normed.slice_rows(0, num_tokens);
  Tensor gate = scratch_.gate.slice_rows(0, num_tokens);  // [T, I]
  Tensor up = scratch_.up.slice_rows(0, num_tokens);      // [T, I]
  ops::linear(gate, normed, w.gate_proj, nullptr, ctx);
  ops::linear(up, normed, w.up_proj, nullptr, ctx);
  Tensor activated = scratch_.activated.slice_rows(0, num_tokens);  // [T, I]
  ops::silu_mul(activated, gate, up, ctx);
  Tensor mlp_out = scratch_.mlp_out.slice_rows(0, num_tokens);
  ops::linear(mlp_out, activated, w.down_proj, nullptr, ctx);
}

// The last residual add, final norm and lm_head, for the requested rows only.
Tensor Qwen3Model::final_logits(const BatchView& batch, int64_t num_tokens) {
  const int64_t num_rows = static_cast<int64_t>(batch.logits_rows.size());
  Tensor logits = Tensor::zeros({num_rows, config_.vocab_size}, DType::kF32);  // [R, V]
  if (num_rows == 0) return logits;
  const ops::Context ctx{pool_};
  Tensor residual = gather_rows(scratch_.residual.slice_rows(0, num_tokens), batch.logits_rows);  // [R, H]
  const Tensor mlp_out = gather_rows(scratch_.mlp_out.slice_rows(0, num_tokens), batch.logits_rows);
  Tensor normed = Tensor::zeros({num_rows, config_.hidden_size}, DType::kF32);
  ops::add_rms_norm(normed, residual, mlp_out, weights_.final_norm, static_cast<float>(config_.rms_norm_eps), ctx);
  ops::linear(logits, normed, weights_.lm_head, nullptr, ctx);
  return logits;
}

void Qwen3Model::move_to_gpu() {
  if (!cuda_) cuda_ = std::make_unique<Qwen3CudaForward>(config_, weights_, rope_, pool_);
}

StepLogits Qwen3Model::forward(const BatchView& batch, KvCache& cache, const StepSampling& sampling) {
  if (cuda_) return cuda_->forward(batch, cache, sampling);
  StepLogits step;
  step.logits = forward(batch, cache);
  for (int32_t row = 0; row < static_cast<int32_t>(batch.logits_rows.size()); ++row) step.host_row.push_back(row);
  step.draws.assign(sampling.draws.size(), DrawResult{});
  return step;
}

Tensor Qwen3Model::forward(const BatchView& batch, KvCache& cache) {
  if (cuda_) return cuda_->forward(batch, cache, StepSampling{}).logits;
  batch.validate(cache.num_blocks(), cache.block_size());
  if (cache.num_layers() != config_.num_hidden_layers) {
    throw Error(ErrorKind::kInternal, "KV cache has " + std::to_string(cache.num_layers()) +
                                          " layers, the model " + std::to_string(config_.num_hidden_layers));
  }
  check_token_ids(batch);
  const int64_t num_tokens = batch.num_tokens();
  ensure_scratch(num_tokens);
  const ops::Context ctx{pool_};
  const float eps = static_cast<float>(config_.rms_norm_eps);
  Tensor residual = scratch_.residual.slice_rows(0, num_tokens);  // [T, H]
  Tensor normed = scratch_.normed.slice_rows(0, num_tokens);      // [T, H]
  const Tensor attn_out = scratch_.attn_out.slice_rows(0, num_tokens);
  const Tensor mlp_out = scratch_.mlp_out.slice_rows(0, num_tokens);
  ops::embedding(residual, weights_.embed_tokens, batch.token_ids, ctx);
  for (int64_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    const Qwen3LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    if (layer == 0) {
      ops::rms_norm(normed, residual, w.input_norm, eps, ctx);
    } else {
      ops::add_rms_norm(normed, residual, mlp_out, w.input_norm, eps, ctx);
    }
    attention_block(layer, batch, cache, num_tokens);
    ops::add_rms_norm(normed, residual, attn_out, w.post_attention_norm, eps, ctx);
    mlp_block(layer, num_tokens);
  }
  return final_logits(batch, num_tokens);
}

}  // namespace hanlin::model
