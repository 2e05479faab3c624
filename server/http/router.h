// Router: maps (method, path pattern) to a handler. Patterns are literal segments or {name}
// placeholders: "/v1/orders/{id}". No match for the path is 404 not_found; a path that
// matches under other methods only is 405 method_not_allowed with an Allow header.
// Routes are added before serving starts; Dispatch is then const and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http/http_types.h"

namespace proofbook::server {

// Values of {placeholders} in the order they appear in the pattern.
using PathParams = std::vector<std::pair<std::string, std::string>>;

using Handler = std::function<void(const HttpRequest&, const PathParams&, Responder)>;

class Router {
 public:
  void Add(std::string method, std::string_view pattern, Handler handler);
  void Dispatch(const HttpRequest& request, Responder respond) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;                // as added: the route's label in the metrics
    std::vector<std::string> segments;  // "{x}" marks a placeholder
    Handler handler;
  };
  static bool Match(const Route& route, const std::vector<std::string_view>& path,
                    PathParams* params);

  std::vector<Route> routes_;
};

// The value of `name` in params, or empty.
std::string_view Param(const PathParams& params, std::string_view name);

}  // namespace proofbook::server
