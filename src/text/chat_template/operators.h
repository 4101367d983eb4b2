// Python's operators on template values (+ - * / // % ** ~, unary minus, `in`), attribute and
// item access with jinja2's sandbox rules, slicing, and iteration.
#pragma once

#include <string_view>

#include "text/chat_template/ast.h"
#include "text/chat_template/value.h"

namespace hanlin::text::jinja {

Value binary_operation(Interpreter& interpreter, BinaryOp op, const Value& left, const Value& right);
Value negate(const Value& operand);
// `item in container`.
bool contains(const Value& container, const Value& item);

// obj.name: jinja2 tries the Python attribute first (methods such as dict.items), then the key.
// Python internals (__class__, __globals__, mro, ...) throw Error: the sandbox holds values only.
Value get_attribute(const Value& object, std::string_view name);
// get_attribute for a name computed while rendering (a string value that may not outlive the
// result): the result never refers to `name`.
Value get_attribute_by_runtime_name(const Value& object, std::string_view name);
// obj[key]: jinja2 tries the item first, then (for a string key) the attribute.
Value get_item(Budget& budget, const Value& object, const Value& key);
// obj[start:stop:step] with Python's slice rules; Undefined where Python raises TypeError.
Value get_slice(Budget& budget, const Value& object, const Value& start, const Value& stop,
                const Value& step);

// The items a for-loop visits: a list's items, a dict's keys, a string's characters, nothing for
// Undefined. Throws Error for values that cannot be iterated.
ListPtr iterate(Budget& budget, const Value& iterable);

// The character at code point index `index` (which must be in range), keeping provenance.
Value string_char(Budget& budget, const StrData& text, size_t index);

// Python's printf-style `format % args` for %s, %r, %d, %i, %f and %%.
Value percent_format(Budget& budget, const StrData& format, const Value& args);

// markupsafe.escape(): & < > " ' as HTML entities.
void append_html_escaped(StrBuilder& out, const StrData& text);

}  // namespace hanlin::text::jinja
