#include "server/http/http_types.h"

#include <algorithm>
#include <boost/json.hpp>

namespace proofbook::server {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      int hi = i + 2 < in.size() ? HexValue(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Status(StatusCode::kInvalidArgument, "malformed %-escape in the query string");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    std::string_view query, std::initializer_list<std::string_view> allowed) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto name = PercentDecode(part.substr(0, eq));
    if (!name) return name.error();
    auto value = PercentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    if (!value) return value.error();
    if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) {
      return Status(StatusCode::kInvalidArgument, "unknown query parameter '" + *name + "'", *name);
    }
    out.emplace_back(std::move(name).value(), std::move(value).value());
  }
  return out;
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kForbidden:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kMethodNotAllowed:
      return 405;
    case StatusCode::kConflict:
      return 409;
    case StatusCode::kPayloadTooLarge:
      return 413;
    case StatusCode::kUnprocessable:
      return 422;
    case StatusCode::kRateLimited:
      return 429;
    case StatusCode::kInternal:
      return 500;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kOverloaded:
      return 503;
  }
  return 500;
}

boost::json::object ErrorJson(const Status& status) {
  boost::json::object error{{"code", status.wire_code()}, {"message", status.message()}};
  if (!status.field().empty()) error["field"] = status.field();
  return error;
}

HttpResponse ErrorResponse(const Status& status) {
  HttpResponse r;
  r.status = HttpStatusFor(status.code());
  r.body = boost::json::serialize(boost::json::object{{"error", ErrorJson(status)}});
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
