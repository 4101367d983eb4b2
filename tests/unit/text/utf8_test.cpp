// UTF-8 validation and lossy repair, checked against the Unicode Standard's own examples.
#include "text/utf8.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace hanlin::text {
namespace {

std::string lossy(std::string_view bytes) {
  std::string out;
  append_utf8_lossy(out, bytes);
  return out;
}

TEST(Utf8Test, FindsTheFirstInvalidByte) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), kNoInvalidByte);
  EXPECT_EQ(find_invalid_utf8("中文 😀"), kNoInvalidByte);
  EXPECT_EQ(find_invalid_utf8(std::string_view("a\0b", 3)), kNoInvalidByte);
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2u);
  EXPECT_EQ(find_invalid_utf8("\xC1\xBF"), 0u);          // overlong
  EXPECT_EQ(find_invalid_utf8("x\xE0\x9F\xBF"), 1u);     // overlong 3-byte
  EXPECT_EQ(find_invalid_utf8("\xED\xBF\xBF"), 0u);      // surrogate U+DFFF
  EXPECT_EQ(find_invalid_utf8("\xF4\x8F\xBF\xBF"), kNoInvalidByte);  // U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // U+110000
  EXPECT_EQ(find_invalid_utf8("\xF0\x9F\x98"), 0u);      // truncated
}

TEST(Utf8Test, RequireNamesTheOffset) {
  try {
    require_valid_utf8("abc\xFE", "text");
    ADD_FAILURE();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
    EXPECT_STREQ(error.what(), "text is not valid UTF-8: byte 0xfe at byte offset 3");
  }
}

// Unicode Standard §3.9, Table 3-8: "U+FFFD for each maximal subpart of an ill-formed subsequence".
TEST(Utf8Test, LossyReplacesEachMaximalSubpart) {
  EXPECT_EQ(lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd");
  EXPECT_EQ(lossy("\xE0\x80\x80"), "\uFFFD\uFFFD\uFFFD");  // E0 needs A0..BF next
  EXPECT_EQ(lossy("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // surrogates
  EXPECT_EQ(lossy("ok"), "ok");
}

TEST(Utf8Test, UnfinishedSuffix) {
  EXPECT_EQ(unfinished_utf8_suffix(""), 0u);
  EXPECT_EQ(unfinished_utf8_suffix("a"), 0u);
  EXPECT_EQ(unfinished_utf8_suffix("a\xE4"), 1u);
  EXPECT_EQ(unfinished_utf8_suffix("a\xE4\xB8"), 2u);
  EXPECT_EQ(unfinished_utf8_suffix("\xE4\xB8\xAD"), 0u);      // complete
  EXPECT_EQ(unfinished_utf8_suffix("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(unfinished_utf8_suffix("\xE0\x80"), 0u);          // already broken: nothing to wait for
  EXPECT_EQ(unfinished_utf8_suffix("\x80\x80"), 0u);
  EXPECT_EQ(unfinished_utf8_suffix("\xFF"), 0u);
}

TEST(Utf8Test, AppendAndCount) {
  std::string out;
  for (const char32_t c : {U'a', U'é', U'中', U'😀'}) append_utf8(out, c);
  EXPECT_EQ(out, "aé中😀");
  EXPECT_EQ(count_code_points(out), 4u);
}

}  // namespace
}  // namespace hanlin::text
