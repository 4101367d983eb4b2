// Sampling on the GPU without sorting: a bf16 logit has only 65,536 values, so one thread block
// per draw counts its row's logits per value (a histogram in shared memory) and then works on
// the value counts. Draw order is value order (descending, ties by lower id), every token of one
// value has the same weight, so top-k (ties included), the top-p and min-p cut and the inverse
// CDF all become scans over the 65,536 counts; only the last step, which token of the chosen
// value, looks at the row again (the j-th occurrence by id).
//
// The weights are the host sampler's, in double: exp((logit − max) / temperature) per value.
// Sums run in a different order than on the host, so a draw can differ from the host's only
// when u lands within rounding (≈ 1e-16 relative) of a boundary between two tokens.
//
// The counters are 16-bit (two per shared word, so the histogram takes 128 KB): a value that
// occurs 65,536 times or more in a row overflows into its neighbour. The kernel notices (the
// counts no longer sum to the vocabulary) and answers kLeftToHost; the caller draws that row on
// the host. A real model's logits never repeat that often; a constant row does. Masked tokens
// (-inf), which a row may hold by the thousand, are counted apart.
#include "kernels/cuda/sampling.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch_checks.h"

namespace hanlin::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kNumKeys = 65536;
constexpr int kKeysPerThread = kNumKeys / kThreads;
constexpr size_t kHistogramBytes = kNumKeys * sizeof(uint16_t);
constexpr unsigned kFullMask = 0xffffffffu;

// ---- Values and their order ----

__device__ bool is_nan_bits(uint32_t bits) { return (bits & 0x7fff) > 0x7f80; }

// A key per bf16 value, increasing with the value; -0 is +0 (the host compares them equal).
__device__ uint32_t order_key(uint32_t bits) {
  if (bits == 0x8000) bits = 0;
  return (bits & 0x8000) ? (~bits & 0xffff) : (bits | 0x8000);
}

__device__ float key_value(uint32_t key) {
  const uint32_t bits = (key & 0x8000) ? (key & 0x7fff) : (~key & 0xffff);
  return __uint_as_float(bits << 16);
}

constexpr uint32_t kNegativeInfinityKey = 0x007f;  // order_key(0xff80)

// Calls f(id, bits) for the row's logits this thread takes, with 16-byte loads where aligned.
template <class F>
__device__ void for_each_logit(const uint16_t* row, int64_t vocab, F f) {
  int64_t scalar_from = 0;
  if ((reinterpret_cast<uintptr_t>(row) & 15) == 0) {
    const int64_t vectors = vocab / 8;
    const uint4* vector_row = reinterpret_cast<const uint4*>(row);
    for (int64_t n = threadIdx.x; n < vectors; n += blockDim.x) {
      const uint4 x = __ldg(vector_row + n);
      const uint32_t words[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        f(8 * n + 2 * k, words[k] & 0xffff);
        f(8 * n + 2 * k + 1, words[k] >> 16);
      }
    }
    scalar_from = vectors * 8;
  }
  for (int64_t i = scalar_from + threadIdx.x; i < vocab; i += blockDim.x) f(i, row[i]);
}

// ---- Block-wide reductions and scans (kThreads threads; every thread must call) ----

struct Scratch {
  double doubles[kWarps + 1];
  uint32_t counts[kWarps + 1];
  unsigned long long packed[kWarps];
  int index;
};

template <class T>
__device__ T warp_inclusive_scan(T value) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const T other = __shfl_up_sync(kFullMask, value, offset);
    if (lane >= offset) value += other;
  }
  return value;
}

// The sum of `value` over the threads before this one; `total` gets the sum over all.
template <class T>
__device__ T block_exclusive_scan(T value, T* shared, T& total) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const T inclusive = warp_inclusive_scan(value);
  T exclusive = __shfl_up_sync(kFullMask, inclusive, 1);
  if (lane == 0) exclusive = T(0);
  if (lane == 31) shared[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    const T warp_total = shared[lane];
    const T warp_inclusive = warp_inclusive_scan(warp_total);
    T warp_exclusive = __shfl_up_sync(kFullMask, warp_inclusive, 1);
    if (lane == 0) warp_exclusive = T(0);
    shared[lane] = warp_exclusive;
    if (lane == 31) shared[kWarps] = warp_inclusive;
  }
  __syncthreads();
  const T result = shared[warp] + exclusive;
  total = shared[kWarps];
  __syncthreads();
  return result;
}

__device__ unsigned long long block_max(unsigned long long value, Scratch& scratch) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const unsigned long long other = __shfl_xor_sync(kFullMask, value, offset);
    value = other > value ? other : value;
  }
  if (threadIdx.x % 32 == 0) scratch.packed[threadIdx.x / 32] = value;
  __syncthreads();
  value = scratch.packed[threadIdx.x % 32];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    const unsigned long long other = __shfl_xor_sync(kFullMask, value, offset);
    value = other > value ? other : value;
  }
  __syncthreads();
  return value;
}

// The smallest `value` over the block (INT_MAX when every thread passes INT_MAX).
__device__ int block_min(int value, Scratch& scratch) {
  value = __reduce_min_sync(kFullMask, value);
  if (threadIdx.x % 32 == 0) scratch.counts[threadIdx.x / 32] = static_cast<uint32_t>(value);
  __syncthreads();
  value = __reduce_min_sync(kFullMask, static_cast<int>(scratch.counts[threadIdx.x % 32]));
  __syncthreads();
  return value;
}

// ---- The histogram: 16-bit counts, key 2w in word w's low half, key 2w + 1 in its high half ----

__device__ uint32_t key_count(const uint32_t* histogram, uint32_t key) {
  return (histogram[key >> 1] >> ((key & 1) * 16)) & 0xffff;
}

// Thread t owns kKeysPerThread keys, walked in draw order (descending) from this one.
__device__ uint32_t first_owned_key() { return kNumKeys - 1 - threadIdx.x * kKeysPerThread; }

// ---- Greedy: the first id of the largest logit ----

__device__ DrawResult greedy_draw(const uint16_t* row, int64_t vocab, Scratch& scratch) {
  unsigned long long best = 0;  // key << 32 | (UINT32_MAX − id): larger is earlier in draw order
  bool nan = false;
  for_each_logit(row, vocab, [&](int64_t id, uint32_t bits) {
    nan |= is_nan_bits(bits);
    const unsigned long long packed =
        static_cast<unsigned long long>(order_key(bits)) << 32 | (0xffffffffu - static_cast<uint32_t>(id));
    best = packed > best ? packed : best;
  });
  if (__syncthreads_or(nan)) return {-1, DrawStatus::kNaN};
  best = block_max(best, scratch);
  if (!isfinite(key_value(static_cast<uint32_t>(best >> 32)))) return {-1, DrawStatus::kNoFinite};
  return {static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(best)), DrawStatus::kDrawn};
}

// ---- Sampling ----

// The walk's state over the kept prefix of draw order, as each thread sees its own keys.
struct Walk {
  const uint32_t* histogram;
  uint32_t pool_min_key;  // keys at or above it form the pool (the finite tokens, or the top-k)
  double max_logit;
  double temperature;

  __device__ double weight(uint32_t key) const {
    return exp((static_cast<double>(key_value(key)) - max_logit) / temperature);
  }
  __device__ uint32_t pool_count(uint32_t key) const {
    return key >= pool_min_key ? key_count(histogram, key) : 0;
  }
};

// The key holding draw-order position `position` (< the counts' total), given each thread's
// count over its keys and the counts before them.
__device__ uint32_t key_at(const uint32_t* histogram, uint32_t position, uint32_t before, uint32_t owned,
                          Scratch& scratch) {
  if (position >= before && position < before + owned) {
    uint32_t seen = before;
    for (uint32_t key = first_owned_key(); ; --key) {
      seen += key_count(histogram, key);
      if (seen > position) {
        scratch.index = static_cast<int>(key);
        break;
      }
    }
  }
  __syncthreads();
  const auto key = static_cast<uint32_t>(scratch.index);
  __syncthreads();
  return key;
}

// Where top-p or min-p first removes a token: its position and the mass before it; or, when
// neither removes any, the pool's size and mass. The host's rule: position i > 0 is cut when
// the mass before it reaches top_p × pool mass or its weight is below min_p.
struct Cut {
  uint32_t position;
  double mass_before;
};
__device__ Cut find_cut(const Walk& walk, const DrawParams& draw, uint32_t before, double mass_before,
                        uint32_t pool_size, double pool_mass, Scratch& scratch) {
  const double top_p_mass = draw.top_p < 1.0 ? draw.top_p * pool_mass : INFINITY;
  bool found = false;
  Cut cut{};
  uint32_t position = before;
  double mass = mass_before;
  for (int i = 0; i < kKeysPerThread && !found; ++i) {
    const uint32_t key = first_owned_key() - i;
    const uint32_t count = walk.pool_count(key);
    if (count == 0) continue;
    const double weight = walk.weight(key);
    if (position > 0 && weight < draw.min_p) {
      found = true;
      cut = {position, mass};
      break;
    }
    // The first j (j ≥ 1 at position 0) with mass + j·weight ≥ top_p_mass, if inside this run.
    const uint32_t first_j = position == 0 ? 1 : 0;
    if (mass + (count - 1) * weight >= top_p_mass && count > first_j) {
      double guess = ceil((top_p_mass - mass) / weight);
      auto j = static_cast<uint32_t>(fmin(fmax(guess, static_cast<double>(first_j)), static_cast<double>(count - 1)));
      while (j > first_j && mass + (j - 1) * weight >= top_p_mass) --j;
      while (j < count - 1 && mass + j * weight < top_p_mass) ++j;
      found = true;
      cut = {position + j, mass + j * weight};
      break;
    }
    position += count;
    mass += count * weight;
  }
  const int winner = block_min(found ? static_cast<int>(threadIdx.x) : INT_MAX, scratch);
  if (winner == INT_MAX) return {pool_size, pool_mass};
  if (static_cast<int>(threadIdx.x) == winner) {
    scratch.counts[0] = cut.position;
    scratch.doubles[0] = cut.mass_before;
  }
  __syncthreads();
  cut = {scratch.counts[0], scratch.doubles[0]};
  __syncthreads();
  return cut;
}

// The draw: the first kept position whose mass through it exceeds u × kept mass, as (key, index
// among that key's tokens); the last kept position when rounding carries the target past all.
struct Pick {
  uint32_t key;
  uint32_t index;
};
__device__ Pick pick(const Walk& walk, const Cut& kept, double u, uint32_t before, double mass_before,
                     uint32_t owned_in_pool, Scratch& scratch) {
  const double target = u * kept.mass_before;
  bool found = false;
  Pick picked{};
  uint32_t position = before;
  double mass = mass_before;
  for (int i = 0; i < kKeysPerThread && position < kept.position; ++i) {
    const uint32_t key = first_owned_key() - i;
    uint32_t count = walk.pool_count(key);
    if (count == 0) continue;
    count = min(count, kept.position - position);
    const double weight = walk.weight(key);
    if (target < mass + count * weight) {
      double guess = floor((target - mass) / weight);
      auto j = static_cast<uint32_t>(fmin(fmax(guess, 0.0), static_cast<double>(count - 1)));
      while (j > 0 && target < mass + j * weight) --j;
      while (j < count - 1 && !(target < mass + (j + 1) * weight)) ++j;
      found = true;
      picked = {key, j};
      break;
    }
    position += count;
    mass += count * weight;
  }
  const int winner = block_min(found ? static_cast<int>(threadIdx.x) : INT_MAX, scratch);
  if (winner == INT_MAX) {
    const uint32_t last = kept.position - 1;
    const uint32_t key = key_at(walk.histogram, last, before, owned_in_pool, scratch);
    // The key's tokens before `last`: positions of this key start where the keys above it end.
    uint32_t start = 0;
    if (last >= before && last < before + owned_in_pool) {
      start = before;
      for (uint32_t k = first_owned_key(); k > key; --k) start += walk.pool_count(k);
      scratch.counts[0] = last - start;
    }
    __syncthreads();
    picked = {key, scratch.counts[0]};
    __syncthreads();
    return picked;
  }
  if (static_cast<int>(threadIdx.x) == winner) {
    scratch.counts[0] = picked.key;
    scratch.counts[1] = picked.index;
  }
  __syncthreads();
  picked = {scratch.counts[0], scratch.counts[1]};
  __syncthreads();
  return picked;
}

// The id of the `index`-th token (by id) whose logit has `key`. Warp w takes the w-th stretch of
// the row and reads it coalesced; the warp whose stretch holds the token finds it with ballots.
__device__ int32_t nth_token_with_key(const uint16_t* row, int64_t vocab, uint32_t key, uint32_t index,
                                      Scratch& scratch) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int64_t stretch = (vocab + kWarps * 32 - 1) / (kWarps * 32) * 32;
  const int64_t begin = std::min<int64_t>(vocab, warp * stretch);
  const int64_t end = std::min<int64_t>(vocab, begin + stretch);
  uint32_t matches = 0;
  for (int64_t i = begin + lane; i < end; i += 32) matches += order_key(row[i]) == key;
  // Only lane 0's count enters the scan, so the prefix is over warps.
  matches = __reduce_add_sync(kFullMask, matches);
  uint32_t total = 0;
  const uint32_t before = block_exclusive_scan(lane == 0 ? matches : 0u, scratch.counts, total);
  const uint32_t warp_before = __shfl_sync(kFullMask, before, 0);
  if (index >= warp_before && index < warp_before + matches) {
    uint32_t seen = warp_before;
    for (int64_t base = begin; base < end; base += 32) {
      const int64_t i = base + lane;
      const unsigned hits = __ballot_sync(kFullMask, i < end && order_key(row[i]) == key);
      const auto count = static_cast<uint32_t>(__popc(hits));
      if (index < seen + count) {
        unsigned remaining = hits;
        for (uint32_t skip = index - seen; skip > 0; --skip) remaining &= remaining - 1;  // drop lowest set bits
        if (lane == 0) scratch.index = static_cast<int>(base + __ffs(remaining) - 1);
        break;
      }
      seen += count;
    }
  }
  __syncthreads();
  return scratch.index;
}

__device__ DrawResult sampled_draw(const uint16_t* row, int64_t vocab, const DrawParams& draw, uint32_t* histogram,
                                   Scratch& scratch) {
  for (int w = threadIdx.x; w < kNumKeys / 2; w += kThreads) histogram[w] = 0;
  __syncthreads();
  // Masked tokens (-inf) are counted apart: they are never drawn, and a row may hold many.
  bool nan = false;
  uint32_t masked = 0;
  for_each_logit(row, vocab, [&](int64_t, uint32_t bits) {
    nan |= is_nan_bits(bits);
    const uint32_t key = order_key(bits);
    if (key == kNegativeInfinityKey) {
      ++masked;
    } else {
      atomicAdd(histogram + (key >> 1), 1u << ((key & 1) * 16));
    }
  });
  if (__syncthreads_or(nan)) return {-1, DrawStatus::kNaN};
  uint32_t num_masked = 0;
  block_exclusive_scan(masked, scratch.counts, num_masked);

  // Every key's count, the largest key present, the finite tokens.
  uint32_t owned = 0;
  int first_present = INT_MAX;  // draw-order index of this thread's first present key
  for (int i = 0; i < kKeysPerThread; ++i) {
    const uint32_t count = key_count(histogram, first_owned_key() - i);
    owned += count;
    if (count > 0 && first_present == INT_MAX) first_present = static_cast<int>(threadIdx.x) * kKeysPerThread + i;
  }
  uint32_t num_finite = 0;  // every token but the masked ones (a +inf one makes the row fail below)
  const uint32_t before = block_exclusive_scan(owned, scratch.counts, num_finite);
  if (num_finite + num_masked != static_cast<uint32_t>(vocab)) return {-1, DrawStatus::kLeftToHost};
  if (num_finite == 0) return {-1, DrawStatus::kNoFinite};
  const uint32_t max_key = kNumKeys - 1 - block_min(first_present, scratch);
  const float max_logit = key_value(max_key);
  if (!isfinite(max_logit)) return {-1, DrawStatus::kNoFinite};

  // The pool: the finite tokens, or the top-k with the k-th's ties.
  Walk walk{histogram, kNegativeInfinityKey + 1, max_logit, draw.temperature};
  if (draw.top_k > 0 && static_cast<uint32_t>(draw.top_k) < num_finite) {
    walk.pool_min_key = key_at(histogram, static_cast<uint32_t>(draw.top_k) - 1, before, owned, scratch);
  }
  uint32_t owned_in_pool = 0;
  double owned_mass = 0;
  for (int i = 0; i < kKeysPerThread; ++i) {
    const uint32_t key = first_owned_key() - i;
    const uint32_t count = walk.pool_count(key);
    if (count == 0) continue;
    owned_in_pool += count;
    owned_mass += count * walk.weight(key);
  }
  uint32_t pool_size = 0;
  double pool_mass = 0;
  const uint32_t pool_before = block_exclusive_scan(owned_in_pool, scratch.counts, pool_size);
  const double mass_before = block_exclusive_scan(owned_mass, scratch.doubles, pool_mass);

  const Cut kept = find_cut(walk, draw, pool_before, mass_before, pool_size, pool_mass, scratch);
  const Pick picked = pick(walk, kept, draw.u, pool_before, mass_before, owned_in_pool, scratch);
  return {nth_token_with_key(row, vocab, picked.key, picked.index, scratch), DrawStatus::kDrawn};
}

__global__ void __launch_bounds__(kThreads, 1)
    sample_kernel(DrawResult* results, const DrawParams* draws, const __nv_bfloat16* logits, int64_t vocab) {
  extern __shared__ uint32_t histogram[];
  __shared__ Scratch scratch;
  const DrawParams draw = draws[blockIdx.x];
  const auto* row = reinterpret_cast<const uint16_t*>(logits) + static_cast<int64_t>(draw.row) * vocab;
  const DrawResult result =
      draw.temperature == 0.0 ? greedy_draw(row, vocab, scratch) : sampled_draw(row, vocab, draw, histogram, scratch);
  if (threadIdx.x == 0) results[blockIdx.x] = result;
}

}  // namespace

void sample_rows(DrawResult* results, const DrawParams* draws, int64_t num_draws, const Tensor& logits,
                 Stream stream) {
  check_device_tensor("sample_rows", "logits", logits, DType::kBF16);
  check_rank("sample_rows", "logits", logits, 2);
  if (logits.dim(1) <= 0 || logits.dim(1) >= INT32_MAX) {
    fail_check("sample_rows", "the vocabulary of " + std::to_string(logits.dim(1)) + " is out of range");
  }
  if (num_draws <= 0) return;
  static const bool configured = [] {
    CUDA_CHECK(cudaFuncSetAttribute(sample_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(kHistogramBytes)));
    return true;
  }();
  (void)configured;
  sample_kernel<<<static_cast<unsigned>(num_draws), kThreads, kHistogramBytes, static_cast<cudaStream_t>(stream)>>>(
      results, draws, static_cast<const __nv_bfloat16*>(logits.raw()), logits.dim(1));
  CUDA_CHECK_LAUNCH();
}

}  // namespace hanlin::cuda
