// The prompts a benchmark run sends: random token sequences of chosen lengths, conversations
// from a ShareGPT-format JSON file, or the built-in Chinese enterprise set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "text/tokenizer.h"

namespace hanlin::bench {

struct BenchRequest {
  std::string prompt;              // the text sent; empty when prompt_ids carries the prompt
  std::vector<int32_t> prompt_ids; // random prompts without a tokenizer are sent as token ids
  nlohmann::json tools;            // chat tool definitions, null for none
  int64_t prompt_len = 0;          // tokens; 0 when unknown until the server's usage reports it
  int64_t output_len = 0;          // max_tokens
};

struct RandomDatasetOptions {
  int64_t input_len = 1024;
  int64_t output_len = 128;
  double range_ratio = 0.0;  // lengths uniform in [len·(1−r), len·(1+r)]
  int64_t prefix_len = 0;    // tokens shared by every prompt, before its own
  size_t num_prompts = 1000;
  uint64_t seed = 0;
};

// Without a tokenizer, prompts are token ids below kPlainTokenIdLimit: every Qwen vocabulary
// holds ordinary tokens there, so the server reads exactly input_len tokens.
inline constexpr int32_t kPlainTokenIdLimit = 32000;

// Random prompts. With a tokenizer the ids are decoded to text and adjusted until the text
// encodes to the requested length (prompt_len is the length reached); without one they stay ids.
std::vector<BenchRequest> random_requests(const RandomDatasetOptions& options, const text::Tokenizer* tokenizer);

// The lengths a range ratio allows around `length`: [floor(length·(1−r)), ceil(length·(1+r))],
// at least `minimum`.
std::pair<int64_t, int64_t> length_range(int64_t length, double range_ratio, int64_t minimum);

// One exchange of a ShareGPT conversation: the first human turn and the reply after it.
struct Conversation {
  std::string prompt;
  std::string completion;
};

// The usable exchanges of a ShareGPT-format JSON text: a list of {"conversations": [{"from":
// "human", "value": ...}, {"from": "gpt", "value": ...}, ...]}. Entries with fewer than two turns
// or no human turn followed by a reply are skipped, as vLLM does. Throws Error(kInvalidFile)
// naming `source` and what is wrong when the text is not that shape.
std::vector<Conversation> parse_sharegpt(std::string_view json_text, const std::string& source);

struct ShareGptOptions {
  std::string path;
  size_t num_prompts = 1000;
  uint64_t seed = 0;
  std::optional<int64_t> output_len;  // else the reply's token count (needs a tokenizer)
};

// Reads the file (Error kNotFound when it cannot be read), shuffles the exchanges with the seed
// and takes num_prompts of them, repeating the list when the file has fewer. With a tokenizer and
// no fixed output length, exchanges vLLM would drop are dropped: prompt or reply under 4
// tokens, prompt over 1024, prompt + reply over 2048.
std::vector<BenchRequest> sharegpt_requests(const ShareGptOptions& options, const text::Tokenizer* tokenizer);

// num_prompts items of the built-in enterprise set in a seeded order, repeating it as needed.
// `with_tools`: tool-calling items carry their tools (chat endpoint); else their text only.
std::vector<BenchRequest> enterprise_requests(size_t num_prompts, uint64_t seed, bool with_tools,
                                              const text::Tokenizer* tokenizer);

}  // namespace hanlin::bench
