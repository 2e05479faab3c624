// http_parse_fuzzer: the request target as the REST API reads it: the router's path matching
// (server/http/router.h) and the query-string parser ParseQuery (server/http/http_types.h).
//
// Input: one selector byte, then the request target ("/v1/orders/7?wait_ms=100"). The
// selector's low 3 bits pick the method: GET POST DELETE HEAD PUT PATCH OPTIONS CONNECT.
// Targets with a byte Beast's parser refuses (controls, space, DEL: is_pathchar) never reach
// the router (400 bad_target), so they are skipped. The target is split at the first '?' as
// http_server.cc does.
//
// The router holds the real route table: the (method, pattern) pairs server/api/*.cc
// register, in RegisterApi's order. RegisterApi itself needs an ApiContext (a database, the
// engine), so the table is a copy that must follow server/api if routes change; the handlers
// only record what they were called with.
//
// Checked against an independent model of both:
//  - Dispatch answers exactly once, at once. A handler runs only for the first route whose
//    pattern matches the path's non-empty segments and whose method is the request's (HEAD
//    runs GET routes); its params are the placeholders' segments, in order, non-empty, no '/'.
//    Otherwise 405 method_not_allowed with Allow listing the methods of the routes the path
//    matches, or 404 not_found when none does; both keep fuzz_support.h's refusal contract.
//  - ParseQuery, for each allowed-name set the API uses: ok exactly when every non-empty
//    '&'-separated part percent-decodes ('+' a space, %XX two hex digits) and its name is
//    allowed, with the pairs in order; a refusal keeps the contract. Ok pairs re-encoded
//    parse back to the same pairs.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "server/http/http_types.h"
#include "server/http/router.h"

namespace proofbook::fuzz {
namespace {

using server::HttpRequest;
using server::HttpResponse;
using server::PathParams;
using Pairs = std::vector<std::pair<std::string, std::string>>;

struct RouteSpec {
  const char* method;
  const char* pattern;
};

// server/api/api.cc RegisterApi, then api_admin.cc, api_accounts.cc, api_orders.cc,
// api_history.cc, in that order.
constexpr RouteSpec kRoutes[] = {
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"GET", "/v1/markets"},
    {"GET", "/v1/markets/{id}/book"},
    {"GET", "/v1/provers/{id}"},
    {"POST", "/v1/admin/accounts"},
    {"POST", "/v1/admin/accounts/{id}/deposits"},
    {"POST", "/v1/admin/markets"},
    {"GET", "/v1/accounts/me"},
    {"POST", "/v1/withdrawals"},
    {"POST", "/v1/stake"},
    {"POST", "/v1/unstake"},
    {"POST", "/v1/offers"},
    {"GET", "/v1/offers"},
    {"POST", "/v1/assignments/{id}/decline"},
    {"DELETE", "/v1/offers/{id}"},
    {"POST", "/v1/orders"},
    {"GET", "/v1/orders"},
    {"GET", "/v1/orders/{id}"},
    {"GET", "/v1/orders/{id}/proofs"},
    {"DELETE", "/v1/orders/{id}"},
    {"GET", "/v1/settlements"},
    {"GET", "/v1/slashings"},
};
constexpr std::size_t kRouteCount = sizeof(kRoutes) / sizeof(kRoutes[0]);

constexpr std::array<std::string_view, 8> kMethods = {"GET", "POST",  "DELETE",  "HEAD",
                                                      "PUT", "PATCH", "OPTIONS", "CONNECT"};

// What the last handler call saw.
struct Called {
  std::size_t route = kRouteCount;
  PathParams params;
};
Called g_called;

const server::Router& TheRouter() {
  static const server::Router* const router = [] {
    auto* r = new server::Router;
    for (std::size_t i = 0; i < kRouteCount; ++i) {
      r->Add(kRoutes[i].method, kRoutes[i].pattern,
             [i](const HttpRequest&, const PathParams& params, server::Responder respond) {
               g_called.route = i;
               g_called.params = params;
               respond(server::JsonResponse("{}"));
             });
    }
    return r;
  }();
  return *router;
}

// The model: '/'-separated segments, empty ones dropped ("//v1//orders/" is v1, orders).
std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  std::string current;
  for (char c : path) {
    if (c != '/') {
      current += c;
    } else if (!current.empty()) {
      out.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

bool IsPlaceholder(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Each route's pattern as segments, split once.
const std::vector<std::vector<std::string>>& PatternSegments() {
  static const auto* const patterns = [] {
    auto* p = new std::vector<std::vector<std::string>>;
    for (const RouteSpec& route : kRoutes) p->push_back(Segments(route.pattern));
    return p;
  }();
  return *patterns;
}

// Route `i`'s params for `path`, or nullopt when its pattern does not match.
std::optional<PathParams> ModelMatch(std::size_t i, const std::vector<std::string>& path) {
  const std::vector<std::string>& pattern = PatternSegments()[i];
  if (pattern.size() != path.size()) return std::nullopt;
  PathParams params;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (IsPlaceholder(pattern[i])) {
      params.emplace_back(pattern[i].substr(1, pattern[i].size() - 2), path[i]);
    } else if (pattern[i] != path[i]) {
      return std::nullopt;
    }
  }
  return params;
}

bool MethodFits(std::string_view route_method, std::string_view method) {
  return route_method == method || (method == "HEAD" && route_method == "GET");
}

// The error body of a 404 or 405 has the expected code.
void CheckErrorBody(const HttpResponse& r, std::string_view code) {
  auto parsed = ParseWire(r.body, StrictWireUtf8());
  FUZZ_CHECK(parsed.has_value(), r.body);
  const boost::json::value* error = parsed->if_contains("error");
  FUZZ_CHECK(error != nullptr && error->is_object(), r.body);
  const boost::json::value* c = error->as_object().if_contains("code");
  FUZZ_CHECK(c != nullptr && c->is_string() && c->as_string() == code, r.body);
}

void Route(std::string_view method, const std::string& path) {
  const server::Router& router = TheRouter();
  HttpRequest request;
  request.method = std::string(method);
  request.path = path;
  g_called = Called{};
  int answers = 0;
  HttpResponse response;
  router.Dispatch(request, [&](HttpResponse r) {
    ++answers;
    response = std::move(r);
  });
  FUZZ_CHECK(answers == 1, path);

  // The model's answer.
  const std::vector<std::string> segments = Segments(path);
  std::size_t expected = kRouteCount;
  PathParams expected_params;
  std::string allow;
  for (std::size_t i = 0; i < kRouteCount; ++i) {
    auto params = ModelMatch(i, segments);
    if (!params) continue;
    if (MethodFits(kRoutes[i].method, method)) {
      expected = i;
      expected_params = std::move(*params);
      break;
    }
    if (!allow.empty()) allow += ", ";
    allow += kRoutes[i].method;
  }

  FUZZ_CHECK(g_called.route == expected, path);
  if (expected != kRouteCount) {
    FUZZ_CHECK(response.status == 200, path);
    FUZZ_CHECK(g_called.params == expected_params, path);
    for (const auto& [name, value] : g_called.params) {
      FUZZ_CHECK(!value.empty() && value.find('/') == std::string::npos, path);
      FUZZ_CHECK(server::Param(g_called.params, name) == value, path);
    }
    return;
  }
  if (allow.empty()) {
    FUZZ_CHECK(response.status == 404, path);
    return CheckErrorBody(response, "not_found");
  }
  FUZZ_CHECK(response.status == 405, path);
  CheckErrorBody(response, "method_not_allowed");
  const bool has_allow =
      std::any_of(response.headers.begin(), response.headers.end(),
                  [&](const auto& h) { return h.first == "Allow" && h.second == allow; });
  FUZZ_CHECK(has_allow, allow);
}

// The model of ParseQuery: the pairs, or nullopt when the query is refused.
int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> ModelDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] != '%') {
      out += s[i];
    } else if (s.size() - i >= 3 && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out += static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2]));
      i += 2;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::optional<Pairs> ModelQuery(std::string_view query,
                                std::initializer_list<std::string_view> allowed) {
  Pairs out;
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view part = query.substr(start, end - start);
    start = end + 1;
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    auto name = ModelDecode(part.substr(0, eq));
    auto value =
        ModelDecode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

std::string Encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void Query(std::string_view query, std::initializer_list<std::string_view> allowed) {
  auto parsed = server::ParseQuery(query, allowed);
  CheckResult(parsed);
  const auto expected = ModelQuery(query, allowed);
  FUZZ_CHECK(parsed.has_value() == expected.has_value(), query);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code() == StatusCode::kInvalidArgument, parsed.error().ToString());
    return;
  }
  FUZZ_CHECK(*parsed == *expected, query);
  std::string encoded;
  for (const auto& [name, value] : *parsed) {
    if (!encoded.empty()) encoded += '&';
    encoded += Encode(name) + '=' + Encode(value);
  }
  auto again = server::ParseQuery(encoded, allowed);
  FUZZ_CHECK(again.has_value() && *again == *parsed, encoded);
}

// What Beast's request parser lets through in a target (basic_parser is_pathchar).
bool BeastTarget(std::string_view target) {
  return std::all_of(target.begin(), target.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
}

}  // namespace
}  // namespace proofbook::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace proofbook::fuzz;
  if (size == 0) return 0;
  const std::string_view method = kMethods[data[0] & 7];
  const std::string_view target(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!BeastTarget(target)) return 0;
  const std::size_t q = target.find('?');
  Route(method, std::string(target.substr(0, q)));
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  // The allowed names of each route that reads a query (server/api/*.cc).
  Query(query, {"wait_ms"});                              // GET /v1/orders/{id}
  Query(query, {"status", "market", "limit", "cursor"});  // GET /v1/orders
  Query(query, {"limit", "cursor", "order"});             // settlements, slashings
  Query(query, {"offers"});                               // GET /v1/markets/{id}/book
  return 0;
}
