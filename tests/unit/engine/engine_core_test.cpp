// EngineCore end to end on a transformers fixture model, on the CPU and on the GPU (where tokens
// are drawn on the device): greedy equals transformers; batching, the prefix cache, preemption
// and forks change nothing in the outputs; blocks never leak.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "kernels/cuda/cuda_ops.h"
#include "engine_test_support.h"
#include "unit/model/model_test_support.h"

namespace hanlin::engine {
namespace {

using namespace test_support;
namespace model_support = hanlin::model::test_support;

// TESTING.md §1: a greedy token may differ from transformers' only where the top-1 margin is
// within the logits' error: 1e-3 on the CPU (f32), 0.1 on the GPU (bf16, about 1e-2 relative on
// logits of a few units).
double margin_for_exact_tokens() { return test_device() == Device::kCuda ? 0.1 : 1e-3; }

// Two runs on the GPU differ by the rounding of their kernels (a batch's shape picks them): the
// logits are bf16, whose unit in the last place is 1/64 at the fixture models' logits (2 to 4), so
// a margin within 0.05 (about three of those) can flip between runs.
constexpr double kGpuRunToRunMargin = 0.05;

class EngineCoreOn : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam() == Device::kCuda && cuda::device_count() == 0) GTEST_SKIP() << "no GPU";
    use_device(GetParam());
  }
  void TearDown() override { use_device(Device::kCpu); }
};

// Tokens of a request run in company against the same request run alone. On the CPU they must be
// equal. On the GPU they must be equal too, except that at a step where the alone run's top-2
// margin (from its logprobs) is within run-to-run rounding the two may part, and are compared no
// further. The comparer counts what it compared, so a test cannot pass by comparing nothing.
// Sampled tokens (kSampled): on the GPU a seeded draw may part at any step, since how near u
// lands to the boundary between two tokens cannot be told from the logprobs; the count of tokens
// compared is then what catches a draw that ignores its seed (such a draw parts at once).
class TokenComparer {
 public:
  enum Tokens { kGreedy, kSampled };
  explicit TokenComparer(Tokens tokens = kGreedy) : tokens_(tokens) {}

  void expect_same(const Completion& together, const Completion& alone, const std::string& label) {
    num_total_ += alone.token_ids.size();
    ASSERT_GE(together.token_ids.size(), alone.token_ids.size()) << label;
    for (size_t step = 0; step < alone.token_ids.size(); ++step) {
      if (together.token_ids[step] != alone.token_ids[step]) {
        ASSERT_TRUE(may_part(alone, step)) << label << " step " << step << ": " << together.token_ids[step]
                                           << " against " << alone.token_ids[step] << " alone";
        return;
      }
      ++num_compared_;
    }
    EXPECT_EQ(together.token_ids.size(), alone.token_ids.size()) << label;
    EXPECT_EQ(together.text, alone.text) << label;
  }
  // Most tokens were compared (on the CPU all are).
  ~TokenComparer() { EXPECT_GE(num_compared_, num_total_ / 2) << "tokens compared, of " << num_total_; }

 private:
  bool may_part(const Completion& alone, size_t step) const {
    if (test_device() != Device::kCuda) return false;
    if (tokens_ == kSampled) return true;
    if (step >= alone.logprobs.size()) return false;
    const std::vector<TokenLogprob>& top = alone.logprobs[step].top;
    return top.size() >= 2 && top[0].logprob - top[1].logprob <= kGpuRunToRunMargin;
  }

  Tokens tokens_;
  size_t num_compared_ = 0;
  size_t num_total_ = 0;
};

EngineConfig config_with(int32_t max_num_batched_tokens, int32_t max_num_seqs, bool prefix_caching = true) {
  EngineConfig config;
  config.scheduler.max_num_batched_tokens = max_num_batched_tokens;
  config.scheduler.max_num_seqs = max_num_seqs;
  config.enable_prefix_caching = prefix_caching;
  return config;
}

std::vector<int32_t> tokens_of(const std::vector<Result>& results, size_t i) { return results[i].completions.at(0).token_ids; }

// 32 requests: prompts of 1..150 tokens, 4..28 new tokens each.
std::vector<Request> mixed_requests() {
  std::vector<Request> requests;
  for (uint32_t i = 0; i < 32; ++i) {
    const size_t length = 1 + (i * 37) % 150;
    requests.push_back(greedy_request(random_prompt(length, 100 + i), 4 + (i * 5) % 25));
  }
  return requests;
}

TEST_P(EngineCoreOn, GreedyEqualsTransformers) {
  const model_support::ModelFixture fixture = model_support::load_fixture("qwen3-gqa-untied");
  std::vector<Request> requests;
  for (const auto& fixture_case : fixture.cases) {
    requests.push_back(greedy_request(fixture_case.prompt_ids, static_cast<int64_t>(fixture_case.greedy_tokens.size())));
  }
  CoreFixture engine(256, config_with(64, 32));
  const std::vector<Result> results = run_all(*engine.core, requests);
  for (size_t c = 0; c < fixture.cases.size(); ++c) {
    const auto& fixture_case = fixture.cases[c];
    const std::vector<int32_t>& ours = tokens_of(results, c);
    ASSERT_EQ(ours.size(), fixture_case.greedy_tokens.size()) << fixture_case.name;
    for (size_t step = 0; step < ours.size(); ++step) {
      if (fixture_case.greedy_steps[step].margin <= margin_for_exact_tokens()) break;  // a near tie: may go either way
      ASSERT_EQ(ours[step], fixture_case.greedy_tokens[step]) << fixture_case.name << " step " << step;
    }
    EXPECT_EQ(results[c].completions[0].finish_reason, FinishReason::kLength);
  }
}

TEST_P(EngineCoreOn, ConcurrentRequestsGiveTheTokensTheyGiveAlone) {
  const std::vector<Request> requests = mixed_requests();
  const std::vector<Result> alone = run_one_at_a_time(requests);
  CoreFixture engine(512, config_with(64, 32));  // chunked prefills mixed with decodes
  const std::vector<Result> together = run_all(*engine.core, requests);
  TokenComparer comparer;
  for (size_t i = 0; i < requests.size(); ++i) {
    comparer.expect_same(together[i].completions[0], alone[i].completions[0], "request " + std::to_string(i));
    EXPECT_EQ(tokens_of(together, i).size(), static_cast<size_t>(*requests[i].stopping.max_tokens));
  }
  EXPECT_EQ(engine.core->block_manager().num_free_blocks(), 512);
  EXPECT_GT(engine.core->stats().num_steps, 0);
}

TEST_P(EngineCoreOn, PrefixCacheOnAndOffGiveTheSameTokens) {
  // Two waves sharing a 70-token prefix (4 full blocks): the second wave reads it from the cache.
  const std::vector<int32_t> shared = random_prompt(70, 7);
  std::vector<Request> first_wave, second_wave;
  for (uint32_t i = 0; i < 6; ++i) {
    std::vector<int32_t> prompt = shared;
    const std::vector<int32_t> suffix = random_prompt(1 + i * 9, 50 + i);
    prompt.insert(prompt.end(), suffix.begin(), suffix.end());
    (i < 3 ? first_wave : second_wave).push_back(greedy_request(prompt, 12));
  }
  for (bool caching : {true, false}) {
    CoreFixture engine(256, config_with(64, 16, caching));
    const std::vector<Result> first = run_all(*engine.core, first_wave);
    const std::vector<Result> second = run_all(*engine.core, second_wave);
    const std::vector<Result> alone = run_one_at_a_time(second_wave);
    TokenComparer comparer;
    for (size_t i = 0; i < second_wave.size(); ++i) {
      comparer.expect_same(second[i].completions[0], alone[i].completions[0],
                           "caching " + std::to_string(caching) + " request " + std::to_string(i));
      EXPECT_EQ(second[i].num_cached_prompt_tokens, caching ? 64 : 0);
    }
    const EngineStats stats = engine.core->stats();
    EXPECT_EQ(stats.prefix_cache.hit_tokens > 0, caching);
    EXPECT_EQ(stats.num_free_blocks, 256);
    (void)first;
  }
}

TEST_P(EngineCoreOn, PreemptionUnderATinyCacheChangesNoTokenAndLeaksNoBlock) {
  // 8 requests of 40-token prompts + 40 new tokens need 5 blocks each; the cache holds 12.
  std::vector<Request> requests;
  for (uint32_t i = 0; i < 8; ++i) requests.push_back(greedy_request(random_prompt(40, 300 + i), 40));
  const std::vector<Result> alone = run_one_at_a_time(requests);
  for (bool caching : {true, false}) {
    CoreFixture engine(12, config_with(48, 8, caching));
    const std::vector<Result> squeezed = run_all(*engine.core, requests);
    TokenComparer comparer;
    for (size_t i = 0; i < requests.size(); ++i) {
      comparer.expect_same(squeezed[i].completions[0], alone[i].completions[0],
                           "caching " + std::to_string(caching) + " request " + std::to_string(i));
    }
    const EngineStats stats = engine.core->stats();
    EXPECT_GT(stats.num_preemptions, 0) << "the test must actually preempt";
    EXPECT_EQ(stats.num_free_blocks, 12);
  }
}

TEST_P(EngineCoreOn, AbortFreesBlocksAtOnce) {
  CoreFixture engine(64, config_with(64, 8));
  Collector collector;
  const RequestId id = engine.core->add(greedy_request(random_prompt(50, 1), 200), collector.callback_for(0));
  engine.core->add(greedy_request(random_prompt(20, 2), 200), collector.callback_for(1));
  for (int i = 0; i < 5; ++i) engine.core->step();
  const int32_t free_before = engine.core->block_manager().num_free_blocks();
  engine.core->abort(id);
  EXPECT_EQ(engine.core->block_manager().num_free_blocks(), free_before + 4);  // its 50 + 4 rows: 4 blocks
  const Result aborted = collector.result(0);
  EXPECT_TRUE(aborted.finished);
  EXPECT_EQ(aborted.completions[0].finish_reason, FinishReason::kAbort);
  EXPECT_EQ(aborted.completions[0].token_ids.size(), 5u);
  engine.core->abort(id);  // twice: ignored
  engine.core->abort(987654);  // unknown: ignored
  while (engine.core->has_work()) engine.core->step();
  EXPECT_EQ(collector.result(1).completions[0].token_ids.size(), 200u);
  EXPECT_EQ(engine.core->block_manager().num_free_blocks(), 64);
}

Request seeded_request(std::vector<int32_t> prompt, uint64_t seed) {
  Request request;
  request.prompt_ids = std::move(prompt);
  request.sampling.temperature = 0.9;
  request.sampling.top_p = 0.95;
  request.sampling.seed = seed;
  request.stopping.max_tokens = 24;
  request.stopping.ignore_eos = true;
  return request;
}

// On the CPU a seeded request gets the same tokens whatever runs beside it. On the GPU the batch
// picks the kernels and so the logits' last bits: the same tokens unless a draw lands within that
// rounding of a boundary between two tokens (TokenComparer::kSampled).
TEST_P(EngineCoreOn, SeededSamplingIsReproducibleAcrossBatchCompositions) {
  std::vector<Request> seeded;
  for (uint32_t i = 0; i < 4; ++i) seeded.push_back(seeded_request(random_prompt(30 + 7 * i, 11 + i), 1234 + i));
  std::vector<Result> alone;
  for (const Request& request : seeded) {
    CoreFixture alone_engine(256, config_with(64, 32));
    alone.push_back(run_all(*alone_engine.core, {request}).front());
  }
  std::vector<Request> crowd;
  std::vector<size_t> seeded_at;
  for (uint32_t i = 0; i < 12; ++i) {
    Request other = seeded_request(random_prompt(5 + i * 11, 500 + i), 77 + i);
    if (i % 3 == 0) other.sampling.seed.reset();  // the engine picks one
    crowd.push_back(other);
    if (i % 3 == 1) {
      seeded_at.push_back(crowd.size());
      crowd.push_back(seeded[seeded_at.size() - 1]);
    }
  }
  CoreFixture crowd_engine(256, config_with(32, 32));
  const std::vector<Result> results = run_all(*crowd_engine.core, crowd);
  TokenComparer comparer(TokenComparer::kSampled);
  for (size_t i = 0; i < seeded_at.size(); ++i) {
    comparer.expect_same(results[seeded_at[i]].completions[0], alone[i].completions[0], "seeded " + std::to_string(i));
  }
  Request other_seed = seeded.front();
  other_seed.sampling.seed = 4321;
  CoreFixture other_engine(256, config_with(64, 32));
  EXPECT_NE(tokens_of(run_all(*other_engine.core, {other_seed}), 0), alone.front().completions[0].token_ids);
}

// Bias, penalties and min_tokens bans are applied where the tokens are drawn, on the GPU too:
// the same requests in the same batches must get the host sampler's tokens. (The batches, and
// so the logits, are the same in both runs; only where the draw happens differs.)
TEST_P(EngineCoreOn, ProcessedRequestsDrawOnTheGpuWhatTheHostSamplerDraws) {
  if (test_device() != Device::kCuda) GTEST_SKIP() << "only a model on the GPU draws tokens where the logits are";
  std::vector<Request> requests;
  for (uint32_t i = 0; i < 8; ++i) {
    Request request = seeded_request(random_prompt(20 + 9 * i, 900 + i), 40 + i);
    SamplingParams& sampling = request.sampling;
    const std::vector<int32_t>& prompt = request.prompt_ids;
    if (i % 4 == 0) sampling.repetition_penalty = 1.3;
    if (i % 4 == 1) {
      sampling.presence_penalty = 0.7;
      sampling.frequency_penalty = 0.4;
    }
    if (i % 4 == 2) sampling.logit_bias = {{prompt[0], 4.0f}, {prompt[1], -100.0f}, {prompt[2], 0.75f}};
    if (i % 4 == 3) {
      request.stopping.stop_token_ids = {prompt[3], prompt[4]};
      request.stopping.min_tokens = 12;
      sampling.repetition_penalty = 1.05;
      sampling.frequency_penalty = -0.3;
    }
    if (i >= 4) sampling.temperature = 0;  // greedy: the processed row's argmax
    requests.push_back(request);
  }
  EngineConfig on_device = config_with(64, 8);
  EngineConfig on_host = on_device;
  on_host.sample_on_device = false;
  CoreFixture device_engine(256, on_device);
  const std::vector<Result> drawn_on_device = run_all(*device_engine.core, requests);
  CoreFixture host_engine(256, on_host);
  const std::vector<Result> drawn_on_host = run_all(*host_engine.core, requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(tokens_of(drawn_on_device, i), tokens_of(drawn_on_host, i)) << "request " << i;
  }
}

// Greedy text of a prompt, and the text each token added.
struct Decoded {
  std::vector<int32_t> tokens;
  std::vector<std::string> pieces;
  std::string text;
};

Decoded greedy_text(const std::vector<int32_t>& prompt, int64_t max_tokens) {
  CoreFixture engine(256, config_with(64, 8));
  const Result result = run_all(*engine.core, {greedy_request(prompt, max_tokens)}).front();
  Decoded decoded;
  decoded.tokens = result.completions[0].token_ids;
  decoded.text = result.completions[0].text;
  for (int32_t token : decoded.tokens) decoded.pieces.push_back(shared_model().tokenizer.decode(std::vector<int32_t>{token}));
  return decoded;
}

bool is_ascii(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

TEST_P(EngineCoreOn, StopStringsAcrossTokenBoundariesAreNeverEmitted) {
  const std::vector<int32_t> prompt = random_prompt(20, 5);
  const Decoded reference = greedy_text(prompt, 40);
  // A boundary between two ASCII pieces past the 5th token: the stop string straddles it.
  size_t boundary = 0;
  for (size_t i = 5; i + 1 < reference.pieces.size() && boundary == 0; ++i) {
    const std::string& left = reference.pieces[i];
    const std::string& right = reference.pieces[i + 1];
    if (!left.empty() && !right.empty() && is_ascii(left) && is_ascii(right)) boundary = i;
  }
  ASSERT_GT(boundary, 0u) << "no ASCII token boundary in: " << reference.text;
  const std::string stop = reference.pieces[boundary].substr(reference.pieces[boundary].size() - 1) +
                           reference.pieces[boundary + 1].substr(0, 1);
  const size_t at = reference.text.find(stop);
  ASSERT_NE(at, std::string::npos);
  for (bool include : {false, true}) {
    Request request = greedy_request(prompt, 40);
    request.stopping.stop = {"never-in-this-text", stop};
    request.stopping.include_stop_str_in_output = include;
    CoreFixture engine(256, config_with(64, 8));
    const Completion completion = run_all(*engine.core, {request}).front().completions[0];
    EXPECT_EQ(completion.text, reference.text.substr(0, at + (include ? stop.size() : 0))) << "stop '" << stop << "'";
    EXPECT_EQ(completion.finish_reason, FinishReason::kStop);
    EXPECT_EQ(completion.stop_string, stop);
    // It ends at the token that completed the match.
    std::string text;
    size_t needed = 0;
    while (text.size() < at + stop.size()) text += reference.pieces[needed++];
    EXPECT_EQ(completion.token_ids, std::vector<int32_t>(reference.tokens.begin(), reference.tokens.begin() + static_cast<std::ptrdiff_t>(needed)));
    if (!include) {
      for (const std::string& delta : completion.text_deltas) EXPECT_EQ(delta.find(stop), std::string::npos);
    }
  }
}

TEST_P(EngineCoreOn, StopTokenIdsEosAndMinTokens) {
  const std::vector<int32_t> prompt = random_prompt(25, 9);
  const Decoded reference = greedy_text(prompt, 30);
  const int32_t stop_token = reference.tokens[6];
  const auto first_at = static_cast<size_t>(std::find(reference.tokens.begin(), reference.tokens.end(), stop_token) - reference.tokens.begin());
  {  // a stop token id ends the completion at its first occurrence; its text is not emitted
    Request request = greedy_request(prompt, 30);
    request.stopping.stop_token_ids = {stop_token};
    CoreFixture engine(256, config_with(64, 8));
    const Completion completion = run_all(*engine.core, {request}).front().completions[0];
    EXPECT_EQ(completion.token_ids.size(), first_at + 1);
    EXPECT_EQ(completion.stop_token_id, stop_token);
    EXPECT_EQ(completion.finish_reason, FinishReason::kStop);
  }
  {  // the same id as the model's eos: stops, unless ignore_eos
    EngineConfig config = config_with(64, 8);
    for (bool ignore : {false, true}) {
      CoreFixture engine(256, config, {stop_token});
      Request request = greedy_request(prompt, 30);
      request.stopping.ignore_eos = ignore;
      const Completion completion = run_all(*engine.core, {request}).front().completions[0];
      EXPECT_EQ(completion.token_ids.size(), ignore ? 30u : first_at + 1);
    }
  }
  {  // min_tokens masks the stop id until enough tokens exist
    Request request = greedy_request(prompt, 30);
    request.stopping.stop_token_ids = {stop_token};
    request.stopping.min_tokens = static_cast<int64_t>(first_at) + 2;
    CoreFixture engine(256, config_with(64, 8));
    const Completion completion = run_all(*engine.core, {request}).front().completions[0];
    ASSERT_GE(completion.token_ids.size(), first_at + 2);
    for (size_t i = 0; i < first_at + 2; ++i) EXPECT_NE(completion.token_ids[i], stop_token) << i;
  }
}

TEST_P(EngineCoreOn, CompletionsOfOneRequestShareThePromptBlocks) {
  Request request = seeded_request(random_prompt(40, 21), 99);
  request.sampling.temperature = 1.0;
  request.n = 4;
  CoreFixture engine(64, config_with(64, 16));
  Collector collector;
  engine.core->add(request, collector.callback_for(0));
  engine.core->step();  // the prompt, then the fork: 3 blocks shared by 4 completions
  EXPECT_EQ(engine.core->block_manager().num_free_blocks(), 64 - 3);
  engine.core->step();  // three copy the shared partial block; the last writes in place
  EXPECT_EQ(engine.core->block_manager().num_free_blocks(), 64 - 6);
  while (engine.core->has_work()) engine.core->step();
  const Result result = collector.result(0);
  ASSERT_EQ(result.completions.size(), 4u);
  // Completion 0 draws from the same stream as a request with n = 1: the same tokens, which
  // also shows the copies kept each completion's cache rows apart.
  Request single = request;
  single.n = 1;
  CoreFixture single_engine(64, config_with(64, 16));
  EXPECT_EQ(result.completions[0].token_ids, tokens_of(run_all(*single_engine.core, {single}), 0));
  std::set<std::vector<int32_t>> distinct;
  for (const Completion& completion : result.completions) {
    EXPECT_EQ(completion.token_ids.size(), 24u);
    EXPECT_EQ(completion.finish_reason, FinishReason::kLength);
    distinct.insert(completion.token_ids);
  }
  EXPECT_GT(distinct.size(), 1u);
  EXPECT_EQ(engine.core->block_manager().num_free_blocks(), 64);
}

TEST_P(EngineCoreOn, GreedyCompletionsOfOneRequestAreIdentical) {
  Request request = greedy_request(random_prompt(33, 4), 10);
  request.n = 3;
  CoreFixture engine(64, config_with(64, 16));
  const Result result = run_all(*engine.core, {request}).front();
  request.n = 1;
  const Completion single = run_one_at_a_time({request}).front().completions[0];
  ASSERT_EQ(result.completions.size(), 3u);
  TokenComparer comparer;
  for (const Completion& completion : result.completions) comparer.expect_same(completion, single, "a completion");
  // Completions of one request run in one batch: equal to each other exactly.
  for (const Completion& completion : result.completions) EXPECT_EQ(completion.token_ids, result.completions[0].token_ids);
}

TEST_P(EngineCoreOn, LogprobsComeWithEachToken) {
  Request request = greedy_request(random_prompt(12, 8), 6);
  request.sampling.logprobs = 5;
  CoreFixture engine(64, config_with(64, 16));
  const Completion completion = run_all(*engine.core, {request}).front().completions[0];
  ASSERT_EQ(completion.logprobs.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    const SampledLogprobs& entry = completion.logprobs[i];
    EXPECT_EQ(entry.sampled.token_id, completion.token_ids[i]);
    ASSERT_EQ(entry.top.size(), 5u);
    EXPECT_EQ(entry.top[0].token_id, completion.token_ids[i]);  // greedy takes the most likely
    EXPECT_FLOAT_EQ(entry.top[0].logprob, entry.sampled.logprob);
    for (size_t k = 1; k < 5; ++k) EXPECT_LE(entry.top[k].logprob, entry.top[k - 1].logprob);
    EXPECT_LT(entry.sampled.logprob, 0.0f);
  }
}

TEST_P(EngineCoreOn, BadRequestsAreRefusedBeforeAnyWork) {
  CoreFixture engine(64, config_with(64, 16));
  auto refused = [&](Request request, const std::string& words) {
    try {
      engine.core->add(std::move(request), [](const RequestOutput&) { ADD_FAILURE() << "no output expected"; });
      ADD_FAILURE() << "accepted a request that should fail with: " << words;
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
      EXPECT_THAT(error.what(), ::testing::HasSubstr(words));
    }
  };
  const Request good = greedy_request({1, 2, 3}, 4);
  Request r = good;
  r.stopping.max_tokens = -1;
  refused(r, "max_tokens");
  r.stopping.max_tokens = 1 << 30;
  refused(r, "max_tokens");
  r = good;
  r.n = 17;
  refused(r, "n must be");
  r = good;
  r.sampling.logprobs = 21;
  refused(r, "top_logprobs");
  r = good;
  r.prompt_ids.clear();
  refused(r, "empty");
  r = good;
  r.prompt_ids = {1, 2048};
  refused(r, "outside the vocabulary");
  r = good;
  r.stopping.stop.assign(3000, "stop");
  refused(r, "stop strings");
  const EngineStats stats = engine.core->stats();
  EXPECT_FALSE(engine.core->has_work());
  EXPECT_EQ(stats.num_waiting_requests, 0);
  EXPECT_EQ(stats.num_prompt_tokens, 0);
  EXPECT_EQ(stats.num_free_blocks, 64);
}

TEST_P(EngineCoreOn, WithoutATokenizerTokensStillFlowButStopStringsAreRefused) {
  CoreFixture engine(64, config_with(64, 16), {}, false);
  const Result result = run_all(*engine.core, {greedy_request({5, 6, 7}, 5)}).front();
  EXPECT_EQ(result.completions[0].token_ids.size(), 5u);
  EXPECT_EQ(result.completions[0].text, "");
  Request with_stop = greedy_request({5, 6, 7}, 5);
  with_stop.stopping.stop = {"x"};
  EXPECT_THROW(engine.core->add(with_stop, [](const RequestOutput&) {}), Error);
}

std::string device_name(const ::testing::TestParamInfo<Device>& param_info) {
  return param_info.param == Device::kCuda ? "cuda" : "cpu";
}

INSTANTIATE_TEST_SUITE_P(Devices, EngineCoreOn, ::testing::Values(Device::kCpu, Device::kCuda), device_name);

}  // namespace
}  // namespace hanlin::engine
