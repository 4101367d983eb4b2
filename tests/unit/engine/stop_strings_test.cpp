// StopStringMatcher: matches across pushes, held-back text, never emitting matched text.
#include "engine/stop_strings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hanlin::engine {
namespace {

// Pushes `pieces` one by one with checking on; returns everything emitted and the match.
struct Outcome {
  std::string emitted;
  std::optional<size_t> stop_index;
  size_t pushes_until_match = 0;
};

Outcome run(StopStringMatcher matcher, const std::vector<std::string>& pieces) {
  Outcome result;
  for (const std::string& piece : pieces) {
    ++result.pushes_until_match;
    if (auto match = matcher.push(piece, true, result.emitted)) {
      result.stop_index = match->stop_index;
      return result;
    }
  }
  matcher.flush(result.emitted);
  return result;
}

TEST(StopStrings, MatchSpanningPiecesIsCutAndNeverEmitted) {
  StopStringMatcher matcher({"END"}, false);
  std::string emitted;
  EXPECT_FALSE(matcher.push("hello E", true, emitted));
  EXPECT_EQ(emitted, "hello ");  // "E" could start "END": held
  EXPECT_FALSE(matcher.push("N", true, emitted));
  EXPECT_EQ(emitted, "hello ");
  auto match = matcher.push("D and more", true, emitted);
  ASSERT_TRUE(match);
  EXPECT_EQ(match->stop_index, 0u);
  EXPECT_EQ(emitted, "hello ");
}

TEST(StopStrings, HeldTextIsReleasedWhenThePartialMatchBreaks) {
  StopStringMatcher matcher({"END"}, false);
  std::string emitted;
  EXPECT_FALSE(matcher.push("xEN", true, emitted));
  EXPECT_EQ(emitted, "x");
  EXPECT_FALSE(matcher.push("Ax", true, emitted));
  EXPECT_EQ(emitted, "xENAx");
}

TEST(StopStrings, FalseStartThenRealMatch) {
  const Outcome result = run(StopStringMatcher({"abc"}, false), {"a", "b", "a", "b", "c", "z"});
  ASSERT_TRUE(result.stop_index);
  EXPECT_EQ(result.emitted, "ab");
  EXPECT_EQ(result.pushes_until_match, 5u);
}

TEST(StopStrings, EarliestMatchWinsAmongSeveral) {
  const Outcome result = run(StopStringMatcher({"world", "lo w"}, false), {"hello world"});
  ASSERT_TRUE(result.stop_index);
  EXPECT_EQ(*result.stop_index, 1u);
  EXPECT_EQ(result.emitted, "hel");
}

TEST(StopStrings, IncludeStopEmitsTheStopString) {
  const Outcome result = run(StopStringMatcher({"</s>"}, true), {"ab<", "/s", ">cd"});
  ASSERT_TRUE(result.stop_index);
  EXPECT_EQ(result.emitted, "ab</s>");
}

TEST(StopStrings, NoMatchEmitsEverythingAfterFlush) {
  const Outcome result = run(StopStringMatcher({"STOP", "xyz"}, false), {"S", "T", "O", "P!"});
  ASSERT_TRUE(result.stop_index);  // "STOP" completes on the 4th push
  EXPECT_EQ(result.emitted, "");
  const Outcome none = run(StopStringMatcher({"STOP"}, false), {"S", "T", "O", "OP"});
  EXPECT_FALSE(none.stop_index);
  EXPECT_EQ(none.emitted, "STOOP");
}

TEST(StopStrings, UncheckedPushesEmitEverything) {
  StopStringMatcher matcher({"END"}, false);
  std::string emitted;
  EXPECT_FALSE(matcher.push("an END here", false, emitted));
  EXPECT_EQ(emitted, "an END here");
}

TEST(StopStrings, MultibyteStopStringsAcrossPieces) {
  // "停止" is 6 bytes; pieces split inside characters, as a detokenizer never does but bytes might.
  const Outcome result = run(StopStringMatcher({"停止"}, false), {"好的\xe5\x81", "\x9c\xe6\xad\xa2", "后面"});
  ASSERT_TRUE(result.stop_index);
  EXPECT_EQ(result.emitted, "好的");
}

TEST(StopStrings, EmptyStopStringsAreIgnored) {
  StopStringMatcher matcher({""}, false);
  EXPECT_TRUE(matcher.empty());
  std::string emitted;
  EXPECT_FALSE(matcher.push("abc", true, emitted));
  EXPECT_EQ(emitted, "abc");
}

// Every split of a text into two pieces gives the same result as one piece.
TEST(StopStrings, EverySplitPointGivesTheSameResult) {
  const std::string text = "The answer is 42.\nObservation: done";
  const std::vector<std::string> stops = {"\nObservation:", "42!"};
  const Outcome whole = run(StopStringMatcher(stops, false), {text});
  ASSERT_TRUE(whole.stop_index);
  EXPECT_EQ(whole.emitted, "The answer is 42.");
  for (size_t split = 0; split <= text.size(); ++split) {
    const Outcome parts = run(StopStringMatcher(stops, false), {text.substr(0, split), text.substr(split)});
    EXPECT_EQ(parts.emitted, whole.emitted) << "split at " << split;
    EXPECT_EQ(parts.stop_index, whole.stop_index) << "split at " << split;
  }
}

}  // namespace
}  // namespace hanlin::engine
