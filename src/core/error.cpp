// Names of error kinds, for messages and logs.
#include "core/error.h"

namespace hanlin {

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid argument";
    case ErrorKind::kInvalidFile: return "invalid file";
    case ErrorKind::kNotFound: return "not found";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kResourceExhausted: return "resource exhausted";
    case ErrorKind::kInternal: return "internal error";
  }
  return "error";
}

}  // namespace hanlin
