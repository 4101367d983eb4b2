// Finding and compiling a checkpoint's chat template.
#include "text/chat_template/checkpoint_template.h"

#include <filesystem>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/chat_template/render_context.h"

namespace hanlin::text {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

Json parse_json_file(const std::string& path) {
  Json json = Json::parse(read_text_file(path), nullptr, false);
  if (json.is_discarded()) throw Error(ErrorKind::kInvalidFile, path + ": not valid JSON");
  return json;
}

// The chat_template of tokenizer_config.json: a string, or a list of {name, template} of which
// transformers uses the one named "default".
std::string template_from_config(const Json& config, const std::string& path) {
  auto chat_template = config.find("chat_template");
  if (chat_template == config.end() || chat_template->is_null()) {
    throw Error(ErrorKind::kNotFound, path + " has no \"chat_template\" (pass --template FILE)");
  }
  if (chat_template->is_string()) return chat_template->get<std::string>();
  if (chat_template->is_array()) {
    for (const Json& entry : *chat_template) {
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
          entry["template"].is_string()) {
        return entry["template"].get<std::string>();
      }
    }
    throw Error(ErrorKind::kNotFound, path + ": \"chat_template\" lists no template named \"default\"");
  }
  throw Error(ErrorKind::kInvalidFile, path + ": \"chat_template\" must be a string or a list of {name, template}");
}

std::string template_source(const std::string& model_dir, const std::string& template_path, const Json& tokenizer_config,
                            const std::string& config_path) {
  if (!template_path.empty()) return read_text_file(template_path);
  const fs::path dir(model_dir);
  if (fs::exists(dir / "chat_template.jinja")) return read_text_file((dir / "chat_template.jinja").string());
  if (fs::exists(dir / "chat_template.json")) {
    const std::string path = (dir / "chat_template.json").string();
    return template_from_config(parse_json_file(path), path);
  }
  if (tokenizer_config.is_null()) {
    throw Error(ErrorKind::kNotFound,
                model_dir + " has no tokenizer_config.json or chat_template.jinja (pass --template FILE)");
  }
  return template_from_config(tokenizer_config, config_path);
}

}  // namespace

CheckpointTemplate load_checkpoint_template(const std::string& model_dir, const std::string& template_path) {
  require(fs::is_directory(model_dir), ErrorKind::kNotFound, model_dir + ": not a directory");
  const std::string config_path = (fs::path(model_dir) / "tokenizer_config.json").string();
  const Json tokenizer_config = fs::exists(config_path) ? parse_json_file(config_path) : Json();
  return {ChatTemplate::compile(template_source(model_dir, template_path, tokenizer_config, config_path)),
          checkpoint_template_variables(tokenizer_config)};
}

}  // namespace hanlin::text
