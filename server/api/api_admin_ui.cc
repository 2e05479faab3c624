// GET /admin/ and /admin/{file}: the dashboard's static files, compiled into the binary. They
// hold no data and need no key: the page asks for an admin key and reads the admin API with it.
// A strict Content-Security-Policy: the page loads only its own files and talks only to us.
#include "server/api/admin_ui.h"
#include "server/api/api_internal.h"

namespace proofbook::server {

namespace {

HttpResponse Serve(std::string_view name) {
  for (const StaticFile& f : AdminUiFiles()) {
    if (f.name != name) continue;
    HttpResponse r;
    r.content_type = std::string(f.content_type);
    r.body = std::string(f.body);
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }
  return ErrorResponse(Status(StatusCode::kNotFound, "no file " + std::string(name)));
}

}  // namespace

void RegisterAdminUi(Router& router) {
  // The router ignores a trailing slash; the page's relative links need one.
  router.Add("GET", "/admin", [](const HttpRequest& req, const PathParams&, Responder respond) {
    if (req.path.ends_with('/')) return respond(Serve("index.html"));
    HttpResponse r;
    r.status = 308;
    r.headers.emplace_back("Location", "/admin/");
    respond(std::move(r));
  });
  router.Add("GET", "/admin/{file}",
             [](const HttpRequest&, const PathParams& params, Responder respond) {
               respond(Serve(Param(params, "file")));
             });
}

}  // namespace proofbook::server
