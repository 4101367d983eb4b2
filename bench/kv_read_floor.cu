// A warp per cache slot at a time: its K and V rows over every kv head, read as 16-byte vectors,
// two slots' worth in flight per warp (16 loads a lane).
#include "kv_read_floor.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/dependent_launch.cuh"

namespace hanlin::cuda_bench {
namespace {

constexpr int kThreads = 256;
constexpr int kBlocksPerSm = 8;
constexpr int kWarpSize = 32;
constexpr int kSlotsInFlight = 2;
constexpr int kVectorsPerLane = 4;  // of K and again of V: a slot of 8 kv heads × 128 dims (Qwen3-8B)
constexpr int kVectorsPerSlot = kVectorsPerLane * kWarpSize;

struct FloorArgs {
  const uint4* k_cache;
  const uint4* v_cache;
  const int32_t* block_tables;
  unsigned* sink;
  int64_t num_slots;  // batch · context
  int context;
  int blocks_per_row;
  int block_size;
};

// The slot's first vector in the caches.
__device__ int64_t slot_start(const FloorArgs& args, int64_t slot_index) {
  const int64_t row = slot_index / args.context;
  const int position = static_cast<int>(slot_index % args.context);
  const int32_t block = args.block_tables[row * args.blocks_per_row + position / args.block_size];
  return (static_cast<int64_t>(block) * args.block_size + position % args.block_size) * kVectorsPerSlot;
}

template <FloorReads kReads>
__global__ void __launch_bounds__(kThreads) read_kv_kernel(const FloorArgs args) {
  cuda::allow_next_kernel();
  if (kReads == FloorReads::kAfterWait) cuda::wait_for_previous_kernel();
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarpSize;
  const int64_t num_warps = static_cast<int64_t>(gridDim.x) * blockDim.x / kWarpSize;
  unsigned bits = 0;
  for (int64_t slot = warp * kSlotsInFlight; slot < args.num_slots; slot += num_warps * kSlotsInFlight) {
    // Every load of the step is issued before any is used.
    uint4 k[kSlotsInFlight][kVectorsPerLane];
    uint4 v[kSlotsInFlight][kVectorsPerLane];
#pragma unroll
    for (int i = 0; i < kSlotsInFlight; ++i) {
      const int64_t start = slot + i < args.num_slots ? slot_start(args, slot + i) : -1;
#pragma unroll
      for (int j = 0; j < kVectorsPerLane; ++j) {
        k[i][j] = start < 0 ? uint4{} : args.k_cache[start + lane + j * kWarpSize];
        v[i][j] = start < 0 ? uint4{} : args.v_cache[start + lane + j * kWarpSize];
      }
    }
#pragma unroll
    for (int i = 0; i < kSlotsInFlight; ++i) {
#pragma unroll
      for (int j = 0; j < kVectorsPerLane; ++j)
        bits ^= k[i][j].x ^ k[i][j].y ^ k[i][j].z ^ k[i][j].w ^ v[i][j].x ^ v[i][j].y ^ v[i][j].z ^ v[i][j].w;
    }
  }
  if (kReads == FloorReads::kBeforeWait) cuda::wait_for_previous_kernel();
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) bits ^= __shfl_xor_sync(0xffffffffu, bits, offset);
  if (lane == 0) args.sink[warp % kFloorSinkWords] = bits;
}

}  // namespace

void read_kv_floor(const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables, int64_t context,
                   FloorReads reads, Tensor& sink, cudaStream_t stream) {
  const FloorArgs args{
      .k_cache = static_cast<const uint4*>(k_cache.raw()),
      .v_cache = static_cast<const uint4*>(v_cache.raw()),
      .block_tables = static_cast<const int32_t*>(block_tables.raw()),
      .sink = static_cast<unsigned*>(sink.raw()),
      .num_slots = block_tables.dim(0) * context,
      .context = static_cast<int>(context),
      .blocks_per_row = static_cast<int>(block_tables.dim(1)),
      .block_size = static_cast<int>(k_cache.dim(1)),
  };
  if (k_cache.dim(2) * k_cache.dim(3) != 8 * kVectorsPerSlot) {
    throw Error(ErrorKind::kInvalidArgument, "read_kv_floor: a slot must be 8 kv heads × 128 dims");
  }
  // Asked once: a benchmark captures hundreds of these launches on one device.
  static const int num_sms = cuda::multiprocessor_count();
  const int64_t warps_needed = (args.num_slots + kSlotsInFlight - 1) / kSlotsInFlight;
  const int64_t blocks_needed = (warps_needed + kThreads / kWarpSize - 1) / (kThreads / kWarpSize);
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(blocks_needed, int64_t{kBlocksPerSm} * num_sms));
  if (reads == FloorReads::kAfterWait) {
    cuda::launch_dependent(read_kv_kernel<FloorReads::kAfterWait>, dim3(blocks), dim3(kThreads), 0, stream, 1u, args);
  } else {
    cuda::launch_dependent(read_kv_kernel<FloorReads::kBeforeWait>, dim3(blocks), dim3(kThreads), 0, stream, 1u, args);
  }
}

}  // namespace hanlin::cuda_bench
