// Programmatic dependent launch (sm_90): a kernel launched with launch_dependent may be scheduled
// while the kernel before it on the stream is still running, so its launch and block start-up
// overlap that kernel's tail instead of following it. In exchange it must call
// wait_for_previous_kernel() before it reads anything an earlier kernel wrote or writes anything an
// earlier kernel may still read. Only what no kernel of the step writes may be read before: the
// weights, the step's tables, and the KV cache's slots of earlier steps (the host waits for each
// step to complete before it issues the next). Every kernel launched this way calls
// allow_next_kernel() at its start, which lets the next kernel be scheduled as soon as all of this
// one's blocks are running.
//
// The chain stays ordered: a kernel's wait returns only when the previous kernel has completed and
// its writes are visible, and that kernel completed only after its own wait returned.
#pragma once

#include <cuda_runtime.h>

#include <mutex>
#include <set>
#include <utility>

#include "kernels/cuda/cuda_check.h"

namespace hanlin::cuda {

// The shared-memory carve-out of a decode step's chain of kernels. An SM changes its carve-out only
// once it has drained, so a kernel that asks for another one than the kernel before it cannot start
// on an SM until that kernel's blocks there have left: the overlap a dependent launch exists for is
// lost. The GEMVs, the norms, rope and attention at short contexts all ask for 29 % of an SM's
// 228 KB, for which the driver picks 100 KB: room for three GEMV blocks' normed rows at Qwen3-14B's
// width or their token stages (gemv.cu). Attention at longer contexts needs two 96 KB blocks an SM
// and takes the largest.
inline constexpr int kChainCarveoutPercent = 29;

// Asks `kernel` (a __global__ function) for kChainCarveoutPercent, the first time it is called for it.
inline void use_chain_carveout(const void* kernel) {
  static std::mutex mutex;
  static std::set<const void*> asked;
  std::lock_guard lock(mutex);
  if (!asked.insert(kernel).second) return;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, kChainCarveoutPercent));
}

__device__ __forceinline__ void wait_for_previous_kernel() { asm volatile("griddepcontrol.wait;" ::: "memory"); }

__device__ __forceinline__ void allow_next_kernel() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }

// kernel<<<grid, block, shared_bytes, stream>>>(args...) as a programmatic dependent, with an
// optional cluster shape (cluster_z > 1: blocks along z grouped into clusters of that size).
template <class... Params, class... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                      unsigned cluster_z, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attributes[2] = {};
  attributes[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[0].val.programmaticStreamSerializationAllowed = 1;
  attributes[1].id = cudaLaunchAttributeClusterDimension;
  attributes[1].val.clusterDim.x = 1;
  attributes[1].val.clusterDim.y = 1;
  attributes[1].val.clusterDim.z = cluster_z;
  config.attrs = attributes;
  config.numAttrs = cluster_z > 1 ? 2 : 1;
  CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
  CUDA_CHECK_LAUNCH();
}

}  // namespace hanlin::cuda
