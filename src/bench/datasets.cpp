// Benchmark prompts: random, ShareGPT, built-in enterprise set; see datasets.h.
#include "bench/datasets.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "bench/enterprise_prompts.h"
#include "core/error.h"

namespace hanlin::bench {
namespace {

using text::TokenId;
using text::Tokenizer;

// Ids whose text is ordinary: no special tokens, no ids that name nothing, no "<...>" markers
// such as <think> that a chat template or parser would treat as control text.
std::vector<TokenId> ordinary_ids(const Tokenizer& tokenizer) {
  std::vector<TokenId> ids;
  for (size_t id = 0; id < tokenizer.id_limit(); ++id) {
    const auto token = static_cast<TokenId>(id);
    const std::string_view bytes = tokenizer.token_bytes(token);
    const bool is_marker = bytes.size() > 2 && bytes.front() == '<' && bytes.back() == '>';
    if (!bytes.empty() && !tokenizer.is_special(token) && !is_marker) ids.push_back(token);
  }
  require(!ids.empty(), ErrorKind::kInvalidFile, "the tokenizer has no ordinary tokens to build prompts from");
  return ids;
}

// Draws ids: from `pool` when given, else uniformly below kPlainTokenIdLimit.
class IdSource {
 public:
  IdSource(std::vector<TokenId> pool, uint64_t seed) : pool_(std::move(pool)), generator_(seed) {}

  void append(size_t count, std::vector<TokenId>& out) {
    const size_t limit = pool_.empty() ? static_cast<size_t>(kPlainTokenIdLimit) : pool_.size();
    std::uniform_int_distribution<size_t> pick(0, limit - 1);
    for (size_t i = 0; i < count; ++i) {
      const size_t index = pick(generator_);
      out.push_back(pool_.empty() ? static_cast<TokenId>(index) : pool_[index]);
    }
  }

  int64_t draw_length(std::pair<int64_t, int64_t> range) {
    return std::uniform_int_distribution<int64_t>(range.first, range.second)(generator_);
  }

 private:
  std::vector<TokenId> pool_;
  std::mt19937_64 generator_;
};

// Decoding ids and encoding the text again rarely gives the same ids (merges cross the old
// boundaries), so the text is trimmed or extended until it encodes to `target` tokens.
BenchRequest text_prompt_of_length(std::vector<TokenId> ids, int64_t target, const Tokenizer& tokenizer,
                                   IdSource& source) {
  BenchRequest request;
  const auto wanted = static_cast<size_t>(target);
  for (int attempt = 0; attempt < 16; ++attempt) {
    request.prompt = tokenizer.decode(ids);
    std::vector<TokenId> encoded = tokenizer.encode(request.prompt);
    request.prompt_len = static_cast<int64_t>(encoded.size());
    if (encoded.size() == wanted) break;
    if (encoded.size() > wanted) encoded.resize(wanted);
    else source.append(wanted - encoded.size(), encoded);
    ids = std::move(encoded);
  }
  return request;
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  require(file.good(), ErrorKind::kNotFound, "--dataset-path: cannot read '" + path + "'");
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

int64_t count_tokens(const Tokenizer& tokenizer, const std::string& text) {
  return static_cast<int64_t>(tokenizer.encode(text).size());
}

// vLLM's ShareGPT filter, so figures on the same file compare.
bool is_usable_exchange(int64_t prompt_len, int64_t output_len) {
  return prompt_len >= 4 && output_len >= 4 && prompt_len <= 1024 && prompt_len + output_len <= 2048;
}

const nlohmann::json* turn_value(const nlohmann::json& turn, const std::string& where) {
  require(turn.is_object(), ErrorKind::kInvalidFile, where + " is not an object");
  const auto value = turn.find("value");
  require(value != turn.end() && value->is_string(), ErrorKind::kInvalidFile,
          where + " has no string 'value'");
  return &*value;
}

std::optional<Conversation> first_exchange(const nlohmann::json& turns, const std::string& where) {
  for (size_t i = 0; i + 1 < turns.size(); ++i) {
    const std::string turn_where = where + ", turn " + std::to_string(i + 1);
    const nlohmann::json* prompt = turn_value(turns[i], turn_where);
    const std::string from = turns[i].value("from", "");
    if (from != "human" && from != "user") continue;
    const nlohmann::json* reply = turn_value(turns[i + 1], where + ", turn " + std::to_string(i + 2));
    return Conversation{prompt->get<std::string>(), reply->get<std::string>()};
  }
  return std::nullopt;
}

std::vector<size_t> shuffled_indices(size_t count, uint64_t seed) {
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937_64 generator(seed);
  std::shuffle(order.begin(), order.end(), generator);
  return order;
}

}  // namespace

std::pair<int64_t, int64_t> length_range(int64_t length, double range_ratio, int64_t minimum) {
  const auto low = static_cast<int64_t>(std::floor(static_cast<double>(length) * (1.0 - range_ratio)));
  const auto high = static_cast<int64_t>(std::ceil(static_cast<double>(length) * (1.0 + range_ratio)));
  return {std::max(low, minimum), std::max(high, minimum)};
}

std::vector<BenchRequest> random_requests(const RandomDatasetOptions& options, const Tokenizer* tokenizer) {
  IdSource source(tokenizer ? ordinary_ids(*tokenizer) : std::vector<TokenId>{}, options.seed);
  std::vector<TokenId> prefix;
  source.append(static_cast<size_t>(options.prefix_len), prefix);
  const auto input_range = length_range(options.input_len, options.range_ratio, options.prefix_len > 0 ? 0 : 1);
  const auto output_range = length_range(options.output_len, options.range_ratio, 1);
  std::vector<BenchRequest> requests;
  requests.reserve(options.num_prompts);
  for (size_t i = 0; i < options.num_prompts; ++i) {
    const int64_t own_len = source.draw_length(input_range);
    const int64_t output_len = source.draw_length(output_range);
    std::vector<TokenId> ids = prefix;
    source.append(static_cast<size_t>(own_len), ids);
    const int64_t target = options.prefix_len + own_len;
    BenchRequest request;
    if (tokenizer) {
      request = text_prompt_of_length(std::move(ids), target, *tokenizer, source);
    } else {
      request.prompt_ids = std::move(ids);
      request.prompt_len = target;
    }
    request.output_len = output_len;
    requests.push_back(std::move(request));
  }
  return requests;
}

std::vector<Conversation> parse_sharegpt(std::string_view json_text, const std::string& source) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& error) {
    throw Error(ErrorKind::kInvalidFile, source + ": not valid JSON (" + error.what() + ")");
  }
  require(root.is_array(), ErrorKind::kInvalidFile,
          source + ": expected a JSON list of {\"conversations\": [...]} entries");
  std::vector<Conversation> exchanges;
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string where = source + ": entry " + std::to_string(i + 1);
    require(root[i].is_object(), ErrorKind::kInvalidFile, where + " is not an object");
    const auto turns = root[i].find("conversations");
    require(turns != root[i].end() && turns->is_array(), ErrorKind::kInvalidFile,
            where + " has no 'conversations' list");
    if (auto exchange = first_exchange(*turns, where)) exchanges.push_back(std::move(*exchange));
  }
  require(!exchanges.empty(), ErrorKind::kInvalidFile,
          source + ": no conversation has a human turn followed by a reply");
  return exchanges;
}

std::vector<BenchRequest> sharegpt_requests(const ShareGptOptions& options, const Tokenizer* tokenizer) {
  require(tokenizer || options.output_len, ErrorKind::kInvalidArgument,
          "the sharegpt dataset needs --tokenizer DIR to count reply tokens, or --sharegpt-output-len N");
  const std::vector<Conversation> exchanges = parse_sharegpt(read_file(options.path), options.path);
  std::vector<BenchRequest> usable;
  for (size_t index : shuffled_indices(exchanges.size(), options.seed)) {
    if (usable.size() == options.num_prompts) break;
    const Conversation& exchange = exchanges[index];
    BenchRequest request;
    request.prompt = exchange.prompt;
    request.prompt_len = tokenizer ? count_tokens(*tokenizer, exchange.prompt) : 0;
    request.output_len = options.output_len ? *options.output_len : count_tokens(*tokenizer, exchange.completion);
    if (!options.output_len && !is_usable_exchange(request.prompt_len, request.output_len)) continue;
    usable.push_back(std::move(request));
  }
  require(!usable.empty(), ErrorKind::kInvalidFile,
          options.path + ": no conversation fits (prompt 4..1024 tokens, reply at least 4, both at most 2048)");
  std::vector<BenchRequest> requests;
  requests.reserve(options.num_prompts);
  for (size_t i = 0; i < options.num_prompts; ++i) requests.push_back(usable[i % usable.size()]);
  return requests;
}

std::vector<BenchRequest> enterprise_requests(size_t num_prompts, uint64_t seed, bool with_tools,
                                              const Tokenizer* tokenizer) {
  const std::span<const EnterprisePrompt> prompts = enterprise_prompts();
  const std::vector<size_t> order = shuffled_indices(prompts.size(), seed);
  const nlohmann::json tools = nlohmann::json::parse(enterprise_tools_json());
  std::vector<BenchRequest> requests;
  requests.reserve(num_prompts);
  for (size_t i = 0; i < num_prompts; ++i) {
    const EnterprisePrompt& item = prompts[order[i % order.size()]];
    BenchRequest request;
    request.prompt = std::string(item.text);
    request.prompt_len = tokenizer ? count_tokens(*tokenizer, request.prompt) : 0;
    request.output_len = item.max_tokens;
    if (with_tools && item.task == EnterpriseTask::kToolCall) request.tools = tools;
    requests.push_back(std::move(request));
  }
  return requests;
}

}  // namespace hanlin::bench
