// The load generator: sends prebuilt HTTP requests at their arrival times over Boost.Beast on
// one thread, at most max_concurrency at once, and records each streamed response with the
// steady-clock time each piece of it was read.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "bench/metrics.h"
#include "bench/request_builder.h"
#include "bench/stream_reader.h"

namespace hanlin::bench {

struct LoadOptions {
  ServerAddress address;
  size_t max_concurrency = 0;  // 0: no limit
};

// What the client saw of one request.
struct RequestResult {
  bool is_sent = false;
  std::string error;       // transport or HTTP failure; empty when none
  double start_time = 0;   // seconds from the start of the run to sending it
  StreamRecord stream;     // times relative to start_time
};

struct LoadResult {
  std::vector<RequestResult> requests;  // in input order
  double duration_s = 0;                // from the first arrival slot to the last response
  std::string unreachable;              // set when the server could not be reached at all
};

// Called on the client's thread after each request ends, with the number ended so far.
using ProgressCallback = std::function<void(size_t num_done)>;

// Sends http_requests[i] at send_times[i] seconds from the start (non-decreasing). When the
// first connections fail before any has succeeded, the run stops: requests not yet sent fail
// with "not sent" and `unreachable` says why. Failures of single requests (HTTP errors, error
// events, dropped connections) are recorded and the run goes on.
LoadResult run_load(const LoadOptions& options, std::span<const std::string> http_requests,
                    std::span<const double> send_times, const ProgressCallback& on_progress);

// One request's timeline for the metrics: failed unless it was sent, had no error and streamed
// at least one chunk with a choice. TTFT and latency come from the first and last output chunks
// (from the first chunk with a choice when none carried output); prompt length from the server's
// usage, else `dataset_prompt_len`; output tokens by output_token_count.
RequestTimeline timeline_of(RequestResult result, int64_t dataset_prompt_len, const text::Tokenizer* tokenizer);

}  // namespace hanlin::bench
