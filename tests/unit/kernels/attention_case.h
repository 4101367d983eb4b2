// The inputs of one paged-attention launch, shared by the tests of cuda::paged_attention and
// cuda::prefill_attention: sequences whose cache blocks are handed out in shuffled order, block
// tables padded with poisoned blocks, rows laid out in an order unlike the sequences' with rows no
// sequence owns between them; and the helpers that compare a launch's output with the reference.
// Only for builds with CUDA (the includer checks HANLIN_HAS_CUDA).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/cuda/cuda_ops.h"

namespace hanlin::test {

constexpr int64_t kBlockSize = 16;
// V in the cache blocks no sequence owns (every block table's padding points at them): a key read
// past a row's causal limit, or through a padding entry, would move the output by ~64/context.
constexpr float kPoisonValue = 64.0f;

struct SeqShape {
  int32_t q_len;
  int32_t context_len;  // cached prefix + q_len
};

// One launch's inputs, on the host in bf16 and in the layout cuda::paged_attention takes. Cache
// blocks are handed out in shuffled order; sequences' rows are laid out in a shuffled order of
// the sequences, with an unowned row before the second one and another at the end.
struct AttentionCase {
  Tensor q;                           // [T, heads, head_dim] bf16
  Tensor k_cache, v_cache;            // [num_blocks, kBlockSize, kv_heads, head_dim] bf16
  std::vector<int32_t> seq_rows;      // [S, 3] q_start, q_len, context_len
  std::vector<int32_t> block_tables;  // [S, max_blocks], padded with poisoned blocks
  std::vector<int32_t> row_seq;       // [T]
  std::vector<std::vector<int32_t>> tables_by_seq;
  std::vector<ops::AttentionSeq> seqs;
  int64_t max_blocks = 0;
  float max_abs_v = 0;  // over the blocks sequences own

  AttentionCase(const std::vector<SeqShape>& shapes, int64_t heads, int64_t kv_heads, int64_t head_dim,
                uint32_t seed, float q_range) {
    std::mt19937 generator(seed);
    constexpr int64_t kPoisonBlocks = 3;
    int64_t owned_blocks = 0;
    for (const SeqShape& shape : shapes) {
      const int64_t blocks = (shape.context_len + kBlockSize - 1) / kBlockSize;
      owned_blocks += blocks;
      max_blocks = std::max(max_blocks, blocks + 1);  // every table ends in padding
    }
    const int64_t num_blocks = owned_blocks + kPoisonBlocks;
    k_cache = random_tensor({num_blocks, kBlockSize, kv_heads, head_dim}, DType::kBF16, seed + 1);
    v_cache = random_tensor({num_blocks, kBlockSize, kv_heads, head_dim}, DType::kBF16, seed + 2);
    for (int64_t i = 0; i < v_cache.numel(); ++i) {
      max_abs_v = std::max(max_abs_v, std::fabs(to_f32(v_cache.data<bf16>()[i])));
    }
    std::vector<int32_t> free_blocks(static_cast<size_t>(num_blocks));
    std::iota(free_blocks.begin(), free_blocks.end(), 0);
    std::shuffle(free_blocks.begin(), free_blocks.end(), generator);
    const std::vector<int32_t> poison_blocks(free_blocks.end() - kPoisonBlocks, free_blocks.end());
    free_blocks.resize(static_cast<size_t>(owned_blocks));
    const int64_t block_numel = kBlockSize * kv_heads * head_dim;
    for (int32_t block : poison_blocks) {
      std::fill_n(v_cache.data<bf16>() + block * block_numel, block_numel, to_bf16(kPoisonValue));
    }

    const int64_t num_seqs = static_cast<int64_t>(shapes.size());
    block_tables.assign(static_cast<size_t>(num_seqs * max_blocks), 0);
    for (int64_t s = 0; s < num_seqs; ++s) {
      const int64_t blocks = (shapes[s].context_len + kBlockSize - 1) / kBlockSize;
      tables_by_seq.emplace_back(free_blocks.end() - blocks, free_blocks.end());
      free_blocks.resize(free_blocks.size() - static_cast<size_t>(blocks));
      for (int64_t b = 0; b < max_blocks; ++b) {
        block_tables[static_cast<size_t>(s * max_blocks + b)] =
            b < blocks ? tables_by_seq.back()[static_cast<size_t>(b)]
                       : poison_blocks[static_cast<size_t>(b) % poison_blocks.size()];
      }
    }

    std::vector<int64_t> row_order(static_cast<size_t>(num_seqs));
    std::iota(row_order.begin(), row_order.end(), 0);
    std::shuffle(row_order.begin(), row_order.end(), generator);
    seq_rows.assign(static_cast<size_t>(num_seqs * 3), 0);
    seqs.resize(static_cast<size_t>(num_seqs));
    for (size_t position = 0; position < row_order.size(); ++position) {
      if (position == 1) row_seq.push_back(-1);
      const int64_t s = row_order[position];
      const int32_t q_start = static_cast<int32_t>(row_seq.size());
      seq_rows[static_cast<size_t>(3 * s)] = q_start;
      seq_rows[static_cast<size_t>(3 * s + 1)] = shapes[s].q_len;
      seq_rows[static_cast<size_t>(3 * s + 2)] = shapes[s].context_len;
      seqs[static_cast<size_t>(s)] = {q_start, shapes[s].q_len, shapes[s].context_len, tables_by_seq[s]};
      row_seq.insert(row_seq.end(), static_cast<size_t>(shapes[s].q_len), static_cast<int32_t>(s));
    }
    row_seq.push_back(-1);
    q = random_tensor({static_cast<int64_t>(row_seq.size()), heads, head_dim}, DType::kBF16, seed + 3,
                      -q_range, q_range);
  }

  int64_t num_seqs() const { return static_cast<int64_t>(seqs.size()); }
};

// The f32 tensor the reference reads: the same values, exactly.
inline Tensor as_f32(const Tensor& bf16_host) {
  return from_values(bf16_host.shape(), values_of(bf16_host));
}

inline Tensor device_ints(const std::vector<int32_t>& values, const Shape& shape) {
  Tensor host = Tensor::zeros(shape, DType::kI32);
  std::copy(values.begin(), values.end(), host.data<int32_t>());
  return cuda::to_device(host);
}

inline std::string case_label(const std::string& name, int64_t heads, int64_t kv_heads, int64_t head_dim) {
  std::ostringstream label;
  label << name << " heads " << heads << " kv_heads " << kv_heads << " head_dim " << head_dim;
  return label.str();
}

// What the outputs say about the f32 error before the final rounding: where an output is not the
// correctly rounded reference, the f32 value lay past the midpoint between the two, so its error
// was at least the reference's distance from that midpoint. The largest such distance is a lower
// bound on ε (compare kF32Slack); an output more than one bf16 step off shows as a large bound.
inline std::string f32_error_evidence(const std::vector<float>& actual, const std::vector<float>& expected) {
  size_t not_correctly_rounded = 0;
  double error_at_least = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const float rounded = to_f32(to_bf16(expected[i]));
    if (actual[i] == rounded) continue;
    ++not_correctly_rounded;
    const double midpoint = (static_cast<double>(actual[i]) + rounded) / 2;
    error_at_least = std::max(error_at_least, std::fabs(expected[i] - midpoint));
  }
  std::ostringstream evidence;
  evidence << not_correctly_rounded << " outputs not correctly rounded, f32 error ≥ " << error_at_least;
  return evidence.str();
}

}  // namespace hanlin::test
