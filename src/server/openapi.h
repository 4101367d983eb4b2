// GET /openapi.json: the OpenAPI 3 description of the routes `hanlin serve` answers.
#pragma once

#include <string>

namespace hanlin::server {

const std::string& openapi_document();

}  // namespace hanlin::server
