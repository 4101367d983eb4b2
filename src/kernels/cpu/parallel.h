// Splits a loop over ctx.pool, or runs it inline when there is no pool or too little work.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "kernels/ops.h"

namespace hanlin::cpu {

// Calls fn(begin, end) over chunks covering [0, count), each at least `grain` long (the last
// may be shorter). Threads take chunks from a shared counter rather than a fixed share, so a
// worker that wakes late, or a chunk that costs more, does not leave the others waiting.
template <class Fn>
void parallel_for(const ops::Context& ctx, int64_t count, int64_t grain, const Fn& fn) {
  if (count <= 0) return;
  const int num_threads = ctx.pool ? ctx.pool->num_threads() : 1;
  if (num_threads <= 1 || count <= grain) {
    fn(int64_t{0}, count);
    return;
  }
  const int64_t chunk = std::max<int64_t>(grain, count / (int64_t{num_threads} * 8));
  const int64_t num_chunks = (count + chunk - 1) / chunk;
  std::atomic<int64_t> next_chunk{0};
  ctx.pool->parallel_for(std::min<int64_t>(num_threads, num_chunks), 1, [&](int64_t, int64_t) {
    for (int64_t c = next_chunk.fetch_add(1, std::memory_order_relaxed); c < num_chunks;
         c = next_chunk.fetch_add(1, std::memory_order_relaxed)) {
      fn(c * chunk, std::min(count, (c + 1) * chunk));
    }
  });
}

}  // namespace hanlin::cpu
