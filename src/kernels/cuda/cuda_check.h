// Turns a failed CUDA runtime call into a hanlin::Error naming the call and where it was made:
// kResourceExhausted when the device is out of memory, kInternal otherwise.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace hanlin::cuda {

// Throws when `status` is not cudaSuccess; `call` is the source text of the call.
inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  // The runtime also records a failed call as its last error; clear it so that the next
  // launch check does not report this failure again (a sticky error stays regardless).
  cudaGetLastError();
  const ErrorKind kind =
      status == cudaErrorMemoryAllocation ? ErrorKind::kResourceExhausted : ErrorKind::kInternal;
  throw Error(kind, std::string("CUDA call ") + call + " failed at " + file + ":" + std::to_string(line) +
                        ": " + cudaGetErrorString(status));
}

}  // namespace hanlin::cuda

// A macro only to capture the call's text, __FILE__ and __LINE__.
#define CUDA_CHECK(call) ::hanlin::cuda::check_cuda((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports a bad launch configuration (cudaGetLastError).
#define CUDA_CHECK_LAUNCH() \
  ::hanlin::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
