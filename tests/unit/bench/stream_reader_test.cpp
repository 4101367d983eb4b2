// Server-sent events of streamed completions: the same record whatever the bytes' split, which
// chunks count as output, usage, and error events.
#include "bench/stream_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hanlin::bench {
namespace {

// A /v1/completions stream as servers send it: a comment ping, CRLF line ends on one event,
// an empty-text chunk, a usage chunk with no choices, then [DONE].
const std::string kCompletionStream =
    ": ping\n\n"
    "data: {\"choices\":[{\"index\":0,\"text\":\"你好\"}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"text\":\" world\"}]}\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n"
    "data: [DONE]\n\n";

TEST(SseParserTest, EventsAndMultiLineData) {
  SseParser parser;
  std::vector<std::string> events;
  parser.feed("event: x\ndata: a\ndata: b\n\n: comment\n\ndata:c\n\ndata: d", [&](std::string_view data) {
    events.emplace_back(data);
  });
  EXPECT_EQ(events, (std::vector<std::string>{"a\nb", "c"}));  // "d" waits for its blank line
  parser.feed("\n\n", [&](std::string_view data) { events.emplace_back(data); });
  EXPECT_EQ(events.back(), "d");
}

TEST(StreamReaderTest, WholeCompletionStream) {
  StreamReader reader;
  reader.consume(kCompletionStream, 0.5);
  const StreamRecord& record = reader.record();
  EXPECT_EQ(record.output_times, (std::vector<double>{0.5, 0.5}));  // the empty-text chunk is no output
  EXPECT_EQ(record.first_choice_time, 0.5);
  EXPECT_EQ(record.text, "你好 world");
  EXPECT_EQ(record.completion_tokens, 3);
  EXPECT_EQ(record.prompt_tokens, 7);
  EXPECT_TRUE(record.saw_done);
  EXPECT_TRUE(record.error.empty());
}

// The bytes before `split` arrive at time 1, the rest at time 2: each output chunk carries the
// time of the read that completed its event, whatever byte the split falls on.
TEST(StreamReaderTest, SplitAtEveryByte) {
  const size_t first_end = kCompletionStream.find("\n\n", kCompletionStream.find("你好")) + 2;
  const size_t second_end = kCompletionStream.find("\r\n\r\n") + 4;
  for (size_t split = 0; split <= kCompletionStream.size(); ++split) {
    StreamReader reader;
    reader.consume(std::string_view(kCompletionStream).substr(0, split), 1.0);
    reader.consume(std::string_view(kCompletionStream).substr(split), 2.0);
    const StreamRecord& record = reader.record();
    const std::vector<double> expected = {split >= first_end ? 1.0 : 2.0, split >= second_end ? 1.0 : 2.0};
    ASSERT_EQ(record.output_times, expected) << "split at " << split;
    ASSERT_EQ(record.text, "你好 world") << "split at " << split;
    ASSERT_EQ(record.completion_tokens, 3) << "split at " << split;
    ASSERT_TRUE(record.saw_done) << "split at " << split;
  }
}

TEST(StreamReaderTest, OneByteAtATime) {
  StreamReader reader;
  for (size_t i = 0; i < kCompletionStream.size(); ++i) {
    reader.consume(std::string_view(kCompletionStream).substr(i, 1), static_cast<double>(i));
  }
  const StreamRecord& record = reader.record();
  ASSERT_EQ(record.output_times.size(), 2u);
  // Each chunk is timed by the byte that ended it: the second newline of its blank line.
  EXPECT_EQ(record.output_times[0], static_cast<double>(kCompletionStream.find("\n\n", 10) + 1));
  EXPECT_EQ(record.text, "你好 world");
}

TEST(StreamReaderTest, ChatChunksCountContentReasoningAndToolCalls) {
  const std::string stream =
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"想\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"好\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
      "{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n";
  StreamReader reader;
  reader.consume(stream, 0.25);
  const StreamRecord& record = reader.record();
  EXPECT_EQ(record.output_times.size(), 3u);  // not the role-only chunk nor the finish-only one
  EXPECT_EQ(record.text, "想好f{}");
  EXPECT_EQ(record.first_choice_time, 0.25);
  EXPECT_FALSE(record.completion_tokens.has_value());
}

TEST(StreamReaderTest, ErrorEventMidStreamIsRecordedAndEndsTheRecord) {
  const std::string stream =
      "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\n"
      "data: {\"error\":{\"message\":\"engine failed\",\"type\":\"internal_server_error\"}}\n\n"
      "data: {\"choices\":[{\"index\":0,\"text\":\"b\"}]}\n\n"
      "data: [DONE]\n\n";
  StreamReader reader;
  reader.consume(stream, 1.0);
  EXPECT_EQ(reader.record().error, "engine failed");
  EXPECT_EQ(reader.record().text, "a");
}

TEST(StreamReaderTest, UnreadableChunkIsAnError) {
  StreamReader reader;
  reader.consume("data: {\"choices\": [\n\n", 1.0);
  EXPECT_NE(reader.record().error.find("unreadable stream chunk"), std::string::npos);
}

}  // namespace
}  // namespace hanlin::bench
