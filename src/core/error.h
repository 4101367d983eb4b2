// hanlin::Error: the one exception type thrown inside hanlin and caught only at boundaries
// (the CLI's main, the HTTP handler), where its kind picks the exit code or HTTP status.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace hanlin {

enum class ErrorKind {
  kInvalidArgument,   // the caller's input is wrong (flags, request fields)
  kInvalidFile,       // a file on disk is malformed (checkpoint, config, tokenizer)
  kNotFound,          // a file or name that should exist does not
  kUnsupported,       // valid, but hanlin does not implement it (yet)
  kResourceExhausted, // out of memory, KV blocks, queue space
  kInternal,          // a broken invariant inside hanlin
};

std::string_view error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// Throws Error{kind, message} when `condition` is false. For input checks, not invariants.
inline void require(bool condition, ErrorKind kind, const std::string& message) {
  if (!condition) throw Error(kind, message);
}

}  // namespace hanlin
