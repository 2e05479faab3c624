#include "server/api/api.h"

#include <boost/json.hpp>
#include <charconv>
#include <pqxx/pqxx>

#include "server/api/api_history.h"
#include "server/api/api_internal.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

const Status kDbOverloaded(StatusCode::kOverloaded, "too many database requests waiting; retry");
const Status kEngineOverloaded(StatusCode::kOverloaded,
                               "the engine's inbox is full or it is recovering; retry");

json::object MarketRowJson(const pqxx::row& row) {
  return json::object{
      {"id", row["id"].as<std::string>()},
      {"proof_system", row["proof_system"].as<std::string>()},
      {"verifier", row["verifier"].as<std::string>()},
      {"min_stake", row["min_stake"].as<int64_t>()},
      {"slash_bps", row["slash_bps"].as<int>()},
      {"compensation_bps", row["compensation_bps"].as<int>()},
      {"fee_bps", row["fee_bps"].as<int>()},
      {"min_prover_time_ms", row["min_prover_time_ms"].as<int64_t>()},
      {"grace_bps", row["grace_bps"].as<int>()},
      {"uncle_reward_bps", row["uncle_reward_bps"].as<int>()},
      {"max_proof_bytes", row["max_proof_bytes"].as<int64_t>()},
  };
}

}  // namespace

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
    respond(ErrorResponse(Status(StatusCode::kRateLimited,
                                 "too many requests for this API key; slow down")));
    return std::nullopt;
  }
  if (roles.size() == 0) return *principal;
  for (Role role : roles) {
    if (principal->role == role) return *principal;
  }
  std::string wanted;
  for (Role role : roles) wanted += (wanted.empty() ? "" : " or ") + std::string(matching::RoleName(role));
  respond(ErrorResponse(Status(StatusCode::kForbidden,
                               "this needs an account with role " + wanted + "; yours is " +
                                   std::string(matching::RoleName(principal->role)))));
  return std::nullopt;
}

void RunDb(Database& db, Responder respond, std::function<HttpResponse(pqxx::connection&)> query) {
  auto shared = std::make_shared<Responder>(std::move(respond));
  bool queued = db.Post([shared, query = std::move(query)](pqxx::connection* conn,
                                                            const Status& error) {
    if (conn == nullptr) {
      (*shared)(ErrorResponse(error));
      return;
    }
    try {
      (*shared)(query(*conn));
    } catch (const pqxx::broken_connection&) {
      (*shared)(ErrorResponse(Status(StatusCode::kUnavailable, "database unreachable")));
      throw;  // the worker drops the connection
    } catch (const std::exception&) {
      (*shared)(ErrorResponse(Status(StatusCode::kInternal, "database error")));
      throw;  // logged by the worker
    }
  });
  if (!queued) (*shared)(ErrorResponse(kDbOverloaded));
}

namespace {

void Submit(ApiContext& ctx, std::unique_ptr<Submission> s, ReplyBuilder reply,
            Responder respond) {
  s->reply = std::move(reply);
  // Kept so the 503 below can still answer if the runner refuses (it then drops `s`).
  auto shared = std::make_shared<Responder>(std::move(respond));
  s->respond = [shared](HttpResponse r) { (*shared)(std::move(r)); };
  if (!ctx.runner.Submit(std::move(s))) (*shared)(ErrorResponse(kEngineOverloaded));
}

}  // namespace

void SubmitCommand(ApiContext& ctx, matching::CommandBody body, OrderExtra extra,
                   ReplyBuilder reply, Responder respond) {
  auto s = std::make_unique<Submission>();
  s->command.body = body;
  s->extra = std::move(extra);
  Submit(ctx, std::move(s), std::move(reply), std::move(respond));
}

void SubmitDeposit(ApiContext& ctx, matching::Deposit deposit, std::string reference,
                   ReplyBuilder reply, Responder respond) {
  auto s = std::make_unique<Submission>();
  s->command.body = deposit;
  s->deposit_reference = std::move(reference);
  Submit(ctx, std::move(s), std::move(reply), std::move(respond));
}

Status WireRejection(const matching::Event& rejected) {
  Status s = matching::RejectionStatus(rejected);
  static constexpr std::pair<std::string_view, std::string_view> kWireNames[] = {
      {"deadline", "deadline_ms"}, {"direct_prover", "prover"}, {"expires_at", "expires_ms"}};
  for (auto [engine_name, wire_name] : kWireNames) {
    if (s.field() == engine_name) {
      return Status(s.code(), s.message(), std::string(wire_name))
          .WithReason(std::string(s.wire_code()));
    }
  }
  return s;
}

Status DatabaseError(const std::exception& e, std::string_view what) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return Status(StatusCode::kUnavailable, std::string(what) + ": database unreachable");
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    std::string state = sql->sqlstate();
    if (state == "23505") {
      return Status(StatusCode::kConflict, std::string(what) + ": already exists");
    }
    if (state.rfind("23", 0) == 0 || state.rfind("22", 0) == 0) {  // integrity / data errors
      return Status(StatusCode::kInvalidArgument, std::string(what) + ": refused by the database");
    }
  }
  return Status(StatusCode::kInternal, std::string(what) + ": database error");
}

ReplyBuilder OnAccepted(
    std::function<HttpResponse(const matching::Engine&, std::span<const matching::Event>)> ok) {
  return [ok = std::move(ok)](const matching::Engine& engine,
                              std::span<const matching::Event> events, matching::OrderId) {
    if (events.empty()) {
      return ErrorResponse(Status(StatusCode::kInternal, "the engine produced no outcome"));
    }
    if (events.front().kind == matching::EventKind::kRejected) {
      return ErrorResponse(WireRejection(events.front()));
    }
    return ok(engine, events);
  };
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

json::object AccountJson(const matching::AccountState& a) {
  return json::object{{"id", a.id},
                      {"role", matching::RoleName(a.role)},
                      {"available", a.available},
                      {"escrowed", a.escrowed},
                      {"staked", a.staked},
                      {"reputation_bps", a.reputation}};
}

json::object OfferJson(const matching::OfferState& o, const std::string& market) {
  return json::object{{"id", o.id},           {"market", market},
                      {"prover", o.prover},   {"price", o.price},
                      {"est_ms", o.est_ms},   {"capacity", o.capacity},
                      {"capacity_left", o.capacity_left},
                      {"expires_at_ms", o.expires_at}};
}

json::object AssignmentJson(const matching::AssignmentState& a) {
  return json::object{{"id", a.id},
                      {"prover", a.prover},
                      {"offer", a.offer},
                      {"price", a.price},
                      {"assigned_at_ms", a.assigned_at},
                      {"due_at_ms", a.due_at},
                      {"status", matching::AssignmentStatusName(a.status)}};
}

json::object OrderJson(const matching::OrderState& o, const std::string& market,
                       std::span<const matching::AssignmentState> assignments,
                       const std::string& client_order_id) {
  json::array list;
  for (const auto& a : assignments) list.push_back(AssignmentJson(a));
  json::object out{{"id", o.id},
                   {"market", market},
                   {"sequencer", o.account},
                   {"status", matching::OrderStatusName(o.status)},
                   {"max_price", o.max_price},
                   {"deadline_ms", o.deadline},
                   {"placed_at_ms", o.placed_at},
                   {"priority", PriorityName(o.priority)},
                   {"min_reputation", o.min_reputation},
                   {"redundancy", o.redundancy},
                   {"selection", SelectionName(o.selection)},
                   {"verified", o.verified},
                   {"escrow_left", o.escrow_left},
                   {"assignments", std::move(list)}};
  if (o.selection == matching::Selection::kDirect) out["prover"] = o.direct_prover;
  if (!client_order_id.empty()) out["client_order_id"] = client_order_id;
  return out;
}

void RegisterApi(Router& router, ApiContext& ctx) {
  router.Add("GET", "/healthz", [](const HttpRequest&, const PathParams&, Responder respond) {
    respond(JsonResponse(R"({"status":"ok"})"));
  });

  router.Add("GET", "/readyz", [&ctx](const HttpRequest&, const PathParams&, Responder respond) {
    if (!ctx.db.ready()) {
      respond(ErrorResponse(Status(StatusCode::kUnavailable, ctx.db.not_ready_reason())));
    } else if (!ctx.runner.healthy()) {
      respond(ErrorResponse(Status(StatusCode::kUnavailable,
                                   "the engine is recovering from a failed commit")));
    } else {
      respond(JsonResponse(R"({"status":"ready"})"));
    }
  });

  router.Add("GET", "/v1/markets", [&ctx](const HttpRequest&, const PathParams&, Responder respond) {
    RunDb(ctx.db, std::move(respond), [](pqxx::connection& conn) {
      pqxx::read_transaction tx(conn);
      json::array markets;
      for (const auto& row : tx.exec("SELECT * FROM markets ORDER BY id")) {
        markets.push_back(MarketRowJson(row));
      }
      return JsonResponse(json::serialize(json::object{{"markets", markets}}));
    });
  });

  router.Add("GET", "/v1/markets/{id}/book",
             [&ctx](const HttpRequest&, const PathParams& params, Responder respond) {
               std::string slug(Param(params, "id"));
               auto idx = ctx.markets.Find(slug);
               if (!idx) {
                 return respond(ErrorResponse(
                     Status(StatusCode::kNotFound, "no market " + slug, "id")));
               }
               int market = *idx;
               RunDb(ctx.db, std::move(respond), [market, slug](pqxx::connection& conn) {
                 pqxx::read_transaction tx(conn);
                 json::array asks, bids;
                 for (const auto& r : tx.exec_params(
                          "SELECT price, count(*), sum(capacity_left) FROM offers "
                          "WHERE market_idx = $1 AND status = 'open' AND capacity_left > 0 "
                          "GROUP BY price ORDER BY price",
                          market)) {
                   asks.push_back(json::object{{"price", r[0].as<int64_t>()},
                                               {"offers", r[1].as<int64_t>()},
                                               {"capacity", r[2].as<int64_t>()}});
                 }
                 for (const auto& r : tx.exec_params(
                          "SELECT max_price, count(*), sum(needed) FROM orders "
                          "WHERE market_idx = $1 AND status = 'open' AND needed > 0 "
                          "GROUP BY max_price ORDER BY max_price DESC",
                          market)) {
                   bids.push_back(json::object{{"max_price", r[0].as<int64_t>()},
                                               {"orders", r[1].as<int64_t>()},
                                               {"proofs_wanted", r[2].as<int64_t>()}});
                 }
                 return JsonResponse(json::serialize(
                     json::object{{"market", slug}, {"asks", asks}, {"bids", bids}}));
               });
             });

  RegisterAdminApi(router, ctx);
  RegisterAccountApi(router, ctx);
  RegisterOrderApi(router, ctx);
  RegisterHistoryApi(router, ctx);
}

}  // namespace proofbook::server
