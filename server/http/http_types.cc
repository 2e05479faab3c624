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

namespace {

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
// Error messages and fields repeat what the client sent (a decoded query name, a raw path);
// Boost.JSON copies string bytes as they are, and a JSON body must be UTF-8 (RFC 8259 8.1).
// Found by fuzz/http_parse_fuzzer.
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
    if (ok && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
      uint32_t cp = c & (0xFF >> (len + 1));
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      i += 1;
    }
  }
  return out;
}

}  // namespace

boost::json::object ErrorJson(const Status& status) {
  boost::json::object error{{"code", status.wire_code()}, {"message", ValidUtf8(status.message())}};
  if (!status.field().empty()) error["field"] = ValidUtf8(status.field());
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
