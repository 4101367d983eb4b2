// tojson against Python's json.dumps: the JSON text of each case is loaded and dumped by Python 3.11
// (json.loads, then json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...)
// as transformers' tojson filter calls it); hanlin gets the same JSON as a request variable and
// must print the same bytes.
#include <gtest/gtest.h>

#include <string>

#include "unit/text/chat_template_test_util.h"

namespace hanlin::text {
namespace {

struct JsonCase {
  const char* name;
  const char* json;       // the value, as the request would send it
  const char* arguments;  // of the tojson filter
  const char* expected;   // Python's json.dumps
};

constexpr JsonCase kCases[] = {
    {"floats like Python's repr",
     R"J([0.1, 0.2, 0.30000000000000004, 1.0, -0.0, 5e-324, 1.7976931348623157e308, 1e22, 1e21, 1e16, 9999999999999998.0, 1e-5, 0.0001, 123.456, 2.5e-10, 1.5e300, 100.0, 3.141592653589793])J",
     R"J()J",
     R"J([0.1, 0.2, 0.30000000000000004, 1.0, -0.0, 5e-324, 1.7976931348623157e+308, 1e+22, 1e+21, 1e+16, 9999999999999998.0, 1e-05, 0.0001, 123.456, 2.5e-10, 1.5e+300, 100.0, 3.141592653589793])J"},
    {"integers", R"J([0, -1, 9007199254740993, -9223372036854775808, 9223372036854775807])J", R"J()J",
     R"J([0, -1, 9007199254740993, -9223372036854775808, 9223372036854775807])J"},
    {"escapes and unicode",
     R"J(["\u0000\u0001\u001f\u007f", "\"\\/\b\f\n\r\t", "é中文😀\u2028\u2029\ufeff", "<|im_end|> </script>"])J",
     R"J()J",
     R"J(["\u0000\u0001\u001f", "\"\\/\b\f\n\r\t", "é中文😀  ﻿", "<|im_end|> </script>"])J"},
    {"nesting and empty containers",
     R"J({"a": {"b": {"c": [[], {}, [{}], {"d": []}]}}, "e": null, "f": true, "g": false})J", R"J()J",
     R"J({"a": {"b": {"c": [[], {}, [{}], {"d": []}]}}, "e": null, "f": true, "g": false})J"},
    {"key order is kept", R"J({"z": 1, "a": 2, "m": {"y": 1, "b": 2}})J", R"J()J",
     R"J({"z": 1, "a": 2, "m": {"y": 1, "b": 2}})J"},
    {"indent 2",
     R"J({"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "array", "items": [1, 2.5, "s"]}}, "required": []}})J",
     R"J((indent=2))J",
     R"J({
  "name": "f",
  "parameters": {
    "type": "object",
    "properties": {
      "x": {
        "type": "array",
        "items": [
          1,
          2.5,
          "s"
        ]
      }
    },
    "required": []
  }
})J"},
    {"indent 4 with ensure_ascii", R"J({"城市": ["北京", "😀"], "n": [1, [2, [3]]]})J",
     R"J((indent=4, ensure_ascii=true))J",
     R"J({
    "\u57ce\u5e02": [
        "\u5317\u4eac",
        "\ud83d\ude00"
    ],
    "n": [
        1,
        [
            2,
            [
                3
            ]
        ]
    ]
})J"},
    {"compact separators", R"J({"a": [1, 2, {"b": null}], "c": "d"})J", R"J((separators=(",", ":")))J",
     R"J({"a":[1,2,{"b":null}],"c":"d"})J"},
    {"custom separators with indent", R"J({"a": [1, 2], "b": {}})J",
     R"J((indent=1, separators=(" ,", " = ")))J",
     R"J({
 "a" = [
  1 ,
  2
 ] ,
 "b" = {}
})J"},
    {"sort_keys", R"J({"b": {"z": 1, "y": 2}, "a": [{"d": 1, "c": 2}], "B": 0})J", R"J((sort_keys=true))J",
     R"J({"B": 0, "a": [{"c": 2, "d": 1}], "b": {"y": 2, "z": 1}})J"},
};

TEST(ChatTemplateTojson, MatchesPythonJsonDumps) {
  for (const JsonCase& c : kCases) {
    SCOPED_TRACE(c.name);
    std::string context = std::string(R"({"v": )") + c.json + "}";
    EXPECT_EQ(testing::render(std::string("{{ v|tojson") + c.arguments + " }}", context), c.expected);
  }
}

TEST(ChatTemplateTojson, ValuesJsonCannotHoldAreErrors) {
  for (const char* source : {"{{ missing|tojson }}", "{{ namespace()|tojson }}", "{{ range|tojson }}",
                             "{{ {(1, 2): 3}|tojson }}", "{{ 1|tojson(separators=[',']) }}"}) {
    SCOPED_TRACE(source);
    auto error = testing::render_error(source);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->kind(), ErrorKind::kInvalidArgument) << error->what();
  }
}

}  // namespace
}  // namespace hanlin::text
