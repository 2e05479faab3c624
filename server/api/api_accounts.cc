// Any account's routes (me, withdrawals) and a prover's (stake, unstake, offers).
#include <pqxx/pqxx>

#include "server/api/api_internal.h"
#include "server/base/json_body.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

constexpr int64_t kMaxAmount = int64_t{1} << 60;

HttpResponse AccountReply(const matching::Engine& engine, matching::AccountId id, int status) {
  return JsonResponse(json::serialize(json::object{{"account", AccountJson(*engine.GetAccount(id))}}),
                      status);
}

// {"amount": N} -> a money command for the caller's own account.
template <typename MakeCommand>
void MoneyRoute(ApiContext& ctx, const HttpRequest& req, Responder respond,
                std::initializer_list<Role> roles, MakeCommand make) {
  auto who = Require(ctx, req, respond, roles);
  if (!who) return;
  auto body = JsonBody::Parse(req.body, {"amount"});
  if (!body) return respond(ErrorResponse(body.error()));
  auto amount = body->Int("amount", 1, kMaxAmount);
  if (!amount) return respond(ErrorResponse(amount.error()));
  matching::AccountId account = who->account;
  SubmitCommand(ctx, make(account, *amount), {},
                OnAccepted([account](const matching::Engine& engine,
                                     std::span<const matching::Event>) {
                  return AccountReply(engine, account, 200);
                }),
                std::move(respond));
}

void MeRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {});
  if (!who) return;
  matching::AccountId id = who->account;
  RunDb(ctx.db, std::move(respond), [id](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(
        "SELECT id, role, name, available, escrowed, staked, reputation_bps FROM accounts "
        "WHERE id = $1",
        id);
    if (rows.empty()) return ErrorResponse(Status(StatusCode::kNotFound, "no such account"));
    const auto& r = rows[0];
    json::object account{{"id", r[0].as<int64_t>()},          {"role", r[1].as<std::string>()},
                         {"name", r[2].as<std::string>()},    {"available", r[3].as<int64_t>()},
                         {"escrowed", r[4].as<int64_t>()},    {"staked", r[5].as<int64_t>()},
                         {"reputation_bps", r[6].as<int>()}};
    return JsonResponse(json::serialize(json::object{{"account", account}}));
  });
}

void PlaceOfferRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kProver});
  if (!who) return;
  auto body = JsonBody::Parse(req.body, {"market", "price", "est_ms", "capacity", "expires_ms"});
  if (!body) return respond(ErrorResponse(body.error()));
  auto slug = body->String("market", 63);
  if (!slug) return respond(ErrorResponse(slug.error()));
  auto market = ctx.markets.Find(*slug);
  if (!market) {
    return respond(ErrorResponse(
        Status(StatusCode::kUnprocessable, "no market " + *slug, "market").WithReason("unknown_market")));
  }
  auto price = body->Int("price", 1, kMaxAmount);
  if (!price) return respond(ErrorResponse(price.error()));
  auto est_ms = body->Int("est_ms", 0, 30LL * 24 * 3600 * 1000);
  if (!est_ms) return respond(ErrorResponse(est_ms.error()));
  auto capacity = body->Int("capacity", 1, 1024, 1);
  if (!capacity) return respond(ErrorResponse(capacity.error()));
  // expires_ms is relative ("valid for N ms"); the engine thread turns it into a time.
  auto expires_ms = body->Int("expires_ms", 1, 365LL * 24 * 3600 * 1000, 0);
  if (!expires_ms) return respond(ErrorResponse(expires_ms.error()));

  matching::PlaceOffer offer{who->account, *market, *price, *est_ms,
                             static_cast<int32_t>(*capacity), *expires_ms};
  std::string market_slug = *slug;
  SubmitCommand(ctx, offer, {},
                OnAccepted([market_slug](const matching::Engine& engine,
                                         std::span<const matching::Event> events) {
                  matching::OfferId id = events.front().offer;
                  json::object out;
                  if (auto o = engine.GetOffer(id)) out = OfferJson(*o, market_slug);
                  else out = json::object{{"id", id}, {"market", market_slug}};
                  json::array assigned;
                  for (const auto& e : events) {
                    if (e.kind == matching::EventKind::kAssigned && e.offer == id) {
                      assigned.push_back(json::object{{"assignment", e.assignment},
                                                      {"order", e.order},
                                                      {"price", e.amount},
                                                      {"due_at_ms", e.value}});
                    }
                  }
                  out["assigned"] = std::move(assigned);
                  return JsonResponse(json::serialize(json::object{{"offer", out}}), 201);
                }),
                std::move(respond));
}

void CancelOfferRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                      Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kProver});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  matching::OfferId offer = *id;
  SubmitCommand(ctx, matching::CancelOffer{who->account, offer}, {},
                OnAccepted([offer](const matching::Engine&, std::span<const matching::Event>) {
                  return JsonResponse(json::serialize(
                      json::object{{"offer", json::object{{"id", offer}, {"status", "cancelled"}}}}));
                }),
                std::move(respond));
}

void ListOffersRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kProver});
  if (!who) return;
  matching::AccountId prover = who->account;
  RunDb(ctx.db, std::move(respond), [prover](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    json::array offers;
    for (const auto& r : tx.exec_params(
             "SELECT o.id, m.id, o.price, o.est_ms, o.capacity, o.capacity_left, o.expires_at_ms, "
             "o.status FROM offers o JOIN markets m ON m.idx = o.market_idx "
             "WHERE o.prover_id = $1 AND o.status = 'open' ORDER BY o.id",
             prover)) {
      offers.push_back(json::object{{"id", r[0].as<int64_t>()},
                                    {"market", r[1].as<std::string>()},
                                    {"price", r[2].as<int64_t>()},
                                    {"est_ms", r[3].as<int64_t>()},
                                    {"capacity", r[4].as<int>()},
                                    {"capacity_left", r[5].as<int>()},
                                    {"expires_at_ms", r[6].as<int64_t>()},
                                    {"status", r[7].as<std::string>()}});
    }
    return JsonResponse(json::serialize(json::object{{"offers", offers}}));
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
                          [](matching::AccountId a, int64_t n) -> matching::CommandBody {
                            return matching::Withdraw{a, n};
                          });
             });
  router.Add("POST", "/v1/stake",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               MoneyRoute(ctx, req, std::move(respond), {Role::kProver},
                          [](matching::AccountId a, int64_t n) -> matching::CommandBody {
                            return matching::Stake{a, n};
                          });
             });
  router.Add("POST", "/v1/unstake",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               MoneyRoute(ctx, req, std::move(respond), {Role::kProver},
                          [](matching::AccountId a, int64_t n) -> matching::CommandBody {
                            return matching::Unstake{a, n};
                          });
             });
  router.Add("POST", "/v1/offers",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               PlaceOfferRoute(ctx, req, std::move(respond));
             });
  router.Add("GET", "/v1/offers",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               ListOffersRoute(ctx, req, std::move(respond));
             });
  router.Add("DELETE", "/v1/offers/{id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               CancelOfferRoute(ctx, req, params, std::move(respond));
             });
}

}  // namespace proofbook::server
