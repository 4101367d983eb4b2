// libFuzzer target for the tokenizer. An input that starts with '{' is loaded as a
// tokenizer.json (then used to encode and decode a few strings); any other input is text,
// encoded by two tiny valid tokenizers under varied special-token policies. Only hanlin::Error
// may escape the tokenizer, and these properties must hold for valid UTF-8 text:
//   decode(encode(text)) == text (no normalizer), == NFC(text) (NFC, no added-token text),
//   streamed deltas are valid UTF-8 and concatenate to decode(ids).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text/bpe.h"
#include "text/detokenizer.h"
#include "text/pretokenizer.h"
#include "text/tokenizer.h"
#include "text/unicode.h"
#include "text/utf8.h"

namespace {

using hanlin::text::EncodeOptions;
using hanlin::text::TokenId;
using hanlin::text::Tokenizer;
using Json = nlohmann::json;

void check(bool condition) {
  if (!condition) __builtin_trap();  // a broken property: report it as a crash
}

// Bytes as tokens 0..255, a few merges, and the added tokens <|end|> (special) and <t>.
std::string tiny_tokenizer_json(bool nfc) {
  const hanlin::text::ByteLevelAlphabet alphabet;
  Json vocab = Json::object();
  for (int byte = 0; byte < 256; ++byte) vocab[alphabet.encode(std::string(1, static_cast<char>(byte)))] = byte;
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"Ġ", "Ġ"}, {"ä", "¸"}, {"ä¸", "Ń"}};
  Json merge_list = Json::array();
  for (const auto& [left, right] : merges) {
    vocab[left + right] = static_cast<int>(vocab.size());
    merge_list.push_back(Json::array({left, right}));
  }
  auto added = [](int id, const char* content, bool special) {
    return Json{{"id", id}, {"content", content}, {"special", special}, {"normalized", false},
                {"lstrip", false}, {"rstrip", false}, {"single_word", false}};
  };
  const Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  return Json{{"added_tokens", Json::array({added(300, "<|end|>", true), added(301, "<t>", false)})},
              {"normalizer", nfc ? Json{{"type", "NFC"}} : Json(nullptr)},
              {"pre_tokenizer",
               {{"type", "Sequence"},
                {"pretokenizers", Json::array({Json{{"type", "Split"},
                                                    {"pattern", {{"Regex", std::string(hanlin::text::kQwen2SplitPattern)}}},
                                                    {"behavior", "Isolated"}},
                                               byte_level})}}},
              {"decoder", byte_level},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}}}
      .dump();
}

const Tokenizer& plain_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::from_json(tiny_tokenizer_json(false));
  return tokenizer;
}

const Tokenizer& nfc_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::from_json(tiny_tokenizer_json(true));
  return tokenizer;
}

void check_streaming(const Tokenizer& tokenizer, const std::vector<TokenId>& ids, bool skip_special) {
  hanlin::text::IncrementalDetokenizer detokenizer(tokenizer, skip_special);
  std::string streamed;
  for (const TokenId id : ids) {
    const std::string delta = detokenizer.push(id);
    check(hanlin::text::find_invalid_utf8(delta) == hanlin::text::kNoInvalidByte);
    streamed += delta;
  }
  streamed += detokenizer.finish();
  check(streamed == tokenizer.decode(ids, skip_special));
}

// Options from the input's first bytes, so the fuzzer explores policies and ranges too.
EncodeOptions options_for(std::string_view text) {
  EncodeOptions options;
  const uint8_t seed = text.empty() ? 0 : static_cast<uint8_t>(text[0]);
  options.parse_special = (seed & 1) != 0;
  if ((seed & 2) != 0 && text.size() > 2) {
    options.plain_ranges.push_back({static_cast<uint8_t>(text[1]) % text.size(), static_cast<uint8_t>(text[2])});
  }
  return options;
}

void fuzz_text(std::string_view text) {
  const bool valid = hanlin::text::find_invalid_utf8(text) == hanlin::text::kNoInvalidByte;
  const EncodeOptions options = options_for(text);
  for (const Tokenizer* tokenizer : {&plain_tokenizer(), &nfc_tokenizer()}) {
    std::vector<TokenId> ids;
    try {
      ids = tokenizer->encode(text, options);
    } catch (const hanlin::Error& error) {
      check(!valid && error.kind() == hanlin::ErrorKind::kInvalidArgument);
      continue;
    }
    check(valid);
    const std::string decoded = tokenizer->decode(ids);
    if (tokenizer == &plain_tokenizer()) {
      check(decoded == text);
    } else if (text.find('<') == std::string_view::npos) {
      std::string nfc;
      hanlin::text::append_nfc(nfc, text);
      check(decoded == nfc);
    }
    check_streaming(*tokenizer, ids, (text.size() & 1) != 0);
  }
}

void fuzz_loading(std::string_view json) {
  try {
    const Tokenizer tokenizer = Tokenizer::from_json(json);
    EncodeOptions options;
    options.parse_special = true;
    for (const char* sample : {"hello world", "it's 3.14 <|end|>\r\n\t中文 😀", "  \n\n x"}) {
      const std::vector<TokenId> ids = tokenizer.encode(sample, options);
      check_streaming(tokenizer, ids, false);
    }
    std::vector<TokenId> all_ids;
    for (TokenId id = -2; id < static_cast<TokenId>(tokenizer.id_limit()) + 2 && id < 4096; ++id) all_ids.push_back(id);
    check_streaming(tokenizer, all_ids, true);
  } catch (const hanlin::Error&) {
    // A clear refusal is the expected outcome for most mutated files.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.empty() && input.front() == '{') {
    fuzz_loading(input);
  } else {
    fuzz_text(input);
  }
  return 0;
}
