#include "server/api/api.h"

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <memory>

#include "server/api/api_history.h"
#include "server/api/api_internal.h"
#include "server/base/limits.h"
#include "server/base/metrics.h"
#include "server/db/accounts.h"
#include "server/db/markets.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

std::optional<Principal> Require(ApiContext& ctx, const HttpRequest& req, Responder& respond,
                                 std::initializer_list<Role> roles) {
  auto principal = ctx.auth.Authenticate(req.authorization);
  if (!principal) {
    HttpResponse r = ErrorResponse(principal.error());
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    respond(std::move(r));
    return std::nullopt;
  }
  if (!ctx.limiter.Allow(principal->account)) {
    respond(ErrorResponse(
        Status(StatusCode::kRateLimited, "too many requests for this API key; slow down")));
    return std::nullopt;
  }
  if (roles.size() == 0) return *principal;
  for (Role role : roles) {
    if (principal->role == role) return *principal;
  }
  std::string wanted;
  for (Role role : roles) {
    wanted += (wanted.empty() ? "" : " or ") + std::string(matching::RoleName(role));
  }
  respond(ErrorResponse(
      Status(StatusCode::kForbidden, "this needs an account with role " + wanted + "; yours is " +
                                         std::string(matching::RoleName(principal->role)))));
  return std::nullopt;
}

void RunDb(Database& db, Responder respond, std::function<HttpResponse(DbSession&)> query) {
  auto shared = std::make_shared<Responder>(std::move(respond));
  db.Run(
      "", [shared, query = std::move(query)](DbSession& session) { (*shared)(query(session)); },
      [shared](const Status& why) { (*shared)(ErrorResponse(why)); });
}

Result<int64_t> ParseWaitMs(const HttpRequest& req) {
  auto query = ParseQuery(req.query, {"wait_ms"});
  if (!query) return query.error();
  int64_t wait_ms = 0;
  for (const auto& [name, value] : *query) {
    PathParams one{{name, value}};
    auto n = PathId(one, name);
    if (!n || *n > kMaxWaitMs) {
      return Status(StatusCode::kInvalidArgument,
                    "wait_ms must be 1.." + std::to_string(kMaxWaitMs), "wait_ms");
    }
    wait_ms = *n;
  }
  return wait_ms;
}

void LongPoll(ApiContext& ctx, int64_t key, int64_t wait_ms, std::function<void(Responder)> fetch,
              std::function<bool(DbSession&)> worth_waiting, Responder respond) {
  if (wait_ms == 0) return fetch(std::move(respond));
  // Watch first, then look: if there is nothing to wait for (missing, not the caller's to see,
  // already final), the look fires the watch at once; otherwise the commit that makes it final
  // will, or the deadline.
  auto shared = std::make_shared<Responder>(std::move(respond));
  auto fire = [fetch, shared] { fetch([shared](HttpResponse r) { (*shared)(std::move(r)); }); };
  auto deadline = OrderWatch::Clock::now() + std::chrono::milliseconds(wait_ms);
  if (!ctx.watch.Watch(key, deadline, fire)) return fire();  // too many waiting: answer now
  auto notify = [&watch = ctx.watch, key] {
    int64_t ids[] = {key};
    watch.Notify(ids);
  };
  ctx.db.Run(
      "",
      [worth_waiting = std::move(worth_waiting), notify](DbSession& session) {
        if (!worth_waiting(session)) notify();
      },
      [notify](const Status&) { notify(); });
}

HttpResponse Json(const json::value& value, int status) {
  return JsonResponse(json::serialize(value), status);
}

HttpResponse JsonOrError(const Result<json::object>& r) {
  return r ? Json(*r) : ErrorResponse(r.error());
}

Result<int64_t> QueryInt(std::string_view name, std::string_view text) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || n < 0) {
    return Status(StatusCode::kInvalidArgument, std::string(name) + " must be an integer >= 0",
                  std::string(name));
  }
  return n;
}

Result<int64_t> PathId(const PathParams& params, std::string_view name) {
  std::string_view text = Param(params, name);
  int64_t id = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || ptr != text.data() + text.size() || id <= 0) {
    return Status(StatusCode::kInvalidArgument, std::string(name) + " must be a positive integer",
                  std::string(name));
  }
  return id;
}

void RegisterApi(Router& router, ApiContext& ctx) {
  router.Add("GET", "/healthz", [](const HttpRequest&, const PathParams&, Responder respond) {
    respond(JsonResponse(R"({"status":"ok"})"));
  });

  router.Add("GET", "/readyz", [&ctx](const HttpRequest&, const PathParams&, Responder respond) {
    if (!ctx.db.ready()) {
      respond(ErrorResponse(Status(StatusCode::kUnavailable, ctx.db.not_ready_reason())));
    } else if (!ctx.ops.healthy()) {
      respond(ErrorResponse(
          Status(StatusCode::kUnavailable, "the engine is recovering from a failed commit")));
    } else {
      respond(JsonResponse(R"({"status":"ready"})"));
    }
  });

  // Prometheus text, for an admin key (scrape with `authorization: credentials_file`): the
  // counts say how much business the market does.
  router.Add("GET", "/metrics",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               if (!Require(ctx, req, respond, {Role::kAdmin})) return;
               HttpResponse r;
               r.content_type = "text/plain; version=0.0.4; charset=utf-8";
               r.body = Metrics::Get().Scrape();
               respond(std::move(r));
             });

  router.Add("GET", "/v1/markets",
             [&ctx](const HttpRequest&, const PathParams&, Responder respond) {
               RunDb(ctx.db, std::move(respond), [](DbSession& session) {
                 return Json(json::object{{"markets", ReadMarkets(session)}});
               });
             });

  router.Add(
      "GET", "/v1/markets/{id}/book",
      [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
        std::string slug(Param(params, "id"));
        auto market = ctx.markets.Find(slug);
        if (!market) {
          return respond(ErrorResponse(Status(StatusCode::kNotFound, "no market " + slug, "id")));
        }
        auto query = ParseQuery(req.query, {"offers"});
        if (!query) return respond(ErrorResponse(query.error()));
        int64_t offers = kDefaultBookOffers;
        for (const auto& [name, value] : *query) {
          auto n = PathId(PathParams{{name, value}}, name);
          if (!n) return respond(ErrorResponse(n.error()));
          offers = std::min(*n, kMaxBookOffers);
        }
        RunDb(ctx.db, std::move(respond),
              [market = *market, slug, offers = static_cast<int>(offers)](DbSession& session) {
                return Json(ReadBook(session, market, slug, offers));
              });
      });

  // A prover's public standing, for anyone who pays or competes with it.
  router.Add("GET", "/v1/provers/{id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               if (!Require(ctx, req, respond, {})) return;
               auto id = PathId(params, "id");
               if (!id) return respond(ErrorResponse(id.error()));
               RunDb(ctx.db, std::move(respond), [id = *id](DbSession& session) {
                 return JsonOrError(ReadProverStanding(session, id));
               });
             });

  RegisterAdminApi(router, ctx);
  RegisterAccountApi(router, ctx);
  RegisterOrderApi(router, ctx);
  RegisterTreeApi(router, ctx);
  RegisterAdminViewsApi(router, ctx);
  RegisterAdminUi(router);
  RegisterHistoryApi(router, ctx);
}

}  // namespace proofbook::server
