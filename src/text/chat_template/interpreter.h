// Runs a parsed chat template against a context of values, inside budgets on steps, text built,
// output size and call depth. It sees only values: nothing it evaluates can reach the process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/chat_template/ast.h"
#include "text/chat_template/parser.h"
#include "text/chat_template/value.h"

namespace hanlin::text::jinja {

struct Limits {
  uint64_t max_steps = 10'000'000;
  uint64_t max_work_bytes = 256ull << 20;  // all the text built while rendering
  size_t max_output_bytes = 16u << 20;     // the rendered prompt, and any one string
  int max_call_depth = 64;                 // nested macro calls
};

struct CompiledTemplate {
  std::string source;  // normalised; the syntax tree points into it
  ParsedTemplate parsed;
  std::vector<Value> globals;  // by name id: the global function a name refers to, or Undefined
  int loop_id = -1;
  int caller_id = -1;
  int varargs_id = -1;
  int kwargs_id = -1;
};

// Text written by the template, with the spans that hold request data.
struct Output {
  std::string text;
  Provenance data;
};

class Interpreter {
 public:
  Interpreter(const CompiledTemplate& compiled, const Limits& limits);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders with these top-level variables (by name id). Throws Error naming the line on failure.
  Output render(std::vector<std::pair<int, Value>> variables);

  // ---- for builtins ----
  Budget& budget() { return budget_; }
  NamespaceRef new_namespace();
  Value call(const Value& callee, CallArgs& args);
  // Where the statement running starts in the source, for error messages.
  uint32_t current_offset() const { return current_offset_; }

 private:
  struct Scope {
    Scope* parent = nullptr;
    const CapturedVariables* captured = nullptr;
    std::vector<std::pair<int, Value>> variables;
  };
  enum class Flow { kNormal, kBreak, kContinue };

  // Evaluation frames (statements and expressions) one render may nest; with the parser's own
  // bound this keeps the native stack small however a template recurses.
  static constexpr int kMaxEvalDepth = 1500;
  class DepthGuard {
   public:
    explicit DepthGuard(Interpreter& interpreter);
    ~DepthGuard() { --interpreter_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Interpreter& interpreter_;
  };

  Flow exec_body(const Body& body, Scope& scope);
  Flow exec(const Stmt& stmt, Scope& scope);
  Flow exec_if(const Stmt& stmt, Scope& scope);
  void exec_for(const Stmt& stmt, Scope& scope);
  void exec_set(const Stmt& stmt, Scope& scope);
  void exec_set_attribute(const Stmt& stmt, Scope& scope);
  void exec_set_block(const Stmt& stmt, Scope& scope);
  void exec_macro(const Stmt& stmt, Scope& scope);
  void exec_call_block(const Stmt& stmt, Scope& scope);
  void exec_filter_block(const Stmt& stmt, Scope& scope);
  Flow exec_with(const Stmt& stmt, Scope& scope);

  Value eval(const Expr& expr, Scope& scope);
  Value lookup(int id, std::string_view name, const Scope& scope) const;
  Value eval_subscript(const Expr& expr, Scope& scope);
  Value eval_call(const Expr& expr, Scope& scope);
  Value eval_filter(const Expr& expr, Scope& scope);
  Value eval_test(const Expr& expr, Scope& scope);
  Value eval_compare(const Expr& expr, Scope& scope);
  Value eval_collection(const Expr& expr, Scope& scope);
  void eval_args(const Expr& expr, size_t first, Scope& scope, CallArgs& args);

  Value call_macro(const Callable& macro, CallArgs& args, std::shared_ptr<const Callable> caller);
  // Runs `body` with its output captured into a string value.
  Value capture(const Body& body, Scope& scope);
  std::shared_ptr<const CapturedVariables> capture_variables(const Scope& scope) const;
  static void assign(Scope& scope, int id, Value value);
  void assign_targets(const Stmt& stmt, Scope& scope, const Value& value);
  void write(const Value& value);
  void write_text(std::string_view text, bool is_data);

  const CompiledTemplate& compiled_;
  Limits limits_;
  Budget budget_;
  Scope* root_ = nullptr;
  Output* out_ = nullptr;
  Value block_value_;            // the text a {% filter %} / {% set %} block's filters apply to
  uint32_t current_offset_ = 0;  // the statement running, for error messages
  int depth_ = 0;
  int call_depth_ = 0;
  std::vector<std::unique_ptr<NamespaceData>> namespaces_;
};

}  // namespace hanlin::text::jinja
