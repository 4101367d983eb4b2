// hanlin's encode throughput on one thread over the parity corpus, measured the same way as
// bench/tokenizer_hf_bench.py measures Hugging Face tokenizers (issue 3's goal: ≥ 1.5× it).
//
// usage: tokenizer_bench TOKENIZER_DIR CORPUS [--repeats N]
//   cold   one pass on a freshly loaded tokenizer (empty BPE cache)
//   warm   best and median of N further passes
// MB/s are of UTF-8 input, 1 MB = 10^6 bytes. Prints one JSON line at the end.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text/tokenizer.h"

namespace {

using hanlin::text::EncodeOptions;
using hanlin::text::TokenId;
using hanlin::text::Tokenizer;
using Clock = std::chrono::steady_clock;

std::vector<std::string> read_corpus(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw hanlin::Error(hanlin::ErrorKind::kNotFound, "cannot open " + path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(file, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line).get<std::string>());
  }
  return lines;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// One pass over all lines, as Hugging Face's encode(add_special_tokens=False) does: special
// tokens parsed. Returns seconds; `num_tokens` gets the token count.
double encode_pass(const Tokenizer& tokenizer, const std::vector<std::string>& lines, size_t& num_tokens) {
  EncodeOptions options;
  options.parse_special = true;
  std::vector<TokenId> ids;
  num_tokens = 0;
  const Clock::time_point start = Clock::now();
  for (const std::string& line : lines) {
    ids.clear();
    tokenizer.encode(line, options, ids);
    num_tokens += ids.size();
  }
  return seconds_since(start);
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  int repeats = 5;
  if (auto at = std::find(args.begin(), args.end(), "--repeats"); at != args.end() && at + 1 != args.end()) {
    repeats = std::max(1, std::stoi(*(at + 1)));
    args.erase(at, at + 2);
  }
  if (args.size() != 2) {
    std::fprintf(stderr, "usage: tokenizer_bench TOKENIZER_DIR CORPUS [--repeats N]\n");
    return 2;
  }
  const std::vector<std::string> lines = read_corpus(args[1]);
  size_t num_bytes = 0;
  for (const std::string& line : lines) num_bytes += line.size();

  const Clock::time_point load_start = Clock::now();
  const Tokenizer tokenizer = Tokenizer::load(args[0]);
  const double load_seconds = seconds_since(load_start);
  size_t num_tokens = 0;
  const double cold = encode_pass(tokenizer, lines, num_tokens);
  std::vector<double> warm;
  for (int repeat = 0; repeat < repeats; ++repeat) warm.push_back(encode_pass(tokenizer, lines, num_tokens));
  std::sort(warm.begin(), warm.end());

  auto mb_per_s = [&](double seconds) { return static_cast<double>(num_bytes) / seconds / 1e6; };
  std::printf("corpus %s: %zu lines, %zu bytes; tokenizer loaded in %.3f s\n", args[1].c_str(), lines.size(),
              num_bytes, load_seconds);
  std::printf("cold %.2f MB/s, warm best %.2f MB/s (median %.2f), %zu tokens\n", mb_per_s(cold),
              mb_per_s(warm.front()), mb_per_s(warm[warm.size() / 2]), num_tokens);
  nlohmann::json result = {{"impl", "hanlin"}, {"bytes", num_bytes}, {"lines", lines.size()},
                           {"tokens", num_tokens}, {"load_s", load_seconds},
                           {"cold_mb_s", mb_per_s(cold)}, {"warm_best_mb_s", mb_per_s(warm.front())},
                           {"warm_median_mb_s", mb_per_s(warm[warm.size() / 2])}};
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", error.what());
    return 1;
  }
}
