// Admin routes: accounts (with their API key, shown once), deposits, markets.
#include "server/api/api_internal.h"
#include "server/base/resources.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

void CreateAccountRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto request = ParseCreateAccount(req.body);
  if (!request) return respond(ErrorResponse(request.error()));
  ctx.ops.CreateAccount(
      std::move(*request), Answer<CreatedAccount>(std::move(respond), [](CreatedAccount& created) {
        json::object account = AccountJson(created.account);
        account["name"] = created.name;
        return Json(json::object{{"account", account}, {"api_key", created.api_key}}, 201);
      }));
}

void DepositRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                  Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  auto request = ParseDeposit(req.body);
  if (!request) return respond(ErrorResponse(request.error()));
  // With a reference the deposit is idempotent: a replay moves no money and answers 200.
  ctx.ops.Deposit(*id, std::move(*request), Answer<Deposited>(std::move(respond), [](Deposited& d) {
    return Json(json::object{{"account", AccountJson(d.account)}, {"replayed", d.replayed}},
                d.replayed ? 200 : 201);
  }));
}

void CreateMarketRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto request = ParseCreateMarket(req.body);
  if (!request) return respond(ErrorResponse(request.error()));
  ctx.ops.CreateMarket(
      std::move(*request),
      Answer<CreateMarketRequest>(std::move(respond), [](CreateMarketRequest& m) {
        return Json(
            json::object{{"market", MarketJson(m.slug, m.proof_system, m.verifier, m.params)}},
            201);
      }));
}

}  // namespace

void RegisterAdminApi(Router& router, ApiContext& ctx) {
  router.Add("POST", "/v1/admin/accounts",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               CreateAccountRoute(ctx, req, std::move(respond));
             });
  router.Add("POST", "/v1/admin/accounts/{id}/deposits",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               DepositRoute(ctx, req, params, std::move(respond));
             });
  router.Add("POST", "/v1/admin/markets",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               CreateMarketRoute(ctx, req, std::move(respond));
             });
}

}  // namespace proofbook::server
