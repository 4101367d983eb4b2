// Benchmark datasets: random prompts of exact lengths (ids, or text through the real Qwen3
// tokenizer), ShareGPT parsing and its malformed files, and the built-in enterprise set.
#include "bench/datasets.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "bench/enterprise_prompts.h"
#include "core/error.h"

namespace hanlin::bench {
namespace {

const text::Tokenizer& qwen3_tokenizer() {
  static const text::Tokenizer tokenizer = text::Tokenizer::load(HANLIN_TOKENIZER_DIR);
  return tokenizer;
}

ErrorKind error_kind_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.kind();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorKind::kInternal;
}

std::string error_message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

std::string write_temp(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

RandomDatasetOptions random_options(int64_t input_len, int64_t output_len, double range_ratio, int64_t prefix_len,
                                    size_t num_prompts, uint64_t seed) {
  RandomDatasetOptions options;
  options.input_len = input_len;
  options.output_len = output_len;
  options.range_ratio = range_ratio;
  options.prefix_len = prefix_len;
  options.num_prompts = num_prompts;
  options.seed = seed;
  return options;
}

TEST(LengthRangeTest, FloorAndCeilAroundTheLength) {
  EXPECT_EQ(length_range(100, 0.0, 1), std::make_pair(int64_t{100}, int64_t{100}));
  EXPECT_EQ(length_range(100, 0.25, 1), std::make_pair(int64_t{75}, int64_t{125}));
  EXPECT_EQ(length_range(10, 0.33, 1), std::make_pair(int64_t{6}, int64_t{14}));  // 6.7 → 6, 13.3 → 14
  EXPECT_EQ(length_range(1, 0.9, 1), std::make_pair(int64_t{1}, int64_t{2}));      // 0.1 → 0 → at least 1
}

TEST(RandomDatasetTest, TokenIdsOfExactLengthsWithoutTokenizer) {
  const RandomDatasetOptions options = random_options(32, 8, 0.0, 0, 5, 1);
  const std::vector<BenchRequest> requests = random_requests(options, nullptr);
  ASSERT_EQ(requests.size(), 5u);
  for (const BenchRequest& request : requests) {
    EXPECT_TRUE(request.prompt.empty());
    EXPECT_EQ(request.prompt_ids.size(), 32u);
    EXPECT_EQ(request.prompt_len, 32);
    EXPECT_EQ(request.output_len, 8);
    for (int32_t id : request.prompt_ids) EXPECT_TRUE(id >= 0 && id < kPlainTokenIdLimit);
  }
  EXPECT_NE(requests[0].prompt_ids, requests[1].prompt_ids);
}

TEST(RandomDatasetTest, RangeRatioPrefixAndSeed) {
  RandomDatasetOptions options = random_options(40, 20, 0.5, 6, 200, 9);
  const std::vector<BenchRequest> requests = random_requests(options, nullptr);
  std::set<int64_t> input_lens;
  for (const BenchRequest& request : requests) {
    const int64_t own = request.prompt_len - 6;
    EXPECT_TRUE(own >= 20 && own <= 60) << own;
    EXPECT_TRUE(request.output_len >= 10 && request.output_len <= 30) << request.output_len;
    EXPECT_EQ(static_cast<int64_t>(request.prompt_ids.size()), request.prompt_len);
    // The shared prefix: the same first six ids everywhere.
    EXPECT_TRUE(std::equal(requests[0].prompt_ids.begin(), requests[0].prompt_ids.begin() + 6, request.prompt_ids.begin()));
    input_lens.insert(own);
  }
  EXPECT_GT(input_lens.size(), 20u);  // 41 allowed lengths, 200 draws: far from constant
  EXPECT_EQ(random_requests(options, nullptr)[7].prompt_ids, requests[7].prompt_ids);
  options.seed = 10;
  EXPECT_NE(random_requests(options, nullptr)[7].prompt_ids, requests[7].prompt_ids);
}

TEST(RandomDatasetTest, TextThatEncodesToTheRequestedLength) {
  RandomDatasetOptions options = random_options(100, 4, 0.3, 10, 20, 3);
  const std::vector<BenchRequest> requests = random_requests(options, &qwen3_tokenizer());
  for (const BenchRequest& request : requests) {
    EXPECT_TRUE(request.prompt_ids.empty());
    EXPECT_EQ(static_cast<int64_t>(qwen3_tokenizer().encode(request.prompt).size()), request.prompt_len);
    EXPECT_TRUE(request.prompt_len >= 10 + 70 && request.prompt_len <= 10 + 130) << request.prompt_len;
  }
  options.range_ratio = 0;
  for (const BenchRequest& request : random_requests(options, &qwen3_tokenizer())) EXPECT_EQ(request.prompt_len, 110);
}

TEST(ShareGptTest, FirstHumanTurnAndItsReply) {
  const std::string json = R"([
    {"id": "a", "conversations": [{"from": "human", "value": "问题一"}, {"from": "gpt", "value": "回答一"},
                                  {"from": "human", "value": "追问"}, {"from": "gpt", "value": "再答"}]},
    {"id": "b", "conversations": [{"from": "system", "value": "sys"}, {"from": "human", "value": "Q2"},
                                  {"from": "gpt", "value": "A2"}]},
    {"id": "c", "conversations": [{"from": "human", "value": "alone"}]},
    {"id": "d", "conversations": []}
  ])";
  const std::vector<Conversation> exchanges = parse_sharegpt(json, "chats.json");
  ASSERT_EQ(exchanges.size(), 2u);  // c and d have no reply
  EXPECT_EQ(exchanges[0].prompt, "问题一");
  EXPECT_EQ(exchanges[0].completion, "回答一");
  EXPECT_EQ(exchanges[1].prompt, "Q2");
  EXPECT_EQ(exchanges[1].completion, "A2");
}

TEST(ShareGptTest, MalformedFilesNameTheFileAndTheProblem) {
  const struct {
    const char* json;
    const char* says;
  } cases[] = {
      {"[{\"conversations\": [", "not valid JSON"},
      {"{\"conversations\": []}", "expected a JSON list"},
      {"[42]", "entry 1 is not an object"},
      {"[{\"id\": 1}]", "entry 1 has no 'conversations' list"},
      {"[{\"conversations\": \"hi\"}]", "entry 1 has no 'conversations' list"},
      {"[{\"conversations\": [{\"from\": \"human\", \"value\": 3}, {\"from\": \"gpt\", \"value\": \"x\"}]}]",
       "entry 1, turn 1 has no string 'value'"},
      {"[{\"conversations\": [{\"from\": \"human\", \"value\": \"q\"}]}]", "no conversation has a human turn"},
      {"[]", "no conversation has a human turn"},
  };
  for (const auto& bad : cases) {
    const std::string message = error_message_of([&] { parse_sharegpt(bad.json, "data/bad.json"); });
    EXPECT_EQ(message.rfind("data/bad.json: ", 0), 0u) << message;
    EXPECT_NE(message.find(bad.says), std::string::npos) << message;
    EXPECT_EQ(error_kind_of([&] { parse_sharegpt(bad.json, "data/bad.json"); }), ErrorKind::kInvalidFile);
  }
}

TEST(ShareGptTest, RequestsFromAFile) {
  const std::string path = write_temp("sharegpt_ok.json", R"([
    {"conversations": [{"from": "human", "value": "请介绍一下杭州的西湖。"}, {"from": "gpt", "value": "西湖位于杭州市西部，是著名的风景名胜区。"}]},
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there, how can I help?"}]}
  ])");
  ShareGptOptions options{path, 5, 0, 16};
  const std::vector<BenchRequest> fixed = sharegpt_requests(options, nullptr);
  ASSERT_EQ(fixed.size(), 5u);  // two exchanges, repeated to five
  for (const BenchRequest& request : fixed) {
    EXPECT_EQ(request.output_len, 16);
    EXPECT_EQ(request.prompt_len, 0);  // unknown without a tokenizer: the server's usage tells
  }
  // With a tokenizer and no fixed length: "Hi" is under 4 tokens, so only the first is usable.
  options.output_len.reset();
  const std::vector<BenchRequest> counted = sharegpt_requests(options, &qwen3_tokenizer());
  for (const BenchRequest& request : counted) {
    EXPECT_EQ(request.prompt, "请介绍一下杭州的西湖。");
    EXPECT_EQ(request.prompt_len, static_cast<int64_t>(qwen3_tokenizer().encode(request.prompt).size()));
    EXPECT_EQ(request.output_len,
              static_cast<int64_t>(qwen3_tokenizer().encode("西湖位于杭州市西部，是著名的风景名胜区。").size()));
  }
  std::remove(path.c_str());
}

TEST(ShareGptTest, MissingFileAndMissingLengths) {
  ShareGptOptions options{::testing::TempDir() + "no_such_file.json", 1, 0, 8};
  EXPECT_EQ(error_kind_of([&] { sharegpt_requests(options, nullptr); }), ErrorKind::kNotFound);
  options.output_len.reset();
  EXPECT_EQ(error_kind_of([&] { sharegpt_requests(options, nullptr); }), ErrorKind::kInvalidArgument);
}

TEST(EnterpriseSetTest, CoversEveryTaskWithSensibleLengths) {
  const auto prompts = enterprise_prompts();
  EXPECT_GE(prompts.size(), 40u);
  std::set<EnterpriseTask> tasks;
  for (const EnterprisePrompt& prompt : prompts) {
    tasks.insert(prompt.task);
    EXPECT_GE(prompt.text.size(), 20u);
    EXPECT_TRUE(prompt.max_tokens >= 64 && prompt.max_tokens <= 1024);
  }
  EXPECT_EQ(tasks.size(), 4u);
  const nlohmann::json tools = nlohmann::json::parse(enterprise_tools_json());
  ASSERT_TRUE(tools.is_array());
  std::set<std::string> names;
  for (const auto& tool : tools) names.insert(tool["function"]["name"].get<std::string>());
  EXPECT_TRUE(names.count("lookup_employee") && names.count("create_ticket"));
}

TEST(EnterpriseSetTest, ToolsOnlyOnTheChatEndpoint) {
  const size_t count = enterprise_prompts().size();
  const std::vector<BenchRequest> chat = enterprise_requests(count, 5, true, nullptr);
  const std::vector<BenchRequest> text = enterprise_requests(count, 5, false, nullptr);
  size_t num_with_tools = 0;
  for (size_t i = 0; i < count; ++i) {
    num_with_tools += chat[i].tools.is_array() ? 1 : 0;
    EXPECT_TRUE(text[i].tools.is_null());
    EXPECT_EQ(chat[i].prompt, text[i].prompt);  // the same seed, the same order
  }
  size_t num_tool_items = 0;
  for (const EnterprisePrompt& prompt : enterprise_prompts()) num_tool_items += prompt.task == EnterpriseTask::kToolCall;
  EXPECT_EQ(num_with_tools, num_tool_items);
  // More prompts than the set holds: it repeats, every item used.
  const std::vector<BenchRequest> repeated = enterprise_requests(count * 2, 5, false, &qwen3_tokenizer());
  std::set<std::string> distinct;
  for (const BenchRequest& request : repeated) {
    distinct.insert(request.prompt);
    EXPECT_GT(request.prompt_len, 10);
  }
  EXPECT_EQ(distinct.size(), count);
}

}  // namespace
}  // namespace hanlin::bench
