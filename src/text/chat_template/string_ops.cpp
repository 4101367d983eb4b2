// Python str methods on template strings, copying provenance through every operation.
#include "text/chat_template/string_ops.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "text/chat_template/python_format.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

namespace {

[[noreturn]] void throw_value_error(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, message);
}

bool contains_code_point(std::string_view set, char32_t c) {
  for (size_t pos = 0; pos < set.size();) {
    if (decode_utf8(set, pos) == c) return true;
  }
  return false;
}

// Start of the code point that ends just before byte `end`.
size_t previous_code_point(std::string_view text, size_t end) {
  size_t p = end - 1;
  while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
  return p;
}

Value substring(Budget& budget, const StrData& text, size_t begin, size_t end) {
  StrBuilder out(budget);
  out.append(text, begin, end);
  return Value::string(out.build());
}

bool space_at(std::string_view text, size_t pos, size_t& next) {
  next = pos;
  return is_python_space(decode_utf8(text, next));
}

Value split_on_whitespace(Budget& budget, const StrData& text, int64_t max_splits) {
  std::string_view s = text.text;
  std::vector<Value> parts;
  size_t i = 0;
  size_t next = 0;
  while (true) {
    while (i < s.size() && space_at(s, i, next)) i = next;
    if (i == s.size()) break;
    if (max_splits >= 0 && static_cast<int64_t>(parts.size()) == max_splits) {
      parts.push_back(substring(budget, text, i, s.size()));
      break;
    }
    size_t j = i;
    while (j < s.size() && !space_at(s, j, next)) j = next;
    parts.push_back(substring(budget, text, i, j));
    i = j;
  }
  return make_list(std::move(parts));
}

Value rsplit_on_whitespace(Budget& budget, const StrData& text, int64_t max_splits) {
  std::string_view s = text.text;
  std::vector<Value> parts;
  size_t end = s.size();
  size_t next = 0;
  auto space_before = [&](size_t at) { return space_at(s, previous_code_point(s, at), next); };
  while (true) {
    while (end > 0 && space_before(end)) end = previous_code_point(s, end);
    if (end == 0) break;
    if (max_splits >= 0 && static_cast<int64_t>(parts.size()) == max_splits) {
      parts.push_back(substring(budget, text, 0, end));
      break;
    }
    size_t begin = end;
    while (begin > 0 && !space_before(begin)) begin = previous_code_point(s, begin);
    parts.push_back(substring(budget, text, begin, end));
    end = begin;
  }
  std::reverse(parts.begin(), parts.end());
  return make_list(std::move(parts));
}

// Converts Python start/end arguments (code points, negative from the end) to a byte range;
// false when start lies past the end (find then returns -1).
bool byte_range(const StrData& text, const Value& start, const Value& end, size_t& begin_byte,
                size_t& end_byte) {
  auto length = static_cast<int64_t>(text.num_code_points);
  auto clamp = [length](const Value& v, int64_t fallback) {
    if (!v.is_integral()) return fallback;
    int64_t index = v.as_int();
    if (index < 0) index = std::max<int64_t>(0, index + length);
    return index;
  };
  int64_t s = clamp(start, 0);
  int64_t e = std::min(clamp(end, length), length);
  if (s > length) return false;
  if (e < s) e = s;
  begin_byte = text.is_ascii() ? s : byte_offset_of(text.text, s);
  end_byte = text.is_ascii() ? e : byte_offset_of(text.text, e);
  return true;
}

int64_t code_point_index(const StrData& text, size_t byte) {
  return static_cast<int64_t>(
      text.is_ascii() ? byte : count_code_points(std::string_view(text.text).substr(0, byte)));
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

// Appends text mapped code point by code point, each mapped piece carrying its source's provenance.
class MappedWriter {
 public:
  MappedWriter(StrBuilder& out, const StrData& text) : out_(out), text_(text) {}
  template <typename Map>
  void map(Map mapping) {
    std::string_view s = text_.text;
    for (size_t pos = 0; pos < s.size();) {
      size_t begin = pos;
      char32_t c = decode_utf8(s, pos);
      bool is_data = !text_.data.empty() &&
                     text_.data.overlaps(static_cast<uint32_t>(begin), static_cast<uint32_t>(pos));
      if (is_data != run_is_data_) flush();
      run_is_data_ = is_data;
      mapping(run_, c);
    }
    flush();
  }

 private:
  void flush() {
    out_.append_raw(run_, run_is_data_);
    run_.clear();
  }
  StrBuilder& out_;
  const StrData& text_;
  std::string run_;
  bool run_is_data_ = false;
};

bool is_jinja_word_separator(char32_t c) {
  return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_python_space(c);
}

}  // namespace

Value strip(Budget& budget, const StrData& text, const StrData* chars, StripSide side) {
  auto strips = [&](char32_t c) {
    return chars != nullptr ? contains_code_point(chars->text, c) : is_python_space(c);
  };
  std::string_view s = text.text;
  size_t begin = 0;
  size_t end = s.size();
  if (side != StripSide::kRight) {
    while (begin < end) {
      size_t next = begin;
      if (!strips(decode_utf8(s, next))) break;
      begin = next;
    }
  }
  if (side != StripSide::kLeft) {
    while (end > begin) {
      size_t start = previous_code_point(s, end);
      size_t next = start;
      if (!strips(decode_utf8(s, next))) break;
      end = start;
    }
  }
  return substring(budget, text, begin, end);
}

Value split(Budget& budget, const StrData& text, const StrData* separator, int64_t max_splits,
            bool from_right) {
  if (separator == nullptr) {
    return from_right ? rsplit_on_whitespace(budget, text, max_splits)
                      : split_on_whitespace(budget, text, max_splits);
  }
  std::string_view s = text.text;
  std::string_view sep = separator->text;
  if (sep.empty()) throw_value_error("empty separator");
  std::vector<Value> parts;
  if (!from_right) {
    size_t begin = 0;
    for (size_t hit = s.find(sep); hit != std::string_view::npos; hit = s.find(sep, begin)) {
      if (max_splits >= 0 && static_cast<int64_t>(parts.size()) == max_splits) break;
      budget.charge_step();
      parts.push_back(substring(budget, text, begin, hit));
      begin = hit + sep.size();
    }
    parts.push_back(substring(budget, text, begin, s.size()));
    return make_list(std::move(parts));
  }
  size_t end = s.size();
  while (end >= sep.size()) {
    if (max_splits >= 0 && static_cast<int64_t>(parts.size()) == max_splits) break;
    size_t hit = s.substr(0, end).rfind(sep);
    if (hit == std::string_view::npos) break;
    budget.charge_step();
    parts.push_back(substring(budget, text, hit + sep.size(), end));
    end = hit;
  }
  parts.push_back(substring(budget, text, 0, end));
  std::reverse(parts.begin(), parts.end());
  return make_list(std::move(parts));
}

Value splitlines(Budget& budget, const StrData& text, bool keep_ends) {
  std::string_view s = text.text;
  std::vector<Value> lines;
  size_t begin = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t line_end = pos;
    char32_t c = decode_utf8(s, pos);
    if (!is_line_break(c)) continue;
    if (c == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    lines.push_back(substring(budget, text, begin, keep_ends ? pos : line_end));
    begin = pos;
  }
  if (begin < s.size()) lines.push_back(substring(budget, text, begin, s.size()));
  return make_list(std::move(lines));
}

Value replace(Budget& budget, const StrData& text, const StrData& old, const StrData& replacement,
              int64_t count) {
  std::string_view s = text.text;
  StrBuilder out(budget);
  auto insert = [&](size_t matched_begin, size_t matched_end) {
    bool replaced_data =
        text.data.overlaps(static_cast<uint32_t>(matched_begin), static_cast<uint32_t>(matched_end));
    if (replaced_data) {
      out.append_raw(replacement.text, true);
    } else {
      out.append(replacement);
    }
  };
  int64_t done = 0;
  if (old.text.empty()) {  // Python inserts the replacement around every character
    size_t pos = 0;
    while (count < 0 || done < count) {
      insert(pos, pos);
      ++done;
      if (pos == s.size()) break;
      size_t next = pos;
      decode_utf8(s, next);
      out.append(text, pos, next);
      pos = next;
    }
    out.append(text, pos, s.size());
    return Value::string(out.build());
  }
  size_t begin = 0;
  for (size_t hit = s.find(old.text); hit != std::string_view::npos && (count < 0 || done < count);
       hit = s.find(old.text, begin)) {
    budget.charge_step();
    out.append(text, begin, hit);
    insert(hit, hit + old.text.size());
    begin = hit + old.text.size();
    ++done;
  }
  out.append(text, begin, s.size());
  return Value::string(out.build());
}

Value map_case(Budget& budget, const StrData& text, CaseMapping mapping) {
  StrBuilder out(budget);
  MappedWriter writer(out, text);
  bool previous_is_cased = false;
  bool at_start = true;
  writer.map([&](std::string& run, char32_t c) {
    switch (mapping) {
      case CaseMapping::kUpper:
        append_upper(run, c);
        break;
      case CaseMapping::kLower:
        append_lower(run, c);
        break;
      case CaseMapping::kTitle:
        previous_is_cased ? append_lower(run, c) : append_title(run, c);
        previous_is_cased = is_cased(c);
        break;
      case CaseMapping::kCapitalize:
        at_start ? append_title(run, c) : append_lower(run, c);
        break;
      case CaseMapping::kJinjaTitle:
        if (is_jinja_word_separator(c)) {
          append_utf8(run, c);
          previous_is_cased = false;
        } else {
          previous_is_cased ? append_lower(run, c) : append_upper(run, c);
          previous_is_cased = true;  // inside a word
        }
        break;
    }
    at_start = false;
  });
  return Value::string(out.build());
}

int64_t find(const StrData& text, const StrData& sub, const Value& start, const Value& end, bool from_right) {
  size_t begin = 0;
  size_t stop = 0;
  if (!byte_range(text, start, end, begin, stop)) return -1;
  std::string_view window = std::string_view(text.text).substr(begin, stop - begin);
  size_t hit = from_right ? window.rfind(sub.text) : window.find(sub.text);
  return hit == std::string_view::npos ? -1 : code_point_index(text, begin + hit);
}

int64_t count(const StrData& text, const StrData& sub, const Value& start, const Value& end) {
  size_t begin = 0;
  size_t stop = 0;
  if (!byte_range(text, start, end, begin, stop)) return 0;
  std::string_view window = std::string_view(text.text).substr(begin, stop - begin);
  if (sub.text.empty()) return static_cast<int64_t>(count_code_points(window)) + 1;
  int64_t found = 0;
  for (size_t hit = window.find(sub.text); hit != std::string_view::npos;
       hit = window.find(sub.text, hit + sub.text.size())) {
    ++found;
  }
  return found;
}

bool starts_or_ends_with(const StrData& text, const Value& affixes, const Value& start, const Value& end,
                         bool ends) {
  size_t begin = 0;
  size_t stop = 0;
  if (!byte_range(text, start, end, begin, stop)) return false;
  std::string_view window = std::string_view(text.text).substr(begin, stop - begin);
  auto matches = [&](const Value& affix) {
    if (!affix.is_string()) {
      throw_value_error(std::string(ends ? "endswith" : "startswith") +
                        " first arg must be str or a tuple of str, not " + std::string(type_name(affix)));
    }
    std::string_view a = affix.text();
    return window.size() >= a.size() &&
           (ends ? window.substr(window.size() - a.size()) == a : window.substr(0, a.size()) == a);
  };
  if (affixes.is_list() && affixes.list().style == ListStyle::kTuple) {
    return std::any_of(affixes.list().items.begin(), affixes.list().items.end(), matches);
  }
  return matches(affixes);
}

Value join(Budget& budget, const StrData& separator, const std::vector<Value>& items, bool convert) {
  StrBuilder out(budget);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.append(separator);
    if (items[i].is_string()) {
      out.append(items[i].str());
    } else if (convert) {
      append_str(out, items[i]);
    } else {
      throw_value_error("sequence item " + std::to_string(i) + ": expected str instance, " +
                        std::string(type_name(items[i])) + " found");
    }
  }
  return Value::string(out.build());
}

namespace {

const Value& format_field(const CallArgs& args, std::string_view field, size_t& next_auto, int& numbering) {
  if (field.empty() || (field[0] >= '0' && field[0] <= '9')) {
    bool automatic = field.empty();
    if (numbering != 0 && numbering != (automatic ? 1 : 2)) {
      throw_value_error("cannot switch between automatic and manual field numbering");
    }
    numbering = automatic ? 1 : 2;
    size_t index = next_auto;
    if (automatic) {
      ++next_auto;
    } else {
      auto result = std::from_chars(field.data(), field.data() + field.size(), index);
      if (result.ptr != field.data() + field.size())
        throw_value_error("unsupported format field '" + std::string(field) + "'");
    }
    if (index >= args.positional.size())
      throw_value_error("format: replacement index " + std::to_string(index) + " out of range");
    return args.positional[index];
  }
  for (const auto& [name, value] : args.keyword) {
    if (name == field) return value;
  }
  throw_value_error("format: no argument named '" + std::string(field) + "'");
}

}  // namespace

Value str_format(Budget& budget, const StrData& format, const CallArgs& args) {
  std::string_view s = format.text;
  StrBuilder out(budget);
  size_t next_auto = 0;
  int numbering = 0;  // 0 unknown, 1 automatic, 2 manual
  size_t literal_begin = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '{' && s[i] != '}') continue;
    out.append(format, literal_begin, i);
    if (i + 1 < s.size() && s[i + 1] == s[i]) {  // {{ or }}
      out.append(format, i, i + 1);
      literal_begin = ++i + 1;
      continue;
    }
    if (s[i] == '}') throw_value_error("single '}' encountered in format string");
    size_t close = s.find('}', i);
    if (close == std::string_view::npos) throw_value_error("single '{' encountered in format string");
    std::string_view field = s.substr(i + 1, close - i - 1);
    bool as_repr = false;
    if (size_t bang = field.find('!'); bang != std::string_view::npos) {
      as_repr = field.substr(bang + 1) == "r";
      if (!as_repr && field.substr(bang + 1) != "s")
        throw_value_error("unsupported conversion in format string");
      field = field.substr(0, bang);
    }
    if (field.find_first_of(":.[") != std::string_view::npos) {
      throw Error(ErrorKind::kUnsupported,
                  "format specs, attributes and indexes in str.format fields are not supported");
    }
    const Value& value = format_field(args, field, next_auto, numbering);
    as_repr ? append_repr(out, value) : append_str(out, value);
    literal_begin = close + 1;
    i = close;
  }
  out.append(format, literal_begin, s.size());
  return Value::string(out.build());
}

Value indent(Budget& budget, const StrData& text, const StrData& indentation, bool first, bool blank) {
  StrBuilder with_newline(budget);
  with_newline.append(text);
  with_newline.literal("\n");  // jinja2 adds a newline so splitlines keeps a trailing empty line
  Value lines_value = splitlines(budget, *with_newline.build(), false);
  const auto& lines = lines_value.list().items;
  StrBuilder out(budget);
  if (first) out.append(indentation);
  for (size_t i = 0; i < lines.size(); ++i) {
    const StrData& line = lines[i].str();
    if (i > 0) {
      out.literal("\n");
      if (blank || !line.text.empty()) out.append(indentation);
    }
    out.append(line);
  }
  return Value::string(out.build());
}

namespace {

struct PercentSpec {
  std::string_view key;  // %(key)s
  bool left_align = false;
  bool zero_pad = false;
  bool plus_sign = false;
  size_t width = 0;
  int precision = -1;
  char conversion = 0;
};

void append_padded(StrBuilder& out, std::string text, const PercentSpec& spec, bool is_data) {
  size_t length = count_code_points(text);
  if (length < spec.width) {
    size_t pad = spec.width - length;
    if (spec.left_align) {
      text.append(pad, ' ');
    } else if (spec.zero_pad && spec.conversion != 's' && spec.conversion != 'r') {
      size_t sign = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
      text.insert(sign, pad, '0');
    } else {
      text.insert(0, pad, ' ');
    }
  }
  out.append_raw(text, is_data);
}

void append_percent_value(Budget& budget, StrBuilder& out, const PercentSpec& spec, const Value& value) {
  switch (spec.conversion) {
    case 's':
    case 'r': {
      StrBuilder piece(budget);
      spec.conversion == 's' ? append_str(piece, value) : append_repr(piece, value);
      StrPtr text = piece.build();
      std::string body = text->text;
      if (spec.precision >= 0) body = body.substr(0, byte_offset_of(body, spec.precision));
      append_padded(out, std::move(body), spec, !text->data.empty());
      return;
    }
    case 'd':
    case 'i':
    case 'f': {
      if (!value.is_number()) {
        throw_value_error(std::string("%") + spec.conversion + " format: a real number is required, not " +
                          std::string(type_name(value)));
      }
      std::string text;
      if (spec.conversion == 'f') {
        char buffer[512];
        int precision = spec.precision < 0 ? 6 : std::min(spec.precision, 100);
        std::snprintf(buffer, sizeof(buffer), "%.*f", precision, value.as_double());
        text = buffer;
      } else {
        double d = value.as_double();
        if (value.is_float() && !std::isfinite(d))
          throw_value_error("cannot convert float infinity or NaN to integer");
        text = value.is_float() ? std::to_string(static_cast<int64_t>(std::trunc(d)))
                                : std::to_string(value.as_int());
      }
      if (spec.plus_sign && text[0] != '-') text.insert(0, "+");
      append_padded(out, std::move(text), spec, false);
      return;
    }
    default:
      throw Error(ErrorKind::kUnsupported,
                  std::string("the %") + spec.conversion + " conversion is not supported");
  }
}

size_t parse_percent_spec(std::string_view s, size_t i, PercentSpec& spec) {
  if (i < s.size() && s[i] == '(') {
    size_t close = s.find(')', i);
    if (close == std::string_view::npos) throw_value_error("incomplete format key");
    spec.key = s.substr(i + 1, close - i - 1);
    i = close + 1;
  }
  for (; i < s.size() && (s[i] == '-' || s[i] == '0' || s[i] == '+' || s[i] == ' ' || s[i] == '#'); ++i) {
    spec.left_align |= s[i] == '-';
    spec.zero_pad |= s[i] == '0';
    spec.plus_sign |= s[i] == '+';
  }
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
    spec.width = std::min<size_t>(spec.width * 10 + (s[i] - '0'), 1 << 20);
  if (i < s.size() && s[i] == '.') {
    spec.precision = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
      spec.precision = std::min(spec.precision * 10 + (s[i] - '0'), 1 << 20);
  }
  if (i >= s.size()) throw_value_error("incomplete format");
  spec.conversion = s[i];
  return i + 1;
}

}  // namespace

Value percent_format(Budget& budget, const StrData& format, const Value& args) {
  std::vector<Value> positional;
  const DictData* mapping = args.is_dict() ? &args.dict() : nullptr;
  if (args.is_list() && args.list().style == ListStyle::kTuple) {
    positional = args.list().items;
  } else if (mapping == nullptr) {
    positional.push_back(args);
  }
  std::string_view s = format.text;
  StrBuilder out(budget);
  size_t next = 0;
  size_t literal_begin = 0;
  for (size_t i = s.find('%'); i != std::string_view::npos; i = s.find('%', literal_begin)) {
    out.append(format, literal_begin, i);
    if (i + 1 < s.size() && s[i + 1] == '%') {
      out.append(format, i, i + 1);
      literal_begin = i + 2;
      continue;
    }
    PercentSpec spec;
    literal_begin = parse_percent_spec(s, i + 1, spec);
    const Value* value = nullptr;
    if (!spec.key.empty()) {
      if (mapping == nullptr) throw_value_error("format requires a mapping");
      value = mapping->find(spec.key);
      if (value == nullptr) throw_value_error("format: no key '" + std::string(spec.key) + "'");
    } else {
      if (next >= positional.size()) throw_value_error("not enough arguments for format string");
      value = &positional[next++];
    }
    append_percent_value(budget, out, spec, *value);
  }
  out.append(format, literal_begin, s.size());
  if (mapping == nullptr && next < positional.size()) {
    throw_value_error("not all arguments converted during string formatting");
  }
  return Value::string(out.build());
}

}  // namespace hanlin::text::jinja
