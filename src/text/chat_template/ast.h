// The syntax tree of a compiled chat template: expressions and statements as jinja2 parses them.
// Names are interned to small integers at compile time so scopes look them up without hashing.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "text/chat_template/value.h"

namespace hanlin::text::jinja {

enum class ExprKind : uint8_t {
  kLiteral,      // literal
  kName,         // name_id
  kAttribute,    // operands[0] . name
  kSubscript,    // operands[0] [ operands[1] ]
  kSlice,        // operands[0..2]: start, stop, step (each may be null); only inside kSubscript
  kCall,         // operands[0] ( operands[1..], keywords )
  kFilter,       // operands[0] | name ( operands[1..], keywords ); operands[0] null in filter blocks
  kTest,         // operands[0] is [not] name ( operands[1..], keywords )
  kNegate,       // - operands[0]
  kPlus,         // + operands[0]
  kNot,          // not operands[0]
  kBinary,       // operands[0] op operands[1]
  kAnd,          // operands[0] and operands[1]
  kOr,           // operands[0] or operands[1]
  kCompare,      // operands[0] compare_ops[i] operands[i + 1] ...
  kConditional,  // operands[1] if operands[0] else operands[2] (operands[2] may be null)
  kList,         // [ operands ]
  kTuple,        // ( operands )
  kDict,         // { operands[2i] : operands[2i + 1] }
  kBlockValue,   // the text of the block a {% filter %} or {% set %} block applies filters to
};

enum class BinaryOp : uint8_t { kAdd, kSubtract, kMultiply, kDivide, kFloorDivide, kModulo, kPower, kConcat };
enum class CompareOp : uint8_t { kEqual, kNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual, kIn, kNotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct KeywordArg {
  std::string_view name;
  ExprPtr value;
};

struct FilterEntry;
struct TestEntry;

struct Expr {
  ExprKind kind;
  BinaryOp binary_op = BinaryOp::kAdd;
  bool negated = false;   // `is not`
  uint32_t offset = 0;    // in the normalised source, for error messages
  uint16_t depth = 1;     // height of this subtree, bounded by the parser
  int name_id = -1;       // kName
  std::string_view name;  // kName, kAttribute, kFilter, kTest
  Value literal;          // kLiteral
  std::vector<ExprPtr> operands;
  std::vector<CompareOp> compare_ops;
  std::vector<KeywordArg> keywords;
  const FilterEntry* filter = nullptr;  // kFilter: resolved when compiled; null = unknown filter
  const TestEntry* test = nullptr;      // kTest: likewise
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// A macro, or the body of a {% call %} block (which becomes `caller`).
struct MacroDef {
  std::string_view name;
  std::vector<int> param_ids;
  std::vector<std::string_view> param_names;
  std::vector<ExprPtr> defaults;  // aligned with the parameters; null where none
  Body body;
  bool uses_varargs = false;
  bool uses_kwargs = false;
};

enum class StmtKind : uint8_t {
  kText,
  kPrint,
  kIf,
  kFor,
  kSet,
  kSetAttribute,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kBreak,
  kContinue,
  kGeneration,
};

struct IfBranch {
  ExprPtr condition;  // null for else
  Body body;
};

struct Stmt {
  StmtKind kind;
  uint32_t offset = 0;
  std::string_view text;     // kText
  ExprPtr expr;              // kPrint, kFor (iterable), kSet and kSetAttribute (value),
                             // kCallBlock (the call), kFilterBlock / kSetBlock (filters, may be null)
  ExprPtr condition;         // kFor: the loop filter (`for x in xs if cond`)
  std::vector<int> targets;  // kFor, kSet, kSetBlock, kWith: names; kSetAttribute: the namespace
  std::vector<std::string_view> target_names;
  std::string_view attribute;      // kSetAttribute
  std::vector<IfBranch> branches;  // kIf
  std::vector<ExprPtr> values;     // kWith, aligned with targets
  Body body;
  Body else_body;                   // kFor
  std::unique_ptr<MacroDef> macro;  // kMacro, kCallBlock (the caller)
  bool unpack = false;              // kFor / kSet with several targets
};

}  // namespace hanlin::text::jinja
