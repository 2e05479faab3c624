// PostgreSQL goes away under a running server and comes back: /readyz says 503 meanwhile,
// the process stays up and answers, and readiness returns by itself. This test stops the
// shared throwaway cluster (PROOFBOOK_TEST_PG_STOP/START from ./proofbook.sh test), so it
// runs alone (RUN_SERIAL).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <pqxx/pqxx>
#include <thread>

#include "server/core/api_keys.h"
#include "tests/integration/http_client.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_database.h"

namespace proofbook::testing {
namespace {

HttpResult WaitFor(HttpClient& client, const std::string& target, int want, int tries = 200) {
  HttpResult r;
  for (int i = 0; i < tries; ++i) {
    r = client.Get(target);
    if (r.status == want) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return r;
}

TEST(PostgresOutage, ReadyzFollowsTheDatabaseAndTheServerSurvives) {
  const char* stop = std::getenv("PROOFBOOK_TEST_PG_STOP");
  const char* start = std::getenv("PROOFBOOK_TEST_PG_START");
  ASSERT_TRUE(stop && start)
      << "run with ./proofbook.sh test (it sets PROOFBOOK_TEST_PG_STOP/START)";

  TestDatabase db;
  db.Migrate();
  std::string admin_key;
  {
    pqxx::connection conn(db.url());
    auto admin = server::BootstrapAdmin(*::proofbook::server::BorrowSession(conn));
    ASSERT_TRUE(admin.has_value() && admin->has_value());
    admin_key = (*admin)->api_key;
  }
  ServerProcess server(db.url());
  HttpClient client(server.port());
  ASSERT_EQ(WaitFor(client, "/readyz", 200).status, 200);

  ASSERT_EQ(std::system(stop), 0);
  // Whatever happens below, bring PostgreSQL back for the tests that follow.
  struct Restart {
    const char* cmd;
    ~Restart() { (void)std::system(cmd); }
  } restart{start};

  auto not_ready = WaitFor(client, "/readyz", 503);
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(boost::json::parse(not_ready.body).at("error").at("code").as_string(), "unavailable");
  EXPECT_EQ(client.Get("/healthz").status, 200);
  auto markets = client.Get("/v1/markets");
  EXPECT_EQ(markets.status, 503) << markets.body;
  EXPECT_FALSE(markets.header("retry-after").empty());
  // A write while PostgreSQL is away is refused, never acknowledged.
  auto deposit =
      client.Request("POST", "/v1/admin/accounts/1/deposits", R"({"amount":5})", admin_key);
  EXPECT_EQ(deposit.status, 503) << deposit.body;
  EXPECT_FALSE(deposit.header("retry-after").empty());
  EXPECT_TRUE(server.running());

  ASSERT_EQ(std::system(start), 0);
  EXPECT_EQ(WaitFor(client, "/readyz", 200).status, 200);
  EXPECT_EQ(WaitFor(client, "/v1/markets", 200).status, 200);
  // The engine was rebuilt from what was committed and takes writes again.
  HttpResult again;
  for (int i = 0; i < 100 && again.status != 201; ++i) {
    again = client.Request("POST", "/v1/admin/accounts/1/deposits", R"({"amount":7})", admin_key);
    if (again.status != 201) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(again.status, 201) << again.body;
  // Only the acknowledged deposit is there; the refused one is not, not even half.
  EXPECT_EQ(boost::json::parse(again.body).at("account").at("available").as_int64(), 7);
  pqxx::connection conn(db.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT ledger_imbalance()")[0][0].as<int64_t>(), 0);
}

}  // namespace
}  // namespace proofbook::testing
