// Chat-template rendering speed (issue 3's goal: a 20-message conversation with 10 tools renders
// in under 1 ms). The template is compiled once; each iteration converts the request body into
// template variables and renders it, as a server does per request.
//
// usage: chat_template_bench [TEMPLATE_FILE] [--iterations N]
//   TEMPLATE_FILE defaults to tests/fixtures/templates/Qwen-Qwen3-0.6B.jinja (run from the repo root).
// Prints per-render times (median, p99, best) of: converting the request, rendering, and both;
// then one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/chat_template/chat_template.h"
#include "text/chat_template/render_context.h"

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// A tool with a realistic JSON schema: nested objects, enums, arrays, non-ASCII descriptions.
Json make_tool(int index) {
  std::string name = "tool_" + std::to_string(index);
  return Json::parse(R"({"type": "function", "function": {"name": ")" + name + R"(",
    "description": "Looks things up in the private knowledge base (知识库) and returns the matching records.",
    "parameters": {"type": "object", "properties": {
      "query": {"type": "string", "description": "What to search for"},
      "top_k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
      "threshold": {"type": "number", "default": 0.25},
      "filters": {"type": "array", "items": {"type": "object", "properties": {
        "field": {"type": "string", "enum": ["author", "date", "tag"]}, "value": {"type": "string"}}}},
      "options": {"type": "object", "properties": {"highlight": {"type": "boolean"}, "language": {"type": "string"}}}},
      "required": ["query"]}}})");
}

// 20 messages: system, then user / assistant (some with tool calls and reasoning) / tool turns.
Json make_request() {
  Json request = {{"model", "qwen3"}, {"messages", Json::array()}, {"tools", Json::array()}};
  for (int i = 0; i < 10; ++i) request["tools"].push_back(make_tool(i));
  Json& messages = request["messages"];
  messages.push_back(
      {{"role", "system"},
       {"content", "You are a careful assistant for an engineering team. 请用中文或英文回答。"}});
  const std::string paragraph =
      "Could you look into the deployment notes from last week and summarise what changed in the "
      "retrieval pipeline? 另外，请列出需要跟进的事项。";
  for (int turn = 0; messages.size() < 20; ++turn) {
    messages.push_back({{"role", "user"}, {"content", paragraph + " (turn " + std::to_string(turn) + ")"}});
    if (turn % 2 == 0) {
      Json call = {
          {"id", "call_" + std::to_string(turn)},
          {"type", "function"},
          {"function",
           {{"name", "tool_" + std::to_string(turn % 10)},
            {"arguments",
             R"({"query": "deployment notes", "top_k": 3, "filters": [{"field": "tag", "value": "rag"}]})"}}}};
      messages.push_back({{"role", "assistant"},
                          {"content", ""},
                          {"reasoning_content", "Search first."},
                          {"tool_calls", {call}}});
      messages.push_back(
          {{"role", "tool"},
           {"tool_call_id", "call_" + std::to_string(turn)},
           {"content",
            R"({"records": [{"title": "Pipeline v2", "summary": "Chunking changed to 512 tokens."}]})"}});
    }
    messages.push_back({{"role", "assistant"},
                        {"content",
                         "<think>\nSummarise the records.\n</think>\n\nThe chunk size moved to 512 tokens; "
                         "the reranker is now enabled by default."}});
  }
  messages.erase(messages.begin() + 20, messages.end());
  if (messages.back()["role"] != "user")
    messages.back() = {{"role", "user"}, {"content", "Thanks. Anything else?"}};
  return request;
}

struct Stats {
  double median_us, p99_us, best_us;
};

Stats stats_of(std::vector<double> micros) {
  std::sort(micros.begin(), micros.end());
  return {micros[micros.size() / 2], micros[std::min(micros.size() - 1, micros.size() * 99 / 100)],
          micros.front()};
}

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string template_path = "tests/fixtures/templates/Qwen-Qwen3-0.6B.jinja";
  int iterations = 2000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::max(1, std::atoi(argv[++i]));
    } else {
      template_path = argv[i];
    }
  }
  try {
    std::string source = hanlin::read_text_file(template_path);
    Clock::time_point compile_start = Clock::now();
    hanlin::text::ChatTemplate chat_template = hanlin::text::ChatTemplate::compile(source);
    double compile_us = micros_since(compile_start);
    Json request = make_request();
    Json checkpoint = {{"eos_token", "<|im_end|>"}, {"pad_token", "<|endoftext|>"}};
    size_t prompt_bytes = 0;
    std::vector<double> convert_us, render_us, total_us;
    for (int i = 0; i < iterations + iterations / 10; ++i) {
      Clock::time_point start = Clock::now();
      Json variables = hanlin::text::chat_template_variables(request);
      double converted = micros_since(start);
      Clock::time_point render_start = Clock::now();
      hanlin::text::RenderedPrompt prompt = chat_template.render(variables, checkpoint);
      double rendered = micros_since(render_start);
      prompt_bytes = prompt.text.size();
      if (i < iterations / 10) continue;  // warm-up
      convert_us.push_back(converted);
      render_us.push_back(rendered);
      total_us.push_back(micros_since(start));
    }
    Stats convert = stats_of(convert_us), render = stats_of(render_us), total = stats_of(total_us);
    std::printf("template %s: compiled in %.1f us; 20 messages, 10 tools -> %zu prompt bytes\n",
                template_path.c_str(), compile_us, prompt_bytes);
    std::printf("  request -> variables  median %7.1f us  p99 %7.1f us  best %7.1f us\n", convert.median_us,
                convert.p99_us, convert.best_us);
    std::printf("  render                median %7.1f us  p99 %7.1f us  best %7.1f us\n", render.median_us,
                render.p99_us, render.best_us);
    std::printf("  both                  median %7.1f us  p99 %7.1f us  best %7.1f us  (goal < 1000 us)\n",
                total.median_us, total.p99_us, total.best_us);
    std::printf(
        "{\"bench\": \"chat_template\", \"iterations\": %d, \"prompt_bytes\": %zu, \"compile_us\": %.1f, "
        "\"convert_median_us\": %.1f, \"render_median_us\": %.1f, \"total_median_us\": %.1f, "
        "\"total_p99_us\": %.1f}\n",
        iterations, prompt_bytes, compile_us, convert.median_us, render.median_us, total.median_us,
        total.p99_us);
  } catch (const hanlin::Error& error) {
    std::fprintf(stderr, "chat_template_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
