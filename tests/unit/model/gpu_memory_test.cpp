// GPU memory planning: the weight bytes of Qwen3-8B against its published parameter count, the
// activation reserve worked out by hand, and how --gpu-memory-utilization shares out a GPU that
// others already use.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/gpu_memory.h"
#include "model/presets.h"

namespace hanlin::model {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// Qwen3-8B: 8,190,735,360 parameters (the model card's "8.2B"): embeddings and an untied lm_head
// 2 × 151936 × 4096 = 1,244,659,712; per layer q/k/v (4096 + 2 · 1024) × 4096 = 25,165,824,
// o 16,777,216, MLP 3 × 12288 × 4096 = 150,994,944, two norms 8,192 and q/k norms 256, so
// 192,946,432 × 36 layers = 6,946,071,552; the final norm 4,096. Two bytes each in bf16.
TEST(GpuMemory, Qwen3_8bWeightsAreItsParameterCountInBf16) {
  EXPECT_EQ(gpu_weight_bytes(preset_config("qwen3-8b")), int64_t{2} * 8'190'735'360);
}

// Per token 2 · (5 · 4096 + 2 · 4096 + 6144 + 3 · 12288) = 143,360 bytes; scratch for 2048 tokens
// 293,601,280; logits for 256 rows 256 · 2 · (4096 + 151936) = 79,888,384; the GEMM workspace
// 32 MiB, prefill attention's split workspace 40 MiB and a 512 MiB margin: 985,858,048 in all.
TEST(GpuMemory, ActivationReserveForQwen3_8b) {
  EXPECT_EQ(gpu_activation_bytes(preset_config("qwen3-8b"), 2048, 256), 985'858'048);
}

TEST(GpuMemory, TheCacheGetsTheShareLeftAfterOthersWeightsAndActivations) {
  const io::ModelConfig config = preset_config("qwen3-8b");
  // An 80 GiB GPU with 1 GiB in use: 0.9 of it is 72 GiB, 71 of which are this process's to take.
  const GpuMemoryPlan plan = plan_gpu_memory(config, 0.9, 2048, 256, 80 * kGiB, 79 * kGiB);
  EXPECT_EQ(plan.kv_cache_bytes, 71 * kGiB - int64_t{16'381'470'720} - 985'858'048);
  // Utilization 1 still cannot take more than is free.
  const GpuMemoryPlan all = plan_gpu_memory(config, 1.0, 2048, 256, 80 * kGiB, 50 * kGiB);
  EXPECT_EQ(all.kv_cache_bytes, 50 * kGiB - int64_t{16'381'470'720} - 985'858'048);
}

TEST(GpuMemory, TooLittleLeftIsAClearResourceError) {
  const io::ModelConfig config = preset_config("qwen3-8b");
  try {
    // 0.2 of 80 GiB is 16 GiB: less than the 15.26 GiB of weights plus activations.
    plan_gpu_memory(config, 0.2, 2048, 256, 80 * kGiB, 79 * kGiB);
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kResourceExhausted);
    const std::string message = error.what();
    EXPECT_NE(message.find("15.26 GiB"), std::string::npos) << message;  // the weights
    EXPECT_NE(message.find("--gpu-memory-utilization 0.2 of 80.00 GiB leaves 15.00 GiB"), std::string::npos)
        << message;
  }
  // Others hold 70 GiB: 72 − 70 = 2 GiB left, whatever is free.
  EXPECT_THROW(plan_gpu_memory(config, 0.9, 2048, 256, 80 * kGiB, 10 * kGiB), Error);
}

TEST(GpuMemory, UtilizationOutsideZeroToOneIsInvalid) {
  const io::ModelConfig config = preset_config("qwen3-0.6b");
  for (const double utilization : {0.0, -0.5, 1.01}) {
    try {
      plan_gpu_memory(config, utilization, 2048, 256, 80 * kGiB, 79 * kGiB);
      FAIL() << utilization;
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument) << error.what();
    }
  }
}

}  // namespace
}  // namespace hanlin::model
