// Reads an OpenAI streamed response (server-sent events) as it arrives, recording when each
// chunk that carries output came in: the raw material of TTFT, ITL and TPOT.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hanlin::bench {

// SSE framing: lines end with "\n" or "\r\n", an empty line ends an event, "data:" lines form its
// payload (several joined by "\n"), lines starting with ":" are comments. Bytes may be split
// anywhere between calls.
class SseParser {
 public:
  // Calls on_event(std::string_view data) for each event completed by `bytes`.
  template <class OnEvent>
  void feed(std::string_view bytes, OnEvent&& on_event) {
    for (char c : bytes) {
      if (c != '\n') {
        line_.push_back(c);
        continue;
      }
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (line_.empty()) {
        if (has_data_) on_event(std::string_view(data_));
        data_.clear();
        has_data_ = false;
      } else {
        take_line();
      }
      line_.clear();
    }
  }

 private:
  void take_line();

  std::string line_;  // the line read so far
  std::string data_;  // the event's payload so far
  bool has_data_ = false;
};

// What one streamed response said. Times are seconds since the request was sent.
struct StreamRecord {
  std::vector<double> output_times;  // one per chunk that carried output (text, content, reasoning, tool calls)
  std::optional<double> first_choice_time;  // the first chunk with any choice, output or not
  std::string text;                          // the output, joined
  std::optional<int64_t> completion_tokens;  // from the usage chunk
  std::optional<int64_t> prompt_tokens;
  std::string error;  // an error event or an unreadable chunk; empty when none
  bool saw_done = false;
};

class StreamReader {
 public:
  // Feeds body bytes that arrived `seconds_since_send` after the request went out.
  void consume(std::string_view bytes, double seconds_since_send);
  const StreamRecord& record() const { return record_; }
  StreamRecord take_record() { return std::move(record_); }
  void reserve(size_t num_chunks) { record_.output_times.reserve(num_chunks); }

 private:
  void on_event(std::string_view data, double seconds_since_send);

  SseParser parser_;
  StreamRecord record_;
};

}  // namespace hanlin::bench
