// The chat-template interpreter against jinja2's semantics: whitespace control, printing,
// operators, access, Undefined, statements, filters, tests, string methods and tojson.
//
// Every expected value below was produced by jinja2 3.1.2 (Debian's python3-jinja2) configured
// exactly as transformers configures it for chat templates: ImmutableSandboxedEnvironment(
// trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, the generation tag]) with
// transformers' tojson filter (json.dumps with ensure_ascii=False) and raise_exception; each was
// rendered with the context kContext. None was taken from hanlin's own output.
#include <gtest/gtest.h>

#include <string>

#include "unit/text/chat_template_test_util.h"

namespace hanlin::text {
namespace {

using testing::render;

struct Case {
  const char* name;
  const char* source;
  const char* expected;
};

// The variables every case renders with (request data).
constexpr const char* kContext =
    R"J({"s": "  Hello, World  ", "csv": "a,b,,c", "u8": "你好 wörld é😀", "n": 7, "f": 2.5, "neg": -7, "b": true, "no": null, "xs": [3, 1, 2], "words": ["b", "A", "c", "a"], "d": {"k": "v", "n": 1, "items": [1, 2]}, "ms": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "<think>\nr\n</think>\n\nans"}, {"role": "tool", "content": "x"}], "empty": "", "nothing": [], "tool": {"name": "get", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}})J";

void check_cases(const Case* cases, size_t num_cases) {
  for (size_t i = 0; i < num_cases; ++i) {
    SCOPED_TRACE(std::string(cases[i].name) + "\n  template: " + cases[i].source);
    try {
      EXPECT_EQ(render(cases[i].source, kContext), cases[i].expected);
    } catch (const Error& error) {
      ADD_FAILURE() << "threw: " << error.what();
    }
  }
}

constexpr Case kWhitespaceCases[] = {
    {"trim_blocks removes the newline after a block tag",
     R"J({% if true %}
yes
{% endif %}
end)J",
     R"J(yes
end)J"},
    {"lstrip_blocks removes indentation before a block tag",
     R"J(a
    {% if true %}
    b
    {% endif %}
c)J",
     R"J(a
    b
c)J"},
    {"lstrip_blocks leaves indentation before {{",
     R"J(  {{ 1 }}
  {% if true %}x{% endif %})J",
     R"J(  1
x)J"},
    {"minus strips all whitespace on its side",
     R"J(a  
 {%- if true -%} 
 b 
 {%- endif -%}
  c {{- 1 -}}  d)J",
     R"J(abc1d)J"},
    {"plus keeps what trim and lstrip would remove",
     R"J(a
  {%+ if true %}
b{% endif +%}
c)J",
     R"J(a
  b
c)J"},
    {"comments and their whitespace",
     R"J(x {# c #}
y
  {# own line #}
z
{#- strip -#}  w)J",
     R"J(x y
zw)J"},
    {"a single trailing newline of the template is dropped",
     R"J(x

)J",
     R"J(x
)J"},
    {"CRLF line endings become LF",
     R"J(a
{% if true %}
b
{% endif %}
c)J",
     R"J(a
b
c)J"},
    {"raw blocks print their content",
     R"J({% raw %}{{ x }}{% if %}{% endraw %}|{% raw -%}  y  {%- endraw %})J", R"J({{ x }}{% if %}|y)J"},
    {"whitespace control on print tags",
     R"J([ {{- 'a' }} ]{{ 'b' -}}
  ])J",
     R"J([a ]b])J"},
};

TEST(ChatTemplateSemantics, Whitespace) {
  check_cases(kWhitespaceCases, std::size(kWhitespaceCases));
}

constexpr Case kPrintingCases[] = {
    {"Python repr of containers", R"J({{ [1, 'a', none, true, 1.5, {'k': (1,)}, ()] }}|{{ (1, 2) }})J",
     R"J([1, 'a', None, True, 1.5, {'k': (1,)}, ()]|(1, 2))J"},
    {"string repr picks quotes and escapes like Python",
     R"J({{ ["a'b", 'a"b', 'a\'"b', 'x\ny\t\\', 'é\x00\x7f\u200b'] }})J",
     R"J(["a'b", 'a"b', 'a\'"b', 'x\ny\t\\', 'é\x00\x7f\u200b'])J"},
    {"None, booleans and numbers",
     R"J({{ none }}|{{ True }}|{{ false }}|{{ 1.0 }}|{{ -0.0 }}|{{ 10 / 4 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 0.1 + 0.2 }}|{{ 1e300 * 1e10 }})J",
     R"J(None|True|False|1.0|-0.0|2.5|1e+16|1000000000000000.0|0.0001|1e-05|0.30000000000000004|inf)J"},
    {"dict views and tuples of items", R"J({{ d.keys() }}|{{ d.values() }}|{{ d.items() }})J",
     R"J(dict_keys(['k', 'n', 'items'])|dict_values(['v', 1, [1, 2]])|dict_items([('k', 'v'), ('n', 1), ('items', [1, 2])]))J"},
    {"undefined prints nothing, inside a list it is Undefined", R"J([{{ missing }}]{{ [missing] }})J",
     R"J([][Undefined])J"},
    {"string literal escapes", R"J({{ 'a\tb\x41\u00e9\U0001F600\q' }}|{{ "it's" 'adjacent' }})J",
     R"J(a	bAé😀\q|it'sadjacent)J"},
    {"number literals", R"J({{ 0b101 }}|{{ 0o17 }}|{{ 0xff }}|{{ 1_000 }}|{{ 1.5e3 }}|{{ 2e-3 }})J",
     R"J(5|15|255|1000|1500.0|0.002)J"},
    {"namespace and macro repr",
     R"J({% set ns = namespace(a=1) %}{{ ns }}|{% macro m() %}{% endmacro %}{{ m }})J",
     R"J(<Namespace {'a': 1}>|<Macro 'm'>)J"},
};

TEST(ChatTemplateSemantics, Printing) {
  check_cases(kPrintingCases, std::size(kPrintingCases));
}

constexpr Case kOperatorsCases[] = {
    {"arithmetic follows Python",
     R"J({{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 // -2 }}|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ 7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 1 / 2 }}|{{ 4 / 2 }}|{{ 2 ** 10 }}|{{ 2 ** -1 }})J",
     R"J(3|-4|-4|2|-2|3.0|0.5|0.5|2.0|1024|0.5)J"},
    {"power is left-associative and binds looser than unary minus", R"J({{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }})J",
     R"J(64|4)J"},
    {"bool is an int", R"J({{ true + 1 }}|{{ true == 1 }}|{{ 1 == 1.0 }})J", R"J(2|True|True)J"},
    {"string and list operators",
     R"J({{ 'ab' * 3 }}|{{ 2 * 'x' }}|{{ [1] * 2 }}|{{ 'a' + 'b' }}|{{ [1] + [2] }}|{{ (1,) + (2,) }}|{{ 'a' ~ 1 ~ none ~ [2] ~ missing }})J",
     R"J(ababab|xx|[1, 1]|ab|[1, 2]|(1, 2)|a1None[2])J"},
    {"comparisons, chained",
     R"J({{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 'abc' < 'abd' }}|{{ [1, 2] < [1, 3] }}|{{ 'é' > 'z' }}|{{ {'a': 1} == {'a': 1} }}|{{ [1] == (1,) }}|{{ none == none }}|{{ 'x' == 1 }})J",
     R"J(True|False|True|True|True|True|False|True|False)J"},
    {"lists, tuples and dict views are different types",
     R"J({{ ['k', 'n', 'items'] == d.keys() }}|{{ [1] == (1,) }}|{{ d.keys()|list == ['k', 'n', 'items'] }}|{{ (1, 2) < (1, 3) }})J",
     R"J(False|False|True|True)J"},
    {"in and not in",
     R"J({{ 'ell' in s }}|{{ 'k' in d }}|{{ 'v' in d }}|{{ 2 in xs }}|{{ 5 not in xs }}|{{ 'a' in missing }})J",
     R"J(True|True|False|True|True|False)J"},
    {"and / or return an operand",
     R"J({{ none or 'x' }}|{{ 0 and 1 }}|{{ 'a' and 'b' }}|{{ not 1 }}|{{ not(empty) }})J",
     R"J(x|0|b|False|True)J"},
    {"conditional expressions",
     R"J({{ 'y' if b else 'n' }}|{{ 'y' if no else 'n' }}|[{{ 'y' if no }}]|{{ 1 if false else 2 if true else 3 }})J",
     R"J(y|n|[]|2)J"},
    {"operator precedence",
     R"J({{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 'a' ~ 2 * 3 }}|{{ -xs[0] }}|{{ -1|abs }}|{{ not 1 == 2 }}|{{ 2 * 3 ** 2 }})J",
     R"J(7|9|a6|-3|1|True|18)J"},
};

TEST(ChatTemplateSemantics, Operators) {
  check_cases(kOperatorsCases, std::size(kOperatorsCases));
}

constexpr Case kAccessCases[] = {
    {"dict keys through . and []",
     R"J({{ d.k }}|{{ d['k'] }}|{{ ms[1].role }}|{{ ms[1]['content'] }}|{{ tool.parameters.properties.q.type }})J",
     R"J(v|v|user|hi|string)J"},
    {"a dict method wins over a key with . but not with []", R"J({{ d['items'] }}|{{ d.items()|list }})J",
     R"J([1, 2]|[('k', 'v'), ('n', 1), ('items', [1, 2])])J"},
    {"negative and out-of-range indexes",
     R"J({{ xs[-1] }}|{{ xs[0] }}|[{{ xs[10] }}]|{{ u8[0] }}|{{ u8[-1] }}|{{ xs.0 }})J",
     R"J(2|3|[]|你|😀|3)J"},
    {"slices with steps",
     R"J({{ xs[1:] }}|{{ xs[::-1] }}|{{ xs[::2] }}|{{ xs[-2:] }}|{{ u8[::-1] }}|{{ u8[1:4] }}|{{ s[2:7] }}|{{ 'abcdef'[1:5:2] }}|{{ 'abc'[-5:] }}|{{ ms[1:][0].role }})J",
     R"J([1, 2]|[2, 1, 3]|[3, 2]|[1, 2]|😀é dlröw 好你|好 w|Hello|bd|abc|user)J"},
    {"missing keys and attributes are undefined",
     R"J([{{ d.nope }}]{{ d.nope is defined }}|{{ no.x is defined }}|{{ (none)['a'] is defined }}|{{ u8.nope is defined }})J",
     R"J([]False|False|False|False)J"},
    {"dict.get", R"J({{ d.get('k') }}|{{ d.get('zz') }}|{{ d.get('zz', 5) }})J", R"J(v|None|5)J"},
};

TEST(ChatTemplateSemantics, Access) {
  check_cases(kAccessCases, std::size(kAccessCases));
}

constexpr Case kUndefinedCases[] = {
    {"undefined is falsy, empty, and has length 0",
     R"J({{ missing is defined }}|{{ missing is undefined }}|{{ missing|length }}|{% for x in missing %}x{% else %}empty{% endfor %}|{{ missing|default('d') }}|{{ missing is sequence }}|{{ missing == missing }})J",
     R"J(False|True|0|empty|d|True|True)J"},
    {"default filter",
     R"J({{ ''|default('d') }}|{{ ''|default('d', true) }}|{{ none|default('d') }}|{{ 0|d(5) }})J",
     R"J(|d|None|0)J"},
};

TEST(ChatTemplateSemantics, Undefined) {
  check_cases(kUndefinedCases, std::size(kUndefinedCases));
}

constexpr Case kStatementsCases[] = {
    {"if / elif / else",
     R"J({% for v in [0, 1, 2] %}{% if v == 0 %}zero{% elif v == 1 %}one{% else %}many{% endif %},{% endfor %})J",
     R"J(zero,one,many,)J"},
    {"loop variables",
     R"J({% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}];{% endfor %})J",
     R"J(1032TrueFalse3[|1];2121FalseFalse3[3|2];3210FalseTrue3[1|];)J"},
    {"loop filter counts only what passes",
     R"J({% for x in xs if x > 1 %}{{ x }}:{{ loop.index }}/{{ loop.length }}/{{ loop.last }},{% endfor %})J",
     R"J(3:1/2/False,2:2/2/True,)J"},
    {"for-else",
     R"J({% for x in nothing %}x{% else %}none{% endfor %}|{% for x in xs if x > 9 %}x{% else %}filtered{% endfor %})J",
     R"J(none|filtered)J"},
    {"tuple unpacking",
     R"J({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], (3, 4), 'xy'] %}{{ a }}{{ b }}{% endfor %})J",
     R"J(k=v;n=1;items=[1, 2];1234xy)J"},
    {"iterating a dict gives keys, a string gives characters",
     R"J({% for k in d %}{{ k }},{% endfor %}{% for c in 'é😀' %}[{{ c }}]{% endfor %})J",
     R"J(k,n,items,[é][😀])J"},
    {"loop.cycle and loop.changed",
     R"J({% for x in [1, 1, 2] %}{{ loop.cycle('a', 'b') }}{{ loop.changed(x) }}{% endfor %})J",
     R"J(aTruebFalseaTrue)J"},
    {"nested loops",
     R"J({% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }};{% endfor %})J",
     R"J(1x1 1y2 1;2x1 2y2 2;)J"},
    {"set inside a loop does not leak, namespace does",
     R"J({% set x = 1 %}{% set ns = namespace(total=0) %}{% for i in [1, 2] %}{{ x }}{% set x = x + 10 %}{{ x }}{% set ns.total = ns.total + i %};{% endfor %}{{ x }}|{{ ns.total }})J",
     R"J(111;111;1|3)J"},
    {"set inside if reaches the enclosing scope", R"J({% if true %}{% set y = 5 %}{% endif %}{{ y }})J",
     R"J(5)J"},
    {"each iteration starts fresh", R"J({% for i in [1, 2] %}[{{ y }}]{% set y = i %}{% endfor %})J",
     R"J([][])J"},
    {"tuple assignment and tuple values", R"J({% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = 3, 4 %}{{ c }})J",
     R"J(12(3, 4))J"},
    {"block set with and without filters",
     R"J({% set x %}  hi {{ 1 }} {% endset %}[{{ x }}]{% set y | upper | trim %} low {% endset %}[{{ y }}])J",
     R"J([  hi 1 ][LOW])J"},
    {"macros: defaults, keywords, varargs, kwargs",
     R"J({% macro m(a, b='d') %}{{ a }}{{ b }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, b=2) }}|{{ m(1, 2, 3, k=4) }}|{{ m() }})J",
     R"J(1d(){}|12(){}|12(3,){'k': 4}|d(){})J"},
    {"macros see the top level at call time, not the caller's loop",
     R"J({% macro show() %}{{ x }}{% endmacro %}{% set x = 'top' %}{{ show() }}{% for x in ['loop'] %}{{ show() }}{% endfor %})J",
     R"J(toptop)J"},
    {"a macro defined in a loop captures the loop variable",
     R"J({% for i in [7] %}{% macro n() %}{{ i }}{% endmacro %}{{ n() }}{% endfor %})J", R"J(7)J"},
    {"recursive macros",
     R"J({% macro count(n) %}{{ n }}{% if n > 0 %},{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(5) }})J",
     R"J(5,4,3,2,1,0)J"},
    {"call blocks and caller",
     R"J({% macro wrap(tag) %}<{{ tag }}>{{ caller('x') }}</{{ tag }}>{% endmacro %}{% call(v) wrap('b') %}got {{ v }}{% endcall %})J",
     R"J(<b>got x</b>)J"},
    {"break and continue",
     R"J({% for i in range(6) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %})J",
     R"J(023)J"},
    {"with blocks scope their variables", R"J({% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}])J",
     R"J(3[])J"},
    {"filter blocks", R"J({% filter upper %}ab{{ 'c' }}{% endfilter %})J", R"J(ABC)J"},
    {"generation blocks render their body", R"J({% generation %}gen{{ 1 }}{% endgeneration %})J",
     R"J(gen1)J"},
    {"namespace from a dict and keywords",
     R"J({% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns['b'] }}[{{ ns.c }}])J", R"J(12[])J"},
};

TEST(ChatTemplateSemantics, Statements) {
  check_cases(kStatementsCases, std::size(kStatementsCases));
}

constexpr Case kFiltersCases[] = {
    {"strings",
     R"J({{ s|trim }}|{{ 'xxaxx'|trim('x') }}|{{ u8|upper }}|{{ u8|lower }}|{{ 'hELLO wORLD-foo(bar'|title }}|{{ 'hELLO'|capitalize }}|{{ s|replace('l', 'L', 2) }}|{{ 'Hi'|center(6) }}|[{{ s|string }}])J",
     R"J(Hello, World|a|你好 WÖRLD É😀|你好 wörld é😀|Hello World-Foo(Bar|Hello|  HeLLo, World  |  Hi  |[  Hello, World  ])J"},
    {"length and count", R"J({{ u8|length }}|{{ xs|count }}|{{ d|length }}|{{ ''|length }})J",
     R"J(11|3|3|0)J"},
    {"first, last, list, items",
     R"J({{ xs|first }}|{{ xs|last }}|{{ 'abc'|last }}|[{{ nothing|first }}]|{{ d|list }}|{{ 'ab'|list }}|{{ d|items|list }}|{{ missing|items|list }})J",
     R"J(3|2|c|[]|['k', 'n', 'items']|['a', 'b']|[('k', 'v'), ('n', 1), ('items', [1, 2])]|[])J"},
    {"join",
     R"J({{ words|join(', ') }}|{{ xs|join }}|{{ ms|join('|', attribute='role') }}|{{ [1, none, 'x']|join('-') }})J",
     R"J(b, A, c, a|312|system|user|assistant|tool|1-None-x)J"},
    {"map, select, reject",
     R"J({{ ms|map(attribute='role')|list }}|{{ ['A', 'b']|map('lower')|list }}|{{ xs|select('odd')|list }}|{{ xs|reject('odd')|list }}|{{ [0, 1, '', 'a']|select|list }}|{{ ms|map(attribute='nope', default='-')|list }})J",
     R"J(['system', 'user', 'assistant', 'tool']|['a', 'b']|[3, 1]|[2]|[1, 'a']|['-', '-', '-', '-'])J"},
    {"selectattr and rejectattr",
     R"J({{ ms|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}|{{ ms|rejectattr('role', 'in', ['system', 'tool'])|map(attribute='role')|join(',') }}|{{ [{'a': 1}, {'a': 0}, {}]|selectattr('a')|list }})J",
     R"J(['hi']|user,assistant|[{'a': 1}])J"},
    {"sort, unique, reverse, dictsort",
     R"J({{ words|sort }}|{{ words|sort(case_sensitive=true) }}|{{ xs|sort(reverse=true) }}|{{ ms|sort(attribute='role')|map(attribute='role')|list }}|{{ ['A', 'a', 'b']|unique|list }}|{{ xs|reverse|list }}|{{ u8|reverse }}|{{ {'b': 1, 'a': 2}|dictsort }})J",
     R"J(['A', 'a', 'b', 'c']|['A', 'a', 'b', 'c']|[3, 2, 1]|['assistant', 'system', 'tool', 'user']|['A', 'b']|[2, 1, 3]|😀é dlröw 好你|[('a', 2), ('b', 1)])J"},
    {"numbers",
     R"J({{ '3.7'|int }}|{{ 'z'|int }}|{{ 'z'|int(5) }}|{{ '0x1A'|int(base=16) }}|{{ ' 1_0 '|int }}|{{ 3|float }}|{{ 'x'|float }}|{{ -3|abs }}|{{ 2.567|round(1) }}|{{ 2.5|round }}|{{ 3.5|round }}|{{ 7|round }}|{{ 2.1|round(method='ceil') }}|{{ xs|sum }}|{{ xs|max }}|{{ words|min }}|{{ ms|sum(attribute='nope', start=0) if false else 0 }})J",
     R"J(3|0|5|26|10|3.0|0.0|3|2.6|2.0|4.0|7|3.0|6|3|A|0)J"},
    {"indent",
     R"J({{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n\nb'|indent('> ', blank=true) }})J",
     R"J(a
  b

  c|  a
  b|a
> 
> b)J"},
    {"escape, safe and wordcount",
     R"J({{ '<a href="x">&\'</a>'|e }}|{{ 'x'|safe + '<' }}|{{ '<' + 'x'|safe }}|{{ 'x'|safe ~ '<' }}|{{ 'hello world, foo_bar 42'|wordcount }})J",
     R"J(&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;|x&lt;|&lt;x|x<|4)J"},
    {"batch and format",
     R"J({{ xs|batch(2)|list }}|{{ xs|batch(2, 0)|list }}|{{ '%s-%d-%05.1f-%r'|format('a', 3, 2.25, 'q') }}|{{ '%(x)s!'|format(x=1) }})J",
     R"J([[3, 1], [2]]|[[3, 1], [2, 0]]|a-3-002.2-'q'|1!)J"},
};

TEST(ChatTemplateSemantics, Filters) {
  check_cases(kFiltersCases, std::size(kFiltersCases));
}

constexpr Case kTestsCases[] = {
    {"type tests",
     R"J({{ 1 is number }}{{ true is number }}{{ true is integer }}{{ 1.0 is float }}{{ 'a' is string }}{{ d is mapping }}{{ xs is sequence }}{{ d is sequence }}{{ 's' is iterable }}{{ 1 is iterable }}{{ none is none }}{{ no is not none }}{{ b is boolean }}{{ b is true }}{{ 0 is false }})J",
     R"J(TrueTrueFalseTrueTrueTrueTrueTrueTrueFalseTrueFalseTrueTrueFalse)J"},
    {"value tests",
     R"J({{ 3 is odd }}{{ 2 is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 1 is eq 1 }}{{ 2 is gt(1) }}{{ 1 is lt 1 }}{{ 2 is ne 2 }}{{ 1 is in [1] }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ missing is callable }}{{ 'x'.upper is callable }}{{ 'a' is callable }})J",
     R"J(TrueTrueTrueFalseTrueTrueFalseFalseTrueTrueTrueTrueTrueTrueTrueFalse)J"},
};

TEST(ChatTemplateSemantics, Tests) {
  check_cases(kTestsCases, std::size(kTestsCases));
}

constexpr Case kStringMethodsCases[] = {
    {"strip family",
     R"J([{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxaxx'.strip('x') }}][{{ '\u3000a\u3000'.strip() }}][{{ '\n\nx\n'.lstrip('\n') }}])J",
     R"J([Hello, World][Hello, World  ][  Hello, World][a][a][x
])J"},
    {"split family",
     R"J({{ csv.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(none, 1) }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ ' a b c '.rsplit(none, 1) }}|{{ ''.split() }}|{{ ''.split(',') }}|{{ 'a\nb\r\nc\n'.splitlines() }}|{{ 'a\u3000b'.split() }})J",
     R"J(['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a', 'b,c']|['a,b', 'c']|[' a b', 'c']|[]|['']|['a', 'b', 'c']|['a', 'b'])J"},
    {"the </think> idiom of Qwen templates",
     R"J({{ ms[2].content.split('</think>')[-1].lstrip('\n') }}|{{ ms[2].content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') }})J",
     R"J(ans|r)J"},
    {"search methods",
     R"J({{ s.startswith('  He') }}{{ s.endswith(('x', '  ')) }}{{ 'abc'.endswith('bc', 0, 2) }}|{{ u8.find('ö') }}|{{ u8.find('zz') }}|{{ 'abcabc'.rfind('b') }}|{{ 'abab'.count('ab') }}|{{ 'aaa'.count('') }})J",
     R"J(TrueTrueFalse|4|-1|4|2|4)J"},
    {"replace and case",
     R"J({{ 'aXbX'.replace('X', 'y') }}|{{ 'aXbX'.replace('X', 'y', 1) }}|{{ 'aaa'.replace('', '-') }}|{{ u8.upper() }}|{{ 'ß'.upper() }}|{{ 'hello wORLD'.title() }}|{{ 'they\'re bill\'s'.title() }}|{{ 'hELLO'.capitalize() }})J",
     R"J(ayby|aybX|-a-a-a-|你好 WÖRLD É😀|SS|Hello World|They'Re Bill'S|Hello)J"},
    {"join and format",
     R"J({{ ', '.join(words) }}|{{ '{} and {}'.format(1, 'x') }}|{{ '{0}{1}{0}'.format('a', 'b') }}|{{ '{name}!'.format(name='hi') }}|{{ '{{}}'.format() }}|{{ '%s and %s' % ('a', 'b') }}|{{ '%d%%' % 5 }})J",
     R"J(b, A, c, a|1 and x|aba|hi!|{}|a and b|5%)J"},
    {"character predicates",
     R"J({{ '123'.isdigit() }}{{ ''.isdigit() }}{{ 'abc'.isalpha() }}{{ 'a1'.isalnum() }}{{ ' \t'.isspace() }}{{ 'ABC'.isupper() }}{{ 'abc1'.islower() }})J",
     R"J(TrueFalseTrueTrueTrueTrueTrue)J"},
};

TEST(ChatTemplateSemantics, StringMethods) {
  check_cases(kStringMethodsCases, std::size(kStringMethodsCases));
}

constexpr Case kTojsonCases[] = {
    {"tojson matches json.dumps(ensure_ascii=False)", R"J({{ tool|tojson }})J",
     R"J({"name": "get", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}})J"},
    {"tojson escapes", R"J({{ 'é\n"\\\t\b\f\x01\x7f😀 <|im_end|>'|tojson }})J",
     R"J("é\n\"\\\t\b\f\u0001😀 <|im_end|>")J"},
    {"tojson numbers",
     R"J({{ [1, -1, 2.5, 1e20, 1e-7, -0.0, 1.0, 123456789.125, 0.1, 3e-5, 1e16, 1e15]|tojson }})J",
     R"J([1, -1, 2.5, 1e+20, 1e-07, -0.0, 1.0, 123456789.125, 0.1, 3e-05, 1e+16, 1000000000000000.0])J"},
    {"tojson with indent", R"J({{ {'a': [1, {'q': []}], 'b': {}, 'c': 'x'}|tojson(indent=2) }})J",
     R"J({
  "a": [
    1,
    {
      "q": []
    }
  ],
  "b": {},
  "c": "x"
})J"},
    {"tojson indent edge cases",
     R"J({{ [1, [2]]|tojson(indent=0) }}|{{ {'a': 1}|tojson(indent='\t') }}|{{ []|tojson(indent=4) }})J",
     R"J([
1,
[
2
]
]|{
	"a": 1
}|[])J"},
    {"tojson separators, sort_keys, ensure_ascii",
     R"J({{ {'b': 'é😀', 'a': 1}|tojson(separators=(',', ':')) }}|{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}|{{ {'b': 'é😀'}|tojson(ensure_ascii=true) }})J",
     R"J({"b":"é😀","a":1}|{"a": 2, "b": 1}|{"b": "\u00e9\ud83d\ude00"})J"},
    {"tojson keys and tuples",
     R"J({{ {1: 2, none: 3, true: 4, 1.5: 5}|tojson }}|{{ (1, 2)|tojson }}|{{ none|tojson }}|{{ true|tojson }}|{{ 'x'|tojson }})J",
     R"J({"1": 4, "null": 3, "1.5": 5}|[1, 2]|null|true|"x")J"},
};

TEST(ChatTemplateSemantics, Tojson) {
  check_cases(kTojsonCases, std::size(kTojsonCases));
}

// Templates jinja2 fails to render (an exception at render time) with kContext.
constexpr const char* kRuntimeErrors[] = {
    R"J({{ missing.attr }})J",
    R"J({{ missing + 1 }})J",
    R"J({{ 'a' + 1 }})J",
    R"J({{ 1 / 0 }})J",
    R"J({{ 5 // 0 }})J",
    R"J({{ 1 < 'a' }})J",
    R"J({{ none|length }})J",
    R"J({% for x in none %}{% endfor %})J",
    R"J({{ 'a' in none }})J",
    R"J({% for a, b in [[1]] %}{% endfor %})J",
    R"J({% set x = 1 %}{% set x.y = 2 %})J",
    R"J({% macro m(a) %}{% endmacro %}{{ m(1, 2) }})J",
    R"J({% macro m(a) %}{% endmacro %}{{ m(b=1) }})J",
    R"J({{ raise_exception('boom') }})J",
    R"J({{ d.update({}) }})J",
    R"J({{ xs.append(1) }})J",
    R"J({{ missing|tojson }})J",
    R"J({{ ''.split('') }})J",
    R"J({{ 'abc'.index('z') }})J",
    R"J({{ s.startswith(1) }})J",
    R"J({{ missing() }})J",
    R"J({{ 1() }})J",
    R"J({{ [1] - [1] }})J",
    R"J({{ -'a' }})J",
    R"J({{ {xs: 2} }})J",
    R"J({{ '{} {0}'.format(1, 2) }})J",
    R"J({{ 'a' in 1 }})J",
    R"J({{ [1] in d }})J",
    R"J({{ [] < d.keys() }})J",
    R"J({{ [1] + d.keys() }})J",
    R"J({{ [1] + (2,) }})J",
    R"J({{ '%d' % 'x' }})J",
    R"J({{ '%s %s' % ('a',) }})J",
};

// Templates jinja2 refuses to compile (TemplateSyntaxError).
constexpr const char* kSyntaxErrors[] = {
    R"J({% if %}x{% endif %})J",
    R"J({% endif %})J",
    R"J({{ 1 + }})J",
    R"J({% for x in %}{% endfor %})J",
    R"J({% break %})J",
    R"J({{ 'unterminated }})J",
    R"J({# open comment)J",
    R"J({% unknowntag %})J",
    R"J({{ x | }})J",
    R"J({% macro %}{% endmacro %})J",
    R"J({% if x %})J",
    R"J({{ x ]}})J",
    R"J({{ (1, 2 }})J",
    R"J({% for x in xs %}{% endif %})J",
    R"J({{ x. }})J",
    R"J({% set %})J",
    R"J({% if x if y else z %}{% endif %})J",
    R"J({% for x in xs %}{% macro m() %}{% break %}{% endmacro %}{% endfor %})J",
    R"J({{ }})J",
    R"J({% raw %}never closed)J",
};

TEST(ChatTemplateSemantics, RuntimeErrorsAreInvalidArgument) {
  for (const char* source : kRuntimeErrors) {
    SCOPED_TRACE(source);
    auto error = testing::render_error(source, kContext);
    ASSERT_TRUE(error.has_value()) << "rendered: " << render(source, kContext);
    EXPECT_EQ(error->kind(), ErrorKind::kInvalidArgument) << error->what();
    EXPECT_EQ(std::string(error->what()).rfind("chat template line 1: ", 0), 0u) << error->what();
  }
}

TEST(ChatTemplateSemantics, SyntaxErrorsAreInvalidFileWithLineAndColumn) {
  for (const char* source : kSyntaxErrors) {
    SCOPED_TRACE(source);
    try {
      ChatTemplate::compile(source);
      ADD_FAILURE() << "compiled";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidFile) << error.what();
      EXPECT_EQ(std::string(error.what()).rfind("chat template line 1, column ", 0), 0u) << error.what();
    }
  }
}

}  // namespace
}  // namespace hanlin::text
