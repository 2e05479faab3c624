// Admin routes: accounts (with their API key, shown once), deposits, markets.
#include <pqxx/pqxx>

#include "matching/rules.h"
#include "server/api/api_internal.h"
#include "server/core/api_keys.h"
#include "server/base/json_body.h"
#include "server/base/json_limits.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

constexpr int64_t kMaxAmount = int64_t{1} << 60;  // far above any real balance, far from overflow

void CreateAccountRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto body = JsonBody::Parse(req.body, {"role", "name"});
  if (!body) return respond(ErrorResponse(body.error()));
  auto role_name = body->Enum("role", {"sequencer", "prover", "admin"});
  if (!role_name) return respond(ErrorResponse(role_name.error()));
  auto name = body->String("name", 200);
  if (!name) return respond(ErrorResponse(name.error()));
  Role role = ParseRole(*role_name).value();

  auto shared = std::make_shared<Responder>(std::move(respond));
  bool queued =
      ctx.db.Post([&ctx, shared, role, name = *name](pqxx::connection* conn, const Status& error) {
        if (conn == nullptr) return (*shared)(ErrorResponse(error));
        NewAccount created;
        try {
          pqxx::work tx(*conn);
          created = CreateAccount(tx, matching::RoleName(role), name);
          tx.commit();
        } catch (const std::exception& e) {
          (*shared)(ErrorResponse(DatabaseError(e, "creating the account")));
          if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) throw;  // drop it
          return;
        }
        ctx.auth.Add(Sha256(created.api_key), Principal{created.id, role});
        SubmitCommand(
            ctx, matching::CreateAccount{created.id, role}, {},
            OnAccepted([created, name](const matching::Engine& engine,
                                       std::span<const matching::Event>) {
              json::object account = AccountJson(*engine.GetAccount(created.id));
              account["name"] = name;
              return JsonResponse(
                  json::serialize(json::object{{"account", account}, {"api_key", created.api_key}}),
                  201);
            }),
            [shared](HttpResponse r) { (*shared)(std::move(r)); });
      });
  if (!queued) (*shared)(ErrorResponse(Status(StatusCode::kOverloaded, "database busy; retry")));
}

void DepositRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                  Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  auto body = JsonBody::Parse(req.body, {"amount", "reference"});
  if (!body) return respond(ErrorResponse(body.error()));
  auto amount = body->Int("amount", 1, kMaxAmount);
  if (!amount) return respond(ErrorResponse(amount.error()));
  // With a reference the deposit is idempotent: a replay moves no money and answers 200.
  auto reference = body->String("reference", 200, std::string());
  if (!reference) return respond(ErrorResponse(reference.error()));
  matching::AccountId account = *id;
  SubmitDeposit(
      ctx, matching::Deposit{account, *amount}, *reference,
      [account](const matching::Engine& engine, std::span<const matching::Event> events,
                matching::OrderId duplicate) {
        if (duplicate == 0 && !events.empty() &&
            events.front().kind == matching::EventKind::kRejected) {
          return ErrorResponse(WireRejection(events.front()));
        }
        auto image = engine.GetAccount(account);
        if (!image) return ErrorResponse(Status(StatusCode::kNotFound, "no such account"));
        return JsonResponse(json::serialize(json::object{{"account", AccountJson(*image)},
                                                         {"replayed", duplicate != 0}}),
                            duplicate != 0 ? 200 : 201);
      },
      std::move(respond));
}

void CreateMarketRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  if (!Require(ctx, req, respond, {Role::kAdmin})) return;
  auto body =
      JsonBody::Parse(req.body, {"id", "proof_system", "verifier", "min_stake", "slash_bps",
                                 "compensation_bps", "fee_bps", "min_prover_time_ms", "grace_bps",
                                 "uncle_reward_bps", "max_proof_bytes", "verification_key"});
  if (!body) return respond(ErrorResponse(body.error()));
  auto slug = body->String("id", 63);
  if (!slug) return respond(ErrorResponse(slug.error()));
  for (char c : *slug) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') || slug->front() == '-') {
      return respond(ErrorResponse(Status(StatusCode::kInvalidArgument,
                                          "id must be lower-case letters, digits and '-'", "id")));
    }
  }
  auto proof_system = body->String("proof_system", 64);
  if (!proof_system) return respond(ErrorResponse(proof_system.error()));
  auto verifier = body->Enum("verifier", {"snarkjs-groth16", "sha256-preimage"});
  if (!verifier) return respond(ErrorResponse(verifier.error()));
  // snarkjs-groth16 checks proofs against the circuit's verification key (snarkjs's
  // verification_key.json); sha256-preimage has none.
  auto vk = body->Raw("verification_key", 1 << 20, kMaxInputsDepth);
  if (!vk) return respond(ErrorResponse(vk.error()));
  const bool needs_vk = *verifier == "snarkjs-groth16";
  if (needs_vk != (*vk != "null") || (needs_vk && vk->front() != '{')) {
    return respond(ErrorResponse(Status(
        StatusCode::kInvalidArgument,
        needs_vk ? "verification_key (an object: snarkjs's verification_key.json) is required"
                 : "verification_key is only for snarkjs-groth16 markets",
        "verification_key")));
  }
  matching::MarketParams p;
  struct Field {
    const char* name;
    int64_t min, max, fallback;
  };
  const Field fields[] = {{"min_stake", 0, kMaxAmount, 0},
                          {"slash_bps", 0, 10000, 1000},
                          {"compensation_bps", 0, 10000, 5000},
                          {"fee_bps", 0, 10000, 0},
                          {"min_prover_time_ms", 0, 30LL * 24 * 3600 * 1000, 0},
                          {"grace_bps", 0, 100000, 2000},
                          {"uncle_reward_bps", 0, 10000, 0},
                          {"max_proof_bytes", 1, 64 << 20, 1 << 20}};
  int64_t values[8];
  for (int i = 0; i < 8; ++i) {
    auto v = body->Int(fields[i].name, fields[i].min, fields[i].max, fields[i].fallback);
    if (!v) return respond(ErrorResponse(v.error()));
    values[i] = *v;
  }
  p.min_stake = values[0];
  p.slash_bps = static_cast<int32_t>(values[1]);
  p.compensation_bps = static_cast<int32_t>(values[2]);
  p.fee_bps = static_cast<int32_t>(values[3]);
  p.min_prover_time_ms = values[4];
  p.grace_bps = static_cast<int32_t>(values[5]);
  p.uncle_reward_bps = static_cast<int32_t>(values[6]);
  p.max_proof_bytes = values[7];
  // The engine's own rule, checked before the row is written: recovery rebuilds every market
  // row, so a row the engine would refuse must never exist.
  if (std::string_view bad = matching::InvalidMarketParamField(p); !bad.empty()) {
    return respond(ErrorResponse(Status(StatusCode::kInvalidArgument,
                                        std::string(bad) + " is out of range for a market",
                                        std::string(bad))));
  }

  auto shared = std::make_shared<Responder>(std::move(respond));
  bool queued = ctx.db.Post(
      [&ctx, shared, p, slug = *slug, proof_system = *proof_system, verifier = *verifier,
       vk = needs_vk ? *vk : std::string()](pqxx::connection* conn, const Status& error) {
        if (conn == nullptr) return (*shared)(ErrorResponse(error));
        matching::MarketId idx = 0;
        try {
          pqxx::work tx(*conn);
          auto rows = tx.exec_params(
              "INSERT INTO markets (id, proof_system, verifier, min_stake, slash_bps, "
              "compensation_bps, fee_bps, min_prover_time_ms, grace_bps, uncle_reward_bps, "
              "max_proof_bytes, verification_key) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,"
              "NULLIF($12, '')::jsonb) ON CONFLICT (id) DO NOTHING RETURNING idx",
              slug, proof_system, verifier, p.min_stake, p.slash_bps, p.compensation_bps, p.fee_bps,
              p.min_prover_time_ms, p.grace_bps, p.uncle_reward_bps, p.max_proof_bytes, vk);
          if (rows.empty()) {
            return (*shared)(ErrorResponse(
                Status(StatusCode::kConflict, "market " + slug + " already exists", "id")));
          }
          idx = static_cast<matching::MarketId>(rows[0][0].as<int>());
          tx.commit();
        } catch (const std::exception& e) {
          (*shared)(ErrorResponse(DatabaseError(e, "creating the market")));
          if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) throw;  // drop it
          return;
        }
        ctx.markets.Add(slug, idx);
        SubmitCommand(ctx, matching::CreateMarket{idx, p}, {},
                      OnAccepted([slug, proof_system, verifier, p](
                                     const matching::Engine&, std::span<const matching::Event>) {
                        json::object m{{"id", slug},
                                       {"proof_system", proof_system},
                                       {"verifier", verifier},
                                       {"min_stake", p.min_stake},
                                       {"slash_bps", p.slash_bps},
                                       {"compensation_bps", p.compensation_bps},
                                       {"fee_bps", p.fee_bps},
                                       {"min_prover_time_ms", p.min_prover_time_ms},
                                       {"grace_bps", p.grace_bps},
                                       {"uncle_reward_bps", p.uncle_reward_bps},
                                       {"max_proof_bytes", p.max_proof_bytes}};
                        return JsonResponse(json::serialize(json::object{{"market", m}}), 201);
                      }),
                      [shared](HttpResponse r) { (*shared)(std::move(r)); });
      });
  if (!queued) (*shared)(ErrorResponse(Status(StatusCode::kOverloaded, "database busy; retry")));
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
