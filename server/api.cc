#include "server/api.h"

#include <boost/json.hpp>
#include <pqxx/pqxx>

namespace proofbook::server {
namespace {

namespace json = boost::json;

const Status kOverloaded(StatusCode::kOverloaded, "too many database requests waiting; retry");

// Runs `query` on a database worker and answers with its result, or with 503 when the
// database is unreachable or the queue is full. A pqxx exception becomes 503 (connection) or
// 500 (anything else) so no request goes unanswered.
void RunDb(Database& db, Responder respond,
           std::function<HttpResponse(pqxx::connection&)> query) {
  auto shared = std::make_shared<Responder>(std::move(respond));
  bool queued = db.Post([shared, query = std::move(query)](pqxx::connection* conn,
                                                            const Status& error) {
    if (conn == nullptr) {
      (*shared)(ErrorResponse(error));
      return;
    }
    try {
      (*shared)(query(*conn));
    } catch (const pqxx::broken_connection& e) {
      (*shared)(ErrorResponse(Status(StatusCode::kUnavailable, "database unreachable")));
      throw;  // the worker drops the connection
    } catch (const std::exception& e) {
      (*shared)(ErrorResponse(Status(StatusCode::kInternal, "database error")));
      throw;
    }
  });
  if (!queued) (*shared)(ErrorResponse(kOverloaded));
}

json::object MarketJson(const pqxx::row& row) {
  return json::object{
      {"id", row["id"].as<std::string>()},
      {"proof_system", row["proof_system"].as<std::string>()},
      {"verifier", row["verifier"].as<std::string>()},
      {"min_stake", row["min_stake"].as<int64_t>()},
      {"slash_bps", row["slash_bps"].as<int>()},
      {"compensation_bps", row["compensation_bps"].as<int>()},
      {"fee_bps", row["fee_bps"].as<int>()},
      {"min_prover_time_ms", row["min_prover_time_ms"].as<int>()},
      {"grace_bps", row["grace_bps"].as<int>()},
      {"uncle_reward_bps", row["uncle_reward_bps"].as<int>()},
      {"max_proof_bytes", row["max_proof_bytes"].as<int>()},
  };
}

}  // namespace

void RegisterApi(Router& router, Database& db) {
  router.Add("GET", "/healthz", [](const HttpRequest&, const PathParams&, Responder respond) {
    respond(JsonResponse(R"({"status":"ok"})"));
  });

  router.Add("GET", "/readyz",
             [&db](const HttpRequest&, const PathParams&, Responder respond) {
               if (db.ready()) {
                 respond(JsonResponse(R"({"status":"ready"})"));
                 return;
               }
               respond(ErrorResponse(Status(StatusCode::kUnavailable, db.not_ready_reason())));
             });

  router.Add("GET", "/v1/markets",
             [&db](const HttpRequest&, const PathParams&, Responder respond) {
               RunDb(db, std::move(respond), [](pqxx::connection& conn) {
                 pqxx::read_transaction tx(conn);
                 json::array markets;
                 for (const auto& row : tx.exec("SELECT * FROM markets ORDER BY id")) {
                   markets.push_back(MarketJson(row));
                 }
                 return JsonResponse(json::serialize(json::object{{"markets", markets}}));
               });
             });
}

}  // namespace proofbook::server
