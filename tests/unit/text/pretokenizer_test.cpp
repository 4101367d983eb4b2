// The Qwen2 split scanner: hand-derived splits of the regex, and parity with Hugging Face's
// pre-tokenizer (Oniguruma) and normalizer over the corpus (pretokenize_checks.jsonl).
#include "text/pretokenizer.h"

#include <gtest/gtest.h>

#include "unit/text/tokenizer_test_fixtures.h"
#include "text/unicode.h"
#include "text/utf8.h"

namespace hanlin::text {
namespace {

std::vector<std::string> split(std::string_view text) {
  std::vector<size_t> ends;
  split_pretokens(text, ends);
  std::vector<std::string> pieces;
  size_t start = 0;
  for (const size_t end : ends) {
    pieces.emplace_back(text.substr(start, end - start));
    start = end;
  }
  return pieces;
}

using Pieces = std::vector<std::string>;

// Each expectation below is worked out by hand from the regex's alternatives (see
// pretokenizer.h), not taken from the scanner.
TEST(PretokenizerTest, WordsTakeOneLeadingSpaceOrSymbol) {
  EXPECT_EQ(split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split(" (x)"), (Pieces{" (", "x", ")"}));
  EXPECT_EQ(split("\"quoted\""), (Pieces{"\"quoted", "\""}));
  EXPECT_EQ(split("a\u00a0b"), (Pieces{"a", "\u00a0b"}));
  EXPECT_EQ(split("\xF0\x9F\x98\x80" "abc"), (Pieces{"\xF0\x9F\x98\x80" "abc"}));
  EXPECT_EQ(split("你好，世界"), (Pieces{"你好", "，世界"}));
}

TEST(PretokenizerTest, ContractionsAreCaseInsensitiveAndWinOverLetters) {
  EXPECT_EQ(split("it's"), (Pieces{"it", "'s"}));
  EXPECT_EQ(split("IT'S"), (Pieces{"IT", "'S"}));
  EXPECT_EQ(split("'sup"), (Pieces{"'s", "up"}));
  EXPECT_EQ(split("we'LL go"), (Pieces{"we", "'LL", " go"}));
  EXPECT_EQ(split("they'Re"), (Pieces{"they", "'Re"}));
  EXPECT_EQ(split("'x"), (Pieces{"'x"}));  // not a contraction: apostrophe + letters
  EXPECT_EQ(split("'l"), (Pieces{"'l"}));  // 'l alone is not 'll
  // U+017F LATIN SMALL LETTER LONG S case-folds to 's' in Oniguruma.
  EXPECT_EQ(split("it'\u017F"), (Pieces{"it", "'\u017F"}));
  // U+2019 is not an apostrophe to the regex.
  EXPECT_EQ(split("it\u2019s"), (Pieces{"it", "\u2019s"}));
}

TEST(PretokenizerTest, DigitsSplitOneByOne) {
  EXPECT_EQ(split("3.14"), (Pieces{"3", ".", "1", "4"}));
  EXPECT_EQ(split("１２"), (Pieces{"１", "２"}));
  EXPECT_EQ(split("x²"), (Pieces{"x", "²"}));
}

TEST(PretokenizerTest, SymbolRunsKeepTrailingLineBreaks) {
  EXPECT_EQ(split("foo.\n\nbar"), (Pieces{"foo", ".\n\n", "bar"}));
  EXPECT_EQ(split("!!!\r\n"), (Pieces{"!!!\r\n"}));
  EXPECT_EQ(split("a ..b"), (Pieces{"a", " ..", "b"}));
}

TEST(PretokenizerTest, WhitespaceBeforeAWordLeavesItsLastCharacterToTheWord) {
  EXPECT_EQ(split("a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(split("\t\tfoo"), (Pieces{"\t", "\tfoo"}));
  EXPECT_EQ(split("a \tb"), (Pieces{"a", " ", "\tb"}));
  EXPECT_EQ(split("a  1"), (Pieces{"a", " ", " ", "1"}));  // \s+(?!\S) then a lone \s+
  EXPECT_EQ(split("x  "), (Pieces{"x", "  "}));            // at the end: all of it
}

TEST(PretokenizerTest, WhitespaceRunsEndAtTheirLastLineBreak) {
  EXPECT_EQ(split("x\r\ny"), (Pieces{"x", "\r\n", "y"}));
  EXPECT_EQ(split("a\n\n b"), (Pieces{"a", "\n\n", " b"}));
  EXPECT_EQ(split("a \n b"), (Pieces{"a", " \n", " b"}));
  EXPECT_EQ(split("  \n"), (Pieces{"  \n"}));
  EXPECT_EQ(split("\n  \n  x"), (Pieces{"\n  \n", " ", " x"}));
}

TEST(PretokenizerTest, WhiteSpaceIsTheUnicodePropertyNotPythonsIsspace) {
  // U+001C..U+001F are not White_Space (Python's isspace() says they are; Oniguruma does not).
  EXPECT_EQ(split("x\x1c\x1cy"), (Pieces{"x", "\x1c\x1c", "y"}));
  // U+0085 and U+3000 are White_Space; U+200B and U+180E are not.
  EXPECT_EQ(split("x\u3000\u3000y"), (Pieces{"x", "\u3000", "\u3000y"}));
  EXPECT_EQ(split("x\u200b\u200by"), (Pieces{"x", "\u200b\u200b", "y"}));
}

TEST(PretokenizerTest, MarksAreNeitherLettersNorNumbers) {
  EXPECT_EQ(split("e\u0301"), (Pieces{"e", "\u0301"}));                  // decomposed é, before NFC
  EXPECT_EQ(split("हिन्दी"), (Pieces{"ह", "िन", "्द", "ी"}));  // vowel signs and virama are marks
}

TEST(PretokenizerTest, EmptyTextHasNoPieces) { EXPECT_TRUE(split("").empty()); }

// Hugging Face's normalizer and pre-tokenizer over every corpus line of ≤ 160 characters: our
// NFC must give the same text, and our scanner the same piece boundaries.
TEST(PretokenizerTest, MatchesHuggingFaceOverTheCorpus) {
  const auto* lines = testing::corpus_lines();
  HANLIN_REQUIRE_FIXTURE(lines, testing::kMissingFixtures);
  const auto checks = testing::read_jsonl(testing::text_fixture_path("pretokenize_checks.jsonl"));
  HANLIN_REQUIRE_FIXTURE(checks ? &*checks : nullptr, testing::kMissingFixtures);
  size_t num_checked = 0;
  for (const auto& check : *checks) {
    const size_t line_index = check.at("line").get<size_t>();
    ASSERT_LT(line_index, lines->size());
    const std::string& line = (*lines)[line_index];
    const std::string expected_nfc = check.contains("nfc") ? check.at("nfc").get<std::string>() : line;
    std::string nfc;
    append_nfc(nfc, line);
    ASSERT_EQ(nfc, expected_nfc) << "NFC differs on corpus line " << line_index;
    std::vector<size_t> ends;
    split_pretokens(nfc, ends);
    std::vector<size_t> char_ends;
    for (const size_t end : ends) char_ends.push_back(count_code_points(std::string_view(nfc).substr(0, end)));
    const auto expected = check.at("ends").get<std::vector<size_t>>();
    ASSERT_EQ(char_ends, expected) << "pieces differ on corpus line " << line_index << ": "
                                   << nlohmann::json(nfc).dump() << "\nours: " << nlohmann::json(split(nfc)).dump();
    ++num_checked;
  }
  EXPECT_GT(num_checked, 40000u);
}

}  // namespace
}  // namespace hanlin::text
