// Stop strings over streamed text: search the held text, hold back the longest suffix that is
// a proper prefix of some stop string, emit the rest. Any match must start in the held text,
// because everything emitted earlier was ruled out as the start of one.
#include "engine/stop_strings.h"

#include <algorithm>

namespace hanlin::engine {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops, bool include_stop)
    : include_stop_(include_stop) {
  for (std::string& stop : stops) {
    if (!stop.empty()) stops_.push_back(std::move(stop));
  }
}

std::optional<StopStringMatcher::Match> StopStringMatcher::push(std::string_view delta, bool check,
                                                                std::string& emit) {
  held_.append(delta);
  if (!check || stops_.empty()) {
    emit += held_;
    held_.clear();
    return std::nullopt;
  }
  // The earliest match wins; among matches at one position, the first stop string listed.
  size_t best_position = std::string::npos;
  size_t best_index = 0;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t position = held_.find(stops_[i]);
    if (position < best_position) {
      best_position = position;
      best_index = i;
    }
  }
  if (best_position != std::string::npos) {
    const size_t end = best_position + (include_stop_ ? stops_[best_index].size() : 0);
    emit.append(held_, 0, end);
    held_.clear();
    return Match{best_index};
  }
  const size_t keep = longest_partial_match();
  emit.append(held_, 0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return std::nullopt;
}

void StopStringMatcher::flush(std::string& emit) {
  emit += held_;
  held_.clear();
}

// The longest suffix of the held text that is a proper prefix of a stop string.
size_t StopStringMatcher::longest_partial_match() const {
  size_t longest = 0;
  const std::string_view text = held_;
  for (const std::string& stop : stops_) {
    const size_t most = std::min(stop.size() - 1, text.size());
    for (size_t length = most; length > longest; --length) {
      if (text.substr(text.size() - length) == std::string_view(stop).substr(0, length)) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

}  // namespace hanlin::engine
