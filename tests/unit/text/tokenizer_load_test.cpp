// Loading tokenizer.json: a tiny valid file works (ids checked by hand against its own small
// vocab), and every kind of malformed or unsupported file ends in a clear hanlin::Error.
#include <gtest/gtest.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text/bpe.h"
#include "text/pretokenizer.h"
#include "text/tokenizer.h"

namespace hanlin::text {
namespace {

using Json = nlohmann::json;

// Byte tokens get ids 0..255 in byte order; then "he" 256, "ll" 257, "hell" 258, "hello" 259,
// "Ġw" 260; the special token "<|end|>" is 300 and the non-special "<t>" 301.
Json tiny_tokenizer() {
  const ByteLevelAlphabet alphabet;
  Json vocab = Json::object();
  for (int byte = 0; byte < 256; ++byte) vocab[alphabet.encode(std::string(1, static_cast<char>(byte)))] = byte;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  vocab["Ġw"] = 260;
  auto added = [](int id, const char* content, bool special) {
    return Json{{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                {"rstrip", false}, {"normalized", false}, {"special", special}};
  };
  return Json{
      {"version", "1.0"},
      {"added_tokens", Json::array({added(300, "<|end|>", true), added(301, "<t>", false)})},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         Json::array({Json{{"type", "Split"}, {"pattern", {{"Regex", std::string(kQwen2SplitPattern)}}},
                           {"behavior", "Isolated"}, {"invert", false}},
                      Json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false},
                           {"use_regex", false}}})}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", Json::array({Json::array({"h", "e"}), "l l", Json::array({"he", "ll"}), "hell o", "Ġ w"})}}}};
}

Tokenizer load(const Json& json) { return Tokenizer::from_json(json.dump()); }

// Expects loading `json` to throw an Error of `kind` whose message contains `fragment`.
void expect_refused(const Json& json, ErrorKind kind, const std::string& fragment) {
  try {
    load(json);
    ADD_FAILURE() << "loaded without error; expected one mentioning " << fragment;
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), kind) << error.what();
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

Json with(std::function<void(Json&)> change) {
  Json json = tiny_tokenizer();
  change(json);
  return json;
}

TEST(TokenizerLoadTest, TinyTokenizerEncodesByItsMerges) {
  const Tokenizer tokenizer = load(tiny_tokenizer());
  // "hello" merges h+e, l+l, he+ll, hell+o → 259; " w" → Ġw 260; "orld" has no merges → bytes.
  EXPECT_EQ(tokenizer.encode("hello world"), (std::vector<TokenId>{259, 260, 'o', 'r', 'l', 'd'}));
  EXPECT_EQ(tokenizer.encode("hel"), (std::vector<TokenId>{256, 'l'}));
  EncodeOptions parse;
  parse.parse_special = true;
  EXPECT_EQ(tokenizer.encode("a<|end|>", parse), (std::vector<TokenId>{'a', 300}));
  EXPECT_EQ(tokenizer.encode("<t>"), (std::vector<TokenId>{301}));
  EXPECT_EQ(tokenizer.decode(std::vector<TokenId>{259, 300, 260}), "hello<|end|> w");
  EXPECT_EQ(tokenizer.decode(std::vector<TokenId>{259, 300, 260}, true), "hello w");
}

TEST(TokenizerLoadTest, MergesAsStringsOrPairsAndLaterDuplicatesWin) {
  // Giving "h e" again at the end makes its rank the last: "hell" can then no longer form
  // before "ll" does, which here changes nothing, but loading must accept it.
  const Tokenizer tokenizer = load(with([](Json& json) { json["model"]["merges"].push_back("h e"); }));
  EXPECT_EQ(tokenizer.encode("hello"), (std::vector<TokenId>{259}));
}

TEST(TokenizerLoadTest, NotJsonOrNotAnObject) {
  EXPECT_THROW(Tokenizer::from_json("{\"model\": "), Error);
  try {
    Tokenizer::from_json("[1, 2]");
    ADD_FAILURE();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile);
  }
}

TEST(TokenizerLoadTest, MissingOrMistypedModel) {
  expect_refused(with([](Json& j) { j.erase("model"); }), ErrorKind::kInvalidFile, "missing \"model\"");
  expect_refused(with([](Json& j) { j["model"] = "BPE"; }), ErrorKind::kInvalidFile, "model: expected an object");
  expect_refused(with([](Json& j) { j["model"].erase("vocab"); }), ErrorKind::kInvalidFile, "missing \"vocab\"");
  expect_refused(with([](Json& j) { j["model"]["vocab"] = Json::array(); }), ErrorKind::kInvalidFile,
                 "model.vocab: expected an object");
  expect_refused(with([](Json& j) { j["model"]["vocab"]["he"] = "256"; }), ErrorKind::kInvalidFile,
                 "expected a token id");
  expect_refused(with([](Json& j) { j["model"]["vocab"]["he"] = -3; }), ErrorKind::kInvalidFile, "out of range");
  expect_refused(with([](Json& j) { j["model"]["vocab"]["he"] = 257; }), ErrorKind::kInvalidFile, "share id 257");
  expect_refused(with([](Json& j) { j["model"]["vocab"]["he"] = 2000000000; }), ErrorKind::kInvalidFile,
                 "far beyond");
  expect_refused(with([](Json& j) { j["model"]["merges"] = 5; }), ErrorKind::kInvalidFile,
                 "model.merges: expected an array");
  expect_refused(with([](Json& j) { j["model"]["type"] = "WordPiece"; }), ErrorKind::kUnsupported, "expected BPE");
}

TEST(TokenizerLoadTest, MergesNamingUnknownTokens) {
  expect_refused(with([](Json& j) { j["model"]["merges"].push_back(Json::array({"zz", "q"})); }),
                 ErrorKind::kInvalidFile, "model.merges[5]: left token \"zz\" is not in model.vocab");
  expect_refused(with([](Json& j) { j["model"]["merges"].push_back("o Ġ"); }), ErrorKind::kInvalidFile,
                 "merged token \"oĠ\" is not in model.vocab");
  expect_refused(with([](Json& j) { j["model"]["merges"].push_back("a b c"); }), ErrorKind::kInvalidFile,
                 "model.merges[5]: expected \"left right\"");
  expect_refused(with([](Json& j) { j["model"]["merges"].push_back(Json::array({"a"})); }), ErrorKind::kInvalidFile,
                 "model.merges[5]");
  expect_refused(with([](Json& j) { j["model"]["merges"].push_back(Json::array({1, 2})); }),
                 ErrorKind::kInvalidFile, "model.merges[5]");
}

TEST(TokenizerLoadTest, MissingByteTokens) {
  expect_refused(with([](Json& j) { j["model"]["vocab"].erase("Ġ"); }), ErrorKind::kInvalidFile,
                 "no token for byte 0x20");
}

TEST(TokenizerLoadTest, UnknownPreTokenizerPatternIsUnsupported) {
  expect_refused(with([](Json& j) {
                   j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] =
                       "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
                 }),
                 ErrorKind::kUnsupported, "split pattern");
  expect_refused(with([](Json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"String", " "}}; }),
                 ErrorKind::kUnsupported, "split pattern");
  expect_refused(with([](Json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }), ErrorKind::kUnsupported,
                 "pre-tokenizer");
  expect_refused(with([](Json& j) { j["pre_tokenizer"] = nullptr; }), ErrorKind::kUnsupported, "pre-tokenizer");
  expect_refused(with([](Json& j) { j["pre_tokenizer"]["pretokenizers"][1]["use_regex"] = true; }),
                 ErrorKind::kUnsupported, "use_regex");
  expect_refused(with([](Json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }),
                 ErrorKind::kUnsupported, "Isolated");
}

TEST(TokenizerLoadTest, OtherPipelinePartsThatWouldChangeIds) {
  expect_refused(with([](Json& j) { j["normalizer"] = {{"type", "NFKC"}}; }), ErrorKind::kUnsupported, "normalizer");
  expect_refused(with([](Json& j) { j["decoder"] = nullptr; }), ErrorKind::kUnsupported, "decoder");
  expect_refused(with([](Json& j) { j["model"]["byte_fallback"] = true; }), ErrorKind::kUnsupported, "byte fallback");
  expect_refused(with([](Json& j) { j["model"]["dropout"] = 0.1; }), ErrorKind::kUnsupported, "dropout");
  expect_refused(with([](Json& j) { j["model"]["continuing_subword_prefix"] = "##"; }), ErrorKind::kUnsupported,
                 "affixes");
  // A missing normalizer is fine (no normalisation).
  EXPECT_NO_THROW(load(with([](Json& j) { j.erase("normalizer"); })));
}

TEST(TokenizerLoadTest, MalformedAddedTokens) {
  expect_refused(with([](Json& j) { j["added_tokens"] = Json::object(); }), ErrorKind::kInvalidFile,
                 "added_tokens: expected an array");
  expect_refused(with([](Json& j) { j["added_tokens"][0].erase("content"); }), ErrorKind::kInvalidFile,
                 "added_tokens[0]: missing \"content\"");
  expect_refused(with([](Json& j) { j["added_tokens"][0]["content"] = ""; }), ErrorKind::kInvalidFile, "empty");
  expect_refused(with([](Json& j) { j["added_tokens"][1]["id"] = 300; }), ErrorKind::kInvalidFile, "given twice");
  expect_refused(with([](Json& j) { j["added_tokens"][0]["special"] = "yes"; }), ErrorKind::kInvalidFile,
                 "added_tokens[0].special: expected true or false");
}

TEST(TokenizerLoadTest, TokenizerConfigNamesAndAddedTokens) {
  const Json config = {{"eos_token", "<|end|>"},
                       {"pad_token", {{"__type", "AddedToken"}, {"content", "<t>"}}},
                       {"bos_token", nullptr},
                       {"added_tokens_decoder",
                        {{"302", {{"content", "<extra>"}, {"special", true}, {"normalized", false}}}}}};
  const Tokenizer tokenizer = Tokenizer::from_json(tiny_tokenizer().dump(), config.dump());
  EXPECT_EQ(tokenizer.eos_token_id(), 300);
  EXPECT_EQ(tokenizer.pad_token_id(), 301);
  EXPECT_EQ(tokenizer.bos_token_id(), std::nullopt);
  EXPECT_EQ(tokenizer.token_to_id("<extra>"), 302);
  EXPECT_TRUE(tokenizer.is_special(302));
  EXPECT_THROW(Tokenizer::from_json(tiny_tokenizer().dump(), R"({"eos_token": "<nope>"})"), Error);
  EXPECT_THROW(Tokenizer::from_json(tiny_tokenizer().dump(), R"({"added_tokens_decoder": {"x": {}}})"), Error);
  EXPECT_THROW(Tokenizer::from_json(tiny_tokenizer().dump(), R"({"eos_token": 7})"), Error);
}

TEST(TokenizerLoadTest, AddedTokenFlags) {
  // lstrip/rstrip swallow the whitespace around the token; single_word needs non-word
  // neighbours (Hugging Face AddedToken semantics).
  const Tokenizer tokenizer = load(with([](Json& j) {
    j["added_tokens"][1]["lstrip"] = true;
    j["added_tokens"][1]["rstrip"] = true;
    j["added_tokens"][0]["single_word"] = true;
  }));
  EXPECT_EQ(tokenizer.encode("a  <t>  b"), (std::vector<TokenId>{'a', 301, 'b'}));
  EncodeOptions parse;
  parse.parse_special = true;
  // Byte tokens have the byte's value as id, so ' ' is 32.
  EXPECT_EQ(tokenizer.encode("x <|end|> y", parse), (std::vector<TokenId>{'x', ' ', 300, ' ', 'y'}));
  EXPECT_EQ(tokenizer.encode("x<|end|>y", parse),
            (std::vector<TokenId>{'x', '<', '|', 'e', 'n', 'd', '|', '>', 'y'}));
}

TEST(TokenizerLoadTest, NormalizedAddedTokensMatchAfterNfc) {
  // A normalized=true token is searched for in NFC text: "e" + U+0301 (NFD) becomes "é" first.
  const Tokenizer tokenizer = load(with([](Json& j) {
    j["added_tokens"].push_back(Json{{"id", 302}, {"content", "\u00e9"}, {"special", false}, {"normalized", true},
                                     {"lstrip", false}, {"rstrip", false}, {"single_word", false}});
  }));
  EXPECT_EQ(tokenizer.encode("xe\u0301y"), (std::vector<TokenId>{'x', 302, 'y'}));
  EXPECT_EQ(tokenizer.encode("\u00e9"), (std::vector<TokenId>{302}));
}

TEST(TokenizerLoadTest, IgnoreMergesTakesWholePiecesFromTheVocab) {
  // With ignore_merges a piece found whole in the vocab is one token even if no merge builds
  // it: "hlo" (261) has no merge path, yet "hlo" encodes to it.
  const Tokenizer tokenizer = load(with([](Json& j) {
    j["model"]["ignore_merges"] = true;
    j["model"]["vocab"]["hlo"] = 261;
  }));
  EXPECT_EQ(tokenizer.encode("hlo"), (std::vector<TokenId>{261}));
  EXPECT_EQ(load(with([](Json& j) { j["model"]["vocab"]["hlo"] = 261; })).encode("hlo"),
            (std::vector<TokenId>{'h', 'l', 'o'}));
}

TEST(TokenizerLoadTest, MissingDirectoryIsNotFound) {
  try {
    Tokenizer::load("/nonexistent/model");
    ADD_FAILURE();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNotFound);
  }
}

}  // namespace
}  // namespace hanlin::text
