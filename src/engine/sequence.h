// The engine's state of a request (RequestState) and of each of its n completions (Sequence):
// tokens, how many of them the KV cache holds, the blocks holding them, and the streaming
// text state. Owned and touched by the engine thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/block_manager.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "engine/stop_strings.h"
#include "text/detokenizer.h"

namespace hanlin::engine {

// Runs on the engine thread; must not block (ARCHITECTURE.md, "Engine API").
using OutputCallback = std::function<void(const RequestOutput&)>;

enum class SequenceStatus { kWaiting, kRunning, kFinished };

struct RequestState;

struct Sequence {
  RequestState* request = nullptr;
  int32_t index = 0;                // which of the request's n completions
  std::vector<int32_t> token_ids;   // prompt, then generated tokens
  int64_t num_prompt_tokens = 0;
  int64_t num_computed_tokens = 0;  // leading tokens whose K/V rows are in the cache
  std::vector<int32_t> block_table;
  std::vector<BlockKey> block_keys;  // keys of the leading full blocks, computed as needed
  int64_t num_registered_blocks = 0;  // full computed blocks offered to the prefix cache
  SequenceStatus status = SequenceStatus::kWaiting;
  std::optional<text::IncrementalDetokenizer> detokenizer;  // when the engine has a tokenizer
  StopStringMatcher stop_matcher;
  std::optional<FinishReason> finish_reason;
  LogitEditCache logit_edits;  // its processing for the GPU sampler, kept between steps

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
  int64_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
  std::span<const int32_t> prompt_ids() const { return std::span(token_ids).first(static_cast<size_t>(num_prompt_tokens)); }
  std::span<const int32_t> output_ids() const { return std::span(token_ids).subspan(static_cast<size_t>(num_prompt_tokens)); }
  // The next chunk would reach the last known token: its logits choose the next token.
  bool is_decoding() const { return num_tokens() - num_computed_tokens == 1; }
};

struct RequestState {
  RequestId id = 0;
  Request request;         // validated
  int64_t max_tokens = 0;  // effective: the request's or what the context leaves
  uint64_t seed = 0;       // the request's, or one the engine drew
  uint64_t arrival = 0;    // order of submission; ties in priority go to the earliest
  OutputCallback on_output;
  std::vector<int32_t> banned_before_min_tokens;  // eos and stop ids, masked until min_tokens
  std::vector<std::unique_ptr<Sequence>> sequences;  // one until the prompt is computed, then n
  int32_t num_finished = 0;
  int64_t num_cached_prompt_tokens = 0;  // prefix cache hit of the first admission
  bool started = false;                  // sequence 0 has been scheduled once
  std::chrono::steady_clock::time_point added_at;
  std::optional<double> queue_seconds;  // from add to the first step that ran it
};

}  // namespace hanlin::engine
