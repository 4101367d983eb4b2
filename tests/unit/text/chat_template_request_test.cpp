// The request → template variables conversion (render_context.h): content parts, tool-call
// arguments, defaults, chat_template_kwargs, and clear errors naming the field for wrong types.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/chat_template/render_context.h"

namespace hanlin::text {
namespace {

using Json = nlohmann::ordered_json;

Json convert(const char* request) {
  return chat_template_variables(Json::parse(request));
}

void expect_field_error(const char* request, const std::string& field) {
  SCOPED_TRACE(request);
  try {
    convert(request);
    ADD_FAILURE() << "accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("'" + field), std::string::npos) << error.what();
  }
}

TEST(ChatTemplateRequest, DefaultsMatchTransformers) {
  Json variables = convert(R"({"messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_EQ(
      variables.dump(),
      R"({"messages":[{"role":"user","content":"hi"}],"tools":null,"documents":null,"add_generation_prompt":true})");
}

TEST(ChatTemplateRequest, TextPartsAreJoinedWithNewlines) {
  Json variables = convert(
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": ""}, {"type": "text", "text": "b"}]}]})");
  EXPECT_EQ(variables["messages"][0]["content"], "a\n\nb");
  variables = convert(
      R"({"messages": [{"role": "assistant", "content": null}, {"role": "user"}, {"role": "user", "content": []}]})");
  for (const Json& message : variables["messages"]) EXPECT_EQ(message["content"], "");
}

TEST(ChatTemplateRequest, NonTextPartsAreRefused) {
  expect_field_error(
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}]}]})",
      "messages[0].content[1].type");
}

TEST(ChatTemplateRequest, ToolCallArgumentsAreParsedWhenTheyAreJson) {
  Json variables = convert(R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [
      {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{\"z\": 1, \"a\": [true, null]}"}},
      {"type": "function", "function": {"name": "g", "arguments": "not json {"}},
      {"type": "function", "function": {"name": "h", "arguments": ""}},
      {"type": "function", "function": {"name": "i"}},
      {"type": "function", "function": {"name": "j", "arguments": {"k": "v"}}}]}]})");
  const Json& calls = variables["messages"][0]["tool_calls"];
  EXPECT_EQ(calls[0].dump(),
            R"({"id":"1","type":"function","function":{"name":"f","arguments":{"z":1,"a":[true,null]}}})");
  EXPECT_EQ(calls[1]["function"]["arguments"], "not json {");
  EXPECT_EQ(calls[2]["function"]["arguments"].dump(), "{}");
  EXPECT_EQ(calls[3]["function"]["arguments"].dump(), "{}");
  EXPECT_EQ(calls[4]["function"]["arguments"].dump(), R"({"k":"v"})");
}

TEST(ChatTemplateRequest, OtherFieldsPassThrough) {
  Json variables =
      convert(R"({"messages": [{"role": "tool", "content": "r", "tool_call_id": "c1", "name": "f"},
      {"role": "assistant", "content": "a", "reasoning_content": "why"}],
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {"b": 1, "a": 2}}}],
      "add_generation_prompt": false, "chat_template_kwargs": {"enable_thinking": false, "x": [1]}})");
  EXPECT_EQ(variables["messages"][0]["tool_call_id"], "c1");
  EXPECT_EQ(variables["messages"][1]["reasoning_content"], "why");
  EXPECT_EQ(variables["tools"][0]["function"]["parameters"].dump(), R"({"b":1,"a":2})");
  EXPECT_EQ(variables["add_generation_prompt"], false);
  EXPECT_EQ(variables["enable_thinking"], false);
  EXPECT_EQ(variables["x"].dump(), "[1]");
}

TEST(ChatTemplateRequest, WrongTypesNameTheField) {
  expect_field_error(R"({"messages": "hi"})", "messages");
  expect_field_error(R"({"messages": []})", "messages");
  expect_field_error(R"({"messages": [1]})", "messages[0]");
  expect_field_error(R"({"messages": [{"content": "x"}]})", "messages[0].role");
  expect_field_error(R"({"messages": [{"role": 1, "content": "x"}]})", "messages[0].role");
  expect_field_error(R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content");
  expect_field_error(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]})",
                     "messages[0].content[0].text");
  expect_field_error(R"({"messages": [{"role": "user", "content": [{"text": "x"}]}]})",
                     "messages[0].content[0].type");
  expect_field_error(R"({"messages": [{"role": "user", "content": "x", "name": 3}]})", "messages[0].name");
  expect_field_error(R"({"messages": [{"role": "assistant", "content": "x", "reasoning_content": 3}]})",
                     "messages[0].reasoning_content");
  expect_field_error(R"({"messages": [{"role": "assistant", "tool_calls": {}}]})", "messages[0].tool_calls");
  expect_field_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]})",
                     "messages[0].tool_calls[0].function");
  expect_field_error(
      R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}]})",
      "messages[0].tool_calls[0].function.name");
  expect_field_error(
      R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 3}}]}]})",
      "messages[0].tool_calls[0].function.arguments");
  expect_field_error(R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})", "tools");
  expect_field_error(R"({"messages": [{"role": "user", "content": "x"}], "tools": ["f"]})", "tools[0]");
  expect_field_error(R"({"messages": [{"role": "user", "content": "x"}], "add_generation_prompt": "yes"})",
                     "add_generation_prompt");
  expect_field_error(R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": [1]})",
                     "chat_template_kwargs");
  expect_field_error(
      R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": {"messages": []}})",
      "chat_template_kwargs.messages");
  try {
    convert("[]");
    ADD_FAILURE() << "accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
  }
}

TEST(ChatTemplateRequest, CheckpointVariablesFromTokenizerConfig) {
  Json variables = checkpoint_template_variables(Json::parse(
      R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "unk_token": null,
          "additional_special_tokens": ["<a>", {"content": "<b>"}], "chat_template": "x"})"));
  EXPECT_EQ(variables.dump(),
            R"({"bos_token":"<s>","eos_token":"</s>","additional_special_tokens":["<a>","<b>"]})");
}

TEST(ChatTemplateRequest, CheckpointVariablesOfTheRealQwen3Tokenizer) {
  std::string path = std::string(HANLIN_TOKENIZER_DIR) + "/tokenizer_config.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is missing: run scripts/setup.sh";
  Json variables = checkpoint_template_variables(Json::parse(read_text_file(path)));
  EXPECT_FALSE(variables.contains("bos_token"));  // null in Qwen3's config
  EXPECT_EQ(variables["eos_token"], "<|im_end|>");
  EXPECT_EQ(variables["pad_token"], "<|endoftext|>");
  EXPECT_EQ(variables["additional_special_tokens"][0], "<|im_start|>");
}

}  // namespace
}  // namespace hanlin::text
