// Tokenizer encode/decode against Hugging Face `tokenizers` with the real Qwen3 tokenizer.json:
// ids identical on every corpus line, decode identical on sampled id sequences, and a few
// strings whose ids were looked up by hand in the vocab.
#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/error.h"
#include "unit/text/tokenizer_test_fixtures.h"

namespace hanlin::text {
namespace {

using testing::corpus_ids;
using testing::corpus_lines;
using testing::qwen3_tokenizer;

EncodeOptions hugging_face_options() {
  EncodeOptions options;
  options.parse_special = true;
  return options;
}

// Ids read off tokenizer.json by hand: "Hello" = 9707, "Ġworld" = 1879 (Ġ is the space),
// "<|im_start|>" = 151644, "<|im_end|>" = 151645, "Ċ" (newline) = 198.
TEST(TokenizerTest, HandCheckedIds) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  EXPECT_EQ(tokenizer->encode("Hello world"), (std::vector<TokenId>{9707, 1879}));
  EXPECT_EQ(tokenizer->encode("<|im_start|>\n<|im_end|>", hugging_face_options()),
            (std::vector<TokenId>{151644, 198, 151645}));
  EXPECT_EQ(tokenizer->token_to_id("Ġworld"), 1879);
  EXPECT_EQ(tokenizer->id_to_token(9707), "Hello");
  EXPECT_EQ(tokenizer->token_bytes(1879), " world");
  EXPECT_TRUE(tokenizer->encode("").empty());
}

TEST(TokenizerTest, ConfigNamesAndSpecialFlags) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  // tokenizer_config.json: eos "<|im_end|>", pad "<|endoftext|>", bos null.
  EXPECT_EQ(tokenizer->eos_token_id(), 151645);
  EXPECT_EQ(tokenizer->pad_token_id(), 151643);
  EXPECT_EQ(tokenizer->bos_token_id(), std::nullopt);
  EXPECT_TRUE(tokenizer->is_special(151644));
  EXPECT_FALSE(tokenizer->is_special(151667));  // <think> is an added token, not special
  EXPECT_FALSE(tokenizer->is_special(9707));
  EXPECT_EQ(tokenizer->id_limit(), 151669u);
}

// The parity test: every corpus line, ids identical to Hugging Face's (add_special_tokens=False).
TEST(TokenizerTest, MatchesHuggingFaceOnEveryCorpusLine) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  const auto* lines = corpus_lines();
  const auto* expected = corpus_ids();
  HANLIN_REQUIRE_FIXTURE(lines, testing::kMissingFixtures);
  HANLIN_REQUIRE_FIXTURE(expected, testing::kMissingFixtures);
  ASSERT_EQ(lines->size(), expected->size()) << "corpus.jsonl and corpus_ids.jsonl disagree: regenerate the fixtures";
  size_t num_tokens = 0;
  for (size_t line = 0; line < lines->size(); ++line) {
    const std::vector<TokenId> ids = tokenizer->encode((*lines)[line], hugging_face_options());
    const std::vector<TokenId>& want = (*expected)[line];
    size_t position = 0;
    while (position < ids.size() && position < want.size() && ids[position] == want[position]) ++position;
    ASSERT_TRUE(position == ids.size() && position == want.size())
        << "corpus line " << line << " (" << nlohmann::json((*lines)[line]).dump().substr(0, 300)
        << ") differs at token " << position << "\n  hf:   " << testing::ids_around(want, position)
        << "\n  ours: " << testing::ids_around(ids, position);
    num_tokens += ids.size();
  }
  EXPECT_GT(num_tokens, 500000u);
}

// Several threads encoding at once: one gets the shared cache, the others work without it;
// all must still produce Hugging Face's ids.
TEST(TokenizerTest, ConcurrentEncodesAgreeWithHuggingFace) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  const auto* lines = corpus_lines();
  const auto* expected = corpus_ids();
  HANLIN_REQUIRE_FIXTURE(lines, testing::kMissingFixtures);
  HANLIN_REQUIRE_FIXTURE(expected, testing::kMissingFixtures);
  constexpr size_t kNumThreads = 4;
  std::vector<size_t> num_mismatches(kNumThreads, 0);
  std::vector<std::thread> threads;
  for (size_t thread = 0; thread < kNumThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (size_t line = thread; line < lines->size(); line += 3) {
        if (tokenizer->encode((*lines)[line], hugging_face_options()) != (*expected)[line]) ++num_mismatches[thread];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(num_mismatches, std::vector<size_t>(kNumThreads, 0));
}

TEST(TokenizerTest, DecodeMatchesHuggingFace) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  const auto checks = testing::read_jsonl(testing::text_fixture_path("decode_checks.jsonl"));
  HANLIN_REQUIRE_FIXTURE(checks ? &*checks : nullptr, testing::kMissingFixtures);
  for (size_t index = 0; index < checks->size(); ++index) {
    const auto& check = (*checks)[index];
    const auto ids = check.at("ids").get<std::vector<TokenId>>();
    const bool skip = check.at("skip_special_tokens").get<bool>();
    ASSERT_EQ(tokenizer->decode(ids, skip), check.at("text").get<std::string>())
        << "decode_checks.jsonl entry " << index << ": " << check.at("ids").dump();
  }
}

// decode(Hugging Face's ids) gives back the line as the normalizer left it.
TEST(TokenizerTest, DecodeOfCorpusIdsGivesTheNormalisedLine) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  const auto* lines = corpus_lines();
  const auto* expected = corpus_ids();
  HANLIN_REQUIRE_FIXTURE(lines, testing::kMissingFixtures);
  HANLIN_REQUIRE_FIXTURE(expected, testing::kMissingFixtures);
  const auto checks = testing::read_jsonl(testing::text_fixture_path("pretokenize_checks.jsonl"));
  HANLIN_REQUIRE_FIXTURE(checks ? &*checks : nullptr, testing::kMissingFixtures);
  for (const auto& check : *checks) {
    const size_t line = check.at("line").get<size_t>();
    const std::string normalised = check.contains("nfc") ? check.at("nfc").get<std::string>() : (*lines)[line];
    ASSERT_EQ(tokenizer->decode((*expected)[line]), normalised) << "corpus line " << line;
  }
}

TEST(TokenizerTest, InvalidUtf8IsRefusedWithItsOffset) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  for (const auto& [text, offset] : std::vector<std::pair<std::string, std::string>>{
           {"abc\xFF", "byte offset 3"},
           {"\xE4\xB8", "byte offset 0"},            // truncated 中
           {"ok \xED\xA0\x80", "byte offset 3"},     // a UTF-16 surrogate
           {"\xC0\xAF", "byte offset 0"},            // overlong '/'
           {"\xF4\x90\x80\x80", "byte offset 0"}}) {  // above U+10FFFF
    try {
      tokenizer->encode(text);
      ADD_FAILURE() << "no error for the input with the bad byte at " << offset;
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(error.what()).find(offset), std::string::npos) << error.what();
    }
  }
}

TEST(TokenizerTest, UnknownIdsDecodeToNothing) {
  const Tokenizer* tokenizer = qwen3_tokenizer();
  HANLIN_REQUIRE_FIXTURE(tokenizer, testing::kMissingTokenizer);
  // Hugging Face skips ids without a token; Qwen's embedding rows past the vocab have none.
  EXPECT_EQ(tokenizer->decode(std::vector<TokenId>{9707, 151900, -1, 1879}), "Hello world");
  EXPECT_EQ(tokenizer->token_bytes(151900), "");
  EXPECT_EQ(tokenizer->id_to_token(-5), std::nullopt);
}

}  // namespace
}  // namespace hanlin::text
