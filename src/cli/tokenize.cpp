// `hanlin tokenize`: token ids of text with a checkpoint's own tokenizer, one JSON array per
// input, identical to Hugging Face `tokenizers` (special-token text parsed unless --no-special).
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "text/tokenizer.h"

namespace hanlin::cli {
namespace {

using text::TokenId;
using text::Tokenizer;

struct TokenizeOptions {
  std::string model_dir;
  std::string text;
  std::string jsonl_path;
  bool json = false;  // JSON is the only output format; the flag is accepted for scripts
  bool no_special = false;
};

// "[9707,1879]": compact, as the parity fixtures are written.
void print_ids(const std::vector<TokenId>& ids) {
  std::string line = "[";
  char number[16];
  for (size_t index = 0; index < ids.size(); ++index) {
    if (index > 0) line += ',';
    const auto [end, error] = std::to_chars(number, number + sizeof(number), ids[index]);
    line.append(number, end);
  }
  line += "]\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
}

// Parses one JSONL line; `where` names it ("FILE:LINE") in errors.
std::string text_of_line(const std::string& line, const std::string& where) {
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& error) {
    throw Error(ErrorKind::kInvalidArgument, where + ": not JSON (" + error.what() + ")");
  }
  require(value.is_string(), ErrorKind::kInvalidArgument,
          where + ": expected a JSON string, got " + std::string(value.type_name()));
  return value.get<std::string>();
}

void tokenize_jsonl(const Tokenizer& tokenizer, const text::EncodeOptions& encode_options, const std::string& path) {
  std::ifstream file;
  std::istream* input = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    require(file.is_open(), ErrorKind::kNotFound, "--jsonl: cannot open " + path);
    input = &file;
  }
  std::string line;
  std::vector<TokenId> ids;
  for (size_t number = 1; std::getline(*input, line); ++number) {
    const std::string where = path + ":" + std::to_string(number);
    const std::string text = text_of_line(line, where);
    ids.clear();
    try {
      tokenizer.encode(text, encode_options, ids);
    } catch (const Error& error) {
      throw Error(error.kind(), where + ": " + error.what());
    }
    print_ids(ids);
  }
  require(!input->bad(), ErrorKind::kInvalidArgument, "--jsonl: reading " + path + " failed");
}

void run_tokenize(const TokenizeOptions& options, bool has_text, bool has_jsonl) {
  require(has_text != has_jsonl, ErrorKind::kInvalidArgument, "give either --text or --jsonl");
  const Tokenizer tokenizer = Tokenizer::load(options.model_dir);
  text::EncodeOptions encode_options;
  encode_options.parse_special = !options.no_special;
  if (has_jsonl) {
    tokenize_jsonl(tokenizer, encode_options, options.jsonl_path);
  } else {
    print_ids(tokenizer.encode(options.text, encode_options));
  }
  std::fflush(stdout);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* command = app.add_subcommand(
      "tokenize",
      "Token ids of text with the model's tokenizer.json, identical to Hugging Face tokenizers "
      "(no BOS/EOS added); prints one JSON array of ids per input");
  command->add_option("--model", options->model_dir, "Model folder with tokenizer.json (and tokenizer_config.json)")
      ->required();
  auto* text_option = command->add_option("--text", options->text, "The text to tokenize (UTF-8)");
  auto* jsonl_option = command->add_option(
      "--jsonl", options->jsonl_path,
      "A file ('-' for stdin) with one JSON string per line; prints one JSON array of ids per line, in order");
  text_option->excludes(jsonl_option);
  jsonl_option->excludes(text_option);
  command->add_flag("--json", options->json, "Print JSON arrays of ids (the only output format; accepted for scripts)");
  command->add_flag("--no-special", options->no_special,
                    "Treat special-token text such as <|im_end|> as plain text, as hanlin does for chat content "
                    "(default: recognise it, as Hugging Face does; <think>, <tool_call> are recognised either way)");
  command->callback([options, text_option, jsonl_option] {
    run_tokenize(*options, text_option->count() > 0, jsonl_option->count() > 0);
  });
}

}  // namespace hanlin::cli
