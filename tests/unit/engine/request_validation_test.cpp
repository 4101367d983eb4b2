// validate_request: each bad field gets Error(kInvalidArgument) whose message names it.
#include "engine/request_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "core/error.h"

namespace hanlin::engine {
namespace {

using ::testing::HasSubstr;

RequestLimits limits() {
  RequestLimits result;
  result.vocab_size = 1000;
  result.max_model_len = 512;
  result.max_kv_tokens = 4096;
  result.has_tokenizer = true;
  return result;
}

Request valid_request() {
  Request request;
  request.prompt_ids = {1, 2, 3, 4};
  request.stopping.max_tokens = 16;
  return request;
}

// The message of the Error that validating `request` throws ("" when it does not throw).
std::string error_of(Request request, const RequestLimits& with = limits()) {
  try {
    validate_request(request, with);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
    return error.what();
  }
  return "";
}

TEST(RequestValidation, AValidRequestPassesAndGivesItsMaxTokens) {
  Request request = valid_request();
  EXPECT_EQ(validate_request(request, limits()), 16);
}

TEST(RequestValidation, UnsetMaxTokensTakesWhatTheContextLeaves) {
  Request request = valid_request();
  request.stopping.max_tokens.reset();
  EXPECT_EQ(validate_request(request, limits()), 512 - 4);
  RequestLimits small_cache = limits();
  small_cache.max_kv_tokens = 100;
  EXPECT_EQ(validate_request(request, small_cache), 100 - 4);
}

TEST(RequestValidation, MaxTokens) {
  for (int64_t bad : {int64_t{0}, int64_t{-1}, int64_t{509}, std::numeric_limits<int64_t>::max()}) {
    Request request = valid_request();
    request.stopping.max_tokens = bad;
    EXPECT_THAT(error_of(request), HasSubstr("max_tokens")) << bad;
  }
  Request fits = valid_request();
  fits.stopping.max_tokens = 508;  // 4 + 508 = the whole context
  EXPECT_EQ(error_of(fits), "");
  RequestLimits small_cache = limits();
  small_cache.max_kv_tokens = 64;
  EXPECT_EQ(error_of(valid_request(), small_cache), "") << "4 + 16 fits in 64";
  Request big = valid_request();
  big.stopping.max_tokens = 100;
  EXPECT_THAT(error_of(big, small_cache), HasSubstr("KV cache"));
}

TEST(RequestValidation, MinTokens) {
  Request request = valid_request();
  request.stopping.min_tokens = 17;
  EXPECT_THAT(error_of(request), HasSubstr("min_tokens"));
  request.stopping.min_tokens = -1;
  EXPECT_THAT(error_of(request), HasSubstr("min_tokens"));
  request.stopping.min_tokens = 16;
  EXPECT_EQ(error_of(request), "");
}

TEST(RequestValidation, N) {
  for (int32_t bad : {0, -3, 17, 1000000}) {
    Request request = valid_request();
    request.n = bad;
    EXPECT_THAT(error_of(request), HasSubstr("n must be between 1 and 16")) << bad;
  }
  Request request = valid_request();
  request.n = 16;
  EXPECT_EQ(error_of(request), "");
}

TEST(RequestValidation, TopLogprobs) {
  Request request = valid_request();
  request.sampling.logprobs = 21;
  EXPECT_THAT(error_of(request), HasSubstr("top_logprobs must be between 0 and 20"));
  request.sampling.logprobs = -1;
  EXPECT_THAT(error_of(request), HasSubstr("top_logprobs"));
  request.sampling.logprobs = 20;
  EXPECT_EQ(error_of(request), "");
}

TEST(RequestValidation, Prompt) {
  Request empty = valid_request();
  empty.prompt_ids.clear();
  EXPECT_THAT(error_of(empty), HasSubstr("prompt is empty"));
  Request outside = valid_request();
  outside.prompt_ids = {1, 1000};
  EXPECT_THAT(error_of(outside), HasSubstr("token id 1000 at position 1 is outside the vocabulary [0, 1000)"));
  outside.prompt_ids = {-5};
  EXPECT_THAT(error_of(outside), HasSubstr("token id -5"));
  Request too_long = valid_request();
  too_long.prompt_ids.assign(512, 7);
  too_long.stopping.max_tokens.reset();
  EXPECT_THAT(error_of(too_long), HasSubstr("truncate_prompt_tokens"));
}

TEST(RequestValidation, TruncationKeepsTheLastTokensOnlyWhenAsked) {
  Request request = valid_request();
  request.prompt_ids.assign(600, 7);
  request.prompt_ids.back() = 9;
  request.truncate_prompt_tokens = 100;
  EXPECT_EQ(validate_request(request, limits()), 16);
  ASSERT_EQ(request.prompt_ids.size(), 100u);
  EXPECT_EQ(request.prompt_ids.back(), 9);
  Request bad = valid_request();
  bad.truncate_prompt_tokens = 0;
  EXPECT_THAT(error_of(bad), HasSubstr("truncate_prompt_tokens"));
}

TEST(RequestValidation, StopStrings) {
  Request thousands = valid_request();
  thousands.stopping.stop.assign(5000, "x");
  EXPECT_THAT(error_of(thousands), HasSubstr("stop: 5000 stop strings; at most 64"));
  Request empty = valid_request();
  empty.stopping.stop = {"a", ""};
  EXPECT_THAT(error_of(empty), HasSubstr("stop[1] is empty"));
  Request huge = valid_request();
  huge.stopping.stop = {std::string(5000, 'a')};
  EXPECT_THAT(error_of(huge), HasSubstr("stop[0] is 5000 bytes"));
  RequestLimits no_tokenizer = limits();
  no_tokenizer.has_tokenizer = false;
  Request needs_text = valid_request();
  needs_text.stopping.stop = {"a"};
  EXPECT_THAT(error_of(needs_text, no_tokenizer), HasSubstr("tokenizer"));
  Request ids = valid_request();
  ids.stopping.stop_token_ids = {5, 1000};
  EXPECT_THAT(error_of(ids), HasSubstr("stop_token_ids: token id 1000"));
}

TEST(RequestValidation, SamplingNumbers) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto with = [](auto change) {
    Request request = valid_request();
    change(request.sampling);
    return error_of(request);
  };
  EXPECT_THAT(with([](SamplingParams& p) { p.temperature = -0.5; }), HasSubstr("temperature"));
  EXPECT_THAT(with([&](SamplingParams& p) { p.temperature = nan; }), HasSubstr("temperature"));
  EXPECT_THAT(with([](SamplingParams& p) { p.top_p = 0; }), HasSubstr("top_p"));
  EXPECT_THAT(with([](SamplingParams& p) { p.top_p = 1.5; }), HasSubstr("top_p"));
  EXPECT_THAT(with([](SamplingParams& p) { p.top_k = -2; }), HasSubstr("top_k"));
  EXPECT_THAT(with([](SamplingParams& p) { p.min_p = 1.1; }), HasSubstr("min_p"));
  EXPECT_THAT(with([](SamplingParams& p) { p.presence_penalty = 3; }), HasSubstr("presence_penalty"));
  EXPECT_THAT(with([](SamplingParams& p) { p.frequency_penalty = -2.5; }), HasSubstr("frequency_penalty"));
  EXPECT_THAT(with([](SamplingParams& p) { p.repetition_penalty = 0; }), HasSubstr("repetition_penalty"));
  EXPECT_THAT(with([](SamplingParams& p) { p.logit_bias = {{1000, 1.0f}}; }), HasSubstr("logit_bias: token id 1000"));
  EXPECT_THAT(with([](SamplingParams& p) { p.logit_bias = {{3, 101.0f}}; }), HasSubstr("logit_bias values"));
  EXPECT_EQ(with([](SamplingParams& p) {
              p.temperature = 0;
              p.top_k = -1;
              p.logit_bias = {{3, -100.0f}};
            }),
            "");
}

}  // namespace
}  // namespace hanlin::engine
