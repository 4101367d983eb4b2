// Errors as the OpenAI API shapes them: {"error": {"message", "type", "param", "code"}} with the
// HTTP status that goes with each kind of failure.
#pragma once

#include <exception>
#include <optional>
#include <string>

#include "core/error.h"

namespace hanlin::server {

struct ApiError {
  unsigned status = 500;
  std::string message;
  std::string type;                  // invalid_request_error, not_found_error, ...
  std::optional<std::string> param;  // the request field at fault
};

// The JSON text of an error body.
std::string error_body(const ApiError& error);

ApiError bad_request(std::string message, std::optional<std::string> param = std::nullopt);
ApiError not_found(std::string message);

// hanlin::Error kinds mapped to statuses: invalid argument → 400 (param guessed from the
// message's leading field name), resource exhausted → 429 ("overloaded") or 400, unsupported
// → 400, internal and anything else → 500 (message kept: it names what broke).
ApiError api_error_from(const std::exception& error);

}  // namespace hanlin::server
