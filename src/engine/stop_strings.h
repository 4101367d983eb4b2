// StopStringMatcher: finds stop strings in a completion's text as it streams. Text that could
// still turn out to be the start of a stop string is held back, so matched text is never
// emitted, however the stop string falls across tokens.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hanlin::engine {

class StopStringMatcher {
 public:
  struct Match {
    size_t stop_index = 0;  // which of the stop strings
  };

  StopStringMatcher() = default;
  // Empty strings are ignored. With include_stop, the matched stop string is emitted too.
  StopStringMatcher(std::vector<std::string> stops, bool include_stop);

  // Appends `delta` to the text and appends to `emit` what can be emitted now. With `check`
  // false (before min_tokens) nothing is searched or held. On a match the text ends at it
  // (or after it, with include_stop), and the match is returned; push must not be called again.
  std::optional<Match> push(std::string_view delta, bool check, std::string& emit);

  // Appends the held-back text to `emit`: the completion ended for another reason.
  void flush(std::string& emit);

  bool empty() const { return stops_.empty(); }

 private:
  size_t longest_partial_match() const;

  std::vector<std::string> stops_;
  bool include_stop_ = false;
  std::string held_;  // text not yet emitted (starts where a stop string might)
};

}  // namespace hanlin::engine
