// Streaming detokenizer: deltas are always whole UTF-8 characters, and their concatenation is
// exactly decode() of all ids — checked on every corpus line and on Hugging Face's decode outputs.
#include "text/detokenizer.h"

#include <gtest/gtest.h>

#include "text/utf8.h"
#include "unit/text/tokenizer_test_fixtures.h"

namespace hanlin::text {
namespace {

using testing::qwen3_tokenizer;

// Streams `ids` one at a time; fails the test if a delta is not valid UTF-8.
std::string stream(const Tokenizer& tokenizer, const std::vector<TokenId>& ids, bool skip_special) {
  IncrementalDetokenizer detokenizer(tokenizer, skip_special);
  std::string text;
  for (const TokenId id : ids) {
    const std::string delta = detokenizer.push(id);
    EXPECT_EQ(find_invalid_utf8(delta), kNoInvalidByte) << "a delta with broken UTF-8";
    EXPECT_LE(detokenizer.num_pending_bytes(), 3u);
    text += delta;
  }
  text += detokenizer.finish();
  EXPECT_EQ(detokenizer.num_pending_bytes(), 0u);
  return text;
}

TokenId byte_token(const Tokenizer& tokenizer, uint8_t byte) {
  const ByteLevelAlphabet alphabet;
  return *tokenizer.token_to_id(alphabet.encode(std::string(1, static_cast<char>(byte))));
}

TEST(DetokenizerTest, HoldsTheBytesOfASplitCharacter) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  // 中 is E4 B8 AD; fed as three one-byte tokens.
  IncrementalDetokenizer detokenizer(*tokenizer);
  EXPECT_EQ(detokenizer.push(9707), "Hello");
  EXPECT_EQ(detokenizer.push(byte_token(*tokenizer, 0xE4)), "");
  EXPECT_EQ(detokenizer.num_pending_bytes(), 1u);
  EXPECT_EQ(detokenizer.push(byte_token(*tokenizer, 0xB8)), "");
  EXPECT_EQ(detokenizer.num_pending_bytes(), 2u);
  EXPECT_EQ(detokenizer.push(byte_token(*tokenizer, 0xAD)), "中");
  EXPECT_EQ(detokenizer.finish(), "");
}

TEST(DetokenizerTest, BrokenAndUnfinishedCharactersBecomeReplacementChars) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  IncrementalDetokenizer detokenizer(*tokenizer);
  EXPECT_EQ(detokenizer.push(byte_token(*tokenizer, 0xE4)), "");
  EXPECT_EQ(detokenizer.push(9707), "\uFFFDHello");  // the lead byte is known broken now
  EXPECT_EQ(detokenizer.push(byte_token(*tokenizer, 0xE4)), "");
  EXPECT_EQ(detokenizer.push(byte_token(*tokenizer, 0xB8)), "");
  EXPECT_EQ(detokenizer.finish(), "\uFFFD");  // one U+FFFD for the truncated sequence
  EXPECT_EQ(detokenizer.push(byte_token(*tokenizer, 0x80)), "\uFFFD");  // a lone continuation byte
}

TEST(DetokenizerTest, SpecialTokensShownOrSkipped) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  const std::vector<TokenId> ids = {9707, 151645, 1879, 151667};
  EXPECT_EQ(stream(*tokenizer, ids, false), "Hello<|im_end|> world<think>");
  EXPECT_EQ(stream(*tokenizer, ids, true), "Hello world<think>");  // <think> is not special
}

TEST(DetokenizerTest, StreamingEqualsHuggingFaceDecode) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  const auto checks = testing::read_jsonl(testing::text_fixture_path("decode_checks.jsonl"));
  HANLIN_REQUIRE_FIXTURE(checks ? &*checks : nullptr, testing::kMissingFixtures);
  for (size_t index = 0; index < checks->size(); ++index) {
    const auto& check = (*checks)[index];
    const auto ids = check.at("ids").get<std::vector<TokenId>>();
    ASSERT_EQ(stream(*tokenizer, ids, check.at("skip_special_tokens").get<bool>()), check.at("text").get<std::string>())
        << "decode_checks.jsonl entry " << index;
  }
}

TEST(DetokenizerTest, StreamingEqualsDecodeOnEveryCorpusLine) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  const auto* all_ids = testing::corpus_ids();
  HANLIN_REQUIRE_FIXTURE(all_ids, testing::kMissingFixtures);
  for (size_t line = 0; line < all_ids->size(); ++line) {
    const auto& ids = (*all_ids)[line];
    const bool skip = line % 2 == 1;
    ASSERT_EQ(stream(*tokenizer, ids, skip), tokenizer->decode(ids, skip)) << "corpus line " << line;
  }
}

}  // namespace
}  // namespace hanlin::text
