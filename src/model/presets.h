// Shapes of the released Qwen3 dense models, for --load-format dummy runs and benchmarks that
// need real sizes but no checkpoint.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/model_config.h"

namespace hanlin::model {

// The preset names: "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b".
std::vector<std::string> preset_names();

// The config of preset `name` (case-insensitive); throws Error(kInvalidArgument) listing the
// known names otherwise.
io::ModelConfig preset_config(std::string_view name);

}  // namespace hanlin::model
