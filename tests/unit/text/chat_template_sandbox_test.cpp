// The chat-template sandbox: templates see values only (no Python internals), lists and dicts are
// immutable, and runaway templates (recursion, huge loops, exploding strings, absurd nesting) end
// with an Error instead of hanging or crashing.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "unit/text/chat_template_test_util.h"

namespace hanlin::text {
namespace {

using testing::render;
using testing::render_error;

constexpr const char* kContext = R"({"d": {"k": "v", "__class__": "a data key"}, "xs": [1, 2], "s": "text"})";

void expect_error(const std::string& source, ErrorKind kind, const std::string& message_part,
                  TemplateLimits limits = {}, const char* context = kContext) {
  SCOPED_TRACE(source.size() > 200 ? source.substr(0, 200) + "..." : source);
  auto error = render_error(source, context, limits);
  ASSERT_TRUE(error.has_value()) << "no error";
  EXPECT_EQ(error->kind(), kind) << error->what();
  EXPECT_NE(std::string(error->what()).find(message_part), std::string::npos) << error->what();
}

TEST(ChatTemplateSandbox, PythonInternalsAreRefused) {
  const char* sources[] = {
      "{{ d.__class__ }}",
      "{{ s.__class__.__mro__ }}",
      "{{ xs.__class__.__subclasses__() }}",
      "{{ d.__init__.__globals__ }}",
      "{{ s.__len__() }}",
      "{{ namespace.__globals__ }}",
      "{{ raise_exception.__globals__ }}",
      "{% set ns = namespace() %}{{ ns.__dict__ }}",
      "{% macro m() %}{% endmacro %}{{ m.__globals__ }}",
      "{% for x in xs %}{{ loop.__class__ }}{% endfor %}",
      "{{ (1).__class__ }}",
      "{{ none.__class__ }}",
      "{{ s['__class__'] }}",
      "{{ s|attr('__class__') }}",
      "{{ s.mro }}",
      "{{ d.func_globals }}",
  };
  for (const char* source : sources) {
    std::string name = std::string(source);
    expect_error(source, ErrorKind::kInvalidArgument, "is not allowed");
  }
}

TEST(ChatTemplateSandbox, DataKeysWithInternalNamesAreJustData) {
  // jinja2 looks items up before attributes with [], so a request key named __class__ is data.
  EXPECT_EQ(render("{{ d['__class__'] }}", kContext), "a data key");
  EXPECT_EQ(render("{{ d._private }}", R"({"d": {"_private": 3}})"), "3");
}

TEST(ChatTemplateSandbox, ListsAndDictsAreImmutable) {
  expect_error("{{ xs.append(3) }}", ErrorKind::kInvalidArgument, "immutable");
  expect_error("{% set _ = d.update({'a': 1}) %}", ErrorKind::kInvalidArgument, "immutable");
  expect_error("{{ d.pop('k') }}", ErrorKind::kInvalidArgument, "immutable");
  // As in jinja2's ImmutableSandboxedEnvironment, merely naming the method is harmless.
  EXPECT_EQ(render("[{{ d.update }}]{{ d.update is defined }}", kContext), "[]False");
}

TEST(ChatTemplateSandbox, RaiseExceptionCarriesTheMessage) {
  auto error = render_error("line one\n{{ raise_exception('Conversation roles must alternate') }}");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind(), ErrorKind::kInvalidArgument);
  EXPECT_STREQ(error->what(), "chat template line 2: Conversation roles must alternate");
}

TEST(ChatTemplateSandbox, InfiniteMacroRecursionEndsWithAnError) {
  expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", ErrorKind::kResourceExhausted,
               "macro calls nest deeper than 64");
  expect_error("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
               ErrorKind::kResourceExhausted, "macro calls nest deeper");
  // Recursion through the caller of a call block.
  expect_error("{% macro f() %}{% call f() %}x{% endcall %}{% endmacro %}{{ f() }}",
               ErrorKind::kResourceExhausted, "macro calls nest deeper");
}

TEST(ChatTemplateSandbox, BoundedRecursionIsFine) {
  EXPECT_EQ(
      render(
          "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}done{% endif %}{% endmacro %}{{ f(60) }}"),
      "done");
}

TEST(ChatTemplateSandbox, HugeLoopsRunOutOfSteps) {
  expect_error("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
               ErrorKind::kResourceExhausted, "step budget");
  TemplateLimits small;
  small.max_steps = 1000;
  expect_error("{% for a in range(2000) %}x{% endfor %}", ErrorKind::kResourceExhausted, "step budget",
               small);
  EXPECT_EQ(testing::render_prompt("{% for a in range(100) %}x{% endfor %}", "{}", small).text,
            std::string(100, 'x'));
}

TEST(ChatTemplateSandbox, HugeOutputIsRefused) {
  expect_error(
      "{% for a in range(100000) %}{% for b in range(100) %}0123456789abcdef{% endfor %}{% endfor %}",
      ErrorKind::kResourceExhausted, "");
  TemplateLimits small;
  small.max_output_bytes = 1000;
  expect_error("{% for a in range(200) %}0123456789{% endfor %}", ErrorKind::kResourceExhausted,
               "grew past 1000 bytes", small);
}

TEST(ChatTemplateSandbox, ExplodingStringsAreRefusedBeforeAllocating) {
  expect_error("{{ 'x' * 1000000000000 }}", ErrorKind::kResourceExhausted, "a string grew past");
  expect_error("{{ ([1] * 1000000000)|length }}", ErrorKind::kResourceExhausted, "step budget");
  expect_error(
      "{% set ns = namespace(s='xy') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
      ErrorKind::kResourceExhausted, "a string grew past");
  // Many medium strings: the total text built is bounded too.
  expect_error(
      "{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ '0123456789abcdef' %}"
      "{% endfor %}",
      ErrorKind::kResourceExhausted, "");
  expect_error("{{ range(1000000)|length }}", ErrorKind::kResourceExhausted, "range too big");
}

TEST(ChatTemplateSandbox, DeepNestingInTheSourceIsASyntaxError) {
  const int depth = 5000;
  std::vector<std::string> sources = {
      "{{ " + std::string(depth, '(') + "1" + std::string(depth, ')') + " }}",
      "{{ " + std::string(depth, '[') + std::string(depth, ']') + " }}",
      "{{ " + std::string(depth * 2, '-') + "1 }}",
      "{{ 1" +
          [&] {
            std::string s;
            for (int i = 0; i < depth; ++i) s += " ~ 1";
            return s;
          }() +
          " }}",
      "{{ 'x'" +
          [&] {
            std::string s;
            for (int i = 0; i < depth; ++i) s += "|trim";
            return s;
          }() +
          " }}",
      "{{ d" +
          [&] {
            std::string s;
            for (int i = 0; i < depth; ++i) s += ".k";
            return s;
          }() +
          " }}",
      "{{ " +
          [&] {
            std::string s;
            for (int i = 0; i < depth; ++i) s += "not ";
            return s;
          }() +
          "1 }}",
      [&] {
        std::string s;
        for (int i = 0; i < depth; ++i) s += "{% if true %}";
        for (int i = 0; i < depth; ++i) s += "{% endif %}";
        return s;
      }(),
      "{{ {" +
          [&] {
            std::string s;
            for (int i = 0; i < depth; ++i) s += "'a': {";
            return s;
          }() +
          std::string(depth + 1, '}') + " }}",
  };
  for (const std::string& source : sources) expect_error(source, ErrorKind::kInvalidFile, "nests too deeply");
}

TEST(ChatTemplateSandbox, ReasonableNestingIsFine) {
  const int depth = 50;
  EXPECT_EQ(render("{{ " + std::string(depth, '(') + "1" + std::string(depth, ')') + " }}"), "1");
  std::string chain = "{{ 'a'";
  for (int i = 0; i < 100; ++i) chain += " ~ 'a'";
  EXPECT_EQ(render(chain + " }}"), std::string(101, 'a'));
}

TEST(ChatTemplateSandbox, DeeplyNestedValuesAreRefused) {
  // Built by the template...
  expect_error("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}",
               ErrorKind::kInvalidArgument, "nest deeper than");
  // ...or sent in the request.
  std::string deep = std::string(1000, '[') + std::string(1000, ']');
  expect_error("{{ v }}", ErrorKind::kInvalidArgument, "nests deeper than", {},
               ("{\"v\": " + deep + "}").c_str());
  // A namespace that contains itself cannot be printed (jinja2 fails with RecursionError).
  expect_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", ErrorKind::kInvalidArgument,
               "too deeply");
}

TEST(ChatTemplateSandbox, ComputedKeysAndNamesDoNotOutliveTheirStrings) {
  // Keys built while rendering die before the result is used; nothing may keep a view of them.
  EXPECT_EQ(render("{{ d['no' ~ 'pe'] is defined }}|{{ d['ite' ~ 'ms']()|list }}|{{ d|attr('ke' ~ 'ys') is "
                   "callable }}",
                   kContext),
            "False|[('k', 'v'), ('__class__', 'a data key')]|True");
  expect_error("{{ d['a' ~ 'b'].x }}", ErrorKind::kInvalidArgument, "'dict object' has no such item");
  expect_error("{{ xs['app' ~ 'end'](1) }}", ErrorKind::kInvalidArgument,
               "'append' of 'list object' is not allowed");
}

TEST(ChatTemplateSandbox, UnknownFiltersAndTestsFailOnlyWhenReached) {
  EXPECT_EQ(render("{% if false %}{{ x|no_such_filter }}{{ x is no_such_test }}{% endif %}ok"), "ok");
  expect_error("{{ 'x'|no_such_filter }}", ErrorKind::kInvalidArgument, "no filter named 'no_such_filter'");
  expect_error("{{ 'x' is no_such_test }}", ErrorKind::kInvalidArgument, "no test named 'no_such_test'");
}

TEST(ChatTemplateSandbox, UnsupportedTagsAreSyntaxErrors) {
  for (const char* source : {"{% include 'x' %}", "{% extends 'x' %}", "{% import 'x' as y %}", "{% do x %}",
                             "{% for x in xs recursive %}{% endfor %}"}) {
    expect_error(source, ErrorKind::kInvalidFile, "chat template line 1");
  }
}

TEST(ChatTemplateSandbox, SyntaxErrorsNameLineAndColumn) {
  auto error = render_error("line one\nline two {{ 1 + }}");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind(), ErrorKind::kInvalidFile);
  EXPECT_EQ(std::string(error->what()).rfind("chat template line 2, column 17: ", 0), 0u) << error->what();
  error = render_error("ok\n{% if x %}\nnever closed");
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(std::string(error->what()).find("expected 'endif'"), std::string::npos) << error->what();
}

TEST(ChatTemplateSandbox, InvalidUtf8TemplateIsRefused) {
  expect_error("bad \xff byte", ErrorKind::kInvalidFile, "UTF-8");
}

TEST(ChatTemplateSandbox, StrftimeNowFormatsTheCurrentDate) {
  std::string year = render("{{ strftime_now('%Y') }}");
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

TEST(ChatTemplateSandbox, BudgetsAreChargedPerRender) {
  TemplateLimits small;
  small.max_steps = 5000;
  ChatTemplate chat_template = ChatTemplate::compile("{% for a in range(1000) %}x{% endfor %}", small);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(chat_template.render(nlohmann::ordered_json::object()).text.size(), 1000u);
}

TEST(ChatTemplateSandbox, ConcurrentRendersOfOneTemplateAgree) {
  ChatTemplate chat_template = ChatTemplate::compile(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.content|upper }}{% "
      "endfor %}"
      "{{ ns.n }}");
  nlohmann::ordered_json context =
      nlohmann::ordered_json::parse(R"({"messages": [{"content": "a"}, {"content": "b"}]})");
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) failures[t] += chat_template.render(context).text != "AB2";
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0);
}

}  // namespace
}  // namespace hanlin::text
