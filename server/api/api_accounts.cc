// Any account's routes (me, withdrawals) and a prover's (stake, unstake, offers, declines).
#include "server/api/api_internal.h"
#include "server/base/resources.h"
#include "server/core/views.h"
#include "server/db/accounts.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

// {"amount": N} -> a money move on the caller's own account.
void MoneyRoute(ApiContext& ctx, const HttpRequest& req, Responder respond,
                std::initializer_list<Role> roles, MoneyMove move) {
  auto who = Require(ctx, req, respond, roles);
  if (!who) return;
  auto amount = ParseAmount(req.body);
  if (!amount) return respond(ErrorResponse(amount.error()));
  ctx.ops.MoveMoney(
      move, who->account, *amount,
      Answer<matching::AccountState>(std::move(respond), [](matching::AccountState& account) {
        return Json(json::object{{"account", AccountJson(account)}});
      }));
}

void MeRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  RunDb(ctx.db, std::move(respond), [id = who->account](DbSession& session) {
    auto account = ReadAccount(session, id);
    if (!account) return ErrorResponse(account.error());
    return Json(json::object{{"account", std::move(*account)}});
  });
}

void PlaceOfferRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kProver});
  if (!who) return;
  auto request = ParsePlaceOffer(req.body, ctx.markets);
  if (!request) return respond(ErrorResponse(request.error()));
  ctx.ops.PlaceOffer(who->account, std::move(*request),
                     Answer<PlacedOffer>(std::move(respond), [](PlacedOffer& placed) {
                       return Json(PlacedOfferJson(placed), 201);
                     }));
}

void CancelOfferRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                      Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kProver});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  ctx.ops.CancelOffer(who->account, *id,
                      Answer<matching::OfferId>(std::move(respond), [](matching::OfferId& offer) {
                        return Json(CancelledOfferJson(offer));
                      }));
}

// POST /v1/assignments/{id}/decline: the REST twin of the WebSocket's `decline`.
void DeclineRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                  Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kProver});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  auto request = ParseDecline(req.body, /*with_assignment=*/false);
  if (!request) return respond(ErrorResponse(request.error()));
  ctx.ops.Decline(
      who->account, *id, request->reason,
      Answer<Declined>(std::move(respond), [](Declined& d) { return Json(DeclinedJson(d)); }));
}

void ListOffersRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kProver});
  if (!who) return;
  RunDb(ctx.db, std::move(respond), [prover = who->account](DbSession& session) {
    return Json(json::object{{"offers", ReadOpenOffers(session, prover)}});
  });
}

}  // namespace

void RegisterAccountApi(Router& router, ApiContext& ctx) {
  router.Add("GET", "/v1/accounts/me",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               MeRoute(ctx, req, std::move(respond));
             });
  router.Add("POST", "/v1/withdrawals",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               MoneyRoute(ctx, req, std::move(respond), {Role::kSequencer, Role::kProver},
                          MoneyMove::kWithdraw);
             });
  router.Add("POST", "/v1/stake",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               MoneyRoute(ctx, req, std::move(respond), {Role::kProver}, MoneyMove::kStake);
             });
  router.Add("POST", "/v1/unstake",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               MoneyRoute(ctx, req, std::move(respond), {Role::kProver}, MoneyMove::kUnstake);
             });
  router.Add("POST", "/v1/offers",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               PlaceOfferRoute(ctx, req, std::move(respond));
             });
  router.Add("GET", "/v1/offers",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListOffersRoute(ctx, req, std::move(respond));
             });
  router.Add("POST", "/v1/assignments/{id}/decline",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               DeclineRoute(ctx, req, params, std::move(respond));
             });
  router.Add("DELETE", "/v1/offers/{id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               CancelOfferRoute(ctx, req, params, std::move(respond));
             });
}

}  // namespace proofbook::server
