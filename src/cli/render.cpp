// `hanlin render`: renders an OpenAI chat-completions request with a checkpoint's chat template
// and prints exactly the prompt text the model would see.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "text/chat_template/chat_template.h"
#include "text/chat_template/render_context.h"

namespace hanlin::cli {

namespace {

using Json = nlohmann::ordered_json;

struct RenderOptions {
  std::string model_dir;
  std::string request_path;
  std::string template_path;
};

Json parse_json_file(const std::string& path, ErrorKind kind) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    text = read_text_file(path);
  }
  Json json = Json::parse(text, nullptr, false);
  if (json.is_discarded()) throw Error(kind, path + ": not valid JSON");
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
  throw Error(ErrorKind::kInvalidFile,
              path + ": \"chat_template\" must be a string or a list of {name, template}");
}

// --template, else the checkpoint's chat_template.jinja, chat_template.json, tokenizer_config.json.
std::string load_template(const RenderOptions& options, const Json& tokenizer_config,
                          const std::string& config_path) {
  namespace fs = std::filesystem;
  if (!options.template_path.empty()) return read_text_file(options.template_path);
  fs::path dir(options.model_dir);
  if (fs::exists(dir / "chat_template.jinja")) return read_text_file((dir / "chat_template.jinja").string());
  if (fs::exists(dir / "chat_template.json")) {
    std::string path = (dir / "chat_template.json").string();
    return template_from_config(parse_json_file(path, ErrorKind::kInvalidFile), path);
  }
  if (tokenizer_config.is_null()) {
    throw Error(
        ErrorKind::kNotFound,
        options.model_dir + " has no tokenizer_config.json or chat_template.jinja (pass --template FILE)");
  }
  return template_from_config(tokenizer_config, config_path);
}

// main prints errors as one line; a template's raise_exception message may hold newlines.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

void render_prompt(const RenderOptions& options) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(options.model_dir))
    throw Error(ErrorKind::kNotFound, options.model_dir + ": not a directory");
  std::string config_path = (fs::path(options.model_dir) / "tokenizer_config.json").string();
  Json tokenizer_config =
      fs::exists(config_path) ? parse_json_file(config_path, ErrorKind::kInvalidFile) : Json();
  text::ChatTemplate chat_template =
      text::ChatTemplate::compile(load_template(options, tokenizer_config, config_path));
  Json request = parse_json_file(options.request_path, ErrorKind::kInvalidArgument);
  text::RenderedPrompt prompt = chat_template.render(text::chat_template_variables(request),
                                                     text::checkpoint_template_variables(tokenizer_config));
  std::fwrite(prompt.text.data(), 1, prompt.text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void add_render_command(CLI::App& app) {
  auto options = std::make_shared<RenderOptions>();
  CLI::App* render = app.add_subcommand(
      "render",
      "Print the exact prompt text a chat-completions request renders to with the model's chat template");
  render
      ->add_option("--model", options->model_dir,
                   "Checkpoint folder: its chat template (chat_template.jinja, or \"chat_template\" in "
                   "tokenizer_config.json) and special tokens (bos_token, eos_token, ...) are used")
      ->required();
  render
      ->add_option("--request", options->request_path,
                   "OpenAI chat-completions request body (JSON: messages, tools, add_generation_prompt, "
                   "chat_template_kwargs); '-' reads standard input")
      ->required();
  render->add_option("--template", options->template_path,
                     "Jinja chat template file to use instead of the checkpoint's own");
  render->callback([options] {
    try {
      render_prompt(*options);
    } catch (const Error& error) {
      throw Error(error.kind(), one_line(error.what()));
    }
  });
}

}  // namespace hanlin::cli
