// The expression half of the chat-template parser (jinja2's operator precedence, filters, tests,
// calls, subscripts and literals) and the token stream both halves share. parser.cpp adds the
// statements on top of it.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "text/chat_template/ast.h"
#include "text/chat_template/lexer.h"
#include "text/chat_template/parser.h"

namespace hanlin::text::jinja {

class ExpressionParser {
 public:
  ExpressionParser(std::string_view source, const std::vector<Token>& tokens)
      : source_(source), tokens_(tokens) {}

 protected:
  // ---- the token stream ----
  const Token& peek(size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  static bool is_operator(const Token& token, std::string_view op) {
    return token.kind == TokenKind::kOperator && token.text == op;
  }
  static bool is_name(const Token& token, std::string_view name) {
    return token.kind == TokenKind::kName && token.text == name;
  }
  bool skip_operator(std::string_view op) {
    if (!is_operator(peek(), op)) return false;
    next();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(peek(), name)) return false;
    next();
    return true;
  }
  [[noreturn]] void fail(const Token& token, const std::string& message) const {
    throw_syntax_error(source_, token.offset, message);
  }
  static std::string describe(const Token& token) {
    switch (token.kind) {
      case TokenKind::kEnd:
        return "end of template";
      case TokenKind::kVariableEnd:
        return "end of print statement";
      case TokenKind::kBlockEnd:
        return "end of statement block";
      default:
        return std::string("'").append(token.text).append("'");
    }
  }
  void expect_operator(std::string_view op) {
    if (!skip_operator(op)) fail(peek(), "expected '" + std::string(op) + "', got " + describe(peek()));
  }
  std::string_view expect_name() {
    if (peek().kind != TokenKind::kName) fail(peek(), "expected a name, got " + describe(peek()));
    return next().text;
  }
  void expect_block_end() {
    if (peek().kind != TokenKind::kBlockEnd)
      fail(peek(), "expected end of statement block, got " + describe(peek()));
    next();
  }

  // Counts nesting on entry to each recursive rule; refuses templates nested absurdly deep.
  class NestingGuard {
   public:
    NestingGuard(ExpressionParser& parser, const Token& token) : parser_(parser) {
      if (++parser_.nesting_ > kMaxParseNesting) parser_.fail(token, "the template nests too deeply");
    }
    ~NestingGuard() { --parser_.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    ExpressionParser& parser_;
  };

  // ---- expressions, loosest first ----
  ExprPtr seal(ExprPtr expr);
  ExprPtr make_expr(ExprKind kind, const Token& at);
  ExprPtr parse_tuple(bool with_condition, bool explicit_parentheses, std::string_view extra_end = {});
  ExprPtr parse_expression(bool with_condition);
  ExprPtr make_pair(ExprKind kind, const Token& at, ExprPtr left, ExprPtr right);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  bool parse_compare_op(CompareOp& op);
  ExprPtr parse_compare();
  ExprPtr make_binary(BinaryOp op, const Token& at, ExprPtr left, ExprPtr right);
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_name();
  void note_macro_special_name(std::string_view name);
  ExprPtr parse_strings();
  ExprPtr parse_integer();
  ExprPtr parse_float();
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  void parse_call_args(Expr& call);
  ExprPtr parse_call(ExprPtr callee);
  ExprPtr parse_filter_chain(ExprPtr node, bool first_without_pipe = false);
  ExprPtr parse_test(ExprPtr node);

  std::string_view source_;
  const std::vector<Token>& tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;
  NameTable names_;
  std::vector<MacroDef*> macro_stack_;
};

}  // namespace hanlin::text::jinja
