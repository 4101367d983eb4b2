// Recursive-descent parser for the jinja2 subset chat templates use.
#include "text/chat_template/parser.h"

#include <string>
#include <utility>

#include "core/error.h"
#include "text/chat_template/expression_parser.h"

namespace hanlin::text::jinja {

int NameTable::intern(std::string_view name) {
  int id = find(name);
  if (id >= 0) return id;
  names.push_back(name);
  return static_cast<int>(names.size() - 1);
}

int NameTable::find(std::string_view name) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

class Parser : public ExpressionParser {
 public:
  Parser(std::string_view source, const std::vector<Token>& tokens) : ExpressionParser(source, tokens) {}

  ParsedTemplate run() {
    ParsedTemplate result;
    result.body = parse_body({});
    result.names = std::move(names_);
    return result;
  }

 private:
  // ---- statements ----
  Body parse_body(std::initializer_list<std::string_view> end_tags) {
    Body body;
    while (true) {
      const Token& token = peek();
      if (token.kind == TokenKind::kEnd) {
        if (end_tags.size() != 0) {  // name the tag that closes the block
          fail(token, "unexpected end of template, expected '" + std::string(*(end_tags.end() - 1)) + "'");
        }
        return body;
      }
      if (token.kind == TokenKind::kText) {
        auto stmt = std::make_unique<Stmt>();
        stmt->kind = StmtKind::kText;
        stmt->offset = token.offset;
        stmt->text = next().text;
        body.push_back(std::move(stmt));
      } else if (token.kind == TokenKind::kVariableBegin) {
        body.push_back(parse_print());
      } else {  // kBlockBegin
        const Token& name = peek(1);
        for (std::string_view end : end_tags) {
          if (is_name(name, end)) {
            next();  // the block begin; the caller reads the tag name
            return body;
          }
        }
        next();
        body.push_back(parse_statement());
      }
    }
  }

  StmtPtr make_stmt(StmtKind kind, const Token& at) {
    auto stmt = std::make_unique<Stmt>();
    stmt->kind = kind;
    stmt->offset = at.offset;
    return stmt;
  }

  StmtPtr parse_print() {
    const Token& begin = next();
    auto stmt = make_stmt(StmtKind::kPrint, begin);
    stmt->expr = parse_tuple(true, false);
    if (peek().kind != TokenKind::kVariableEnd)
      fail(peek(), "expected end of print statement, got " + describe(peek()));
    next();
    return stmt;
  }

  StmtPtr parse_statement() {
    const Token& tag = peek();
    NestingGuard guard(*this, tag);
    if (tag.kind != TokenKind::kName) fail(tag, "expected a statement name, got " + describe(tag));
    using Rule = StmtPtr (Parser::*)();
    struct Entry {
      std::string_view name;
      Rule rule;
    };
    static constexpr Entry kStatements[] = {
        {"if", &Parser::parse_if},
        {"for", &Parser::parse_for},
        {"set", &Parser::parse_set},
        {"macro", &Parser::parse_macro},
        {"call", &Parser::parse_call_block},
        {"filter", &Parser::parse_filter_block},
        {"with", &Parser::parse_with},
        {"break", &Parser::parse_break},
        {"continue", &Parser::parse_continue},
        {"generation", &Parser::parse_generation},
    };
    for (const Entry& entry : kStatements) {
      if (tag.text == entry.name) {
        next();
        return (this->*entry.rule)();
      }
    }
    fail(tag, "unknown or unsupported tag '" + std::string(tag.text) + "'");
  }

  StmtPtr parse_if() {
    const Token& at = tokens_[pos_ - 1];
    auto stmt = make_stmt(StmtKind::kIf, at);
    ExprPtr condition = parse_tuple(false, false);  // jinja2: no `x if c else y` directly in a condition
    while (true) {
      expect_block_end();
      Body body = parse_body({"elif", "else", "endif"});
      stmt->branches.push_back({std::move(condition), std::move(body)});
      const Token& tag = next();
      if (tag.text == "elif") {
        condition = parse_tuple(false, false);
        continue;
      }
      if (tag.text == "else") {
        expect_block_end();
        stmt->branches.push_back({nullptr, parse_body({"endif"})});
        next();
      }
      expect_block_end();
      return stmt;
    }
  }

  // Assignment targets: a name, or names separated by commas (optionally in parentheses).
  void parse_targets(Stmt& stmt, std::initializer_list<std::string_view> stop_names) {
    bool parenthesized = skip_operator("(");
    while (true) {
      std::string_view name = expect_name();
      stmt.targets.push_back(names_.intern(name));
      stmt.target_names.push_back(name);
      if (!skip_operator(",")) break;
      stmt.unpack = true;
      bool at_stop = false;
      for (std::string_view stop : stop_names) at_stop = at_stop || is_name(peek(), stop);
      if (at_stop || is_operator(peek(), "=") || is_operator(peek(), ")")) break;
    }
    if (parenthesized) {
      stmt.unpack = true;
      expect_operator(")");
    }
  }

  StmtPtr parse_for() {
    auto stmt = make_stmt(StmtKind::kFor, tokens_[pos_ - 1]);
    parse_targets(*stmt, {"in"});
    if (!skip_name("in")) fail(peek(), "expected 'in', got " + describe(peek()));
    stmt->expr = parse_tuple(false, false, "recursive");
    if (skip_name("if")) stmt->condition = parse_expression(true);
    if (is_name(peek(), "recursive")) fail(peek(), "recursive for-loops are not supported");
    expect_block_end();
    ++loop_depth_;
    stmt->body = parse_body({"else", "endfor"});
    --loop_depth_;
    if (next().text == "else") {
      expect_block_end();
      stmt->else_body = parse_body({"endfor"});
      next();
    }
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_set() {
    const Token& at = tokens_[pos_ - 1];
    if (peek().kind == TokenKind::kName && is_operator(peek(1), ".")) {  // {% set ns.attr = value %}
      auto stmt = make_stmt(StmtKind::kSetAttribute, at);
      std::string_view name = next().text;
      stmt->targets.push_back(names_.intern(name));
      stmt->target_names.push_back(name);
      next();
      stmt->attribute = expect_name();
      expect_operator("=");
      stmt->expr = parse_tuple(true, false);
      expect_block_end();
      return stmt;
    }
    auto stmt = make_stmt(StmtKind::kSet, at);
    parse_targets(*stmt, {});
    if (skip_operator("=")) {
      stmt->expr = parse_tuple(true, false);
      expect_block_end();
      return stmt;
    }
    if (stmt->unpack) fail(peek(), "a block assignment takes one name");
    stmt->kind = StmtKind::kSetBlock;
    if (is_operator(peek(), "|")) stmt->expr = parse_filter_chain(make_expr(ExprKind::kBlockValue, peek()));
    expect_block_end();
    stmt->body = parse_body({"endset"});
    next();
    expect_block_end();
    return stmt;
  }

  void parse_signature(MacroDef& macro) {
    expect_operator("(");
    while (!is_operator(peek(), ")")) {
      if (!macro.param_ids.empty()) expect_operator(",");
      if (is_operator(peek(), ")")) break;
      std::string_view name = expect_name();
      macro.param_ids.push_back(names_.intern(name));
      macro.param_names.push_back(name);
      macro.defaults.push_back(skip_operator("=") ? parse_expression(true) : nullptr);
    }
    next();
  }

  StmtPtr parse_macro() {
    auto stmt = make_stmt(StmtKind::kMacro, tokens_[pos_ - 1]);
    stmt->macro = std::make_unique<MacroDef>();
    stmt->macro->name = expect_name();
    stmt->targets.push_back(names_.intern(stmt->macro->name));
    parse_signature(*stmt->macro);
    expect_block_end();
    stmt->macro->body = parse_macro_body(*stmt->macro, "endmacro");
    next();
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_call_block() {
    auto stmt = make_stmt(StmtKind::kCallBlock, tokens_[pos_ - 1]);
    stmt->macro = std::make_unique<MacroDef>();
    stmt->macro->name = "caller";
    if (is_operator(peek(), "(")) parse_signature(*stmt->macro);
    stmt->expr = parse_expression(true);
    if (stmt->expr->kind != ExprKind::kCall) fail(peek(), "expected a call after 'call'");
    expect_block_end();
    stmt->macro->body = parse_macro_body(*stmt->macro, "endcall");
    next();
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_filter_block() {
    auto stmt = make_stmt(StmtKind::kFilterBlock, tokens_[pos_ - 1]);
    auto placeholder = make_expr(ExprKind::kBlockValue, peek());
    stmt->expr = parse_filter_chain(std::move(placeholder), true);
    expect_block_end();
    stmt->body = parse_body({"endfilter"});
    next();
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_with() {
    auto stmt = make_stmt(StmtKind::kWith, tokens_[pos_ - 1]);
    while (peek().kind != TokenKind::kBlockEnd) {
      if (!stmt->targets.empty()) expect_operator(",");
      std::string_view name = expect_name();
      stmt->targets.push_back(names_.intern(name));
      stmt->target_names.push_back(name);
      expect_operator("=");
      stmt->values.push_back(parse_expression(true));
    }
    next();
    stmt->body = parse_body({"endwith"});
    next();
    expect_block_end();
    return stmt;
  }

  // A macro body is its own function: a loop around the definition does not contain it.
  Body parse_macro_body(MacroDef& macro, std::string_view end_tag) {
    macro_stack_.push_back(&macro);
    int outer_loop_depth = std::exchange(loop_depth_, 0);
    Body body = parse_body({end_tag});
    loop_depth_ = outer_loop_depth;
    macro_stack_.pop_back();
    return body;
  }

  StmtPtr parse_break() {
    if (loop_depth_ == 0) fail(tokens_[pos_ - 1], "'break' outside loop");
    auto stmt = make_stmt(StmtKind::kBreak, tokens_[pos_ - 1]);
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_continue() {
    if (loop_depth_ == 0) fail(tokens_[pos_ - 1], "'continue' outside loop");
    auto stmt = make_stmt(StmtKind::kContinue, tokens_[pos_ - 1]);
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_generation() {
    auto stmt = make_stmt(StmtKind::kGeneration, tokens_[pos_ - 1]);
    expect_block_end();
    stmt->body = parse_body({"endgeneration"});
    next();
    expect_block_end();
    return stmt;
  }
};

}  // namespace

ParsedTemplate parse_template(std::string_view source, const std::vector<Token>& tokens) {
  return Parser(source, tokens).run();
}

}  // namespace hanlin::text::jinja
