// Statement execution, scopes and budgets of the chat-template interpreter (expressions are in
// expressions.cpp). Scoping follows jinja2: each for-loop iteration, macro call and with-block
// gets a fresh scope; `if` does not; macros see the template's top level, not their caller.
#include "text/chat_template/interpreter.h"

#include "core/error.h"
#include "text/chat_template/operators.h"
#include "text/chat_template/python_format.h"
#include "text/chat_template/unicode.h"

namespace hanlin::text::jinja {

Interpreter::DepthGuard::DepthGuard(Interpreter& interpreter) : interpreter_(interpreter) {
  if (++interpreter_.depth_ > kMaxEvalDepth) {
    throw Error(ErrorKind::kResourceExhausted, "the template recurses too deeply");
  }
}

Interpreter::Interpreter(const CompiledTemplate& compiled, const Limits& limits)
    : compiled_(compiled),
      limits_(limits),
      budget_(limits.max_steps, limits.max_work_bytes, limits.max_output_bytes) {}

Interpreter::~Interpreter() = default;

Output Interpreter::render(std::vector<std::pair<int, Value>> variables) {
  Scope root;
  root.variables = std::move(variables);
  root_ = &root;
  Output output;
  out_ = &output;
  exec_body(compiled_.parsed.body, root);
  return output;
}

NamespaceRef Interpreter::new_namespace() {
  namespaces_.push_back(std::make_unique<NamespaceData>());
  return namespaces_.back().get();
}

Interpreter::Flow Interpreter::exec_body(const Body& body, Scope& scope) {
  for (const StmtPtr& stmt : body) {
    Flow flow = exec(*stmt, scope);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& stmt, Scope& scope) {
  DepthGuard guard(*this);
  budget_.charge_step();
  current_offset_ = stmt.offset;
  switch (stmt.kind) {
    case StmtKind::kText:
      write_text(stmt.text, false);
      break;
    case StmtKind::kPrint:
      write(eval(*stmt.expr, scope));
      break;
    case StmtKind::kIf:
      return exec_if(stmt, scope);
    case StmtKind::kFor:
      exec_for(stmt, scope);
      break;
    case StmtKind::kSet:
      exec_set(stmt, scope);
      break;
    case StmtKind::kSetAttribute:
      exec_set_attribute(stmt, scope);
      break;
    case StmtKind::kSetBlock:
      exec_set_block(stmt, scope);
      break;
    case StmtKind::kMacro:
      exec_macro(stmt, scope);
      break;
    case StmtKind::kCallBlock:
      exec_call_block(stmt, scope);
      break;
    case StmtKind::kFilterBlock:
      exec_filter_block(stmt, scope);
      break;
    case StmtKind::kWith:
      return exec_with(stmt, scope);
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
    case StmtKind::kGeneration:
      return exec_body(stmt.body, scope);
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_if(const Stmt& stmt, Scope& scope) {
  for (const IfBranch& branch : stmt.branches) {
    if (branch.condition == nullptr || is_truthy(eval(*branch.condition, scope))) {
      return exec_body(branch.body, scope);  // an if-block has no scope of its own
    }
  }
  return Flow::kNormal;
}

void Interpreter::assign(Scope& scope, int id, Value value) {
  for (auto& [variable_id, variable_value] : scope.variables) {
    if (variable_id == id) {
      variable_value = std::move(value);
      return;
    }
  }
  scope.variables.emplace_back(id, std::move(value));
}

void Interpreter::assign_targets(const Stmt& stmt, Scope& scope, const Value& value) {
  if (!stmt.unpack) {
    assign(scope, stmt.targets.front(), value);
    return;
  }
  ListPtr items = iterate(budget_, value);
  if (items->items.size() != stmt.targets.size()) {
    throw Error(ErrorKind::kInvalidArgument, "cannot unpack " + std::to_string(items->items.size()) +
                                                 " values into " + std::to_string(stmt.targets.size()) +
                                                 " names");
  }
  for (size_t i = 0; i < stmt.targets.size(); ++i) assign(scope, stmt.targets[i], items->items[i]);
}

void Interpreter::exec_for(const Stmt& stmt, Scope& scope) {
  ListPtr items = iterate(budget_, eval(*stmt.expr, scope));
  Scope iteration{&scope, nullptr, {}};
  if (stmt.condition != nullptr) {  // `for x in xs if cond`: loop.* counts only what passes
    std::vector<Value> kept;
    for (const Value& item : items->items) {
      iteration.variables.clear();
      assign_targets(stmt, iteration, item);
      if (is_truthy(eval(*stmt.condition, iteration))) kept.push_back(item);
    }
    items = make_list(std::move(kept)).list_ptr();
  }
  auto loop = std::make_shared<LoopState>();
  loop->items = items;
  Value loop_value = Value::loop(loop);
  for (size_t i = 0; i < items->items.size(); ++i) {
    budget_.charge_step();
    loop->index0 = i;
    iteration.variables.clear();
    assign_targets(stmt, iteration, items->items[i]);
    assign(iteration, compiled_.loop_id, loop_value);
    if (exec_body(stmt.body, iteration) == Flow::kBreak) break;
  }
  if (items->items.empty()) {
    Scope otherwise{&scope, nullptr, {}};
    exec_body(stmt.else_body, otherwise);
  }
}

void Interpreter::exec_set(const Stmt& stmt, Scope& scope) {
  assign_targets(stmt, scope, eval(*stmt.expr, scope));
}

void Interpreter::exec_set_attribute(const Stmt& stmt, Scope& scope) {
  Value target = lookup(stmt.targets.front(), stmt.target_names.front(), scope);
  if (!target.is_namespace()) {
    throw Error(ErrorKind::kInvalidArgument, "cannot assign attribute on non-namespace object");
  }
  Value value = eval(*stmt.expr, scope);
  target.ns()->attributes.set(make_string(stmt.attribute), std::move(value));
}

Value Interpreter::capture(const Body& body, Scope& scope) {
  Output captured;
  Output* outer = std::exchange(out_, &captured);
  try {
    exec_body(body, scope);
  } catch (...) {
    out_ = outer;
    throw;
  }
  out_ = outer;
  auto text = std::make_shared<StrData>();
  text->num_code_points = count_code_points(captured.text);
  text->text = std::move(captured.text);
  text->data = std::move(captured.data);
  return Value::string(std::move(text));
}

void Interpreter::exec_set_block(const Stmt& stmt, Scope& scope) {
  Value text = capture(stmt.body, scope);
  if (stmt.expr != nullptr) {
    Value outer = std::exchange(block_value_, text);
    text = eval(*stmt.expr, scope);
    block_value_ = std::move(outer);
  }
  assign(scope, stmt.targets.front(), std::move(text));
}

std::shared_ptr<const CapturedVariables> Interpreter::capture_variables(const Scope& scope) const {
  if (&scope == root_) return nullptr;  // top-level macros read the top level live
  auto captured = std::make_shared<CapturedVariables>();
  auto add = [&](int id, const Value& value) {
    for (const auto& [known, unused] : captured->variables) {
      if (known == id) return;
    }
    captured->variables.emplace_back(id, value);
  };
  for (const Scope* s = &scope; s != nullptr && s != root_; s = s->parent) {
    for (const auto& [id, value] : s->variables) add(id, value);
    if (s->captured != nullptr) {
      for (const auto& [id, value] : s->captured->variables) add(id, value);
    }
  }
  return captured;
}

void Interpreter::exec_macro(const Stmt& stmt, Scope& scope) {
  auto macro = std::make_shared<Callable>();
  macro->name = stmt.macro->name;
  macro->macro = stmt.macro.get();
  macro->captured = capture_variables(scope);
  assign(scope, stmt.targets.front(), Value::callable(std::move(macro)));
}

void Interpreter::exec_call_block(const Stmt& stmt, Scope& scope) {
  auto caller = std::make_shared<Callable>();
  caller->name = "caller";
  caller->macro = stmt.macro.get();
  caller->captured = capture_variables(scope);
  const Expr& call = *stmt.expr;
  Value callee = eval(*call.operands[0], scope);
  CallArgs args;
  eval_args(call, 1, scope, args);
  if (!callee.is_callable() || callee.callable().macro == nullptr) {
    throw Error(ErrorKind::kInvalidArgument, "{% call %} needs a macro to call");
  }
  write(call_macro(callee.callable(), args, std::move(caller)));
}

void Interpreter::exec_filter_block(const Stmt& stmt, Scope& scope) {
  Value text = capture(stmt.body, scope);
  Value outer = std::exchange(block_value_, std::move(text));
  Value filtered = eval(*stmt.expr, scope);
  block_value_ = std::move(outer);
  write(filtered);
}

Interpreter::Flow Interpreter::exec_with(const Stmt& stmt, Scope& scope) {
  Scope inner{&scope, nullptr, {}};
  for (size_t i = 0; i < stmt.targets.size(); ++i)
    assign(inner, stmt.targets[i], eval(*stmt.values[i], scope));
  return exec_body(stmt.body, inner);
}

Value Interpreter::call_macro(const Callable& macro, CallArgs& args, std::shared_ptr<const Callable> caller) {
  const MacroDef& definition = *macro.macro;
  if (call_depth_ >= limits_.max_call_depth) {
    throw Error(
        ErrorKind::kResourceExhausted,
        "macro calls nest deeper than " + std::to_string(limits_.max_call_depth) + " (runaway recursion?)");
  }
  Scope scope{root_, macro.captured.get(), {}};
  size_t num_params = definition.param_ids.size();
  std::vector<const Value*> bound(num_params, nullptr);
  std::vector<Value> extra_positional;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < num_params) {
      bound[i] = &args.positional[i];
    } else if (definition.uses_varargs) {
      extra_positional.push_back(args.positional[i]);
    } else {
      throw Error(ErrorKind::kInvalidArgument, "macro '" + std::string(definition.name) +
                                                   "' takes not more than " + std::to_string(num_params) +
                                                   " argument(s)");
    }
  }
  DictData extra_keywords;
  for (auto& [name, value] : args.keyword) {
    size_t index = 0;
    while (index < num_params && definition.param_names[index] != name) ++index;
    if (index < num_params) {
      bound[index] = &value;
    } else if (definition.uses_kwargs) {
      extra_keywords.set(make_string(name), value);
    } else {
      throw Error(ErrorKind::kInvalidArgument, "macro '" + std::string(definition.name) +
                                                   "' takes no keyword argument '" + std::string(name) + "'");
    }
  }
  ++call_depth_;
  struct CallDepthRestore {
    int& depth;
    ~CallDepthRestore() { --depth; }
  } restore{call_depth_};
  for (size_t i = 0; i < num_params; ++i) {
    Value value = bound[i] != nullptr ? *bound[i]
                  : definition.defaults[i] != nullptr
                      ? eval(*definition.defaults[i], scope)
                      : Value::undefined({Undefined::Reason::kName, 0, definition.param_names[i]});
    assign(scope, definition.param_ids[i], std::move(value));
  }
  if (definition.uses_varargs)
    assign(scope, compiled_.varargs_id, make_list(std::move(extra_positional), ListStyle::kTuple));
  if (definition.uses_kwargs) assign(scope, compiled_.kwargs_id, make_dict(std::move(extra_keywords)));
  if (caller != nullptr) assign(scope, compiled_.caller_id, Value::callable(std::move(caller)));
  uint32_t call_site = current_offset_;
  Value text = capture(definition.body, scope);
  current_offset_ = call_site;  // later errors belong to the caller's line (a failure keeps the macro's)
  return text;
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) throw_undefined(callee.as_undefined());
  if (!callee.is_callable()) {
    throw Error(ErrorKind::kInvalidArgument,
                "'" + std::string(type_name(callee)) + "' object is not callable");
  }
  const Callable& callable = callee.callable();
  if (callable.macro != nullptr) return call_macro(callable, args, nullptr);
  return callable.builtin(*this, callable.self, args);
}

void Interpreter::write_text(std::string_view text, bool is_data) {
  if (text.empty()) return;
  if (out_->text.size() + text.size() > limits_.max_output_bytes) {
    throw Error(ErrorKind::kResourceExhausted,
                "the rendered text grew past " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
  auto at = static_cast<uint32_t>(out_->text.size());
  out_->text.append(text);
  if (is_data) out_->data.add(at, static_cast<uint32_t>(out_->text.size()));
}

void Interpreter::write(const Value& value) {
  if (value.is_undefined()) return;
  if (value.is_string()) {
    const StrData& text = value.str();
    auto at = static_cast<uint32_t>(out_->text.size());
    write_text(text.text, false);
    out_->data.add_part(text.data, 0, static_cast<uint32_t>(text.text.size()), at);
    return;
  }
  StrBuilder text(budget_);
  append_str(text, value);
  write(Value::string(text.build()));
}

}  // namespace hanlin::text::jinja
