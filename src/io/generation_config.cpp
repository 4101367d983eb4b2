// generation_config.json → GenerationConfig: the sampling defaults a checkpoint asks for.
// Ranges follow what transformers' logits processors accept.
#include <filesystem>

#include "core/error.h"
#include "core/mapped_file.h"
#include "io/json_fields.h"
#include "io/model_config.h"

namespace hanlin::io {
namespace {

constexpr int kMaxGenerationConfigDepth = 32;

}  // namespace

GenerationConfig parse_generation_config(const std::string& json_text, const std::string& path) {
  const Json root =
      parse_json_strict(json_text, path, "generation config", "field", kMaxGenerationConfigDepth);
  require_json_object(root, path, "generation config");
  const JsonFields fields(root, path);

  GenerationConfig config;
  config.eos_token_ids = fields.integer_or_list("eos_token_id", IntegerRule::kNonNegative);
  config.temperature = fields.number("temperature", NumberRule::kNonNegative);  // 0 means greedy
  config.top_p = fields.number("top_p", NumberRule::kUnitInterval);
  config.top_k = fields.integer("top_k", IntegerRule::kNonNegative);  // 0 disables top-k
  config.min_p = fields.number("min_p", NumberRule::kUnitInterval);
  config.repetition_penalty = fields.number("repetition_penalty", NumberRule::kPositive);
  config.do_sample = fields.boolean("do_sample");
  config.max_new_tokens = fields.integer("max_new_tokens", IntegerRule::kPositive);
  return config;
}

GenerationConfig load_generation_config(const std::string& path) {
  std::error_code error;
  // Only a file that is truly absent is skipped; one we cannot check is read and reported.
  if (!std::filesystem::exists(path, error) && !error) return {};
  return parse_generation_config(read_text_file(path), path);
}

}  // namespace hanlin::io
