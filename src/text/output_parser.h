// OutputParser: turns a Qwen model's streamed text into what the OpenAI API returns, in one
// pass and in this order: reasoning (`<think>…</think>` → reasoning_content), then tool calls
// (`<tool_call>{"name": …, "arguments": …}</tool_call>` → tool_calls, the name first, then the
// arguments' JSON text in fragments as it arrives), then content.
//
// Every decision depends only on the text, never on how it was split into chunks: the deltas
// of any split, joined, equal the deltas of the whole text pushed at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hanlin::text {

struct OutputParserOptions {
  // Parse a reasoning block. False when thinking is off (the template pre-filled an empty think
  // block, or the model does not think): then every character is content or tool calls.
  bool reasoning = true;
  // The prompt already opened the block (it ends with "<think>\n", as QwQ's and the Qwen3
  // thinking-only templates do): the output starts inside reasoning and only closes it.
  bool starts_in_reasoning = false;
  // Parse tool calls (the request had tools and tool_choice is not "none"). False: a
  // <tool_call> in the output is plain content.
  bool tool_calls = false;
};

// A piece of one tool call. The first delta of a call carries its name; later ones carry
// fragments of its arguments (the JSON text of the "arguments" value, or "{}" when absent).
struct ToolCallDelta {
  int32_t index = 0;                // the call's position among this output's calls
  std::optional<std::string> name;  // set exactly once per call, in its first delta
  std::string arguments;            // a fragment; all fragments joined are the arguments JSON
};

struct ParsedDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

// What the text decides where the model strays from the format:
// - Whitespace: reasoning drops its leading and trailing whitespace. Content drops the whitespace
//   right after `</think>` or after a call and, with tool calls on, the whitespace just before a
//   call and (once a call was made) at the end; content whitespace waits until that is known.
// - "arguments": an object's (or any value's) JSON text, raw; a string's decoded contents (models
//   that write `"arguments": "{\"a\": 1}"`); "{}" when absent, null or "".
// - Before its name is complete, a call that is not a JSON object with a non-empty string "name"
//   is content, raw, from `<tool_call>` through the first `</tool_call>` (or to the end).
// - A committed call keeps what it emitted when its JSON breaks or the output ends ("{}" when no
//   arguments came); the rest of its block through `</tool_call>` is dropped, never content (a
//   `<tool_call>` there opens the next call: the model forgot the closing tag).
// - Deltas split a UTF-8 character only where the pushed chunks did; bytes pass through as they are.
class OutputParser {
 public:
  explicit OutputParser(const OutputParserOptions& options);
  ~OutputParser();
  OutputParser(OutputParser&&) noexcept;
  OutputParser& operator=(OutputParser&&) noexcept;

  // Appends model text; returns what is certain now. Text that may be the start of a tag
  // (`<thi`, `</tool_ca`), whitespace that may be dropped, or a call not yet known to be well
  // formed is held back. Never throws on any text.
  ParsedDelta push(std::string_view text);
  // The output ended (stop, length, abort): returns everything held back, resolved. Later calls
  // of push() and finish() return empty deltas.
  ParsedDelta finish();

  int32_t num_tool_calls() const;  // calls emitted so far (finish_reason "tool_calls" when > 0)

 private:
  struct State;
  std::unique_ptr<State> state_;  // implementation's choice
};

}  // namespace hanlin::text
