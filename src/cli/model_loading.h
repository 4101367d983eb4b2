// What `generate` and `serve` share: the flags that choose a model and size the engine, and
// loading it all (config, weights, tokenizer, eos ids, sampling defaults, KV cache).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/thread_pool.h"
#include "engine/engine_core.h"
#include "io/model_config.h"
#include "model/gpu_memory.h"
#include "model/kv_cache.h"
#include "model/qwen3.h"
#include "text/tokenizer.h"

namespace hanlin::cli {

struct ModelOptions {
  std::string model_dir;
  std::string tokenizer_dir;
  std::string load_format = "auto";
  std::string preset;
  std::string device = "auto";  // auto: cuda when a GPU is present, else cpu
  int threads = 0;
  double kv_cache_gb = 4.0;     // on a GPU only when given: the default there is what
  bool kv_cache_gb_given = false;  // --gpu-memory-utilization leaves after the weights
  double gpu_memory_utilization = 0.9;
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 2048;
  int64_t max_model_len = 0;
  bool no_prefix_caching = false;
};

void add_model_flags(CLI::App& command, ModelOptions& options);
void add_engine_flags(CLI::App& command, ModelOptions& options);
// Flag combinations and ranges; Error(kInvalidArgument / kNotFound) naming the flag.
void check_model_options(const ModelOptions& options);

// 0.7 → "0.7": numbers in messages as the user typed them.
std::string format_number(double value);

// Everything but the weights: cheap, so requests can be checked before the weights load.
struct ModelSetup {
  io::ModelConfig config;
  std::optional<text::Tokenizer> tokenizer;  // --tokenizer, else the model folder's, else none
  std::vector<int32_t> eos_token_ids;        // generation_config.json's, else config.json's
  engine::SamplingParams default_sampling;   // generation_config.json's sampling defaults
  engine::EngineConfig engine_config;
  Device device = Device::kCpu;
  std::unique_ptr<model::KvCache> cache;
  std::optional<model::GpuMemoryPlan> gpu_memory;  // when the cache was sized from the GPU's memory

  const text::Tokenizer* tokenizer_or_null() const { return tokenizer ? &*tokenizer : nullptr; }
  engine::RequestLimits limits() const;
};

ModelSetup prepare_model(const ModelOptions& options);
// One line on stderr: how the GPU's memory was shared out.
void print_gpu_memory(const model::GpuMemoryPlan& plan, const model::KvCache& cache);
// The weights, on `setup.device` (copied to the GPU there); one line on stderr says how long
// reading or making them took, and copying them.
model::Qwen3Model load_weights(const ModelOptions& options, const ModelSetup& setup, ThreadPool& pool);
// One line on stderr, on the GPU: what the engine's warm-up ran and how long it took.
void print_warm_up(const model::Qwen3Model& model, const model::WarmUp& done);

}  // namespace hanlin::cli
