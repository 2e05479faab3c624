// GET /v1/settlements and GET /v1/slashings end to end: real server process, PostgreSQL and
// verifier workers; the rows are made the real way, by provers delivering proofs over the
// WebSocket (one invalid, so slashed; valid ones, so paid). After each test the ledger
// invariant is checked in SQL.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "server/base/crypto.h"
#include "tests/integration/server_fixture.h"
#include "tests/integration/wait.h"
#include "tests/integration/ws_client.h"

namespace proofbook::testing {
namespace {

namespace json = boost::json;

class HistoryTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (HasFatalFailure()) return;
    StartServer();
    auto r = client_->Request(
        "POST", "/v1/admin/markets",
        R"({"id":"sha","proof_system":"sha256","verifier":"sha256-preimage","min_stake":100})",
        admin_key_);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // A prover with 5,000 deposited and 1,000 staked.
  std::pair<int64_t, std::string> Prover(const std::string& name) {
    auto p = Account("prover", name);
    Deposit(p.first, 5'000);
    EXPECT_EQ(client_->Request("POST", "/v1/stake", R"({"amount":1000})", p.second).status, 200);
    return p;
  }
  std::pair<int64_t, std::string> Sequencer(const std::string& name) {
    auto s = Account("sequencer", name);
    Deposit(s.first, 10'000);
    return s;
  }
  void Offer(WsClient& ws, int64_t price) {
    ws.SendJson({{"type", "offer"},
                 {"market", "sha"},
                 {"price", price},
                 {"est_ms", 60000},
                 {"capacity", 4}});
    ASSERT_TRUE(ws.ReadType("offer_placed").has_value()) << ws.error();
  }
  int64_t PlaceOrder(const std::string& key, const std::string& preimage,
                     int64_t min_reputation = 0) {
    auto r = client_->Request("POST", "/v1/orders",
                              R"({"market":"sha","max_price":500,"deadline_ms":600000,)"
                              R"("min_reputation":)" +
                                  std::to_string(min_reputation) + R"(,"inputs":{"sha256":")" +
                                  server::Sha256Hex(preimage) + R"("}})",
                              key);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? Json(r).at("order").at("id").as_int64() : 0;
  }
  // Waits for the next assignment on `ws`, delivers `proof` and waits for its verdict.
  void Prove(WsClient& ws, int64_t order, const std::string& proof, const std::string& result) {
    auto a = ws.ReadType("assignment", 10000);
    ASSERT_TRUE(a.has_value()) << ws.error();
    ASSERT_EQ(a->at("order").as_int64(), order);
    ASSERT_TRUE(ws.SendProof(a->at("assignment").as_int64(), proof));
    auto verdict = ws.ReadType("proof_result", 15000);
    ASSERT_TRUE(verdict.has_value()) << ws.error();
    ASSERT_EQ(verdict->at("result").as_string(), result);
    // The money message comes after its commit: once read, the row is in PostgreSQL.
    ASSERT_TRUE(ws.ReadType(result == "accepted" ? "settlement" : "slashed", 10000).has_value());
  }
  // GET `target` as `key`: the page's items (and its next_cursor in *cursor).
  json::array Page(const std::string& target, const std::string& key,
                   json::value* cursor = nullptr) {
    auto r = client_->Get(target, key);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    if (r.status != 200) return {};
    auto body = Json(r).as_object();
    if (cursor != nullptr) *cursor = body.at("next_cursor");
    const char* name =
        target.find("settlements") != std::string::npos ? "settlements" : "slashings";
    return body.at(name).as_array();
  }
  static std::vector<int64_t> Field(const json::array& items, const char* name) {
    std::vector<int64_t> out;
    for (const auto& item : items) out.push_back(item.at(name).as_int64());
    return out;
  }

  // Set by Scenario().
  int64_t cheat_ = 0, honest_ = 0, first_ = 0, second_ = 0;
  std::string cheat_key_, honest_key_, seq_a_key_, seq_b_key_;

  // Sequencer A's order goes to the cheaper cheat, who sends a wrong proof (slashed) and then
  // to the honest prover (paid). Sequencer B's order wants reputation 5000, which the cheat has
  // lost: the honest prover takes it and is paid. Rows: one slashing, two settlements.
  void Scenario() {
    auto [cheat, cheat_key] = Prover("cheat");
    auto [honest, honest_key] = Prover("honest");
    cheat_ = cheat, honest_ = honest, cheat_key_ = cheat_key, honest_key_ = honest_key;
    seq_a_key_ = Sequencer("a").second;
    seq_b_key_ = Sequencer("b").second;
    WsClient c(server_->port(), cheat_key_);
    WsClient h(server_->port(), honest_key_);
    ASSERT_TRUE(c.ok() && h.ok()) << c.error() << h.error();
    Offer(c, 200);
    Offer(h, 300);
    first_ = PlaceOrder(seq_a_key_, "first");
    Prove(c, first_, "not the preimage", "rejected");
    Prove(h, first_, "first", "accepted");
    second_ = PlaceOrder(seq_b_key_, "second", /*min_reputation=*/5000);
    Prove(h, second_, "second", "accepted");
  }
};

TEST_F(HistoryTest, EachCallerSeesItsOwnSettlementsAndSlashings) {
  Scenario();
  if (HasFatalFailure()) return;

  // Admin: everything, newest first.
  auto all = Page("/v1/settlements", admin_key_);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(Field(all, "order"), (std::vector<int64_t>{second_, first_}));
  EXPECT_GT(all[0].at("seq").as_int64(), all[1].at("seq").as_int64());
  for (const auto& s : all) {
    EXPECT_EQ(s.at("prover").as_int64(), honest_);
    EXPECT_EQ(s.at("market").as_string(), "sha");
    EXPECT_EQ(s.at("kind").as_string(), "settled");
    EXPECT_EQ(s.at("amount").as_int64(), 300);
    EXPECT_GT(s.at("assignment").as_int64(), 0);
    EXPECT_GT(s.at("at_ms").as_int64(), 0);
  }
  auto slashings = Page("/v1/slashings", admin_key_);
  ASSERT_EQ(slashings.size(), 1u);
  EXPECT_EQ(slashings[0].at("prover").as_int64(), cheat_);
  EXPECT_EQ(slashings[0].at("order").as_int64(), first_);
  EXPECT_EQ(slashings[0].at("market").as_string(), "sha");
  EXPECT_EQ(slashings[0].at("reason").as_string(), "invalid_proof");
  EXPECT_EQ(slashings[0].at("amount").as_int64(), 400);  // 2x (default) the cheat's price of 200

  // Provers: their own rows only.
  EXPECT_EQ(Page("/v1/settlements", honest_key_).size(), 2u);
  EXPECT_EQ(Page("/v1/slashings", honest_key_).size(), 0u);
  EXPECT_EQ(Page("/v1/settlements", cheat_key_).size(), 0u);
  EXPECT_EQ(Field(Page("/v1/slashings", cheat_key_), "order"), (std::vector<int64_t>{first_}));

  // Sequencers: the rows of their own orders only.
  EXPECT_EQ(Field(Page("/v1/settlements", seq_a_key_), "order"), (std::vector<int64_t>{first_}));
  EXPECT_EQ(Field(Page("/v1/slashings", seq_a_key_), "order"), (std::vector<int64_t>{first_}));
  EXPECT_EQ(Field(Page("/v1/settlements", seq_b_key_), "order"), (std::vector<int64_t>{second_}));
  EXPECT_EQ(Page("/v1/slashings", seq_b_key_).size(), 0u);

  // One order's rows.
  EXPECT_EQ(Field(Page("/v1/settlements?order=" + std::to_string(first_), admin_key_), "order"),
            (std::vector<int64_t>{first_}));
  EXPECT_EQ(Page("/v1/settlements?order=" + std::to_string(first_), seq_b_key_).size(), 0u);
}

TEST_F(HistoryTest, PagesAreKeysetPaginatedNewestFirst) {
  Scenario();
  if (HasFatalFailure()) return;
  json::value cursor;
  auto page1 = Page("/v1/settlements?limit=1", admin_key_, &cursor);
  ASSERT_EQ(page1.size(), 1u);
  EXPECT_EQ(page1[0].at("order").as_int64(), second_);
  ASSERT_TRUE(cursor.is_int64());
  EXPECT_EQ(cursor.as_int64(), page1[0].at("seq").as_int64());

  auto page2 = Page("/v1/settlements?limit=1&cursor=" + std::to_string(cursor.as_int64()),
                    admin_key_, &cursor);
  ASSERT_EQ(page2.size(), 1u);
  EXPECT_EQ(page2[0].at("order").as_int64(), first_);
  EXPECT_TRUE(cursor.is_null()) << "the last page has no next_cursor";

  // A page exactly as long as what is left has no next page either.
  Page("/v1/settlements?limit=2", admin_key_, &cursor);
  EXPECT_TRUE(cursor.is_null());
  Page("/v1/slashings?limit=200", admin_key_, &cursor);
  EXPECT_TRUE(cursor.is_null());
  // Past the oldest row: empty.
  EXPECT_EQ(Page("/v1/settlements?cursor=1", admin_key_).size(), 0u);
}

TEST_F(HistoryTest, BadQueriesAndCallersAreRefused) {
  for (const std::string path : {"/v1/settlements", "/v1/slashings"}) {
    auto none = client_->Get(path);
    EXPECT_EQ(none.status, 401) << path;
    for (const std::string query : {"limit=0", "limit=x", "cursor=-1", "order=", "page=2"}) {
      auto r = client_->Get(path + "?" + query, admin_key_);
      ASSERT_EQ(r.status, 400) << path << "?" << query << ": " << r.body;
      EXPECT_EQ(Json(r).at("error").at("code").as_string(), "invalid_argument");
      EXPECT_EQ(Json(r).at("error").at("field").as_string(), query.substr(0, query.find('=')));
    }
    // A large limit is cut to the maximum, as in GET /v1/orders; nothing yet: an empty page.
    auto r = client_->Get(path + "?limit=100000", admin_key_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(Json(r).at("next_cursor").is_null());
    EXPECT_EQ(client_->Request("POST", path, "{}", admin_key_).status, 405);
  }
}

// The ledger check: every bucket of every account against its entries, the books against the
// deposits. Run on demand by an admin, and by the server itself every --ledger-check-interval.
TEST_F(HistoryTest, TheLedgerCheckFindsABucketThatDisagreesWithItsEntries) {
  Scenario();
  if (HasFatalFailure()) return;
  auto check = [this] {
    auto r = client_->Get("/v1/admin/ledger/check", admin_key_);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? Json(r).as_object() : json::object{};
  };
  json::object good = check();
  EXPECT_TRUE(good.at("ok").as_bool()) << good;
  EXPECT_EQ(good.at("deposits").as_string(),
            "30000");  // two provers' 5,000, two sequencers' 10,000
  EXPECT_EQ(good.at("withdrawals").as_string(), "0");
  EXPECT_EQ(good.at("balances").as_string(), "30000");
  EXPECT_EQ(good.at("imbalance").as_string(), "0");
  EXPECT_TRUE(good.at("differences").as_array().empty());
  EXPECT_GE(good.at("accounts").as_int64(), 6);  // the treasury, the admin, four more
  EXPECT_GT(good.at("entries").as_int64(), 10);  // deposits, stakes, escrows, pay, slash, fees

  // Who may ask, and how.
  EXPECT_EQ(client_->Get("/v1/admin/ledger/check").status, 401);
  EXPECT_EQ(client_->Get("/v1/admin/ledger/check", seq_a_key_).status, 403);
  EXPECT_EQ(client_->Get("/v1/admin/ledger/check?full=1", admin_key_).status, 400);

  // A balance changed behind the ledger's back (an UPDATE nobody journaled): the check names
  // the bucket, its balance and what its entries add up to.
  pqxx::connection conn(db_.url());
  auto shift = [&conn, this](int64_t by) {
    pqxx::work tx(conn);
    tx.exec_params("UPDATE accounts SET available = available + $1 WHERE id = $2", by, honest_);
    tx.commit();
  };
  shift(7);
  json::object bad = check();
  EXPECT_FALSE(bad.at("ok").as_bool()) << bad;
  EXPECT_EQ(bad.at("imbalance").as_string(), "7");
  EXPECT_EQ(bad.at("differences_total").as_int64(), 1);
  ASSERT_EQ(bad.at("differences").as_array().size(), 1u) << bad;
  const json::object& d = bad.at("differences").as_array()[0].as_object();
  EXPECT_EQ(d.at("account").as_int64(), honest_);
  EXPECT_EQ(d.at("bucket").as_string(), "available");
  EXPECT_EQ(std::to_string(d.at("balance").as_int64() - 7), d.at("entries").as_string());
  shift(-7);
  EXPECT_TRUE(check().at("ok").as_bool());

  // The server's own check, every second here: it logs the difference, then the repair.
  server_.reset();
  StartServer({"--ledger-check-interval", "1"});
  ASSERT_TRUE(WaitUntil([this] {
    return server_->Logs().find("msg=ledger_check ok=true") != std::string::npos;
  })) << server_->Logs();
  shift(7);
  ASSERT_TRUE(WaitUntil([this] {
    return server_->Logs().find("msg=ledger_check ok=false differences=1 imbalance=7") !=
           std::string::npos;
  })) << server_->Logs();
  shift(-7);
  const std::size_t after = server_->Logs().rfind("msg=ledger_check ok=false");
  EXPECT_TRUE(WaitUntil([&] {
    return server_->Logs().find("msg=ledger_check ok=true", after) != std::string::npos;
  })) << server_->Logs();
}

}  // namespace
}  // namespace proofbook::testing
