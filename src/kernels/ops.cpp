// The op interface: checks the invariants every kernel trusts (shapes, dtypes, ranges), then
// dispatches on the tensors' device. A failed check is a bug in the caller (kInternal), except
// out-of-range token ids, which can come from a request (kInvalidArgument).
#include "kernels/ops.h"

#include <initializer_list>
#include <string>
#include <string_view>

#include "core/error.h"
#include "kernels/cpu/cpu_ops.h"

namespace hanlin::ops {
namespace {

// A tensor together with the name the error messages use for it.
struct Named {
  std::string_view name;
  const Tensor& tensor;
};

std::string describe(std::initializer_list<Named> tensors) {
  std::string text;
  for (const Named& named : tensors) {
    if (!text.empty()) text += ", ";
    text += std::string(named.name) + " " + shape_to_string(named.tensor.shape()) + " " +
            std::string(dtype_name(named.tensor.dtype()));
  }
  return text;
}

// Throws kInternal naming the op, the broken rule and every tensor involved.
void check(bool condition, std::string_view op, std::string_view rule, std::initializer_list<Named> tensors) {
  if (!condition) {
    throw Error(ErrorKind::kInternal,
                "ops::" + std::string(op) + ": " + std::string(rule) + " (" + describe(tensors) + ")");
  }
}

bool is_float_weight(const Tensor& tensor) {
  return tensor.dtype() == DType::kF32 || tensor.dtype() == DType::kBF16 || tensor.dtype() == DType::kF16;
}

// All tensors on one device; CUDA ones are refused until the CUDA backend exists.
void check_device(std::string_view op, std::initializer_list<Named> tensors) {
  const Device device = tensors.begin()->tensor.device();
  for (const Named& named : tensors) {
    check(named.tensor.device() == device, op, "tensors on different devices", tensors);
  }
  if (device == Device::kCuda) {
    throw Error(ErrorKind::kUnsupported,
                "ops::" + std::string(op) +
                    ": tensors are on the GPU but the CUDA backend is not built into this binary");
  }
}

// Rows of the tensor seen as [rows, width].
int64_t rows_of(const Tensor& tensor, int64_t width) {
  return width == 0 ? 0 : tensor.numel() / width;
}

// f32 activations shaped [..., width] with the same row count as `rows`.
void check_activation(std::string_view op, std::string_view rule, const Tensor& tensor, int64_t width,
                      int64_t rows, std::initializer_list<Named> tensors) {
  check(tensor.dtype() == DType::kF32 && tensor.rank() >= 1 && tensor.dim(-1) == width &&
            rows_of(tensor, width) == rows,
        op, rule, tensors);
}

}  // namespace

void embedding(Tensor& out, const Tensor& table, std::span<const int32_t> token_ids, const Context& ctx) {
  const std::initializer_list<Named> all{{"out", out}, {"table", table}};
  check_device("embedding", all);
  check(table.rank() == 2 && is_float_weight(table), "embedding", "table must be [V, H] f32/bf16/f16", all);
  check_activation("embedding", "out must be [T, H] f32 with T = number of ids", out, table.dim(1),
                   static_cast<int64_t>(token_ids.size()), all);
  const int64_t vocab = table.dim(0);
  for (const int32_t id : token_ids) {
    require(
        id >= 0 && id < vocab, ErrorKind::kInvalidArgument,
        "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  }
  cpu::embedding(out, table, token_ids, ctx);
}

void rms_norm(Tensor& out, const Tensor& in, const Tensor& weight, float eps, const Context& ctx) {
  const std::initializer_list<Named> all{{"out", out}, {"in", in}, {"weight", weight}};
  check_device("rms_norm", all);
  check(weight.rank() == 1 && is_float_weight(weight) && weight.numel() > 0, "rms_norm",
        "weight must be a non-empty vector", all);
  const int64_t width = weight.numel();
  check_activation("rms_norm", "in must be [T, H] f32, H = weight size", in, width, rows_of(in, width), all);
  check_activation("rms_norm", "out must match in", out, width, rows_of(in, width), all);
  cpu::rms_norm(out, in, weight, eps, ctx);
}

void add_rms_norm(Tensor& out, Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                  const Context& ctx) {
  const std::initializer_list<Named> all{{"out", out}, {"residual", residual}, {"x", x}, {"weight", weight}};
  check_device("add_rms_norm", all);
  check(weight.rank() == 1 && is_float_weight(weight) && weight.numel() > 0, "add_rms_norm",
        "weight must be a non-empty vector", all);
  const int64_t width = weight.numel();
  const int64_t rows = rows_of(residual, width);
  check_activation("add_rms_norm", "residual must be [T, H] f32, H = weight size", residual, width, rows,
                   all);
  check_activation("add_rms_norm", "x must match residual", x, width, rows, all);
  check_activation("add_rms_norm", "out must match residual", out, width, rows, all);
  check(out.raw() != residual.raw() || rows == 0, "add_rms_norm", "out must not alias residual", all);
  cpu::add_rms_norm(out, residual, x, weight, eps, ctx);
}

void head_rms_norm(Tensor& x, const Tensor& weight, float eps, const Context& ctx) {
  const std::initializer_list<Named> all{{"x", x}, {"weight", weight}};
  check_device("head_rms_norm", all);
  check(weight.rank() == 1 && is_float_weight(weight) && weight.numel() > 0, "head_rms_norm",
        "weight must be a non-empty [head_dim] vector", all);
  check_activation("head_rms_norm", "x must be [T, heads, head_dim] f32, head_dim = weight size", x,
                   weight.numel(), rows_of(x, weight.numel()), all);
  cpu::head_rms_norm(x, weight, eps, ctx);
}

namespace {

// `all` names every tensor given (bias only when there is one), for the messages.
void check_linear(const Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
                  std::initializer_list<Named> all) {
  check_device("linear", all);
  check(weight.rank() == 2 && is_float_weight(weight), "linear", "weight must be [N, K] f32/bf16/f16", all);
  const int64_t num_outputs = weight.dim(0);
  const int64_t num_inputs = weight.dim(1);
  check(num_inputs > 0, "linear", "K must be positive", all);
  const int64_t rows = rows_of(in, num_inputs);
  check_activation("linear", "in must be [T, K] f32", in, num_inputs, rows, all);
  check_activation("linear", "out must be [T, N] f32", out, num_outputs, rows, all);
  check(out.raw() != in.raw() || rows == 0 || num_outputs == 0, "linear", "out must not alias in", all);
  if (bias) {
    check(bias->rank() == 1 && bias->numel() == num_outputs && is_float_weight(*bias), "linear",
          "bias must be [N] f32/bf16/f16", all);
  }
}

}  // namespace

void linear(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias, const Context& ctx) {
  if (bias) {
    check_linear(out, in, weight, bias, {{"out", out}, {"in", in}, {"weight", weight}, {"bias", *bias}});
  } else {
    check_linear(out, in, weight, nullptr, {{"out", out}, {"in", in}, {"weight", weight}});
  }
  cpu::linear(out, in, weight, bias, ctx);
}

void rope(Tensor& x, std::span<const int32_t> positions, const Tensor& inv_freq, float attention_scaling,
          const Context& ctx) {
  const std::initializer_list<Named> all{{"x", x}, {"inv_freq", inv_freq}};
  check_device("rope", all);
  check(x.rank() == 3 && x.dtype() == DType::kF32 && x.dim(2) % 2 == 0, "rope",
        "x must be [T, heads, head_dim] f32 with an even head_dim", all);
  check(x.dim(0) == static_cast<int64_t>(positions.size()), "rope",
        "x must have one row per position (" + std::to_string(positions.size()) + ")", all);
  check(inv_freq.rank() == 1 && inv_freq.dtype() == DType::kF32 && inv_freq.numel() == x.dim(2) / 2, "rope",
        "inv_freq must be [head_dim / 2] f32", all);
  cpu::rope(x, positions, inv_freq, attention_scaling, ctx);
}

void kv_cache_write(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
                    std::span<const int32_t> slot_mapping, const Context& ctx) {
  const std::initializer_list<Named> all{{"k_cache", k_cache}, {"v_cache", v_cache}, {"k", k}, {"v", v}};
  check_device("kv_cache_write", all);
  check(k_cache.rank() == 4 && k_cache.dtype() == DType::kF32 && v_cache.shape() == k_cache.shape() &&
            v_cache.dtype() == DType::kF32,
        "kv_cache_write", "caches must both be [num_blocks, block_size, kv_heads, head_dim] f32", all);
  check(k.rank() == 3 && k.dtype() == DType::kF32 && v.shape() == k.shape() && v.dtype() == DType::kF32 &&
            k.dim(1) == k_cache.dim(2) && k.dim(2) == k_cache.dim(3),
        "kv_cache_write", "k and v must both be [T, kv_heads, head_dim] f32 matching the caches", all);
  check(k.dim(0) == static_cast<int64_t>(slot_mapping.size()), "kv_cache_write",
        "slot_mapping must have one slot per row (" + std::to_string(slot_mapping.size()) + ")", all);
  const int64_t num_slots = k_cache.dim(0) * k_cache.dim(1);
  for (const int32_t slot : slot_mapping) {
    check(slot >= -1 && slot < num_slots, "kv_cache_write",
          "slot " + std::to_string(slot) + " outside [-1, " + std::to_string(num_slots) + ")", all);
  }
  cpu::kv_cache_write(k_cache, v_cache, k, v, slot_mapping, ctx);
}

namespace {

// One sequence's rows lie inside q and every block its context needs is a real block.
void check_attention_seq(const AttentionSeq& seq, const Tensor& q, int64_t num_blocks, int64_t block_size,
                         std::initializer_list<Named> all) {
  const std::string which = "sequence with q_start " + std::to_string(seq.q_start) + ", q_len " +
                            std::to_string(seq.q_len) + ", context_len " + std::to_string(seq.context_len);
  check(seq.q_start >= 0 && seq.q_len >= 0 && seq.q_start + int64_t{seq.q_len} <= q.dim(0), "paged_attention",
        which + ": query rows outside q", all);
  check(seq.q_len <= seq.context_len, "paged_attention", which + ": q_len exceeds context_len", all);
  const int64_t blocks_needed = (seq.context_len + block_size - 1) / block_size;
  check(static_cast<int64_t>(seq.block_table.size()) >= blocks_needed, "paged_attention",
        which + ": block table has " + std::to_string(seq.block_table.size()) + " blocks, needs " +
            std::to_string(blocks_needed),
        all);
  for (int64_t b = 0; b < blocks_needed; ++b) {
    const int32_t block = seq.block_table[static_cast<size_t>(b)];
    check(block >= 0 && block < num_blocks, "paged_attention",
          which + ": block " + std::to_string(block) + " outside the cache", all);
  }
}

}  // namespace

void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     std::span<const AttentionSeq> seqs, float scale, const Context& ctx) {
  const std::initializer_list<Named> all{{"out", out}, {"q", q}, {"k_cache", k_cache}, {"v_cache", v_cache}};
  check_device("paged_attention", all);
  check(k_cache.rank() == 4 && k_cache.dtype() == DType::kF32 && v_cache.shape() == k_cache.shape() &&
            v_cache.dtype() == DType::kF32 && k_cache.dim(1) > 0 && k_cache.dim(2) > 0,
        "paged_attention", "caches must both be [num_blocks, block_size, kv_heads, head_dim] f32", all);
  check(q.rank() == 3 && q.dtype() == DType::kF32 && q.dim(2) == k_cache.dim(3) &&
            q.dim(1) % k_cache.dim(2) == 0,
        "paged_attention", "q must be [T, heads, head_dim] f32 with heads a multiple of kv_heads", all);
  check(out.shape() == q.shape() && out.dtype() == DType::kF32, "paged_attention", "out must match q", all);
  check(out.raw() != q.raw() || q.numel() == 0, "paged_attention", "out must not alias q", all);
  for (const AttentionSeq& seq : seqs) check_attention_seq(seq, q, k_cache.dim(0), k_cache.dim(1), all);
  cpu::paged_attention(out, q, k_cache, v_cache, seqs, scale, ctx);
}

void silu_mul(Tensor& out, const Tensor& gate, const Tensor& up, const Context& ctx) {
  const std::initializer_list<Named> all{{"out", out}, {"gate", gate}, {"up", up}};
  check_device("silu_mul", all);
  check(gate.dtype() == DType::kF32 && up.dtype() == DType::kF32 && out.dtype() == DType::kF32 &&
            gate.shape() == up.shape() && out.shape() == gate.shape(),
        "silu_mul", "out, gate and up must be f32 of one shape", all);
  cpu::silu_mul(out, gate, up, ctx);
}

}  // namespace hanlin::ops
