// Reference paged KV-cache write and causal paged attention: one query row and one head at a
// time, two-pass softmax in double, K/V rows found through each sequence's block table.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ref/ref_ops.h"

namespace hanlin::ref {
namespace {

// The cache's geometry: [num_blocks, block_size, kv_heads, head_dim].
struct CacheShape {
  int64_t block_size;
  int64_t kv_heads;
  int64_t head_dim;
};

// Start of the row for `position` of kv head `kv_head` in a cache.
const float* cache_row(const float* cache, const CacheShape& shape, std::span<const int32_t> block_table,
                       int64_t position, int64_t kv_head) {
  const int64_t slot =
      block_table[position / shape.block_size] * shape.block_size + position % shape.block_size;
  return cache + (slot * shape.kv_heads + kv_head) * shape.head_dim;
}

// out[head_dim] = softmax over positions 0..last of (q·k * scale) applied to v.
void attend_one_row(float* out, const float* q, const float* k_cache, const float* v_cache,
                    const CacheShape& shape, std::span<const int32_t> block_table, int64_t last,
                    int64_t kv_head, float scale) {
  std::vector<double> scores(static_cast<size_t>(last + 1));
  for (int64_t p = 0; p <= last; ++p) {
    const float* k = cache_row(k_cache, shape, block_table, p, kv_head);
    double dot = 0;
    for (int64_t d = 0; d < shape.head_dim; ++d) dot += static_cast<double>(q[d]) * k[d];
    scores[static_cast<size_t>(p)] = dot * scale;
  }
  const double max_score = *std::max_element(scores.begin(), scores.end());
  double denominator = 0;
  for (double& score : scores) {
    score = std::exp(score - max_score);
    denominator += score;
  }
  std::vector<double> sum(static_cast<size_t>(shape.head_dim), 0.0);
  for (int64_t p = 0; p <= last; ++p) {
    const float* v = cache_row(v_cache, shape, block_table, p, kv_head);
    for (int64_t d = 0; d < shape.head_dim; ++d)
      sum[static_cast<size_t>(d)] += scores[static_cast<size_t>(p)] * v[d];
  }
  for (int64_t d = 0; d < shape.head_dim; ++d)
    out[d] = static_cast<float>(sum[static_cast<size_t>(d)] / denominator);
}

}  // namespace

void kv_cache_write(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
                    std::span<const int32_t> slot_mapping, const ops::Context&) {
  const int64_t row = k.numel() / std::max<int64_t>(k.dim(0), 1);  // kv_heads * head_dim
  for (size_t t = 0; t < slot_mapping.size(); ++t) {
    if (slot_mapping[t] < 0) continue;
    for (int64_t i = 0; i < row; ++i) {
      k_cache.data<float>()[slot_mapping[t] * row + i] = k.data<float>()[static_cast<int64_t>(t) * row + i];
      v_cache.data<float>()[slot_mapping[t] * row + i] = v.data<float>()[static_cast<int64_t>(t) * row + i];
    }
  }
}

void paged_attention(Tensor& out, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     std::span<const ops::AttentionSeq> seqs, float scale, const ops::Context& ctx) {
  const int64_t num_heads = q.dim(1);
  const CacheShape shape{k_cache.dim(1), k_cache.dim(2), k_cache.dim(3)};
  const int64_t group = num_heads / shape.kv_heads;
  struct QueryRow {
    int64_t row;
    int64_t last;  // the causal limit, inclusive
    std::span<const int32_t> block_table;
  };
  std::vector<QueryRow> rows;
  for (const ops::AttentionSeq& seq : seqs) {
    for (int64_t i = 0; i < seq.q_len; ++i)
      rows.push_back({seq.q_start + i, seq.context_len - seq.q_len + i, seq.block_table});
  }
  // Item r · num_heads + h: query row r, head h.
  for_each_output(static_cast<int64_t>(rows.size()) * num_heads, ctx, [&](int64_t item) {
    const QueryRow& query = rows[static_cast<size_t>(item / num_heads)];
    const int64_t h = item % num_heads;
    const int64_t offset = (query.row * num_heads + h) * shape.head_dim;
    attend_one_row(out.data<float>() + offset, q.data<float>() + offset, k_cache.data<float>(), v_cache.data<float>(),
                   shape, query.block_table, query.last, h / group, scale);
  });
}

}  // namespace hanlin::ref
