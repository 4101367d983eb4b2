// Expression evaluation of the chat-template interpreter: names, attribute and item access,
// calls, filters, tests, operators and literals.
#include "core/error.h"
#include "text/chat_template/builtins.h"
#include "text/chat_template/interpreter.h"
#include "text/chat_template/operators.h"

namespace hanlin::text::jinja {

Value Interpreter::lookup(int id, std::string_view name, const Scope& scope) const {
  for (const Scope* s = &scope; s != nullptr; s = s->parent) {
    for (const auto& [variable_id, value] : s->variables) {
      if (variable_id == id) return value;
    }
    if (s->captured != nullptr) {
      for (const auto& [variable_id, value] : s->captured->variables) {
        if (variable_id == id) return value;
      }
    }
  }
  const Value& global = compiled_.globals[id];
  if (!global.is_undefined()) return global;
  return Value::undefined({Undefined::Reason::kName, 0, name});
}

Value Interpreter::eval(const Expr& expr, Scope& scope) {
  DepthGuard guard(*this);
  budget_.charge_step();
  switch (expr.kind) {
    case ExprKind::kLiteral:
      return expr.literal;
    case ExprKind::kName:
      return lookup(expr.name_id, expr.name, scope);
    case ExprKind::kAttribute:
      return get_attribute(eval(*expr.operands[0], scope), expr.name);
    case ExprKind::kSubscript:
      return eval_subscript(expr, scope);
    case ExprKind::kCall:
      return eval_call(expr, scope);
    case ExprKind::kFilter:
      return eval_filter(expr, scope);
    case ExprKind::kTest:
      return eval_test(expr, scope);
    case ExprKind::kNegate:
      return negate(eval(*expr.operands[0], scope));
    case ExprKind::kPlus: {
      Value operand = eval(*expr.operands[0], scope);
      if (operand.is_undefined()) throw_undefined(operand.as_undefined());
      if (!operand.is_number()) {
        throw Error(ErrorKind::kInvalidArgument,
                    "bad operand type for unary +: '" + std::string(type_name(operand)) + "'");
      }
      return operand.is_bool() ? Value::integer(operand.as_int()) : operand;
    }
    case ExprKind::kNot:
      return Value::boolean(!is_truthy(eval(*expr.operands[0], scope)));
    case ExprKind::kBinary:
      return binary_operation(*this, expr.binary_op, eval(*expr.operands[0], scope),
                              eval(*expr.operands[1], scope));
    case ExprKind::kAnd: {  // Python's and/or return an operand, not a bool
      Value left = eval(*expr.operands[0], scope);
      return is_truthy(left) ? eval(*expr.operands[1], scope) : left;
    }
    case ExprKind::kOr: {
      Value left = eval(*expr.operands[0], scope);
      return is_truthy(left) ? left : eval(*expr.operands[1], scope);
    }
    case ExprKind::kCompare:
      return eval_compare(expr, scope);
    case ExprKind::kConditional:
      if (is_truthy(eval(*expr.operands[0], scope))) return eval(*expr.operands[1], scope);
      if (expr.operands[2] != nullptr) return eval(*expr.operands[2], scope);
      return Value::undefined({Undefined::Reason::kName, 0, "conditional expression"});
    case ExprKind::kList:
    case ExprKind::kTuple:
    case ExprKind::kDict:
      return eval_collection(expr, scope);
    case ExprKind::kBlockValue:
      return block_value_;
    case ExprKind::kSlice:
      break;
  }
  throw Error(ErrorKind::kInternal, "unexpected expression node");
}

Value Interpreter::eval_subscript(const Expr& expr, Scope& scope) {
  Value object = eval(*expr.operands[0], scope);
  const Expr& index = *expr.operands[1];
  if (index.kind != ExprKind::kSlice) return get_item(budget_, object, eval(index, scope));
  auto part = [&](size_t i) {
    return index.operands[i] != nullptr ? eval(*index.operands[i], scope) : Value::none();
  };
  Value start = part(0);
  Value stop = part(1);
  Value step = part(2);
  return get_slice(budget_, object, start, stop, step);
}

void Interpreter::eval_args(const Expr& expr, size_t first, Scope& scope, CallArgs& args) {
  args.positional.reserve(expr.operands.size() - first);
  for (size_t i = first; i < expr.operands.size(); ++i)
    args.positional.push_back(eval(*expr.operands[i], scope));
  for (const KeywordArg& keyword : expr.keywords)
    args.keyword.emplace_back(keyword.name, eval(*keyword.value, scope));
}

Value Interpreter::eval_call(const Expr& expr, Scope& scope) {
  const Expr& callee = *expr.operands[0];
  CallArgs args;
  if (callee.kind == ExprKind::kAttribute) {
    // A method call ('a'.split(), d.items()) runs directly, without building a bound method.
    Value object = eval(*callee.operands[0], scope);
    if (MethodRef method = object.is_undefined() ? MethodRef() : find_method(object, callee.name)) {
      eval_args(expr, 1, scope, args);
      return method.fn(*this, object, args);
    }
    Value function = get_attribute(object, callee.name);
    eval_args(expr, 1, scope, args);
    return call(function, args);
  }
  Value function = eval(callee, scope);
  eval_args(expr, 1, scope, args);
  return call(function, args);
}

Value Interpreter::eval_filter(const Expr& expr, Scope& scope) {
  if (expr.filter == nullptr)
    throw Error(ErrorKind::kInvalidArgument, "no filter named '" + std::string(expr.name) + "'");
  Value input = eval(*expr.operands[0], scope);
  CallArgs args;
  eval_args(expr, 1, scope, args);
  return expr.filter->fn(*this, input, args);
}

Value Interpreter::eval_test(const Expr& expr, Scope& scope) {
  if (expr.test == nullptr)
    throw Error(ErrorKind::kInvalidArgument, "no test named '" + std::string(expr.name) + "'");
  Value input = eval(*expr.operands[0], scope);
  CallArgs args;
  eval_args(expr, 1, scope, args);
  return Value::boolean(expr.test->fn(*this, input, args) != expr.negated);
}

namespace {

bool compare(CompareOp op, const Value& left, const Value& right) {
  switch (op) {
    case CompareOp::kEqual:
      return python_equals(left, right);
    case CompareOp::kNotEqual:
      return !python_equals(left, right);
    case CompareOp::kLess:
      return python_less(left, right);
    case CompareOp::kLessEqual:
      return !python_less(right, left);
    case CompareOp::kGreater:
      return python_less(right, left);
    case CompareOp::kGreaterEqual:
      return !python_less(left, right);
    case CompareOp::kIn:
      return contains(right, left);
    case CompareOp::kNotIn:
      return !contains(right, left);
  }
  return false;
}

void check_orderable(CompareOp op, const Value& left, const Value& right) {
  bool ordering = op != CompareOp::kEqual && op != CompareOp::kNotEqual && op != CompareOp::kIn &&
                  op != CompareOp::kNotIn;
  if (!ordering) return;
  if (left.is_undefined()) throw_undefined(left.as_undefined());
  if (right.is_undefined()) throw_undefined(right.as_undefined());
}

}  // namespace

Value Interpreter::eval_compare(const Expr& expr, Scope& scope) {
  // a < b < c means a < b and b < c, evaluating b once.
  Value left = eval(*expr.operands[0], scope);
  for (size_t i = 0; i < expr.compare_ops.size(); ++i) {
    Value right = eval(*expr.operands[i + 1], scope);
    check_orderable(expr.compare_ops[i], left, right);
    if (!compare(expr.compare_ops[i], left, right)) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval_collection(const Expr& expr, Scope& scope) {
  if (expr.kind == ExprKind::kDict) {
    DictData dict;
    for (size_t i = 0; i + 1 < expr.operands.size(); i += 2) {
      Value key = eval(*expr.operands[i], scope);
      dict.set(std::move(key), eval(*expr.operands[i + 1], scope));
    }
    return make_dict(std::move(dict));
  }
  std::vector<Value> items;
  items.reserve(expr.operands.size());
  for (const ExprPtr& operand : expr.operands) items.push_back(eval(*operand, scope));
  return make_list(std::move(items), expr.kind == ExprKind::kTuple ? ListStyle::kTuple : ListStyle::kList);
}

}  // namespace hanlin::text::jinja
