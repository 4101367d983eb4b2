// Where a decode step's GPU time goes: each op of one Qwen3 layer (and the final norm, row gather
// and lm_head) on a preset's shapes at --tokens rows, one decode row per sequence, on one stream.
// Each op runs --calls times back to back between two CUDA events, after a warm-up: captured in
// a CUDA graph and replayed, as a decode step runs them (--eager: issued one by one, so launch
// gaps count too). The mean per call is taken 5 times and the median printed. The GEMVs cycle
// through copies of their weight, and attention through copies of its KV blocks, four L2s' worth
// or more in all, so they read memory and not L2, as in a real step where the other layers'
// weights pass through L2 in between. Random bf16 data throughout, never zeros. Then the layer's
// ops run as one sequence (attention at context 1024), against the sum of their times, and the
// step time it implies for the preset's layer count plus the final norm, gather and lm_head.
// Bytes are what an op must move (weights, KV read, activations); GB/s against --peak-tbs.
//
// Usage: cuda_decode_ops_bench [--preset NAME] [--tokens N] [--calls K] [--peak-tbs X] [--eager]
#include <cstdio>

#include "cuda_bench_util.h"

#ifdef HANLIN_HAS_CUDA

#include <cuda_runtime.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/model_config.h"
#include "kernels/cuda/cuda_ops.h"
#include "model/presets.h"

namespace hanlin {
namespace {

using cuda_bench::copies_beyond_l2;
using cuda_bench::device_ints;
using cuda_bench::random_device_tensor;

constexpr int kWarmupCalls = 5;
constexpr int kRepeats = 5;
constexpr int64_t kBlockSize = 16;
const int64_t kContexts[] = {128, 1024, 4096};
constexpr int64_t kLayerContext = 1024;

// Copies of a random weight [rows, cols], scaled by 1/sqrt(cols) so activations stay near 1.
std::vector<Tensor> weight_copies(int64_t rows, int64_t cols, uint32_t seed) {
  std::vector<Tensor> copies;
  const int count = copies_beyond_l2(2.0 * static_cast<double>(rows * cols));
  const float scale = 1.0f / std::sqrt(static_cast<float>(cols));
  for (int c = 0; c < count; ++c)
    copies.push_back(random_device_tensor({rows, cols}, seed + 97 * static_cast<uint32_t>(c), scale));
  return copies;
}

const Tensor& pick(const std::vector<Tensor>& v, int i) {
  return v[static_cast<size_t>(i) % v.size()];
}

// Median over kRepeats of the mean GPU seconds of `calls` back-to-back calls fn(i) on `stream`:
// issued one by one, or (as_graph) captured once into a CUDA graph that each repeat replays, as
// a decode step runs (no launch gaps). Eager calls first, which also set up cuBLASLt's plans.
double seconds_per_call(cudaStream_t stream, int calls, bool as_graph, const std::function<void(int)>& fn) {
  for (int i = 0; i < kWarmupCalls; ++i) fn(i);
  std::shared_ptr<cuda::Graph> graph;
  if (as_graph) {
    cuda::synchronize(stream);
    cuda::begin_capture(stream);
    for (int i = 0; i < calls; ++i) fn(i);
    graph = cuda::end_capture(stream);
    cuda::launch_graph(*graph, stream);
  }
  cuda_bench::EventTimer timer;
  return cuda_bench::median_seconds_per_call(timer, stream, calls, kRepeats, [&] {
    if (graph) {
      cuda::launch_graph(*graph, stream);
    } else {
      for (int i = 0; i < calls; ++i) fn(i);
    }
  });
}

// Paged KV for one decode row per sequence at one context length, in `copies` disjoint sets of
// blocks: call i reads set i % copies (block_tables rows [c·T, (c+1)·T)).
struct AttentionSet {
  int64_t context = 0;
  int copies = 0;
  Tensor k_cache, v_cache, seqs, block_tables, row_seq;
  double kv_bytes = 0;  // K and V read per call
};

AttentionSet make_attention(const io::ModelConfig& config, int64_t tokens, int64_t context) {
  AttentionSet set;
  set.context = context;
  const int64_t kv_width = config.num_key_value_heads * config.head_dim;
  set.kv_bytes = 2.0 * 2.0 * static_cast<double>(tokens * context * kv_width);
  set.copies = copies_beyond_l2(set.kv_bytes);
  const int64_t max_blocks = (context + kBlockSize - 1) / kBlockSize;
  const int64_t num_blocks = set.copies * tokens * max_blocks;
  const Shape cache_shape{num_blocks, kBlockSize, config.num_key_value_heads, config.head_dim};
  set.k_cache = random_device_tensor(cache_shape, 11);
  set.v_cache = random_device_tensor(cache_shape, 12);
  std::vector<int32_t> tables(static_cast<size_t>(num_blocks));
  std::iota(tables.begin(), tables.end(), 0);  // distinct blocks
  set.block_tables = device_ints(tables, {set.copies * tokens, max_blocks});
  std::vector<int32_t> rows(static_cast<size_t>(tokens)), seqs;
  std::iota(rows.begin(), rows.end(), 0);
  for (const int32_t row : rows) seqs.insert(seqs.end(), {row, 1, static_cast<int32_t>(context)});
  set.seqs = device_ints(seqs, {tokens, 3});
  set.row_seq = device_ints(rows, {tokens});
  return set;
}

// One layer's weights (copies), activations and caches, and each op as a call of index i.
struct DecodeLayer {
  io::ModelConfig c;
  int64_t t = 1;  // tokens
  cuda::Stream stream = nullptr;
  int64_t q_width = 0, qkv_width = 0;
  std::vector<Tensor> qkv_w, o_w, gate_up_w, down_w, lm_head_w;
  Tensor norm_w, q_norm, k_norm, residual, x, normed, qkv, q, attn, attn_out, scratch, activated, mlp_out;
  Tensor rows, logits, table, row_ids, positions, inv_freq, slots, k_cache, v_cache;
  std::vector<AttentionSet> attention;
  size_t layer_attention = 0;  // the set at kLayerContext
  float eps = 0, scale = 0;

  DecodeLayer(const io::ModelConfig& config, int64_t tokens, cuda::Stream on)
      : c(config), t(tokens), stream(on) {
    q_width = c.num_attention_heads * c.head_dim;
    qkv_width = q_width + 2 * c.num_key_value_heads * c.head_dim;
    eps = static_cast<float>(c.rms_norm_eps);
    scale = static_cast<float>(std::pow(static_cast<double>(c.head_dim), -0.5));
    qkv_w = weight_copies(qkv_width, c.hidden_size, 100);
    o_w = weight_copies(c.hidden_size, q_width, 200);
    gate_up_w = weight_copies(2 * c.intermediate_size, c.hidden_size, 300);
    down_w = weight_copies(c.hidden_size, c.intermediate_size, 400);
    lm_head_w = weight_copies(c.vocab_size, c.hidden_size, 500);
    make_activations();
    make_rope_inputs();
    for (const int64_t context : kContexts) attention.push_back(make_attention(c, t, context));
    layer_attention = static_cast<size_t>(
        std::find(std::begin(kContexts), std::end(kContexts), kLayerContext) - std::begin(kContexts));
  }

  void make_activations() {
    const int64_t h = c.hidden_size, d = c.head_dim;
    uint32_t seed = 0;
    const auto random = [&](Shape shape) { return random_device_tensor(std::move(shape), ++seed); };
    for (Tensor* hidden : {&residual, &x, &normed, &attn_out, &mlp_out, &rows, &table}) {
      *hidden = random({t, h});
    }
    for (Tensor* heads : {&q, &attn}) *heads = random({t, c.num_attention_heads, d});
    norm_w = random({h});
    for (Tensor* head_norm : {&q_norm, &k_norm}) *head_norm = random({d});
    qkv = random({t, qkv_width});
    scratch = random({t, 2 * c.intermediate_size});
    activated = random({t, c.intermediate_size});
    logits = random({t, c.vocab_size});
    const int64_t cache_blocks = std::max<int64_t>(4, (t + kBlockSize - 1) / kBlockSize);
    k_cache = random({cache_blocks, kBlockSize, c.num_key_value_heads, d});
    v_cache = random({cache_blocks, kBlockSize, c.num_key_value_heads, d});
  }

  // Slots 0..T-1 of the small cache, the last T positions of a kLayerContext context, the
  // rotary frequencies, and the gather's row ids (the table's rows in reverse).
  void make_rope_inputs() {
    std::vector<int32_t> ids(static_cast<size_t>(t));
    std::iota(ids.begin(), ids.end(), 0);
    slots = device_ints(ids, {t});
    std::reverse(ids.begin(), ids.end());
    row_ids = device_ints(ids, {t});
    std::iota(ids.begin(), ids.end(), static_cast<int32_t>(kLayerContext - t));
    positions = device_ints(ids, {t});
    const int64_t half = c.head_dim / 2;
    Tensor freq = Tensor::zeros({half}, DType::kF32);
    for (int64_t i = 0; i < half; ++i) {
      freq.data<float>()[i] = static_cast<float>(std::pow(c.rope.theta, -static_cast<double>(i) / half));
    }
    inv_freq = cuda::to_device(freq);
  }

  void add_norm(int) { cuda::add_rms_norm(normed, residual, x, norm_w, eps, stream); }
  void qkv_proj(int i) { cuda::linear(qkv, normed, pick(qkv_w, i), nullptr, stream); }
  void rope_write(int) {
    cuda::qkv_rope_cache_write(q, k_cache, v_cache, qkv, &q_norm, &k_norm, eps, positions, inv_freq, 1.0f,
                               slots, stream);
  }
  void attend(const AttentionSet& set, int i) {
    const int64_t copy = i % set.copies;
    const Tensor tables = set.block_tables.slice_rows(copy * t, (copy + 1) * t);
    cuda::paged_attention(attn, q, set.k_cache, set.v_cache, set.seqs, tables, set.row_seq, scale,
                          cuda::attention_way(t, set.context), stream);
  }
  void o_proj(int i) { cuda::linear(attn_out, attn.reshape({t, q_width}), pick(o_w, i), nullptr, stream); }
  void gated(int i) { cuda::gated_linear(activated, normed, pick(gate_up_w, i), scratch, stream); }
  void down(int i) { cuda::linear(mlp_out, activated, pick(down_w, i), nullptr, stream); }
  void gather(int) { cuda::embedding(rows, table, row_ids, stream); }
  void lm_head(int i) { cuda::linear(logits, rows, pick(lm_head_w, i), nullptr, stream); }
  // The layer as the model issues it: its two norms add the attention and MLP outputs.
  void whole_layer(int i) {
    cuda::add_rms_norm(normed, residual, mlp_out, norm_w, eps, stream);
    qkv_proj(i);
    rope_write(i);
    attend(attention[layer_attention], i);
    o_proj(i);
    cuda::add_rms_norm(normed, residual, attn_out, norm_w, eps, stream);
    gated(i);
    down(i);
  }
};

struct Row {
  std::string name;
  double bytes = 0;
  double seconds = 0;
};

void print_row(const Row& row, double peak_bytes_per_second) {
  const double bytes_per_second = row.bytes / row.seconds;
  std::printf("%-22s %10.2f %14.0f %9.1f %7.1f%%\n", row.name.c_str(), row.seconds * 1e6, row.bytes,
              bytes_per_second * 1e-9, 100 * bytes_per_second / peak_bytes_per_second);
}

// Each op's row: its bytes and its time per call; attention at each of kContexts.
struct OpRows {
  Row norm, qkv, rope;
  std::vector<Row> attention;
  Row o, gated, down, gather, lm_head;
};

using TimeFn = std::function<double(const std::function<void(int)>&)>;

OpRows time_ops(DecodeLayer& layer, const TimeFn& time) {
  const io::ModelConfig& c = layer.c;
  const double t = static_cast<double>(layer.t), h = static_cast<double>(c.hidden_size);
  const double inter = static_cast<double>(c.intermediate_size), vocab = static_cast<double>(c.vocab_size);
  const double q_width = static_cast<double>(layer.q_width), qkv_width = static_cast<double>(layer.qkv_width);
  const double d = static_cast<double>(c.head_dim);
  // A GEMV reads its weight [n, k] and input, and writes its output.
  const auto gemv = [&](double n, double k, double written) { return 2 * (n * k + t * k + t * written); };
  OpRows r;
  // Reads residual, x and the weight; writes residual and out.
  r.norm = {"add_rms_norm", 2 * (4 * t * h + h), time([&](int i) { layer.add_norm(i); })};
  r.qkv = {"linear qkv", gemv(qkv_width, h, qkv_width), time([&](int i) { layer.qkv_proj(i); })};
  // Reads qkv and writes q, k and v; the norm weights, positions, slots and inv_freq.
  r.rope = {"qkv_rope_cache_write", 2 * (2 * t * qkv_width + 2 * d) + 8 * t + 2 * d,
            time([&](int i) { layer.rope_write(i); })};
  for (const AttentionSet& set : layer.attention) {
    r.attention.push_back({"paged_attention " + std::to_string(set.context),
                           set.kv_bytes + 2 * 2 * t * q_width, time([&](int i) { layer.attend(set, i); })});
  }
  r.o = {"linear o_proj", gemv(h, q_width, h), time([&](int i) { layer.o_proj(i); })};
  r.gated = {"gated_linear gate_up", gemv(2 * inter, h, inter), time([&](int i) { layer.gated(i); })};
  r.down = {"linear down", gemv(h, inter, h), time([&](int i) { layer.down(i); })};
  r.gather = {"embedding (gather)", 2 * 2 * t * h + 4 * t, time([&](int i) { layer.gather(i); })};
  r.lm_head = {"linear lm_head", gemv(vocab, h, vocab), time([&](int i) { layer.lm_head(i); })};
  return r;
}

// The layer in sequence against the sum of its ops, and the decode step that implies.
void print_layer_and_step(const OpRows& r, DecodeLayer& layer, const TimeFn& time, double peak) {
  Row sum{"layer (sum of ops)", 0, 0};
  for (const Row& part :
       {r.norm, r.qkv, r.rope, r.attention[layer.layer_attention], r.o, r.norm, r.gated, r.down}) {
    sum.bytes += part.bytes;
    sum.seconds += part.seconds;
  }
  const Row whole{"layer (in sequence)", sum.bytes, time([&](int i) { layer.whole_layer(i); })};
  std::printf("\nlayer at context %lld:\n", static_cast<long long>(kLayerContext));
  print_row(sum, peak);
  print_row(whole, peak);
  const int64_t layers = layer.c.num_hidden_layers;
  const double n = static_cast<double>(layers);
  const Row step{"step: " + std::to_string(layers) + " layers + head",
                 n * whole.bytes + r.norm.bytes + r.gather.bytes + r.lm_head.bytes,
                 n * whole.seconds + r.norm.seconds + r.gather.seconds + r.lm_head.seconds};
  std::printf("\nimplied decode step (layers in sequence, then add_rms_norm, gather, lm_head):\n");
  print_row(step, peak);
  std::printf("%-22s %10.1f steps/s\n", "", 1.0 / step.seconds);
}

int run(const std::string& preset, int64_t tokens, int calls, double peak_tbs, bool eager) {
  if (!cuda_bench::require_gpu()) return 1;
  const io::ModelConfig config = model::preset_config(preset);
  const std::shared_ptr<void> stream_owner = cuda::create_stream();
  const auto stream = static_cast<cudaStream_t>(stream_owner.get());
  DecodeLayer layer(config, tokens, stream_owner.get());
  const cudaDeviceProp properties = cuda_bench::device_properties();
  std::printf("%s, L2 %d MB; %s at T = %lld: %d back-to-back calls %s, median of %d; peak %.2f TB/s\n\n",
              properties.name, properties.l2CacheSize >> 20, preset.c_str(), static_cast<long long>(tokens),
              calls, eager ? "issued one by one" : "in a CUDA graph", kRepeats, peak_tbs);
  const TimeFn time = [&](const std::function<void(int)>& fn) {
    return seconds_per_call(stream, calls, !eager, fn);
  };
  const OpRows r = time_ops(layer, time);
  const double peak = peak_tbs * 1e12;
  std::printf("%-22s %10s %14s %9s %8s\n", "op", "us/call", "bytes", "GB/s", "of peak");
  for (const Row* row : {&r.norm, &r.qkv, &r.rope}) print_row(*row, peak);
  for (const Row& row : r.attention) print_row(row, peak);
  for (const Row* row : {&r.o, &r.gated, &r.down, &r.gather, &r.lm_head}) print_row(*row, peak);
  print_layer_and_step(r, layer, time, peak);
  return 0;
}

}  // namespace
}  // namespace hanlin

int main(int argc, char** argv) {
  CLI::App app{"The GPU ops of one Qwen3 decode step, timed one by one"};
  std::string preset = "qwen3-8b";
  int64_t tokens = 1;
  int calls = 200;
  double peak_tbs = 3.0;
  app.add_option("--preset", preset, "Model shapes (model::preset_config)")->capture_default_str();
  app.add_option("--tokens", tokens, "Decode rows, one per sequence")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--calls", calls, "Back-to-back calls per timed batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--peak-tbs", peak_tbs, "Memory bandwidth to compare against, TB/s")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  bool eager = false;
  app.add_flag("--eager", eager, "Issue the calls one by one instead of replaying them as a CUDA graph");
  CLI11_PARSE(app, argc, argv);
  return hanlin::cuda_bench::run_reporting_errors(
      [&] { return hanlin::run(preset, tokens, calls, peak_tbs, eager); });
}

#else  // HANLIN_HAS_CUDA

int main() { return hanlin::cuda_bench::main_without_cuda(); }

#endif  // HANLIN_HAS_CUDA
