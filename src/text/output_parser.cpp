// OutputParser: a mode machine over the unconsumed text. Each mode consumes only what the text
// already decides (never what a later byte could change), which is what makes the deltas of any
// chunking join to the same result.
#include "text/output_parser.h"

#include <algorithm>
#include <utility>

#include "text/json_scanner.h"

namespace hanlin::text {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kCallOpen = "<tool_call>";
constexpr std::string_view kCallClose = "</tool_call>";

bool is_space(char byte) {
  return byte == ' ' || byte == '\t' || byte == '\n' || byte == '\r';
}

// The length of the end of `text` that a later byte could turn into `tag` (a proper prefix of
// it). Tags hold '<' only at their start, so only the last '<' can begin one.
size_t partial_tag_length(std::string_view text, std::string_view tag) {
  const size_t last_open = text.rfind('<');
  if (last_open == std::string_view::npos) return 0;
  const std::string_view tail = text.substr(last_open);
  return tail.size() < tag.size() && tag.starts_with(tail) ? tail.size() : 0;
}

// Appends to the call's delta in `out` when this push already has one, so that one push gives
// at most one delta per call (its first one carrying the name).
void add_call_delta(ParsedDelta& out, int32_t index, std::optional<std::string> name,
                    std::string_view arguments) {
  if (out.tool_calls.empty() || out.tool_calls.back().index != index) {
    out.tool_calls.push_back(ToolCallDelta{.index = index, .name = std::move(name), .arguments = {}});
  }
  out.tool_calls.back().arguments.append(arguments);
}

// Passes text through while holding back its trailing whitespace (when asked to), which is
// written once more text follows or dropped when a tag or the end follows; it can also drop
// the whitespace before the first byte it ever writes.
class WhitespaceGate {
 public:
  explicit WhitespaceGate(bool holds_trailing) : holds_trailing_(holds_trailing) {}

  void write(std::string_view text, bool strip_leading, std::string& out) {
    const size_t num_held_before = held_.size();
    held_.append(text);
    size_t ready_end = held_.size();
    if (holds_trailing_) {  // only `text` is searched: what was held is all whitespace
      const auto last = std::find_if_not(text.rbegin(), text.rend(), is_space);
      ready_end = last == text.rend() ? 0 : num_held_before + static_cast<size_t>(text.rend() - last);
    }
    release(ready_end, strip_leading, out);
  }
  // Writes what is held, as if the end of the text followed it.
  void release_all(bool strip_leading, std::string& out) { release(held_.size(), strip_leading, out); }
  void drop_held() { held_.clear(); }

 private:
  void release(size_t ready_end, bool strip_leading, std::string& out) {
    size_t ready_begin = 0;
    if (strip_leading && !has_written_) {
      const auto first = std::find_if_not(held_.begin(), held_.begin() + ready_end, is_space);
      ready_begin = static_cast<size_t>(first - held_.begin());
    }
    out.append(held_, ready_begin, ready_end - ready_begin);
    has_written_ = has_written_ || ready_end > ready_begin;
    held_.erase(0, ready_end);
  }

  bool holds_trailing_;
  bool has_written_ = false;
  std::string held_;  // whitespace only, between writes
};

enum class Mode : uint8_t {
  kStart,       // before a possible `<think>` (only leading whitespace seen)
  kReasoning,   // inside the think block
  kContent,     // content; `<tool_call>` opens a call when tool calls are on
  kCall,        // inside `<tool_call>`, scanning its JSON
  kFailedCall,  // a call that failed before its name: raw content through `</tool_call>`
  kCallRest,    // the rest of a committed call's block: dropped through `</tool_call>`
};

enum class MemberRole : uint8_t { kOther, kName, kArguments };
enum class ArgumentsForm : uint8_t { kRaw, kString, kLiteral };

// The `<tool_call>` block being scanned. Until the call commits, its raw text stays unconsumed
// (it becomes content if the call fails); after that, scanned bytes are consumed as they go.
struct CallScan {
  JsonScanner scanner;
  size_t num_scanned = kCallOpen.size();  // bytes of the unconsumed text fed to the scanner
  bool is_committed = false;
  int32_t index = -1;
  std::string key;  // the top-level key whose value is being scanned
  MemberRole role = MemberRole::kOther;
  std::string name;
  bool has_arguments_member = false;
  ArgumentsForm form = ArgumentsForm::kRaw;
  size_t num_decoded_taken = 0;  // bytes of a string "arguments" value already taken
  std::string literal;           // true/false/null "arguments", known only when complete
  std::string arguments;         // validated text not yet emitted
  bool has_emitted_arguments = false;
};

}  // namespace

struct OutputParser::State {
  explicit State(const OutputParserOptions& parser_options)
      : options(parser_options), content(/*holds_trailing=*/parser_options.tool_calls) {
    if (options.reasoning) mode = options.starts_in_reasoning ? Mode::kReasoning : Mode::kStart;
  }

  void run(ParsedDelta& out, bool is_final);
  bool step(ParsedDelta& out, bool is_final);
  bool handle_start(ParsedDelta& out, bool is_final);
  bool handle_reasoning(ParsedDelta& out, bool is_final);
  bool handle_content(ParsedDelta& out, bool is_final);
  bool handle_failed_call(ParsedDelta& out, bool is_final);
  bool handle_call_rest(bool is_final);
  bool handle_call(ParsedDelta& out, bool is_final);

  bool take_member_step(const JsonStep& step, char byte, ParsedDelta& out);
  bool begin_member(char byte);
  void take_value_byte(char byte);
  bool end_member(ParsedDelta& out);
  void commit_call(ParsedDelta& out);
  void flush_arguments(ParsedDelta& out);
  void close_call(ParsedDelta& out);
  void finish_output(ParsedDelta& out);

  std::string_view pending() const { return std::string_view(buffer).substr(consumed); }
  void write_content(std::string_view text, ParsedDelta& out) {
    content.write(text, strips_content_start(), out.content);
  }
  // Content never starts with the whitespace that follows `</think>` or a tool call.
  bool strips_content_start() const { return is_think_closed || num_calls > 0; }

  OutputParserOptions options;
  Mode mode = Mode::kContent;
  std::string buffer;  // text pushed but not yet consumed, from `consumed` on
  size_t consumed = 0;
  std::string leading_spaces;  // kStart: the whitespace before a possible `<think>`
  WhitespaceGate reasoning{/*holds_trailing=*/true};
  WhitespaceGate content;
  bool is_think_closed = false;
  int32_t num_calls = 0;
  CallScan call;
  bool is_finished = false;
};

void OutputParser::State::run(ParsedDelta& out, bool is_final) {
  while (step(out, is_final)) {
  }
  buffer.erase(0, consumed);  // once per push, so a large push is not copied once per tag
  consumed = 0;
}

// Runs the current mode once; true when it moved to another mode and the next one should run.
bool OutputParser::State::step(ParsedDelta& out, bool is_final) {
  switch (mode) {
    case Mode::kStart:
      return handle_start(out, is_final);
    case Mode::kReasoning:
      return handle_reasoning(out, is_final);
    case Mode::kContent:
      return handle_content(out, is_final);
    case Mode::kCall:
      return handle_call(out, is_final);
    case Mode::kFailedCall:
      return handle_failed_call(out, is_final);
    case Mode::kCallRest:
      return handle_call_rest(is_final);
  }
  return false;
}

// The leading whitespace is set aside (not rescanned on every push) until the text shows
// whether a `<think>` follows it.
bool OutputParser::State::handle_start(ParsedDelta& out, bool is_final) {
  const std::string_view text = pending();
  const size_t num_spaces =
      static_cast<size_t>(std::find_if_not(text.begin(), text.end(), is_space) - text.begin());
  leading_spaces.append(text.substr(0, num_spaces));
  consumed += num_spaces;
  const std::string_view rest = text.substr(num_spaces);
  if (rest.starts_with(kThinkOpen)) {
    consumed += kThinkOpen.size();
    leading_spaces.clear();
    mode = Mode::kReasoning;
    return true;
  }
  const bool may_become_think = rest.size() < kThinkOpen.size() && kThinkOpen.starts_with(rest);
  if (may_become_think && !is_final) return false;
  write_content(leading_spaces, out);  // no think block: the whitespace is content's
  leading_spaces.clear();
  mode = Mode::kContent;
  return true;
}

bool OutputParser::State::handle_reasoning(ParsedDelta& out, bool is_final) {
  const std::string_view text = pending();
  const size_t close = text.find(kThinkClose);
  if (close != std::string_view::npos) {
    reasoning.write(text.substr(0, close), /*strip_leading=*/true, out.reasoning);
    reasoning.drop_held();
    consumed += close + kThinkClose.size();
    is_think_closed = true;
    mode = Mode::kContent;
    return true;
  }
  const size_t ready = text.size() - (is_final ? 0 : partial_tag_length(text, kThinkClose));
  reasoning.write(text.substr(0, ready), /*strip_leading=*/true, out.reasoning);
  consumed += ready;
  return false;
}

bool OutputParser::State::handle_content(ParsedDelta& out, bool is_final) {
  const std::string_view text = pending();
  const size_t open = options.tool_calls ? text.find(kCallOpen) : std::string_view::npos;
  if (open != std::string_view::npos) {
    write_content(text.substr(0, open), out);
    consumed += open;
    call = CallScan{};
    mode = Mode::kCall;
    return true;
  }
  const bool holds_tag = options.tool_calls && !is_final;
  const size_t ready = text.size() - (holds_tag ? partial_tag_length(text, kCallOpen) : 0);
  write_content(text.substr(0, ready), out);
  consumed += ready;
  return false;
}

bool OutputParser::State::handle_failed_call(ParsedDelta& out, bool is_final) {
  const std::string_view text = pending();
  const size_t close = text.find(kCallClose);
  if (close != std::string_view::npos) {
    write_content(text.substr(0, close + kCallClose.size()), out);
    consumed += close + kCallClose.size();
    mode = Mode::kContent;
    return true;
  }
  const size_t ready = text.size() - (is_final ? 0 : partial_tag_length(text, kCallClose));
  write_content(text.substr(0, ready), out);
  consumed += ready;
  return false;
}

// Drops what follows a committed call's JSON up to `</tool_call>`; a `<tool_call>` first means
// the model left out the closing tag, and opens the next call.
bool OutputParser::State::handle_call_rest(bool is_final) {
  const std::string_view text = pending();
  const size_t open = text.find(kCallOpen);
  const size_t close = text.substr(0, open).find(kCallClose);  // not past `open`: stays linear
  if (close != std::string_view::npos) {
    consumed += close + kCallClose.size();
    mode = Mode::kContent;
    return true;
  }
  if (open != std::string_view::npos) {
    consumed += open;
    mode = Mode::kContent;
    return true;
  }
  const size_t held = std::max(partial_tag_length(text, kCallClose), partial_tag_length(text, kCallOpen));
  consumed += text.size() - (is_final ? 0 : held);
  return false;
}

bool OutputParser::State::handle_call(ParsedDelta& out, bool is_final) {
  while (call.num_scanned < pending().size()) {
    const char byte = pending()[call.num_scanned];
    const JsonStep json_step = call.scanner.feed(byte);
    if (!json_step.is_valid) {
      close_call(out);  // the breaking byte stays unconsumed, for the mode that follows
      return true;
    }
    ++call.num_scanned;
    if (!take_member_step(json_step, byte, out)) {
      close_call(out);  // only before the commit: the call is malformed
      return true;
    }
    if (json_step.ends_object) {
      close_call(out);
      return true;
    }
  }
  if (is_final) {
    close_call(out);  // cut off mid-call
    return true;
  }
  if (call.is_committed) {
    consumed += call.num_scanned;
    call.num_scanned = 0;
    flush_arguments(out);
  }
  return false;
}

// Follows one scanned byte through the object's top-level members; false when it shows the call
// is malformed (a "name" that is not a non-empty string).
bool OutputParser::State::take_member_step(const JsonStep& json_step, char byte, ParsedDelta& out) {
  if (json_step.ends_key) {
    call.key = call.scanner.string_value();
    return true;
  }
  if (json_step.starts_value && !begin_member(byte)) return false;
  if (json_step.in_value) take_value_byte(byte);
  return !json_step.ends_value || end_member(out);
}

bool OutputParser::State::begin_member(char byte) {
  call.role = MemberRole::kOther;
  if (call.key == "name" && !call.is_committed) {
    call.role = MemberRole::kName;
    return byte == '"';
  }
  if (call.key == "arguments" && !call.has_arguments_member) {
    call.has_arguments_member = true;
    call.role = MemberRole::kArguments;
    call.form = byte == '"'                                 ? ArgumentsForm::kString
                : byte == 't' || byte == 'f' || byte == 'n' ? ArgumentsForm::kLiteral
                                                            : ArgumentsForm::kRaw;
  }
  return true;
}

void OutputParser::State::take_value_byte(char byte) {
  if (call.role != MemberRole::kArguments) return;
  switch (call.form) {
    case ArgumentsForm::kRaw:
      call.arguments.push_back(byte);
      break;
    case ArgumentsForm::kLiteral:
      call.literal.push_back(byte);
      break;
    case ArgumentsForm::kString: {
      // The decoded contents: a model that wrote the arguments as a JSON string meant its text.
      const std::string& decoded = call.scanner.string_value();
      call.arguments.append(decoded, call.num_decoded_taken);
      call.num_decoded_taken = decoded.size();
      break;
    }
  }
}

bool OutputParser::State::end_member(ParsedDelta& out) {
  const MemberRole role = std::exchange(call.role, MemberRole::kOther);
  if (role == MemberRole::kName) {
    call.name = call.scanner.string_value();
    if (call.name.empty()) return false;
    commit_call(out);
  } else if (role == MemberRole::kArguments && call.form == ArgumentsForm::kLiteral &&
             call.literal != "null") {
    call.arguments += call.literal;
  }
  return true;
}

void OutputParser::State::commit_call(ParsedDelta& out) {
  call.is_committed = true;
  call.index = num_calls++;
  content.drop_held();  // whitespace before a call is not content
  add_call_delta(out, call.index, call.name, "");
  consumed += call.num_scanned;
  call.num_scanned = 0;
}

void OutputParser::State::flush_arguments(ParsedDelta& out) {
  if (call.arguments.empty()) return;
  add_call_delta(out, call.index, std::nullopt, call.arguments);
  call.arguments.clear();
  call.has_emitted_arguments = true;
}

// Ends the call being scanned: the object closed, the JSON broke, or the text ended. A
// committed call keeps what it emitted ("{}" when no arguments came); an uncommitted one turns
// back into content, from its `<tool_call>` on.
void OutputParser::State::close_call(ParsedDelta& out) {
  if (!call.is_committed) {
    mode = Mode::kFailedCall;
    call = CallScan{};
    return;
  }
  consumed += call.num_scanned;
  flush_arguments(out);
  if (!call.has_emitted_arguments) add_call_delta(out, call.index, std::nullopt, "{}");
  call = CallScan{};
  mode = Mode::kCallRest;
}

void OutputParser::State::finish_output(ParsedDelta& out) {
  run(out, /*is_final=*/true);
  reasoning.drop_held();  // trailing whitespace of reasoning cut off by the end
  if (num_calls > 0) {
    content.drop_held();  // whitespace between or after calls
  } else {
    content.release_all(strips_content_start(), out.content);
  }
  buffer.clear();
  is_finished = true;
}

OutputParser::OutputParser(const OutputParserOptions& options) : state_(std::make_unique<State>(options)) {}
OutputParser::~OutputParser() = default;
OutputParser::OutputParser(OutputParser&&) noexcept = default;
OutputParser& OutputParser::operator=(OutputParser&&) noexcept = default;

ParsedDelta OutputParser::push(std::string_view text) {
  ParsedDelta out;
  if (state_->is_finished) return out;
  state_->buffer.append(text);
  state_->run(out, /*is_final=*/false);
  return out;
}

ParsedDelta OutputParser::finish() {
  ParsedDelta out;
  if (!state_->is_finished) state_->finish_output(out);
  return out;
}

int32_t OutputParser::num_tool_calls() const {
  return state_->num_calls;
}

}  // namespace hanlin::text
