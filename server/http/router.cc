#include "server/http/router.h"

#include <chrono>

#include "server/base/metrics.h"

namespace proofbook::server {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

void Router::Add(std::string method, std::string_view pattern, Handler handler) {
  Route route{std::move(method), std::string(pattern), {}, std::move(handler)};
  for (auto s : Split(pattern)) route.segments.emplace_back(s);
  routes_.push_back(std::move(route));
}

bool Router::Match(const Route& route, const std::vector<std::string_view>& path,
                   PathParams* params) {
  if (route.segments.size() != path.size()) return false;
  params->clear();
  for (std::size_t i = 0; i < path.size(); ++i) {
    const std::string& seg = route.segments[i];
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      if (path[i].empty()) return false;
      params->emplace_back(seg.substr(1, seg.size() - 2), std::string(path[i]));
    } else if (seg != path[i]) {
      return false;
    }
  }
  return true;
}

void Router::Dispatch(const HttpRequest& request, Responder respond) const {
  auto path = Split(request.path);
  PathParams params;
  std::string allow;
  for (const auto& route : routes_) {
    if (!Match(route, path, &params)) continue;
    if (route.method == request.method || (request.method == "HEAD" && route.method == "GET")) {
      // Counted by the route's pattern: a bounded set of labels, whatever the paths.
      route.handler(request, params,
                    [respond = std::move(respond), &route, method = request.method,
                     start = std::chrono::steady_clock::now()](HttpResponse r) {
                      const std::chrono::duration<double> took =
                          std::chrono::steady_clock::now() - start;
                      Metrics::Get().ObserveRequest(route.pattern, method, r.status, took.count());
                      respond(std::move(r));
                    });
      return;
    }
    if (!allow.empty()) allow += ", ";
    allow += route.method;
  }
  static const std::string kUnmatched = "unmatched";
  if (allow.empty()) {
    Metrics::Get().ObserveRequest(kUnmatched, request.method, 404, 0);
    respond(ErrorResponse(Status(StatusCode::kNotFound, "no route for " + request.path)));
    return;
  }
  Metrics::Get().ObserveRequest(kUnmatched, request.method, 405, 0);
  HttpResponse r = ErrorResponse(
      Status(StatusCode::kMethodNotAllowed,
             request.method + " is not allowed on " + request.path + "; allowed: " + allow));
  r.headers.emplace_back("Allow", allow);
  respond(std::move(r));
}

std::string_view Param(const PathParams& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace proofbook::server
