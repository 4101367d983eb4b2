// Sampling on the GPU without sorting: a bf16 logit has only 65,536 values, so one thread block
// per draw counts its row's logits per value (a histogram in shared memory) and then works on
// the value counts. Draw order is value order (descending, ties by lower id), every token of one
// value has the same weight, so top-k (ties included), the top-p and min-p cut and the inverse
// CDF all become scans over the 65,536 counts; only the last step, which token of the chosen
// value, looks at the row again (the j-th occurrence by id).
//
// Processing (bias, penalties, bans) changes the tokens its edits name, and a changed logit is
// an f32 value: bf16 again when it lands on the grid (a ban, a presence penalty of 0.5 on a
// logit of 3), otherwise between two bf16 values (most of what a repetition penalty of 1.05
// touches). Edited tokens leave the row's own count; those on the grid join the histogram under
// their new value, the others are kept apart, sorted in draw order, and walked with the key
// they fall within. Every step above then walks "items": a key's run of equal bf16 values, or
// one off-grid token.
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

__device__ float bf16_value(uint32_t bits) { return __uint_as_float(bits << 16); }

// The same order over f32 values. A bf16 value's key is the high half of its f32 key, so an
// off-grid value falls within the bf16 key it shares the high half with: above that key's value
// when positive, below it when negative.
__device__ uint32_t order_key32(float value) {
  uint32_t bits = __float_as_uint(value);
  if (bits == 0x80000000u) bits = 0;
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

__device__ float key32_value(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

__device__ bool on_bf16_grid(float value) { return (__float_as_uint(value) & 0xffff) == 0; }

constexpr uint32_t kNegativeInfinityKey = 0x007f;  // order_key(0xff80)

// A token in draw order, packed so that a larger number comes first: value, then lower id.
__device__ unsigned long long draw_rank(float value, int64_t id) {
  return static_cast<unsigned long long>(order_key32(value)) << 32 | (0xffffffffu - static_cast<uint32_t>(id));
}
__device__ float ranked_value(unsigned long long rank) { return key32_value(static_cast<uint32_t>(rank >> 32)); }
__device__ int32_t ranked_id(unsigned long long rank) {
  return static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(rank));
}
__device__ uint32_t ranked_key(unsigned long long rank) { return static_cast<uint32_t>(rank >> 48); }

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

// ---- Processing: the host sampler's steps on one logit, with its roundings ----

__device__ float edited_logit(float logit, const LogitEdit& edit, const DrawParams& draw) {
  if (edit.flags & kEditBan) return -INFINITY;
  float value = logit;
  if (edit.flags & kEditBias) value = __fadd_rn(value, edit.bias);
  if (edit.flags & kEditRepetition) {
    const double x = value;
    value = __double2float_rn(x > 0 ? __ddiv_rn(x, draw.repetition_penalty) : __dmul_rn(x, draw.repetition_penalty));
  }
  if (edit.output_count > 0) {
    const double penalty =
        __dadd_rn(__dmul_rn(draw.frequency_penalty, static_cast<double>(edit.output_count)), draw.presence_penalty);
    value = __fsub_rn(value, __double2float_rn(penalty));
  }
  return value;
}

// Calls f(id, processed logit) for each of the draw's edits this thread takes.
template <class F>
__device__ void for_each_edit(const LogitEdit* edits, const DrawParams& draw, const uint16_t* row, F f) {
  for (int e = threadIdx.x; e < draw.num_edits; e += kThreads) {
    const LogitEdit edit = edits[draw.first_edit + e];
    f(edit.id, edited_logit(bf16_value(row[edit.id]), edit, draw));
  }
}

__device__ bool is_marked(const uint32_t* bits, int64_t id) { return (bits[id >> 5] >> (id & 31)) & 1; }

// Sets the bit of every token the draw's edits name; false (for every thread) when one names a
// token outside the row.
__device__ bool mark_edited(const LogitEdit* edits, const DrawParams& draw, int64_t vocab, uint32_t* marked,
                            int words) {
  for (int w = threadIdx.x; w < words; w += kThreads) marked[w] = 0;
  __syncthreads();
  bool outside = false;
  for (int e = threadIdx.x; e < draw.num_edits; e += kThreads) {
    const int32_t id = edits[draw.first_edit + e].id;
    if (id < 0 || id >= vocab) {
      outside = true;
    } else {
      atomicOr(marked + (id >> 5), 1u << (id & 31));
    }
  }
  return !__syncthreads_or(outside);
}

// ---- Block-wide reductions, scans and sorts (kThreads threads; every thread must call) ----

// A run of equal values in draw order: a key's bf16 tokens (count of them), or one off-grid
// token (its index in the sorted off-grid list).
struct Item {
  uint32_t key;
  float value;
  uint32_t count;
  int32_t off_grid;  // -1: the key's bf16 run
};
struct Located {
  Item item;
  uint32_t index;  // the position's place within the item
};
struct Cut {
  uint32_t position;
  double mass_before;
};
struct Pick {
  uint32_t key;
  uint32_t index;
  int32_t off_grid;
};

struct Scratch {
  double doubles[kWarps + 1];
  uint32_t counts[kWarps + 1];
  unsigned long long packed[kWarps];
  int32_t index;
  int num_off_grid;
  int num_top_above;                                   // logprobs: top tokens above the last one's value
  unsigned long long top_above[kMaxTopLogprobs];       // their draw ranks
  int32_t top_tied[kMaxTopLogprobs];                   // then the first tokens of the last one's value
  union {
    Located located;
    Cut cut;
    Pick pick;
  } result;
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

// `value` as the first thread that found one has it, in every thread; false when none found one.
template <class T>
__device__ bool first_found(bool found, T& value, T& shared, Scratch& scratch) {
  const int winner = block_min(found ? static_cast<int>(threadIdx.x) : INT_MAX, scratch);
  if (winner == INT_MAX) return false;
  if (static_cast<int>(threadIdx.x) == winner) shared = value;
  __syncthreads();
  value = shared;
  __syncthreads();
  return true;
}

// Sorts keys[0, count) descending (bitonic, padded with zeros to a power of two; the array must
// hold the padded size).
__device__ void sort_descending(unsigned long long* keys, int count) {
  if (count <= 1) return;  // (the array may have no room at all then)
  int size = 1;
  while (size < count) size *= 2;
  for (int i = count + static_cast<int>(threadIdx.x); i < size; i += kThreads) keys[i] = 0;
  __syncthreads();
  for (int k = 2; k <= size; k *= 2) {
    for (int j = k / 2; j > 0; j /= 2) {
      for (int i = threadIdx.x; i < size; i += kThreads) {
        const int partner = i ^ j;
        if (partner <= i) continue;
        const unsigned long long a = keys[i];
        const unsigned long long b = keys[partner];
        if ((i & k) == 0 ? a < b : a > b) {
          keys[i] = b;
          keys[partner] = a;
        }
      }
      __syncthreads();
    }
  }
}

// ---- The histogram: 16-bit counts, key 2w in word w's low half, key 2w + 1 in its high half ----

__device__ uint32_t key_count(const uint32_t* histogram, uint32_t key) {
  return (histogram[key >> 1] >> ((key & 1) * 16)) & 0xffff;
}

__device__ void count_key(uint32_t* histogram, uint32_t key) {
  atomicAdd(histogram + (key >> 1), 1u << ((key & 1) * 16));
}

// Thread t owns kKeysPerThread keys, walked in draw order (descending) from this one.
__device__ uint32_t first_owned_key() { return kNumKeys - 1 - threadIdx.x * kKeysPerThread; }

// The first index of `ranks` (sorted descending) whose key is at or below `key`.
__device__ int first_at_or_below(const unsigned long long* ranks, int count, uint32_t key) {
  int low = 0;
  int high = count;
  while (low < high) {
    const int middle = (low + high) / 2;
    if (ranked_key(ranks[middle]) > key) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}

// ---- Shared memory of a block ----

struct Layout {
  int bitmap_words;       // per bitmap: one bit per token
  int off_grid_capacity;  // a power of two (0 when the launch has no edits)
};

struct Shared {
  uint32_t* histogram;           // kNumKeys / 2 words
  uint32_t* edited;              // bitmap: the tokens the draw's edits name
  uint32_t* matching;            // bitmap: edited tokens whose processed value has the chosen key
  unsigned long long* off_grid;  // draw ranks of off-grid processed logits
};

__device__ Shared carve(uint32_t* memory, const Layout& layout) {
  Shared shared;
  shared.histogram = memory;
  shared.edited = memory + kNumKeys / 2;
  shared.matching = shared.edited + layout.bitmap_words;
  shared.off_grid = reinterpret_cast<unsigned long long*>(shared.matching + layout.bitmap_words);
  return shared;
}

// ---- Greedy: the first id of the largest logit ----

__device__ DrawResult greedy_draw(const uint16_t* row, int64_t vocab, const DrawParams& draw, const LogitEdit* edits,
                                  const uint32_t* edited, Scratch& scratch) {
  unsigned long long best = 0;
  bool nan = false;
  const auto consider = [&](int64_t id, float value) {
    nan |= isnan(value);
    const unsigned long long rank = draw_rank(value, id);
    best = rank > best ? rank : best;
  };
  for_each_logit(row, vocab, [&](int64_t id, uint32_t bits) {
    if (edited == nullptr || !is_marked(edited, id)) consider(id, bf16_value(bits));
  });
  if (edited != nullptr) for_each_edit(edits, draw, row, consider);
  if (__syncthreads_or(nan)) return {-1, DrawStatus::kNaN};
  best = block_max(best, scratch);
  if (!isfinite(ranked_value(best))) return {-1, DrawStatus::kNoFinite};
  return {ranked_id(best), DrawStatus::kDrawn};
}

// ---- Sampling ----

// The walk over draw order as each thread sees its own keys, from the pool's first item on.
struct Walk {
  const uint32_t* histogram;
  const unsigned long long* off_grid;  // sorted: draw order
  int off_grid_begin, off_grid_end;    // this thread's: those within its keys
  float pool_min;                      // items at or above it form the pool (the finite tokens, or the top-k)
  double max_logit;
  double temperature;

  __device__ double weight(float value) const { return exp((static_cast<double>(value) - max_logit) / temperature); }
};

// Calls f(item) for this thread's pool items in draw order until it returns true. Within a key,
// off-grid tokens come before the key's bf16 run when positive (they are larger), after it when
// negative.
template <class F>
__device__ void for_each_item(const Walk& walk, F f) {
  int next = walk.off_grid_begin;
  for (int i = 0; i < kKeysPerThread; ++i) {
    const uint32_t key = first_owned_key() - i;
    const uint32_t count = key_count(walk.histogram, key);
    const bool positive = key & 0x8000;
    const auto visit_run = [&] {
      if (count == 0) return false;
      const float value = key_value(key);
      return value < walk.pool_min || f(Item{key, value, count, -1});
    };
    if (!positive && visit_run()) return;
    for (; next < walk.off_grid_end && ranked_key(walk.off_grid[next]) == key; ++next) {
      const float value = ranked_value(walk.off_grid[next]);
      if (value < walk.pool_min || f(Item{key, value, 1, next})) return;
    }
    if (positive && visit_run()) return;
  }
}

// The item holding pool position `position` (< the pool's size), given each thread's count of
// pool tokens and the count before them.
__device__ Located item_at(const Walk& walk, uint32_t position, uint32_t before, uint32_t owned, Scratch& scratch) {
  const bool mine = position >= before && position < before + owned;
  Located located{};
  if (mine) {
    uint32_t seen = before;
    for_each_item(walk, [&](const Item& item) {
      if (position < seen + item.count) {
        located = {item, position - seen};
        return true;
      }
      seen += item.count;
      return false;
    });
    scratch.result.located = located;
  }
  __syncthreads();
  located = scratch.result.located;
  __syncthreads();
  return located;
}

// Where top-p or min-p first removes a token: its position and the mass before it; or, when
// neither removes any, the pool's size and mass. The host's rule: position i > 0 is cut when
// the mass before it reaches top_p × pool mass or its weight is below min_p.
__device__ Cut find_cut(const Walk& walk, const DrawParams& draw, uint32_t before, double mass_before,
                        uint32_t pool_size, double pool_mass, Scratch& scratch) {
  const double top_p_mass = draw.top_p < 1.0 ? draw.top_p * pool_mass : INFINITY;
  bool found = false;
  Cut cut{};
  uint32_t position = before;
  double mass = mass_before;
  for_each_item(walk, [&](const Item& item) {
    const double weight = walk.weight(item.value);
    if (position > 0 && weight < draw.min_p) {
      found = true;
      cut = {position, mass};
      return true;
    }
    // The first j (j ≥ 1 at position 0) with mass + j·weight ≥ top_p_mass, if inside this run.
    const uint32_t first_j = position == 0 ? 1 : 0;
    if (mass + (item.count - 1) * weight >= top_p_mass && item.count > first_j) {
      const double guess = ceil((top_p_mass - mass) / weight);
      auto j = static_cast<uint32_t>(
          fmin(fmax(guess, static_cast<double>(first_j)), static_cast<double>(item.count - 1)));
      while (j > first_j && mass + (j - 1) * weight >= top_p_mass) --j;
      while (j < item.count - 1 && mass + j * weight < top_p_mass) ++j;
      found = true;
      cut = {position + j, mass + j * weight};
      return true;
    }
    position += item.count;
    mass += item.count * weight;
    return false;
  });
  if (!first_found(found, cut, scratch.result.cut, scratch)) return {pool_size, pool_mass};
  return cut;
}

// The draw: the first kept position whose mass through it exceeds u × kept mass, as (key, index
// among that key's bf16 tokens) or an off-grid token; the last kept position when rounding
// carries the target past all.
__device__ Pick pick(const Walk& walk, const Cut& kept, double u, uint32_t before, double mass_before,
                     uint32_t owned_in_pool, Scratch& scratch) {
  const double target = u * kept.mass_before;
  bool found = false;
  Pick picked{};
  uint32_t position = before;
  double mass = mass_before;
  for_each_item(walk, [&](const Item& item) {
    if (position >= kept.position) return true;
    const uint32_t count = min(item.count, kept.position - position);
    const double weight = walk.weight(item.value);
    if (target < mass + count * weight) {
      const double guess = floor((target - mass) / weight);
      auto j = static_cast<uint32_t>(fmin(fmax(guess, 0.0), static_cast<double>(count - 1)));
      while (j > 0 && target < mass + j * weight) --j;
      while (j < count - 1 && !(target < mass + (j + 1) * weight)) ++j;
      found = true;
      picked = {item.key, j, item.off_grid};
      return true;
    }
    position += count;
    mass += count * weight;
    return false;
  });
  if (first_found(found, picked, scratch.result.pick, scratch)) return picked;
  const Located last = item_at(walk, kept.position - 1, before, owned_in_pool, scratch);
  return {last.item.key, last.index, last.item.off_grid};
}

// The tokens (by id) for which matches(id, bits) holds, from the first-th such token on, count of
// them, written to out[0, count) (shared memory; count must not pass the matches). Warp w takes
// the w-th stretch of the row and reads it coalesced; the warps whose stretches hold the wanted
// positions place their hits with ballots.
template <class Matches>
__device__ void matching_tokens(const uint16_t* row, int64_t vocab, uint32_t first, uint32_t count, Matches matches,
                                int32_t* out, Scratch& scratch) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int64_t stretch = (vocab + kWarps * 32 - 1) / (kWarps * 32) * 32;
  const int64_t begin = std::min<int64_t>(vocab, warp * stretch);
  const int64_t end = std::min<int64_t>(vocab, begin + stretch);
  uint32_t hits_here = 0;
  for (int64_t i = begin + lane; i < end; i += 32) hits_here += matches(i, row[i]);
  // Only lane 0's count enters the scan, so the prefix is over warps.
  hits_here = __reduce_add_sync(kFullMask, hits_here);
  uint32_t total = 0;
  const uint32_t before = block_exclusive_scan(lane == 0 ? hits_here : 0u, scratch.counts, total);
  uint32_t seen = __shfl_sync(kFullMask, before, 0);
  const uint32_t last = first + count;
  if (seen < last && seen + hits_here > first) {
    for (int64_t base = begin; base < end && seen < last; base += 32) {
      const int64_t i = base + lane;
      const bool hit = i < end && matches(i, row[i]);
      const unsigned hits = __ballot_sync(kFullMask, hit);
      const uint32_t position = seen + static_cast<uint32_t>(__popc(hits & ((1u << lane) - 1)));
      if (hit && position >= first && position < last) out[position - first] = static_cast<int32_t>(i);
      seen += static_cast<uint32_t>(__popc(hits));
    }
  }
  __syncthreads();
}

// The id of the `index`-th token (by id) for which matches(id, bits) holds.
template <class Matches>
__device__ int32_t nth_matching_token(const uint16_t* row, int64_t vocab, uint32_t index, Matches matches,
                                      Scratch& scratch) {
  matching_tokens(row, vocab, index, 1, matches, &scratch.index, scratch);
  const int32_t id = scratch.index;
  __syncthreads();
  return id;
}

// The token of a pick: an off-grid one directly; else the index-th by id among those whose
// processed logit has the picked key (an edited token by its processed value, found through the
// `matching` bitmap).
__device__ int32_t picked_token(const uint16_t* row, int64_t vocab, const DrawParams& draw, const LogitEdit* edits,
                                const Shared& shared, const Pick& picked, Scratch& scratch) {
  if (picked.off_grid >= 0) return ranked_id(shared.off_grid[picked.off_grid]);
  if (draw.num_edits == 0) {
    return nth_matching_token(
        row, vocab, picked.index, [&](int64_t, uint32_t bits) { return order_key(bits) == picked.key; }, scratch);
  }
  for (int64_t w = threadIdx.x; w < (vocab + 31) / 32; w += kThreads) shared.matching[w] = 0;
  __syncthreads();
  for_each_edit(edits, draw, row, [&](int32_t id, float value) {
    if (on_bf16_grid(value) && order_key(__float_as_uint(value) >> 16) == picked.key) {
      atomicOr(shared.matching + (id >> 5), 1u << (id & 31));
    }
  });
  __syncthreads();
  return nth_matching_token(
      row, vocab, picked.index,
      [&](int64_t id, uint32_t bits) {
        return is_marked(shared.edited, id) ? is_marked(shared.matching, id) : order_key(bits) == picked.key;
      },
      scratch);
}

// Counts the row's processed logits: NaN flagged, -inf counted in `masked`, bf16 values in the
// histogram, off-grid ones listed (up to capacity; scratch.num_off_grid counts them all).
// Returns whether any is NaN, for every thread.
__device__ bool count_logits(const uint16_t* row, int64_t vocab, const DrawParams& draw, const LogitEdit* edits,
                             const Shared& shared, int off_grid_capacity, uint32_t& masked, Scratch& scratch) {
  bool nan = false;
  masked = 0;
  const bool any_edits = draw.num_edits > 0;
  for_each_logit(row, vocab, [&](int64_t id, uint32_t bits) {
    if (any_edits && is_marked(shared.edited, id)) return;
    nan |= is_nan_bits(bits);
    const uint32_t key = order_key(bits);
    if (key == kNegativeInfinityKey) {
      ++masked;
    } else {
      count_key(shared.histogram, key);
    }
  });
  if (any_edits) {
    for_each_edit(edits, draw, row, [&](int32_t id, float value) {
      if (isnan(value)) {
        nan = true;
      } else if (value == -INFINITY) {
        ++masked;
      } else if (on_bf16_grid(value)) {
        count_key(shared.histogram, order_key(__float_as_uint(value) >> 16));
      } else {
        const int slot = atomicAdd(&scratch.num_off_grid, 1);
        if (slot < off_grid_capacity) shared.off_grid[slot] = draw_rank(value, id);
      }
    });
  }
  return __syncthreads_or(nan);
}

__device__ DrawResult sampled_draw(const uint16_t* row, int64_t vocab, const DrawParams& draw, const LogitEdit* edits,
                                   const Shared& shared, const Layout& layout, Scratch& scratch) {
  for (int w = threadIdx.x; w < kNumKeys / 2; w += kThreads) shared.histogram[w] = 0;
  if (threadIdx.x == 0) scratch.num_off_grid = 0;
  __syncthreads();
  uint32_t masked = 0;
  if (count_logits(row, vocab, draw, edits, shared, layout.off_grid_capacity, masked, scratch)) {
    return {-1, DrawStatus::kNaN};
  }
  const int num_off_grid = scratch.num_off_grid;
  if (num_off_grid > layout.off_grid_capacity) return {-1, DrawStatus::kLeftToHost};
  sort_descending(shared.off_grid, num_off_grid);
  uint32_t num_masked = 0;
  block_exclusive_scan(masked, scratch.counts, num_masked);

  Walk walk{shared.histogram, shared.off_grid, 0, 0, -INFINITY, 0, draw.temperature};
  const uint32_t lowest_key = first_owned_key() + 1 - kKeysPerThread;
  walk.off_grid_begin = first_at_or_below(shared.off_grid, num_off_grid, first_owned_key());
  walk.off_grid_end = lowest_key == 0 ? num_off_grid : first_at_or_below(shared.off_grid, num_off_grid, lowest_key - 1);

  // Every token's item, the largest value, the finite tokens.
  uint32_t owned = 0;
  unsigned long long first = 0;  // draw rank of this thread's first item
  for_each_item(walk, [&](const Item& item) {
    if (owned == 0) first = draw_rank(item.value, 0);
    owned += item.count;
    return false;
  });
  uint32_t num_finite = 0;  // every token but the masked ones (a +inf one makes the row fail below)
  const uint32_t before = block_exclusive_scan(owned, scratch.counts, num_finite);
  if (num_finite + num_masked != static_cast<uint32_t>(vocab)) return {-1, DrawStatus::kLeftToHost};
  if (num_finite == 0) return {-1, DrawStatus::kNoFinite};
  walk.max_logit = ranked_value(block_max(first, scratch));
  if (!isfinite(walk.max_logit)) return {-1, DrawStatus::kNoFinite};

  // The pool: the finite tokens, or the top-k with the k-th's ties.
  if (draw.top_k > 0 && static_cast<uint32_t>(draw.top_k) < num_finite) {
    walk.pool_min = item_at(walk, static_cast<uint32_t>(draw.top_k) - 1, before, owned, scratch).item.value;
  }
  uint32_t owned_in_pool = 0;
  double owned_mass = 0;
  for_each_item(walk, [&](const Item& item) {
    owned_in_pool += item.count;
    owned_mass += item.count * walk.weight(item.value);
    return false;
  });
  uint32_t pool_size = 0;
  double pool_mass = 0;
  const uint32_t pool_before = block_exclusive_scan(owned_in_pool, scratch.counts, pool_size);
  const double mass_before = block_exclusive_scan(owned_mass, scratch.doubles, pool_mass);

  const Cut kept = find_cut(walk, draw, pool_before, mass_before, pool_size, pool_mass, scratch);
  const Pick picked = pick(walk, kept, draw.u, pool_before, mass_before, owned_in_pool, scratch);
  return {picked_token(row, vocab, draw, edits, shared, picked, scratch), DrawStatus::kDrawn};
}

// ---- Logprobs: log-softmax of the raw row, as the host sampler reports it ----

// The draw's logprobs into `out` (thread 0's copy is the one written back). False when the host
// would refuse the raw row (NaN, +inf, nothing finite): the draw is then left to it.
__device__ bool raw_logprobs(const uint16_t* row, int64_t vocab, const DrawParams& draw, int32_t token,
                             const Shared& shared, DrawLogprobs& out, Scratch& scratch) {
  for (int w = threadIdx.x; w < kNumKeys / 2; w += kThreads) shared.histogram[w] = 0;
  __syncthreads();
  DrawParams raw = draw;
  raw.num_edits = 0;
  uint32_t masked = 0;
  if (count_logits(row, vocab, raw, nullptr, shared, 0, masked, scratch)) return false;
  Walk walk{shared.histogram, nullptr, 0, 0, -INFINITY, 0, 1.0};
  uint32_t owned = 0;
  unsigned long long first = 0;
  for_each_item(walk, [&](const Item& item) {
    if (owned == 0) first = draw_rank(item.value, 0);
    owned += item.count;
    return false;
  });
  uint32_t num_finite = 0;
  const uint32_t before = block_exclusive_scan(owned, scratch.counts, num_finite);
  if (num_finite == 0) return false;
  walk.max_logit = ranked_value(block_max(first, scratch));
  if (!isfinite(walk.max_logit)) return false;
  // The host's normaliser: max + log Σ exp(x − max), the terms per value here.
  double owned_sum = 0;
  for_each_item(walk, [&](const Item& item) {
    owned_sum += item.count * walk.weight(item.value);
    return false;
  });
  double sum = 0;
  block_exclusive_scan(owned_sum, scratch.doubles, sum);
  const double normaliser = walk.max_logit + log(sum);
  const auto logprob = [&](int32_t id) {
    return __double2float_rn(static_cast<double>(bf16_value(row[id])) - normaliser);
  };
  out.sampled = logprob(token);
  out.num_top = min(draw.num_logprobs, static_cast<int32_t>(num_finite));
  if (out.num_top == 0) return true;
  // The top tokens: all of those above the last one's value, then the first of its value by id.
  const Located last = item_at(walk, static_cast<uint32_t>(out.num_top) - 1, before, owned, scratch);
  const uint32_t num_above = static_cast<uint32_t>(out.num_top) - 1 - last.index;
  if (threadIdx.x == 0) scratch.num_top_above = 0;
  __syncthreads();
  for_each_logit(row, vocab, [&](int64_t id, uint32_t bits) {
    const uint32_t key = order_key(bits);
    if (key > last.item.key && !is_nan_bits(bits)) {
      scratch.top_above[atomicAdd(&scratch.num_top_above, 1)] = draw_rank(bf16_value(bits), id);
    }
  });
  __syncthreads();
  matching_tokens(
      row, vocab, 0, last.index + 1, [&](int64_t, uint32_t bits) { return order_key(bits) == last.item.key; },
      scratch.top_tied, scratch);
  if (threadIdx.x == 0) {
    unsigned long long* above = scratch.top_above;
    for (uint32_t i = 1; i < num_above; ++i) {  // a handful: insertion sort, descending
      for (uint32_t j = i; j > 0 && above[j - 1] < above[j]; --j) {
        const unsigned long long moved = above[j];
        above[j] = above[j - 1];
        above[j - 1] = moved;
      }
    }
    for (int i = 0; i < out.num_top; ++i) {
      const int32_t id = static_cast<uint32_t>(i) < num_above ? ranked_id(above[i]) : scratch.top_tied[i - num_above];
      out.top_ids[i] = id;
      out.top_logprobs[i] = logprob(id);
    }
  }
  __syncthreads();
  return true;
}

struct SampleArgs {
  DrawResult* results;
  DrawLogprobs* logprobs;
  const DrawParams* draws;
  const LogitEdit* edits;
  int64_t num_edits;
  const uint16_t* logits;
  int64_t vocab;
  Layout layout;
};

// Whether the draw's edit range lies within the launch's edits (and the launch made room for them).
__device__ bool edits_in_range(const DrawParams& draw, const SampleArgs& args) {
  return args.layout.bitmap_words > 0 && draw.first_edit >= 0 && draw.num_edits <= args.num_edits - draw.first_edit;
}

__global__ void __launch_bounds__(kThreads, 1) sample_kernel(SampleArgs args) {
  extern __shared__ uint32_t memory[];
  __shared__ Scratch scratch;
  const DrawParams draw = args.draws[blockIdx.x];
  const uint16_t* row = args.logits + static_cast<int64_t>(draw.row) * args.vocab;
  const Shared shared = carve(memory, args.layout);
  DrawResult result{-1, DrawStatus::kLeftToHost};
  const bool edits_marked =
      draw.num_edits == 0 ||
      (edits_in_range(draw, args) && mark_edited(args.edits, draw, args.vocab, shared.edited, args.layout.bitmap_words));
  if (edits_marked) {
    result = draw.temperature == 0.0
                 ? greedy_draw(row, args.vocab, draw, args.edits, draw.num_edits > 0 ? shared.edited : nullptr, scratch)
                 : sampled_draw(row, args.vocab, draw, args.edits, shared, args.layout, scratch);
  }
  if (result.status == DrawStatus::kDrawn && draw.num_logprobs >= 0) {
    DrawLogprobs logprobs;
    if (args.logprobs == nullptr || draw.num_logprobs > kMaxTopLogprobs ||
        !raw_logprobs(row, args.vocab, draw, result.token_id, shared, logprobs, scratch)) {
      result = {-1, DrawStatus::kLeftToHost};
    } else if (threadIdx.x == 0) {
      args.logprobs[blockIdx.x] = logprobs;
    }
  }
  if (threadIdx.x == 0) args.results[blockIdx.x] = result;
}

// The largest dynamic shared memory a block of sample_kernel may have on this device.
size_t max_dynamic_shared_bytes() {
  static const size_t bytes = [] {
    int device = 0;
    int optin = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    cudaFuncAttributes attributes{};
    CUDA_CHECK(cudaFuncGetAttributes(&attributes, sample_kernel));
    const size_t available = static_cast<size_t>(optin) - attributes.sharedSizeBytes;
    CUDA_CHECK(cudaFuncSetAttribute(sample_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(available)));
    return available;
  }();
  return bytes;
}

}  // namespace

void sample_rows(DrawResult* results, DrawLogprobs* logprobs, const DrawParams* draws, int64_t num_draws,
                 const LogitEdit* edits, int64_t num_edits, const Tensor& logits, Stream stream) {
  check_device_tensor("sample_rows", "logits", logits, DType::kBF16);
  check_rank("sample_rows", "logits", logits, 2);
  const int64_t vocab = logits.dim(1);
  if (vocab <= 0 || vocab >= INT32_MAX) {
    fail_check("sample_rows", "the vocabulary of " + std::to_string(vocab) + " is out of range");
  }
  if (num_edits > 0 && edits == nullptr) fail_check("sample_rows", "edits are counted but not given");
  if (num_draws <= 0) return;
  const size_t available = max_dynamic_shared_bytes();
  SampleArgs args{results, logprobs, draws, edits, num_edits, static_cast<const uint16_t*>(logits.raw()), vocab, {}};
  size_t shared_bytes = kHistogramBytes;
  if (num_edits > 0) {
    // Bitmaps rounded to an even count of words keep the off-grid list 8-byte aligned.
    args.layout.bitmap_words = static_cast<int>((vocab + 63) / 64 * 2);
    shared_bytes += 2 * static_cast<size_t>(args.layout.bitmap_words) * sizeof(uint32_t);
    if (shared_bytes > available) {
      fail_check("sample_rows", "a vocabulary of " + std::to_string(vocab) + " is too large to process on the GPU");
    }
    int capacity = static_cast<int>(kMaxOffGridLogits);
    while (capacity > 0 && shared_bytes + capacity * sizeof(unsigned long long) > available) capacity /= 2;
    args.layout.off_grid_capacity = capacity;
    shared_bytes += capacity * sizeof(unsigned long long);
  }
  sample_kernel<<<static_cast<unsigned>(num_draws), kThreads, shared_bytes, static_cast<cudaStream_t>(stream)>>>(args);
  CUDA_CHECK_LAUNCH();
}

}  // namespace hanlin::cuda
