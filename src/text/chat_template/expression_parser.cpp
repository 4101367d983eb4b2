// Expression parsing for chat templates, following jinja2's parser rule by rule (loosest first:
// conditional, or, and, not, comparisons, + -, ~, * / // %, **, unary, postfix and filters).
#include "text/chat_template/expression_parser.h"

#include <algorithm>
#include <optional>
#include <string>

#include "text/chat_template/builtins.h"
#include "text/chat_template/literals.h"

namespace hanlin::text::jinja {

// Loops (a ~ b ~ c ..., x.a.b ..., x | f | g ...) build trees without recursing, so the depth
// of each new node is checked here: evaluating or destroying a tree recurses along its depth.
ExprPtr ExpressionParser::seal(ExprPtr expr) {
  uint16_t depth = 1;
  for (const ExprPtr& operand : expr->operands) {
    if (operand != nullptr) depth = std::max<uint16_t>(depth, operand->depth + 1);
  }
  for (const KeywordArg& keyword : expr->keywords)
    depth = std::max<uint16_t>(depth, keyword.value->depth + 1);
  if (depth > kMaxParseNesting) throw_syntax_error(source_, expr->offset, "the expression nests too deeply");
  expr->depth = depth;
  return expr;
}

ExprPtr ExpressionParser::make_expr(ExprKind kind, const Token& at) {
  auto expr = std::make_unique<Expr>();
  expr->kind = kind;
  expr->offset = at.offset;
  return expr;
}

// A comma-separated list makes a tuple; `extra_end` is a name that also ends it ('recursive').
ExprPtr ExpressionParser::parse_tuple(bool with_condition, bool explicit_parentheses,
                                      std::string_view extra_end) {
  const Token& at = peek();
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_operator(",");
    const Token& token = peek();
    bool at_end = token.kind == TokenKind::kVariableEnd || token.kind == TokenKind::kBlockEnd ||
                  token.kind == TokenKind::kEnd || is_operator(token, ")") ||
                  (!extra_end.empty() && is_name(token, extra_end)) ||
                  (!with_condition && is_name(token, "if"));
    if (at_end) break;
    items.push_back(parse_expression(with_condition));
    if (!is_operator(peek(), ",")) break;
    is_tuple = true;
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items.front());
    if (!explicit_parentheses) fail(peek(), "expected an expression, got " + describe(peek()));
  }
  auto tuple = make_expr(ExprKind::kTuple, at);
  tuple->operands = std::move(items);
  return seal(std::move(tuple));
}

ExprPtr ExpressionParser::parse_expression(bool with_condition) {
  NestingGuard guard(*this, peek());
  if (!with_condition) return parse_or();
  ExprPtr value = parse_or();
  while (is_name(peek(), "if")) {
    const Token& at = next();
    auto conditional = make_expr(ExprKind::kConditional, at);
    ExprPtr test = parse_or();
    ExprPtr otherwise = skip_name("else") ? parse_expression(true) : nullptr;
    conditional->operands.push_back(std::move(test));
    conditional->operands.push_back(std::move(value));
    conditional->operands.push_back(std::move(otherwise));
    value = seal(std::move(conditional));
  }
  return value;
}

ExprPtr ExpressionParser::make_pair(ExprKind kind, const Token& at, ExprPtr left, ExprPtr right) {
  auto expr = make_expr(kind, at);
  expr->operands.push_back(std::move(left));
  expr->operands.push_back(std::move(right));
  return seal(std::move(expr));
}

ExprPtr ExpressionParser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name(peek(), "or")) {
    const Token& at = next();
    left = make_pair(ExprKind::kOr, at, std::move(left), parse_and());
  }
  return left;
}

ExprPtr ExpressionParser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name(peek(), "and")) {
    const Token& at = next();
    left = make_pair(ExprKind::kAnd, at, std::move(left), parse_not());
  }
  return left;
}

ExprPtr ExpressionParser::parse_not() {
  NestingGuard guard(*this, peek());
  if (is_name(peek(), "not")) {
    auto expr = make_expr(ExprKind::kNot, next());
    expr->operands.push_back(parse_not());
    return seal(std::move(expr));
  }
  return parse_compare();
}

bool ExpressionParser::parse_compare_op(CompareOp& op) {
  static constexpr std::pair<std::string_view, CompareOp> kOps[] = {
      {"==", CompareOp::kEqual},     {"!=", CompareOp::kNotEqual}, {"<", CompareOp::kLess},
      {"<=", CompareOp::kLessEqual}, {">", CompareOp::kGreater},   {">=", CompareOp::kGreaterEqual},
  };
  for (const auto& [text, value] : kOps) {
    if (is_operator(peek(), text)) {
      next();
      op = value;
      return true;
    }
  }
  if (skip_name("in")) {
    op = CompareOp::kIn;
    return true;
  }
  if (is_name(peek(), "not") && is_name(peek(1), "in")) {
    next();
    next();
    op = CompareOp::kNotIn;
    return true;
  }
  return false;
}

ExprPtr ExpressionParser::parse_compare() {
  const Token& at = peek();
  ExprPtr first = parse_math1();
  CompareOp op;
  if (!parse_compare_op(op)) return first;
  auto compare = make_expr(ExprKind::kCompare, at);
  compare->operands.push_back(std::move(first));
  do {
    compare->compare_ops.push_back(op);
    compare->operands.push_back(parse_math1());
  } while (parse_compare_op(op));
  return seal(std::move(compare));
}

ExprPtr ExpressionParser::make_binary(BinaryOp op, const Token& at, ExprPtr left, ExprPtr right) {
  auto expr = make_pair(ExprKind::kBinary, at, std::move(left), std::move(right));
  expr->binary_op = op;
  return expr;
}

ExprPtr ExpressionParser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_operator(peek(), "+") || is_operator(peek(), "-")) {
    const Token& at = next();
    BinaryOp op = at.text == "+" ? BinaryOp::kAdd : BinaryOp::kSubtract;
    left = make_binary(op, at, std::move(left), parse_concat());
  }
  return left;
}

ExprPtr ExpressionParser::parse_concat() {
  ExprPtr left = parse_math2();
  while (is_operator(peek(), "~")) {
    const Token& at = next();
    left = make_binary(BinaryOp::kConcat, at, std::move(left), parse_math2());
  }
  return left;
}

ExprPtr ExpressionParser::parse_math2() {
  static constexpr std::pair<std::string_view, BinaryOp> kOps[] = {
      {"*", BinaryOp::kMultiply},
      {"/", BinaryOp::kDivide},
      {"//", BinaryOp::kFloorDivide},
      {"%", BinaryOp::kModulo},
  };
  ExprPtr left = parse_pow();
  while (true) {
    const BinaryOp* op = nullptr;
    for (const auto& [text, value] : kOps) {
      if (is_operator(peek(), text)) op = &value;
    }
    if (op == nullptr) return left;
    const Token& at = next();
    left = make_binary(*op, at, std::move(left), parse_pow());
  }
}

ExprPtr ExpressionParser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_operator(peek(), "**")) {  // left-associative in jinja2: 2**3**2 == 64
    const Token& at = next();
    left = make_binary(BinaryOp::kPower, at, std::move(left), parse_unary(true));
  }
  return left;
}

ExprPtr ExpressionParser::parse_unary(bool with_filter) {
  NestingGuard guard(*this, peek());
  ExprPtr node;
  if (is_operator(peek(), "-") || is_operator(peek(), "+")) {
    const Token& at = next();
    node = make_expr(at.text == "-" ? ExprKind::kNegate : ExprKind::kPlus, at);
    node->operands.push_back(parse_unary(false));
    node = seal(std::move(node));
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr ExpressionParser::parse_primary() {
  const Token& token = peek();
  switch (token.kind) {
    case TokenKind::kName:
      return parse_name();
    case TokenKind::kString:
      return parse_strings();
    case TokenKind::kInteger:
      return parse_integer();
    case TokenKind::kFloat:
      return parse_float();
    default:
      break;
  }
  if (skip_operator("(")) {
    ExprPtr inner = parse_tuple(true, true);
    expect_operator(")");
    return inner;
  }
  if (is_operator(token, "[")) return parse_list();
  if (is_operator(token, "{")) return parse_dict();
  fail(token, "unexpected " + describe(token));
}

ExprPtr ExpressionParser::parse_name() {
  const Token& token = next();
  auto expr = make_expr(ExprKind::kLiteral, token);
  std::string_view name = token.text;
  if (name == "true" || name == "True") {
    expr->literal = Value::boolean(true);
  } else if (name == "false" || name == "False") {
    expr->literal = Value::boolean(false);
  } else if (name == "none" || name == "None") {
    expr->literal = Value::none();
  } else {
    expr->kind = ExprKind::kName;
    expr->name = name;
    expr->name_id = names_.intern(name);
    note_macro_special_name(name);
  }
  return expr;
}

void ExpressionParser::note_macro_special_name(std::string_view name) {
  if (macro_stack_.empty()) return;
  MacroDef& macro = *macro_stack_.back();
  if (name == "varargs") macro.uses_varargs = true;
  if (name == "kwargs") macro.uses_kwargs = true;
}

ExprPtr ExpressionParser::parse_strings() {
  const Token& first = peek();
  std::string text;
  while (peek().kind == TokenKind::kString) {  // 'a' 'b' == 'ab'
    const Token& token = next();
    std::string error;
    std::optional<std::string> decoded = decode_string_literal(token.text, error);
    if (!decoded) fail(token, error);
    text += *decoded;
  }
  auto expr = make_expr(ExprKind::kLiteral, first);
  expr->literal = make_owned_string(std::move(text));
  return expr;
}

ExprPtr ExpressionParser::parse_integer() {
  const Token& token = next();
  std::optional<int64_t> value = integer_literal_value(token.text);
  if (!value) fail(token, "integer literal '" + std::string(token.text) + "' is out of range");
  auto expr = make_expr(ExprKind::kLiteral, token);
  expr->literal = Value::integer(*value);
  return expr;
}

ExprPtr ExpressionParser::parse_float() {
  const Token& token = next();
  auto expr = make_expr(ExprKind::kLiteral, token);
  expr->literal = Value::number(float_literal_value(token.text));
  return expr;
}

ExprPtr ExpressionParser::parse_list() {
  auto list = make_expr(ExprKind::kList, next());
  while (!is_operator(peek(), "]")) {
    if (!list->operands.empty()) expect_operator(",");
    if (is_operator(peek(), "]")) break;
    list->operands.push_back(parse_expression(true));
  }
  next();
  return seal(std::move(list));
}

ExprPtr ExpressionParser::parse_dict() {
  auto dict = make_expr(ExprKind::kDict, next());
  while (!is_operator(peek(), "}")) {
    if (!dict->operands.empty()) expect_operator(",");
    if (is_operator(peek(), "}")) break;
    dict->operands.push_back(parse_expression(true));
    expect_operator(":");
    dict->operands.push_back(parse_expression(true));
  }
  next();
  return seal(std::move(dict));
}

ExprPtr ExpressionParser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_operator(peek(), ".") || is_operator(peek(), "[")) {
      node = seal(parse_subscript(std::move(node)));
    } else if (is_operator(peek(), "(")) {
      node = seal(parse_call(std::move(node)));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_operator(peek(), "|")) {
      node = parse_filter_chain(std::move(node));
    } else if (is_name(peek(), "is")) {
      node = seal(parse_test(std::move(node)));
    } else if (is_operator(peek(), "(")) {
      node = seal(parse_call(std::move(node)));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::parse_subscript(ExprPtr node) {
  const Token& at = next();
  if (at.text == ".") {
    const Token& attribute = next();
    if (attribute.kind == TokenKind::kName) {
      auto expr = make_expr(ExprKind::kAttribute, attribute);
      expr->name = attribute.text;
      expr->operands.push_back(std::move(node));
      return expr;
    }
    if (attribute.kind != TokenKind::kInteger) fail(attribute, "expected a name or number after '.'");
    --pos_;
    auto expr = make_expr(ExprKind::kSubscript, attribute);
    expr->operands.push_back(std::move(node));
    expr->operands.push_back(parse_integer());
    return expr;
  }
  auto expr = make_expr(ExprKind::kSubscript, at);
  expr->operands.push_back(std::move(node));
  expr->operands.push_back(parse_subscribed());
  if (is_operator(peek(), ",")) fail(peek(), "tuple subscripts are not supported");
  expect_operator("]");
  return expr;
}

// An index or a slice start:stop:step (each part optional).
ExprPtr ExpressionParser::parse_subscribed() {
  const Token& at = peek();
  ExprPtr start;
  if (!is_operator(peek(), ":")) {
    start = parse_expression(true);
    if (!is_operator(peek(), ":")) return start;
  }
  next();
  auto slice = make_expr(ExprKind::kSlice, at);
  slice->operands.push_back(std::move(start));
  auto ends_part = [&] {
    return is_operator(peek(), "]") || is_operator(peek(), ",") || is_operator(peek(), ":");
  };
  slice->operands.push_back(ends_part() ? nullptr : parse_expression(true));
  ExprPtr step;
  if (skip_operator(":") && !is_operator(peek(), "]") && !is_operator(peek(), ","))
    step = parse_expression(true);
  slice->operands.push_back(std::move(step));
  return seal(std::move(slice));
}

// Arguments in parentheses: positional, then keyword (name=value).
void ExpressionParser::parse_call_args(Expr& call) {
  expect_operator("(");
  while (!is_operator(peek(), ")")) {
    if (call.operands.size() > 1 || !call.keywords.empty()) expect_operator(",");
    if (is_operator(peek(), ")")) break;
    if (is_operator(peek(), "*") || is_operator(peek(), "**"))
      fail(peek(), "*args and **kwargs in calls are not supported");
    if (peek().kind == TokenKind::kName && is_operator(peek(1), "=")) {
      std::string_view name = next().text;
      next();
      call.keywords.push_back({name, parse_expression(true)});
    } else {
      if (!call.keywords.empty()) fail(peek(), "a positional argument follows keyword arguments");
      call.operands.push_back(parse_expression(true));
    }
  }
  next();
}

ExprPtr ExpressionParser::parse_call(ExprPtr callee) {
  auto call = make_expr(ExprKind::kCall, peek());
  call->operands.push_back(std::move(callee));
  parse_call_args(*call);
  return call;
}

// `| name(args)` repeated; with `only_filters` (a filter block) the chain starts without '|'.
ExprPtr ExpressionParser::parse_filter_chain(ExprPtr node, bool first_without_pipe) {
  bool first = true;
  while ((first && first_without_pipe) || skip_operator("|")) {
    first = false;
    const Token& at = peek();
    std::string name(expect_name());
    while (skip_operator(".")) name.append(".").append(expect_name());
    auto filter = make_expr(ExprKind::kFilter, at);
    filter->name = at.text;
    filter->filter = find_filter(name);
    filter->operands.push_back(std::move(node));
    if (is_operator(peek(), "(")) parse_call_args(*filter);
    node = seal(std::move(filter));
  }
  return node;
}

ExprPtr ExpressionParser::parse_test(ExprPtr node) {
  next();  // 'is'
  bool negated = skip_name("not");
  const Token& at = peek();
  std::string_view name = expect_name();
  auto test = make_expr(ExprKind::kTest, at);
  test->name = name;
  test->negated = negated;
  test->test = find_test(name);
  test->operands.push_back(std::move(node));
  const Token& token = peek();
  bool takes_bare_argument = (token.kind == TokenKind::kName || token.kind == TokenKind::kString ||
                              token.kind == TokenKind::kInteger || token.kind == TokenKind::kFloat ||
                              is_operator(token, "[") || is_operator(token, "{")) &&
                             !is_name(token, "else") && !is_name(token, "or") && !is_name(token, "and");
  if (is_operator(token, "(")) {
    parse_call_args(*test);
  } else if (takes_bare_argument) {
    if (is_name(token, "is")) fail(token, "tests cannot be chained with 'is'");
    test->operands.push_back(parse_postfix(parse_primary()));
  }
  return test;
}

}  // namespace hanlin::text::jinja
