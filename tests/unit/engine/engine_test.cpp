// Engine: the threaded front of EngineCore. Submitters on several threads, aborts from
// outside, the bounded waiting queue, shutdown with requests in flight.
#include "engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/error.h"
#include "engine_test_support.h"

namespace hanlin::engine {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

// Waits up to 30 s for `done`; false if it never came.
template <class Predicate>
bool wait_for(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct EngineFixture {
  explicit EngineFixture(int64_t num_blocks, EngineConfig config = {})
      : cache(shared_model().model->config(), num_blocks),
        engine(*shared_model().model, cache, &shared_model().tokenizer, {}, config, &shared_model().pool) {}
  model::KvCache cache;
  Engine engine;
};

TEST(Engine, SubmittersOnSeveralThreadsGetTheTokensOfOneAtATime) {
  std::vector<Request> requests;
  for (uint32_t i = 0; i < 16; ++i) requests.push_back(greedy_request(random_prompt(3 + i * 7, 40 + i), 6 + i % 5));
  const std::vector<Result> alone = run_one_at_a_time(requests);
  Collector collector;
  EngineFixture fixture(256);
  std::vector<std::thread> submitters;
  for (size_t t = 0; t < 4; ++t) {
    submitters.emplace_back([&, t] {
      for (size_t i = t; i < requests.size(); i += 4) fixture.engine.submit(requests[i], collector.callback_for(i));
    });
  }
  for (std::thread& submitter : submitters) submitter.join();
  ASSERT_TRUE(wait_for([&] { return collector.num_finished() == requests.size(); }));
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(collector.result(i).completions[0].token_ids, alone[i].completions[0].token_ids) << i;
  }
  ASSERT_TRUE(wait_for([&] { return fixture.engine.stats().num_free_blocks == 256; }));
}

TEST(Engine, AbortFromAnotherThreadEndsTheRequestAndFreesItsBlocks) {
  Collector collector;
  EngineFixture fixture(64);
  const RequestId id = fixture.engine.submit(greedy_request(random_prompt(40, 3), 400), collector.callback_for(0));
  ASSERT_TRUE(wait_for([&] { return collector.result(0).completions.size() == 1 &&
                                    collector.result(0).completions[0].token_ids.size() >= 3; }));
  fixture.engine.abort(id);
  ASSERT_TRUE(wait_for([&] { return collector.result(0).finished; }));
  const Result result = collector.result(0);
  EXPECT_EQ(result.completions[0].finish_reason, FinishReason::kAbort);
  EXPECT_LT(result.completions[0].token_ids.size(), 400u);
  ASSERT_TRUE(wait_for([&] { return fixture.engine.stats().num_free_blocks == 64; }));
}

TEST(Engine, AFullWaitingQueueAnswersOverloaded) {
  EngineConfig config;
  config.scheduler.max_num_seqs = 1;
  config.max_waiting_requests = 2;
  Collector collector;  // outlives the engine, whose shutdown still reports to it
  EngineFixture fixture(64, config);
  int accepted = 0;
  int overloaded = 0;
  for (size_t i = 0; i < 10; ++i) {
    try {
      fixture.engine.submit(greedy_request(random_prompt(20, static_cast<uint32_t>(i)), 300), collector.callback_for(i));
      ++accepted;
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kResourceExhausted);
      EXPECT_THAT(error.what(), ::testing::HasSubstr("overloaded"));
      ++overloaded;
    }
  }
  // One can run and two can wait; each long enough that none finishes meanwhile.
  EXPECT_LE(accepted, 3);
  EXPECT_GE(overloaded, 7);
}

TEST(Engine, InvalidRequestsThrowOnTheSubmittingThread) {
  EngineFixture fixture(64);
  Request bad = greedy_request({1, 2, 3}, 0);
  EXPECT_THROW(fixture.engine.submit(bad, [](const RequestOutput&) {}), Error);
  EXPECT_EQ(fixture.engine.stats().num_waiting_requests, 0);
}

TEST(Engine, ShutdownAbortsWhatIsInFlight) {
  Collector collector;
  {
    EngineFixture fixture(64);
    fixture.engine.submit(greedy_request(random_prompt(30, 8), 400), collector.callback_for(0));
    fixture.engine.submit(greedy_request(random_prompt(30, 9), 400), collector.callback_for(1));
    ASSERT_TRUE(wait_for([&] { return collector.result(0).num_outputs > 0; }));
  }
  for (size_t i = 0; i < 2; ++i) {
    const Result result = collector.result(i);
    EXPECT_TRUE(result.finished) << i;
    ASSERT_EQ(result.completions.size(), 1u);
    EXPECT_EQ(result.completions[0].finish_reason, FinishReason::kAbort) << i;
  }
}

}  // namespace
}  // namespace hanlin::engine
