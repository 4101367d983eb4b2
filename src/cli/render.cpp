// `hanlin render`: renders an OpenAI chat-completions request with a checkpoint's chat template
// and prints exactly the prompt text the model would see.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "text/chat_template/checkpoint_template.h"
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

// main prints errors as one line; a template's raise_exception message may hold newlines.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

void render_prompt(const RenderOptions& options) {
  const text::CheckpointTemplate checkpoint = text::load_checkpoint_template(options.model_dir, options.template_path);
  Json request = parse_json_file(options.request_path, ErrorKind::kInvalidArgument);
  text::RenderedPrompt prompt =
      checkpoint.chat_template.render(text::chat_template_variables(request), checkpoint.checkpoint_variables);
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
