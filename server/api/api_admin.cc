// Admin routes: accounts (with their API key, shown once), deposits, markets, VRF keys and
// beacons, API keys (made and revoked), the ledger check.
#include "server/api/api_internal.h"
#include "server/base/crypto.h"
#include "server/base/json_body.h"
#include "server/base/limits.h"
#include "server/base/resources.h"
#include "server/db/accounts.h"
#include "server/db/ledger.h"

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
      Answer<CreateMarketRequest>(std::move(respond), [&ctx](CreateMarketRequest& m) {
        json::object market = MarketJson(m.slug, m.proof_system, m.verifier, m.params);
        std::optional<VrfKeyring::KeyInfo> key;
        if (auto idx = ctx.markets.Find(m.slug)) key = ctx.ops.vrf().ActiveKey(*idx);
        market["vrf_public_key"] =
            key ? json::value(HexEncode(key->public_key.data(), 32)) : json::value(nullptr);
        return Json(json::object{{"market", market}}, 201);
      }));
}

// Runs the ledger check now (the server also runs it every --ledger-check-interval): 200 with
// "ok" true or false and the first differences; the check itself is db/ledger.h's.
void LedgerCheckRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  if (auto query = ParseQuery(req.query, {}); !query) return respond(ErrorResponse(query.error()));
  RunDb(ctx.db, std::move(respond),
        [](DbSession& session) { return Json(CheckLedger(session).body); });
}

json::object KeyJson(const ApiKeyRow& k) {
  return json::object{
      {"id", k.id},
      {"account", k.account},
      {"created_at_ms", k.created_at_ms},
      {"revoked_at_ms", k.revoked_at_ms ? json::value(*k.revoked_at_ms) : json::value(nullptr)}};
}

// A new key for an account (body empty or {}): the key itself is in this answer only.
void CreateKeyRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                    Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  if (auto body = JsonBody::Parse(req.body.empty() ? "{}" : req.body, {}); !body) {
    return respond(ErrorResponse(body.error()));
  }
  ctx.ops.CreateApiKey(*id, Answer<NewApiKey>(std::move(respond), [](NewApiKey& k) {
    return Json(json::object{{"key", KeyJson(k.row)}, {"api_key", k.api_key}}, 201);
  }));
}

// Revokes a key: the next request with it is 401, and WebSockets opened with it are closed.
void RevokeKeyRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                    Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto id = PathId(params, "key_id");
  if (!id) return respond(ErrorResponse(id.error()));
  ctx.ops.RevokeApiKey(*id, Answer<ApiKeyRow>(std::move(respond), [](ApiKeyRow& k) {
    return Json(json::object{{"key", KeyJson(k)}});
  }));
}

void RotateVrfKeyRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                       Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  if (auto body = JsonBody::Parse(req.body.empty() ? "{}" : req.body, {}); !body) {
    return respond(ErrorResponse(body.error()));
  }
  std::string market(Param(params, "id"));
  ctx.ops.RotateVrfKey(
      market, Answer<VrfKeyring::KeyInfo>(std::move(respond), [market](VrfKeyring::KeyInfo& key) {
        return Json(json::object{{"vrf_key", json::object{{"market", market},
                                                          {"key_id", key.id},
                                                          {"public_key",
                                                           HexEncode(key.public_key.data(), 32)}}}},
                    201);
      }));
}

// {"epoch": N, "value": "hex"}: the beacon of an epoch at least two ahead.
void SetBeaconRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto body = JsonBody::Parse(req.body, {"epoch", "value"});
  if (!body) return respond(ErrorResponse(body.error()));
  auto epoch = body->Int("epoch", 0, kMaxBeaconEpoch);
  if (!epoch) return respond(ErrorResponse(epoch.error()));
  auto value = body->String("value", 2 * kMaxBeaconBytes);
  if (!value) return respond(ErrorResponse(value.error()));
  auto bytes = HexDecode(*value);
  if (!bytes) {
    return respond(ErrorResponse(
        Status(StatusCode::kInvalidArgument, "value must be hex (1 to 256 bytes)", "value")));
  }
  ctx.ops.SetVrfBeacon(
      *epoch, *bytes, Answer<Ack>(std::move(respond), [epoch = *epoch, hex = *value](Ack&) {
        return Json(json::object{{"beacon", json::object{{"epoch", epoch}, {"value", hex}}}}, 201);
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
  router.Add("POST", "/v1/admin/markets/{id}/vrf-key",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               RotateVrfKeyRoute(ctx, req, params, std::move(respond));
             });
  router.Add("POST", "/v1/admin/vrf/beacons",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               SetBeaconRoute(ctx, req, std::move(respond));
             });
  router.Add("POST", "/v1/admin/accounts/{id}/keys",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               CreateKeyRoute(ctx, req, params, std::move(respond));
             });
  router.Add("DELETE", "/v1/admin/keys/{key_id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               RevokeKeyRoute(ctx, req, params, std::move(respond));
             });
  router.Add("GET", "/v1/admin/ledger/check",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               LedgerCheckRoute(ctx, req, std::move(respond));
             });
}

}  // namespace proofbook::server
