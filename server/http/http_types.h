// Plain HTTP request/response values passed between the Beast sessions and the handlers, so
// that only http_server.cc knows Beast. Value types; no thread rules.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "matching/status.h"
#include "server/base/body_stream.h"

namespace proofbook::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query, not percent-decoded
  std::string query;   // after '?', may be empty
  std::string body;
  std::string authorization;  // raw Authorization header, may be empty
  std::string content_type;
  std::string accept;      // the Accept header, may be empty
  std::string request_id;  // X-Request-Id given by the client, or one we made
};

struct HttpResponse {
  int status = 200;
  std::string body;  // ignored when `stream` is set
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::shared_ptr<BodyStream> stream;                        // a streamed body, or null
};

// Completes one request. Callable from any thread, exactly once; the session takes it from
// there (write, keep-alive, logging).
using Responder = std::function<void(HttpResponse)>;

// The query string's parameters, percent-decoded ('+' is a space), in order. Malformed
// escapes are an invalid_argument error; so is a name outside `allowed`.
Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    std::string_view query, std::initializer_list<std::string_view> allowed);

// The HTTP status for a Status code (400, 401, ..., 503).
int HttpStatusFor(StatusCode code);

// {"code":...,"message":...,"field":...}: a Status as the wire shows it, over REST and the
// prover WebSocket alike.
boost::json::object ErrorJson(const Status& status);

// {"error": ErrorJson(status)} with the mapped status, and Retry-After on 503/429.
HttpResponse ErrorResponse(const Status& status);

// 200 (or `status`) with a JSON body already serialised.
HttpResponse JsonResponse(std::string body, int status = 200);

}  // namespace proofbook::server
