// OutputParser on hand-written Qwen3-style outputs: the exact result of each, the same result
// for every split into chunks, names before arguments, and arguments that stream as they arrive.
#include "text/output_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace hanlin::text {
namespace {

struct Call {
  std::string name;
  std::string arguments;
  bool operator==(const Call&) const = default;
};

// All deltas of one output joined: what a client assembles from a stream.
struct Result {
  std::string reasoning;
  std::string content;
  std::vector<Call> calls;
  bool operator==(const Result&) const = default;
};

void PrintTo(const Result& result, std::ostream* os) {
  *os << "{reasoning: " << testing::PrintToString(result.reasoning)
      << ", content: " << testing::PrintToString(result.content) << ", calls: [";
  for (const Call& call : result.calls) {
    *os << "{" << testing::PrintToString(call.name) << ", " << testing::PrintToString(call.arguments) << "} ";
  }
  *os << "]}";
}

// Adds one delta to `result`, checking the streaming contract as it goes: a call's first delta
// carries its name (before any arguments), no call gets a second name, and a call's fragments
// never arrive after the next call began.
void join(Result& result, const ParsedDelta& delta) {
  result.reasoning += delta.reasoning;
  result.content += delta.content;
  for (const ToolCallDelta& call : delta.tool_calls) {
    const auto num_calls = static_cast<int32_t>(result.calls.size());
    if (call.index == num_calls) {
      EXPECT_TRUE(call.name.has_value()) << "call " << call.index << " began without its name";
      EXPECT_NE(call.name.value_or("x"), "") << "an empty name";
      result.calls.push_back({call.name.value_or(""), ""});
    } else if (call.index == num_calls - 1) {
      EXPECT_FALSE(call.name.has_value()) << "a second name for call " << call.index;
    } else {
      ADD_FAILURE() << "a delta for call " << call.index << " after " << num_calls << " calls";
      continue;
    }
    result.calls.back().arguments += call.arguments;
  }
}

Result parse_chunks(const OutputParserOptions& options, const std::vector<std::string_view>& chunks) {
  OutputParser parser(options);
  Result result;
  for (const std::string_view chunk : chunks) join(result, parser.push(chunk));
  join(result, parser.finish());
  EXPECT_EQ(parser.num_tool_calls(), static_cast<int32_t>(result.calls.size()));
  EXPECT_TRUE(parser.finish().empty()) << "a second finish() gave more";
  return result;
}

Result parse_whole(const OutputParserOptions& options, std::string_view text) {
  return parse_chunks(options, {text});
}

Result parse_bytes(const OutputParserOptions& options, std::string_view text) {
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
  return parse_chunks(options, bytes);
}

constexpr OutputParserOptions kThinking{.reasoning = true, .starts_in_reasoning = false, .tool_calls = false};
constexpr OutputParserOptions kThinkingTools{
    .reasoning = true, .starts_in_reasoning = false, .tool_calls = true};
constexpr OutputParserOptions kOpenThink{.reasoning = true, .starts_in_reasoning = true, .tool_calls = false};
constexpr OutputParserOptions kOpenThinkTools{
    .reasoning = true, .starts_in_reasoning = true, .tool_calls = true};
constexpr OutputParserOptions kNoThinking{
    .reasoning = false, .starts_in_reasoning = false, .tool_calls = false};
constexpr OutputParserOptions kNoThinkingTools{
    .reasoning = false, .starts_in_reasoning = false, .tool_calls = true};

struct Sample {
  std::string label;
  OutputParserOptions options;
  std::string text;
  Result expected;
  // One per call: its arguments as JSON, written independently (other key order and spacing);
  // nullopt where the arguments are not valid JSON (a call cut off or broken).
  std::vector<std::optional<std::string>> json_arguments = {};
};

void PrintTo(const Sample& sample, std::ostream* os) {
  *os << sample.label;
}

// A `<tool_call>` block as Qwen writes one.
std::string call_block(std::string_view json) {
  return "<tool_call>\n" + std::string(json) + "\n</tool_call>";
}

const std::string kWeatherCall = R"({"name": "get_weather", "arguments": {"city": "Paris"}})";
const std::string kTimeCall = R"({"name": "get_time", "arguments": {"timezone": "Asia/Shanghai"}})";

std::vector<Sample> recorded_samples() {
  return {
      {"thinking_then_answer",
       kThinking,
       "<think>\nThe user asks what 17 * 23 is. 17 * 20 = 340 and 17 * 3 = 51, so 391.\n</think>\n\n"
       "17 × 23 = **391**.",
       {"The user asks what 17 * 23 is. 17 * 20 = 340 and 17 * 3 = 51, so 391.", "17 × 23 = **391**.", {}}},
      {"thinking_then_two_parallel_calls",
       kThinkingTools,
       "<think>\nThe user wants the weather in Beijing and the local time. I'll call both "
       "tools.\n</think>\n\n" +
           call_block(R"({"name": "get_weather", "arguments": {"city": "Beijing", "unit": "celsius"}})") +
           "\n" + call_block(R"({"name": "get_time", "arguments": {"timezone": "Asia/Shanghai"}})"),
       {"The user wants the weather in Beijing and the local time. I'll call both tools.",
        "",
        {{"get_weather", R"({"city": "Beijing", "unit": "celsius"})"},
         {"get_time", R"({"timezone": "Asia/Shanghai"})"}}},
       {R"({"unit":"celsius","city":"Beijing"})", R"({ "timezone" : "Asia/Shanghai" })"}},
      {"thinking_off_think_tags_are_content",
       kNoThinking,
       "<think>\n\n</think>\n\nTags such as <think> and </think> are plain text here.",
       {"", "<think>\n\n</think>\n\nTags such as <think> and </think> are plain text here.", {}}},
      {"thinking_off_call",
       kNoThinkingTools,
       call_block(R"({"name": "get_weather", "arguments": {"city": "Paris"}})"),
       {"", "", {{"get_weather", R"({"city": "Paris"})"}}},
       {R"({"city":"Paris"})"}},
      {"starts_in_reasoning",
       kOpenThink,
       "Okay, the user says hi.\nI should greet them back.\n</think>\n\nHello! How can I help you today?",
       {"Okay, the user says hi.\nI should greet them back.", "Hello! How can I help you today?", {}}},
      {"starts_in_reasoning_then_call",
       kOpenThinkTools,
       "\nI need the current price of NVDA.\n</think>\n\n" +
           call_block(R"({"name": "get_stock_price", "arguments": {"symbol": "NVDA"}})"),
       {"I need the current price of NVDA.", "", {{"get_stock_price", R"({"symbol": "NVDA"})"}}},
       {R"({"symbol":"NVDA"})"}},
      {"content_then_call",
       kThinkingTools,
       "Let me check the exchange rate for you.\n\n" +
           call_block(
               R"({"name": "convert_currency", "arguments": {"amount": 100, "from": "USD", "to": "EUR"}})"),
       {"",
        "Let me check the exchange rate for you.",
        {{"convert_currency", R"({"amount": 100, "from": "USD", "to": "EUR"})"}}},
       {R"({"to":"EUR","from":"USD","amount":100})"}},
      {"nested_arguments",
       kNoThinkingTools,
       call_block(
           R"({"name": "create_event", "arguments": {"title": "Design review", "attendees": [{"name": "Ann", "email": "ann@example.com"}, {"name": "Bo", "optional": true}], "options": {"remind": [10, -5.5e1, 0], "room": null, "notes": "Bring \"v2\"\nC:\\docs \u4f60\u597d"}}})"),
       {"",
        "",
        {{"create_event",
          R"({"title": "Design review", "attendees": [{"name": "Ann", "email": "ann@example.com"}, {"name": "Bo", "optional": true}], "options": {"remind": [10, -5.5e1, 0], "room": null, "notes": "Bring \"v2\"\nC:\\docs \u4f60\u597d"}})"}}},
       {R"({"options":{"notes":"Bring \"v2\"\nC:\\docs 你好","room":null,"remind":[10,-55.0,0]},
            "attendees":[{"email":"ann@example.com","name":"Ann"},{"optional":true,"name":"Bo"}],
            "title":"Design review"})"}},
      {"chinese_arguments",
       kThinkingTools,
       "<think>\n用户想知道北京明天的天气，我需要调用天气工具。\n</think>\n\n" +
           call_block(
               R"({"name": "get_weather", "arguments": {"city": "北京", "date": "明天", "unit": "摄氏度"}})"),
       {"用户想知道北京明天的天气，我需要调用天气工具。",
        "",
        {{"get_weather", R"({"city": "北京", "date": "明天", "unit": "摄氏度"})"}}},
       {R"({"unit":"\u6444\u6c0f\u5ea6","date":"明天","city":"北京"})"}},
      {"calls_without_arguments",
       kNoThinkingTools,
       call_block(R"({"name": "get_time"})") + "\n" +
           call_block(R"({"name": "list_files", "arguments": null})") + "\n" +
           call_block(R"({"name": "refresh", "arguments": {}})"),
       {"", "", {{"get_time", "{}"}, {"list_files", "{}"}, {"refresh", "{}"}}},
       {"{ }", "{ }", "{ }"}},
      {"arguments_not_an_object",
       kNoThinkingTools,
       call_block(R"({"name": "set_volume", "arguments": 7})"),
       {"", "", {{"set_volume", "7"}}},
       {"7"}},
      {"arguments_before_name",
       kNoThinkingTools,
       call_block(R"({"arguments": {"query": "rust async", "limit": 5}, "name": "search_docs"})"),
       {"", "", {{"search_docs", R"({"query": "rust async", "limit": 5})"}}},
       {R"({"limit":5,"query":"rust async"})"}},
      {"string_encoded_arguments",
       kNoThinkingTools,
       call_block(
           R"({"name": "run_sql", "arguments": "{\"query\": \"SELECT * FROM t WHERE name = \\\"x\\\"\", \"limit\": 10, \"tag\": \"\ud83d\ude00\"}"})"),
       {"", "", {{"run_sql", R"({"query": "SELECT * FROM t WHERE name = \"x\"", "limit": 10, "tag": "😀"})"}}},
       {R"({"tag":"\ud83d\ude00","limit":10,"query":"SELECT * FROM t WHERE name = \"x\""})"}},
      {"string_arguments_with_a_lone_surrogate",
       kNoThinkingTools,
       call_block(R"({"name": "echo", "arguments": "{\"text\": \"\ud83dx\"}"})"),
       {"", "", {{"echo", "{\"text\": \"\uFFFDx\"}"}}},
       {R"({"text":"\ufffdx"})"}},
      {"malformed_json_is_content",
       kNoThinkingTools,
       call_block(R"({"name": get_weather, "arguments": {}})") + "\nSorry, let me try again.",
       {"", call_block(R"({"name": get_weather, "arguments": {}})") + "\nSorry, let me try again.", {}}},
      {"array_is_content",
       kNoThinkingTools,
       call_block(R"(["get_weather", {"city": "Paris"}])"),
       {"", call_block(R"(["get_weather", {"city": "Paris"}])"), {}}},
      {"missing_name_is_content",
       kNoThinkingTools,
       call_block(R"({"function": "get_weather", "arguments": {"city": "Paris"}})"),
       {"", call_block(R"({"function": "get_weather", "arguments": {"city": "Paris"}})"), {}}},
      {"empty_name_is_content",
       kNoThinkingTools,
       call_block(R"({"name": "", "arguments": {}})"),
       {"", call_block(R"({"name": "", "arguments": {}})"), {}}},
      {"name_not_a_string_is_content",
       kNoThinkingTools,
       call_block(R"({"name": ["get_weather"], "arguments": {}})"),
       {"", call_block(R"({"name": ["get_weather"], "arguments": {}})"), {}}},
      {"close_tag_before_name_is_content",
       kNoThinkingTools,
       "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}\n</tool_call>\nDone.",
       {"", "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}\n</tool_call>\nDone.", {}}},
      {"tools_off_call_is_content",
       kThinking,
       "<think>\nNo tools are available, but I'll write one anyway.\n</think>\n\n" + call_block(kWeatherCall),
       {"No tools are available, but I'll write one anyway.", call_block(kWeatherCall), {}}},
      {"call_inside_think_is_reasoning",
       kThinkingTools,
       "<think>\nI could answer with " + call_block(kWeatherCall) +
           " but I know this.\n</think>\n\nParis is the capital of France.",
       {"I could answer with " + call_block(kWeatherCall) + " but I know this.",
        "Paris is the capital of France.",
        {}}},
      {"cut_mid_arguments",
       kThinkingTools,
       "<think>\nWrite the notes file.\n</think>\n\n<tool_call>\n"
       R"({"name": "write_file", "arguments": {"path": "notes.md", "content": "# Notes\n- fir)",
       {"Write the notes file.", "", {{"write_file", R"({"path": "notes.md", "content": "# Notes\n- fir)"}}},
       {std::nullopt}},
      {"cut_before_name_completes",
       kThinkingTools,
       "Let me look.\n<tool_call>\n{\"name\": \"get_wea",
       {"", "Let me look.\n<tool_call>\n{\"name\": \"get_wea", {}}},
      {"stray_angle_brackets",
       kThinkingTools,
       "If a < b and b <= c, then a </ c; <b>bold</b>, <tool_call without a bracket, </tool_call> and x <",
       {"",
        "If a < b and b <= c, then a </ c; <b>bold</b>, <tool_call without a bracket, </tool_call> and x <",
        {}}},
      {"stray_angle_brackets_in_reasoning",
       kThinking,
       "<think>\nIs 3 < 5? Yes. Is </thinking> a tag? No, nor </ think>.\n</think>\n\n3 < 5 </think> <",
       {"Is 3 < 5? Yes. Is </thinking> a tag? No, nor </ think>.", "3 < 5 </think> <", {}}},
      {"empty_output", kThinkingTools, "", {"", "", {}}},
      {"broken_after_name",
       kNoThinkingTools,
       call_block(R"({"name": "get_weather", "arguments": {"city": "Paris", "unit": celsius}})") +
           "\nI will wait for the result.",
       {"", "I will wait for the result.", {{"get_weather", R"({"city": "Paris", "unit": )"}}},
       {std::nullopt}},
      {"extra_closing_brace",
       kNoThinkingTools,
       call_block(R"({"name": "get_weather", "arguments": {"city": "Paris"}}})"),
       {"", "", {{"get_weather", R"({"city": "Paris"})"}}},
       {R"({"city":"Paris"})"}},
      {"missing_closing_brace",
       kNoThinkingTools,
       call_block(R"({"name": "get_weather", "arguments": {"city": "Paris"})"),
       {"", "", {{"get_weather", R"({"city": "Paris"})"}}},
       {R"({"city":"Paris"})"}},
      {"missing_close_tag_between_calls",
       kNoThinkingTools,
       "<tool_call>\n" + kWeatherCall + "\n" + call_block(kTimeCall),
       {"", "", {{"get_weather", R"({"city": "Paris"})"}, {"get_time", R"({"timezone": "Asia/Shanghai"})"}}},
       {R"({"city":"Paris"})", R"({"timezone":"Asia/Shanghai"})"}},
      {"text_after_call",
       kThinkingTools,
       call_block(kWeatherCall) + "\n\nI've asked for the forecast; one moment. \n",
       {"", "I've asked for the forecast; one moment.", {{"get_weather", R"({"city": "Paris"})"}}},
       {R"({"city":"Paris"})"}},
      {"content_call_content",
       kThinkingTools,
       "Checking the forecast.\n\n" + call_block(kWeatherCall) + "\n\nThe request is sent.",
       {"", "Checking the forecast.\n\nThe request is sent.", {{"get_weather", R"({"city": "Paris"})"}}},
       {R"({"city":"Paris"})"}},
      {"raw_newline_in_string_breaks_the_call",
       kNoThinkingTools,
       call_block("{\"name\": \"write\", \"arguments\": {\"text\": \"line 1\nline 2\"}}") + "\nWritten.",
       {"", "Written.", {{"write", R"({"text": "line 1)"}}},
       {std::nullopt}},
      {"failed_call_then_valid_call",
       kNoThinkingTools,
       call_block(R"({"name" "get_weather"})") + "\n" + call_block(kTimeCall),
       {"", call_block(R"({"name" "get_weather"})"), {{"get_time", R"({"timezone": "Asia/Shanghai"})"}}},
       {R"({"timezone":"Asia/Shanghai"})"}},
      {"reasoning_cut_off",
       kThinking,
       "<think>\nLet me think step by step.\nFirst,  \n",
       {"Let me think step by step.\nFirst,", "", {}}},
      {"whitespace_before_think",
       kThinking,
       "\n\n<think>\nShort.\n</think>\n\nAnswer.",
       {"Short.", "Answer.", {}}},
      {"reasoning_on_but_no_think_block",
       kThinking,
       "  Plain answer <b>without</b> thinking.\n",
       {"", "  Plain answer <b>without</b> thinking.\n", {}}},
      {"invalid_utf8_passes_through",
       kThinkingTools,
       "\xff\xfe<think> \xc3(\n" +
           call_block("{\"name\": \"echo\", \"arguments\": {\"text\": \"\xe4\xb8\"}}"),
       {"", "\xff\xfe<think> \xc3(", {{"echo", "{\"text\": \"\xe4\xb8\"}"}}},
       {std::nullopt}},
  };
}

class OutputParserSampleTest : public testing::TestWithParam<Sample> {};

TEST_P(OutputParserSampleTest, WholeTextGivesTheHandWrittenResult) {
  const Sample& sample = GetParam();
  EXPECT_EQ(parse_whole(sample.options, sample.text), sample.expected);
}

TEST_P(OutputParserSampleTest, EverySplitIntoTwoChunksGivesTheWholeResult) {
  const Sample& sample = GetParam();
  const std::string_view text = sample.text;
  const Result whole = parse_whole(sample.options, text);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    EXPECT_EQ(parse_chunks(sample.options, {text.substr(0, cut), text.substr(cut)}), whole)
        << "cut at byte " << cut;
  }
}

TEST_P(OutputParserSampleTest, SingleBytesGiveTheWholeResult) {
  const Sample& sample = GetParam();
  EXPECT_EQ(parse_bytes(sample.options, sample.text), parse_whole(sample.options, sample.text));
}

TEST_P(OutputParserSampleTest, RandomSplitsGiveTheWholeResult) {
  const Sample& sample = GetParam();
  const std::string_view text = sample.text;
  const Result whole = parse_whole(sample.options, text);
  std::mt19937 random(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::string_view> chunks;
    for (size_t begin = 0; begin < text.size();) {
      const size_t length = std::uniform_int_distribution<size_t>(0, 6)(random);
      chunks.push_back(text.substr(begin, length));
      begin += length;
    }
    EXPECT_EQ(parse_chunks(sample.options, chunks), whole) << "trial " << trial;
  }
}

TEST_P(OutputParserSampleTest, ValidArgumentsParseAsTheSamplesJson) {
  const Sample& sample = GetParam();
  const Result result = parse_whole(sample.options, sample.text);
  ASSERT_EQ(result.calls.size(), sample.json_arguments.size());
  for (size_t i = 0; i < result.calls.size(); ++i) {
    if (!sample.json_arguments[i]) continue;
    const auto parsed = nlohmann::json::parse(result.calls[i].arguments, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(parsed.is_discarded())
        << "call " << i << " arguments are not JSON: " << result.calls[i].arguments;
    EXPECT_EQ(parsed, nlohmann::json::parse(*sample.json_arguments[i])) << "call " << i;
  }
}

// Byte by byte: a call appears with the quote that closes its name, and each byte of arguments
// written after the name is out before the next byte is pushed — long before `</tool_call>`.
TEST_P(OutputParserSampleTest, NameAndArgumentsStreamAsTheyArrive) {
  const Sample& sample = GetParam();
  const std::string& text = sample.text;
  OutputParser parser(sample.options);
  Result joined;
  std::vector<Result> after_byte;
  for (size_t i = 0; i < text.size(); ++i) {
    join(joined, parser.push(std::string_view(text).substr(i, 1)));
    after_byte.push_back(joined);
  }
  size_t search_from = 0;
  for (size_t i = 0; i < sample.expected.calls.size(); ++i) {
    const Call& call = sample.expected.calls[i];
    const size_t name_at = text.find("\"name\": \"" + call.name + "\"", search_from);
    ASSERT_NE(name_at, std::string::npos) << "call " << i;
    const size_t name_quote = name_at + 9 + call.name.size();
    EXPECT_EQ(after_byte[name_quote - 1].calls.size(), i)
        << "call " << i << " began before its name was complete";
    EXPECT_EQ(after_byte[name_quote].calls.size(), i + 1) << "call " << i << " did not begin with its name";
    search_from = name_quote;
    const size_t block_end = text.find("</tool_call>", name_quote);
    const size_t arguments_at = text.find(call.arguments, name_quote);
    if (arguments_at == std::string::npos || arguments_at > block_end || call.arguments == "{}") continue;
    for (size_t p = arguments_at; p < arguments_at + call.arguments.size(); ++p) {
      ASSERT_GT(after_byte[p].calls.size(), i);
      EXPECT_EQ(after_byte[p].calls[i].arguments, text.substr(arguments_at, p - arguments_at + 1))
          << "at byte " << p;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Recorded, OutputParserSampleTest, testing::ValuesIn(recorded_samples()),
                         [](const testing::TestParamInfo<Sample>& param_info) {
                           return param_info.param.label;
                         });

TEST(OutputParserTest, HoldsBackOnlyWhatCouldBeATag) {
  OutputParser with_tools(kNoThinkingTools);
  EXPECT_EQ(with_tools.push("Hello <too").content, "Hello");  // the space waits: a call may follow
  EXPECT_EQ(with_tools.push("k").content, " <took");
  EXPECT_EQ(with_tools.push("a <b").content, "a <b");

  OutputParser without_tools(kNoThinking);
  EXPECT_EQ(without_tools.push("a < b <tool_c").content, "a < b <tool_c");  // nothing can be a tag

  OutputParser thinking(kThinking);
  EXPECT_EQ(thinking.push("<thi").reasoning, "");
  EXPECT_EQ(thinking.push("nk>\nx </thi").reasoning, "x");
  EXPECT_EQ(thinking.push("s").reasoning, " </this");
}

TEST(OutputParserTest, ContentAndReasoningStreamAtOnce) {
  OutputParser parser(kThinkingTools);
  EXPECT_EQ(parser.push("<think>\nStep one").reasoning, "Step one");
  EXPECT_EQ(parser.push(", step two").reasoning, ", step two");
  const ParsedDelta closed = parser.push(".\n</think>\n\nThe answer");
  EXPECT_EQ(closed.reasoning, ".");
  EXPECT_EQ(closed.content, "The answer");
  EXPECT_EQ(parser.push(" is 4").content, " is 4");
}

TEST(OutputParserTest, CountsACallOnceItsNameIsComplete) {
  OutputParser parser(kNoThinkingTools);
  parser.push("<tool_call>\n{\"name\": \"get_ti");
  EXPECT_EQ(parser.num_tool_calls(), 0);
  const ParsedDelta delta = parser.push("me\", \"argu");
  EXPECT_EQ(parser.num_tool_calls(), 1);
  ASSERT_EQ(delta.tool_calls.size(), 1u);
  EXPECT_EQ(delta.tool_calls[0].name, "get_time");
  EXPECT_EQ(delta.tool_calls[0].arguments, "");
}

TEST(OutputParserTest, IgnoresTextAfterFinish) {
  OutputParser parser(kNoThinking);
  EXPECT_EQ(parser.push("done").content, "done");
  EXPECT_TRUE(parser.finish().empty());
  EXPECT_TRUE(parser.push("more").empty());
}

TEST(OutputParserTest, DeepNestingNeitherCrashesNorLosesTheCall) {
  const std::string text = "<tool_call>\n{\"name\": \"f\", \"arguments\": " + std::string(200000, '[');
  const Result result = parse_whole(kNoThinkingTools, text);
  ASSERT_EQ(result.calls.size(), 1u);
  EXPECT_EQ(result.calls[0].arguments, std::string(200000, '['));
}

// Random texts built from the pieces that steer the parser: whatever they are, every chunking
// gives the whole-text result, under every option set.
TEST(OutputParserTest, RandomTextsGiveTheSameResultForEveryChunking) {
  // The pieces, separated by '|'.
  const std::string_view piece_list =
      "<think>|</think>|<tool_call>|</tool_call>|\n| |{|}|[|]|\"name\"|\"arguments\"|:|,|\"f\"|\"|\\|\\u|"
      "d83d|dc00|1|-|.|e|null|true|<|</|<tool|北|x|\xff|{\"name\": \"g\", \"arguments\": |\"{\\\"a\\\": 1}\"|"
      "<tool_call>\n{\"name\": \"g\", \"arguments\": |<tool_call>\n{\"arguments\": |}\n</tool_call>\n";
  std::vector<std::string> pieces;
  for (size_t begin = 0; begin <= piece_list.size();) {
    const size_t end = std::min(piece_list.find('|', begin), piece_list.size());
    pieces.emplace_back(piece_list.substr(begin, end - begin));
    begin = end + 1;
  }
  // starts_in_reasoning without reasoning is contradictory: it must act as reasoning off.
  const OutputParserOptions contradictory{
      .reasoning = false, .starts_in_reasoning = true, .tool_calls = true};
  const std::vector<OutputParserOptions> option_sets = {
      kThinking, kThinkingTools, kOpenThink, kOpenThinkTools, kNoThinking, kNoThinkingTools, contradictory};
  std::mt19937 random(2024);
  int num_with_calls = 0;
  int num_with_reasoning = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    std::string text = trial % 3 == 0 ? "<think>\n" : "";  // reasoning only ever opens the output
    const int num_pieces = std::uniform_int_distribution<int>(0, 40)(random);
    for (int i = 0; i < num_pieces; ++i) text += pieces[random() % pieces.size()];
    EXPECT_EQ(parse_whole(contradictory, text), parse_whole(kNoThinkingTools, text));
    const Result thinking_tools = parse_whole(kThinkingTools, text);
    num_with_calls += thinking_tools.calls.empty() ? 0 : 1;
    num_with_reasoning += thinking_tools.reasoning.empty() ? 0 : 1;
    for (const OutputParserOptions& options : option_sets) {
      const Result whole = parse_whole(options, text);
      ASSERT_EQ(parse_bytes(options, text), whole) << testing::PrintToString(text);
      const size_t cut = random() % (text.size() + 1);
      ASSERT_EQ(
          parse_chunks(options, {std::string_view(text).substr(0, cut), std::string_view(text).substr(cut)}),
          whole)
          << testing::PrintToString(text) << " cut at " << cut;
    }
  }
  EXPECT_GT(num_with_calls, 150) << "the random texts hardly reach a call";
  EXPECT_GT(num_with_reasoning, 150) << "the random texts hardly reach reasoning";
}

}  // namespace
}  // namespace hanlin::text
