// Asynchronous copies from global to shared memory (cp.async, sm_80+): a thread issues 16-byte
// copies that land in shared memory while it goes on, commits them as a group, and later waits for
// all but its newest groups. Each thread waits only for its own copies: reading what another thread
// copied also needs a barrier.
#pragma once
#include <cstdint>

namespace hanlin::cuda {

__device__ __forceinline__ uint32_t shared_address(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

// 16 bytes global → shared, asynchronously; zeros instead when !is_valid (nothing is read).
__device__ __forceinline__ void copy_async_16(uint32_t destination, const void* source, bool is_valid) {
  const int source_bytes = is_valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(destination), "l"(source),
               "r"(source_bytes));
}

__device__ __forceinline__ void copy_async_16(uint32_t destination, const void* source) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(destination), "l"(source));
}

// 16 bytes into shared memory at a shared-space address (an ordinary store, for what cp.async may not
// copy early).
__device__ __forceinline__ void store_shared_16(uint32_t destination, uint4 value) {
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(destination), "r"(value.x), "r"(value.y),
               "r"(value.z), "r"(value.w)
               : "memory");
}

// 16 bytes global → shared through L1 (cp.async.ca), for bytes that many warps of an SM read. A
// barrier to the compiler: the thread's earlier reads of `destination` stay before it.
__device__ __forceinline__ void copy_async_16_through_l1(uint32_t destination, const void* source) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16;\n" ::"r"(destination), "l"(source) : "memory");
}

__device__ __forceinline__ void commit_copies() { asm volatile("cp.async.commit_group;\n" ::); }

// Waits until at most kPending of this thread's committed copy groups are still in flight.
template <int kPending>
__device__ __forceinline__ void wait_copies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// Waits for all of this thread's copies. It is also a barrier to the compiler, so that the thread
// may read what it copied right after without any other barrier.
__device__ __forceinline__ void wait_own_copies() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

}  // namespace hanlin::cuda
