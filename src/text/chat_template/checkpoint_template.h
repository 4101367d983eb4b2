// A checkpoint's chat template and the special-token variables it renders with, found the way
// transformers finds them: chat_template.jinja, chat_template.json, or tokenizer_config.json.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "text/chat_template/chat_template.h"

namespace hanlin::text {

struct CheckpointTemplate {
  ChatTemplate chat_template;
  nlohmann::ordered_json checkpoint_variables;  // bos_token, eos_token, ... (checkpoint_template_variables)
};

// `template_path` (may be empty) overrides the checkpoint's own template. Throws Error:
// kNotFound when there is no template, kInvalidFile when a file is malformed or the template
// does not compile.
CheckpointTemplate load_checkpoint_template(const std::string& model_dir, const std::string& template_path = "");

}  // namespace hanlin::text
