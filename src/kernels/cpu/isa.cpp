// Run-time choice between the AVX2/FMA/F16C kernels and the portable scalar ones.
#include <atomic>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/simd.h"

#if HANLIN_X86_KERNELS
#include <cpuid.h>
#endif
#include "kernels/cpu/simd.h"

namespace hanlin::cpu {
namespace {

Isa detect_isa() {
#if HANLIN_X86_KERNELS
  // __builtin_cpu_supports also checks that the OS saves the YMM registers; clang's does not
  // know "f16c", so that bit comes from CPUID leaf 1 directly.
  __builtin_cpu_init();
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool has_f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}

// Process-wide because the processor is; only tests and benchmarks lower it.
std::atomic<Isa> max_isa{Isa::kAvx2};

}  // namespace

Isa active_isa() {
  static const Isa detected = detect_isa();
  const Isa cap = max_isa.load(std::memory_order_relaxed);
  return detected < cap ? detected : cap;
}

void set_max_isa(Isa isa) {
  max_isa.store(isa, std::memory_order_relaxed);
}

}  // namespace hanlin::cpu
