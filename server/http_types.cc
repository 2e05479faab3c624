#include "server/http_types.h"

#include <boost/json.hpp>

namespace proofbook::server {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kForbidden: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kMethodNotAllowed: return 405;
    case StatusCode::kConflict: return 409;
    case StatusCode::kPayloadTooLarge: return 413;
    case StatusCode::kUnprocessable: return 422;
    case StatusCode::kRateLimited: return 429;
    case StatusCode::kInternal: return 500;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kOverloaded: return 503;
  }
  return 500;
}

HttpResponse ErrorResponse(const Status& status) {
  boost::json::object error;
  error["code"] = status.wire_code();
  error["message"] = status.message();
  if (!status.field().empty()) error["field"] = status.field();
  HttpResponse r;
  r.status = HttpStatusFor(status.code());
  r.body = boost::json::serialize(boost::json::object{{"error", std::move(error)}});
  if (r.status == 503 || r.status == 429) r.headers.emplace_back("Retry-After", "1");
  return r;
}

HttpResponse JsonResponse(std::string body, int status) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace proofbook::server
