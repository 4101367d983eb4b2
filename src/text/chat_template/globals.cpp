// Global functions a chat template can call (those of jinja2 plus transformers' additions:
// range, dict, namespace, raise_exception, strftime_now), and argument binding for builtins.
#include <ctime>

#include "core/error.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/interpreter.h"
#include "text/chat_template/python_format.h"

namespace hanlin::text::jinja {

BoundArgs::BoundArgs(std::string_view function, CallArgs& args,
                     std::initializer_list<std::string_view> params)
    : values_(params.size(), nullptr) {
  if (args.positional.size() > params.size()) {
    throw Error(ErrorKind::kInvalidArgument, std::string(function) + "() takes at most " +
                                                 std::to_string(params.size()) + " arguments (" +
                                                 std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = &args.positional[i];
  for (auto& [name, value] : args.keyword) {
    size_t index = 0;
    for (std::string_view param : params) {
      if (param == name) break;
      ++index;
    }
    if (index == params.size()) {
      throw Error(
          ErrorKind::kInvalidArgument,
          std::string(function) + "() got an unexpected keyword argument '" + std::string(name) + "'");
    }
    if (values_[index] != nullptr) {
      throw Error(ErrorKind::kInvalidArgument,
                  std::string(function) + "() got multiple values for argument '" + std::string(name) + "'");
    }
    values_[index] = &value;
  }
}

int64_t int_argument(std::string_view function, const Value& value) {
  if (!value.is_integral()) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string(function) + "(): expected an integer, got " + std::string(type_name(value)));
  }
  return value.as_int();
}

std::string_view string_argument(std::string_view function, const Value& value) {
  if (!value.is_string()) {
    throw Error(ErrorKind::kInvalidArgument,
                std::string(function) + "(): expected a string, got " + std::string(type_name(value)));
  }
  return value.text();
}

namespace {

// jinja2's sandbox refuses ranges longer than this.
constexpr int64_t kMaxRange = 100000;

Value global_range(Interpreter& interpreter, const Value&, CallArgs& args) {
  if (!args.keyword.empty() || args.positional.empty() || args.positional.size() > 3) {
    throw Error(ErrorKind::kInvalidArgument, "range() takes 1 to 3 positional arguments");
  }
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (args.positional.size() == 1) {
    stop = int_argument("range", args.positional[0]);
  } else {
    start = int_argument("range", args.positional[0]);
    stop = int_argument("range", args.positional[1]);
    if (args.positional.size() == 3) step = int_argument("range", args.positional[2]);
  }
  if (step == 0) throw Error(ErrorKind::kInvalidArgument, "range() arg 3 must not be zero");
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(items.size()) >= kMaxRange) {
      throw Error(ErrorKind::kResourceExhausted, "range too big: the sandbox allows at most 100000 items");
    }
    items.push_back(Value::integer(i));
    if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
  }
  interpreter.budget().charge_steps(items.size());
  return make_list(std::move(items));
}

// Adds the key/value pairs of positional dicts, then the keyword arguments, to `target`.
void merge_arguments(std::string_view function, DictData& target, CallArgs& args) {
  for (const Value& positional : args.positional) {
    if (!positional.is_dict()) {
      throw Error(ErrorKind::kInvalidArgument,
                  std::string(function) + "() takes mappings and keyword arguments only");
    }
    for (const auto& [key, value] : positional.dict().entries()) target.set(key, value);
  }
  for (auto& [name, value] : args.keyword) target.set(make_string(name), value);
}

Value global_namespace(Interpreter& interpreter, const Value&, CallArgs& args) {
  NamespaceRef ns = interpreter.new_namespace();
  merge_arguments("namespace", ns->attributes, args);
  return Value::namespace_ref(ns);
}

Value global_dict(Interpreter&, const Value&, CallArgs& args) {
  DictData dict;
  merge_arguments("dict", dict, args);
  return make_dict(std::move(dict));
}

Value global_raise_exception(Interpreter& interpreter, const Value&, CallArgs& args) {
  BoundArgs bound("raise_exception", args, {"message"});
  StrBuilder message(interpreter.budget());
  if (bound.get(0) != nullptr) append_str(message, *bound.get(0));
  throw Error(ErrorKind::kInvalidArgument, message.build()->text);
}

Value global_strftime_now(Interpreter&, const Value&, CallArgs& args) {
  BoundArgs bound("strftime_now", args, {"format"});
  if (bound.get(0) == nullptr) throw Error(ErrorKind::kInvalidArgument, "strftime_now() needs a format");
  std::string format(string_argument("strftime_now", *bound.get(0)));
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string out(256, '\0');
  size_t length = format.empty() ? 0 : std::strftime(out.data(), out.size(), format.c_str(), &local);
  if (length == 0 && !format.empty())
    throw Error(ErrorKind::kInvalidArgument, "strftime_now(): format too long");
  out.resize(length);
  return make_owned_string(std::move(out));
}

struct GlobalEntry {
  std::string_view name;
  BuiltinFn fn;
};

constexpr GlobalEntry kGlobals[] = {
    {"dict", global_dict},
    {"namespace", global_namespace},
    {"raise_exception", global_raise_exception},
    {"range", global_range},
    {"strftime_now", global_strftime_now},
};

}  // namespace

Value find_global(std::string_view name) {
  for (const GlobalEntry& entry : kGlobals) {
    if (entry.name == name) {
      auto callable = std::make_shared<Callable>();
      callable->name = entry.name;
      callable->builtin = entry.fn;
      return Value::callable(std::move(callable));
    }
  }
  return Value();
}

}  // namespace hanlin::text::jinja
