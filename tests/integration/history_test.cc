// GET /v1/settlements and GET /v1/slashings end to end: real server process, PostgreSQL and
// verifier workers; the rows are made the real way, by provers delivering proofs over the
// WebSocket (one invalid, so slashed; valid ones, so paid). After each test the ledger
// invariant is checked in SQL.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "clients/common/process.h"
#include "server/base/crypto.h"
#include "tests/integration/http_client.h"
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

// ---- The admin's listings: GET /v1/admin/{settlements,slashings,ledger,orders} ------------------

// RFC 4180 CSV back into rows of fields (quoted fields, doubled quotes, CRLF line ends).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.emplace_back(1);
      ++i;
    } else {
      rows.back().back() += c;
    }
  }
  rows.pop_back();  // after the last CRLF
  return rows;
}

class AdminListTest : public HistoryTest {
 protected:
  // GET /v1/admin/<list>?<query> as the admin: the body.
  json::object List(const std::string& list, const std::string& query = "") {
    auto r = client_->Get("/v1/admin/" + list + "?" + query, admin_key_);
    EXPECT_EQ(r.status, 200) << list << "?" << query << ": " << r.body;
    return r.status == 200 ? Json(r).as_object() : json::object{};
  }
  // Every row of a list under `query`, fetched page by page with `limit`; checks that each page
  // but the last is full and has a cursor, and the last has none.
  json::array Walk(const std::string& list, const std::string& query, int limit) {
    json::array all;
    std::string cursor;
    for (int pages = 0; pages < 1000; ++pages) {
      json::object page = List(list, query + "&limit=" + std::to_string(limit) +
                                         (cursor.empty() ? "" : "&cursor=" + cursor));
      if (page.empty()) return all;
      const json::array& rows = page.at(list).as_array();
      for (const auto& row : rows) all.push_back(row);
      if (page.at("next_cursor").is_null()) return all;
      EXPECT_EQ(rows.size(), static_cast<std::size_t>(limit)) << "a page before the last";
      cursor = std::string(page.at("next_cursor").as_string());
    }
    ADD_FAILURE() << "no end to the pages";
    return all;
  }
  // The key (first column) of each row.
  static std::vector<int64_t> Keys(const json::array& rows, const char* key) {
    return Field(rows, key);
  }
};

// Each list, unfiltered, against each filter: what a filter returns is exactly the unfiltered
// rows that match it, newest first; paging one row at a time or in pages of the exact size
// gives the same rows.
TEST_F(AdminListTest, EveryFilterSelectsExactlyTheMatchingRows) {
  Scenario();
  if (HasFatalFailure()) return;
  struct Case {
    std::string list, key, query;
    std::function<bool(const json::object&)> match;
  };
  const std::string sha = "market=sha";
  auto field = [](const json::object& row, const char* name) { return row.at(name); };
  std::vector<Case> cases{
      {"settlements", "id", "account=" + std::to_string(honest_),
       [&](const json::object& r) { return field(r, "prover") == honest_; }},
      {"settlements", "id", "account=" + std::to_string(cheat_),
       [&](const json::object& r) { return field(r, "prover") == cheat_; }},
      {"settlements", "id", "order=" + std::to_string(first_),
       [&](const json::object& r) { return field(r, "order") == first_; }},
      {"settlements", "id", "kind=settled",
       [&](const json::object& r) { return field(r, "kind") == "settled"; }},
      {"settlements", "id", "kind=uncle", [](const json::object&) { return false; }},
      {"settlements", "id", sha, [](const json::object&) { return true; }},
      {"settlements", "id", "market=nowhere", [](const json::object&) { return false; }},
      {"slashings", "id", "reason=invalid_proof",
       [&](const json::object& r) { return field(r, "reason") == "invalid_proof"; }},
      {"slashings", "id", "reason=missed_deadline", [](const json::object&) { return false; }},
      {"slashings", "id", "account=" + std::to_string(honest_),
       [](const json::object&) { return false; }},
      {"ledger", "seq", "account=" + std::to_string(cheat_),
       [&](const json::object& r) {
         return field(r, "from_account") == cheat_ || field(r, "to_account") == cheat_;
       }},
      {"ledger", "seq", "account=" + std::to_string(honest_),  // paid by others: to_account
       [&](const json::object& r) {
         return field(r, "from_account") == honest_ || field(r, "to_account") == honest_;
       }},
      {"ledger", "seq", "order=" + std::to_string(first_),
       [&](const json::object& r) { return field(r, "order") == first_; }},
      {"ledger", "seq", "reason=payment",
       [&](const json::object& r) { return field(r, "reason") == "payment"; }},
      {"ledger", "seq", sha, [&](const json::object& r) { return field(r, "market") == "sha"; }},
      {"ledger", "seq", "account=" + std::to_string(honest_) + "&reason=stake",
       [&](const json::object& r) {
         return field(r, "reason") == "stake" &&
                (field(r, "from_account") == honest_ || field(r, "to_account") == honest_);
       }},
      {"orders", "id", "status=completed",
       [&](const json::object& r) { return field(r, "status") == "completed"; }},
      {"orders", "id", "status=open", [](const json::object&) { return false; }},
      {"orders", "id", "order=" + std::to_string(second_),
       [&](const json::object& r) { return field(r, "id") == second_; }},
  };
  // Time: from the second-newest row's time on, and before the newest row's.
  for (std::string list : {"settlements", "ledger", "orders"}) {
    const char* at = list == "orders" ? "placed_at_ms" : "at_ms";
    json::array all = List(list, "limit=200").at(list).as_array();
    ASSERT_GE(all.size(), 2u) << list;
    const int64_t newest = all[0].at(at).as_int64(), older = all[1].at(at).as_int64();
    cases.push_back({list, list == "ledger" ? "seq" : "id", "from=" + std::to_string(older),
                     [=](const json::object& r) { return r.at(at).as_int64() >= older; }});
    cases.push_back({list, list == "ledger" ? "seq" : "id", "to=" + std::to_string(newest),
                     [=](const json::object& r) { return r.at(at).as_int64() < newest; }});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.list + "?" + c.query);
    json::array all = List(c.list, "limit=200").at(c.list).as_array();
    std::vector<int64_t> want;
    for (const auto& row : all) {
      if (c.match(row.as_object())) want.push_back(row.at(c.key).as_int64());
    }
    EXPECT_EQ(Keys(List(c.list, c.query + "&limit=200").at(c.list).as_array(), c.key.c_str()),
              want);
    EXPECT_EQ(Keys(Walk(c.list, c.query, 1), c.key.c_str()), want);
    if (!want.empty()) {
      EXPECT_EQ(Keys(Walk(c.list, c.query, static_cast<int>(want.size())), c.key.c_str()), want);
    }
  }
  // Rows are complete: a settlement names its market and amount, an order its owner.
  const json::object s = List("settlements").at("settlements").as_array()[0].as_object();
  EXPECT_EQ(s.at("market"), "sha");
  EXPECT_EQ(s.at("amount"), 300);
  EXPECT_EQ(s.at("kind"), "settled");
  const json::object o = List("orders").at("orders").as_array()[0].as_object();
  EXPECT_EQ(o.at("id"), second_);
  EXPECT_EQ(o.at("status"), "completed");
}

// Keyset pages: rows written while an admin pages never shift what is still unread, and a page
// boundary that falls exactly on the last row has no next page.
TEST_F(AdminListTest, PagingIsStableWhileRowsArrive) {
  Scenario();
  if (HasFatalFailure()) return;
  EXPECT_EQ(List("orders", "account=999999").at("orders").as_array().size(), 0u);
  EXPECT_TRUE(List("orders", "account=999999").at("next_cursor").is_null());
  json::object page1 = List("orders", "limit=1");
  ASSERT_EQ(Keys(page1.at("orders").as_array(), "id"), (std::vector<int64_t>{second_}));
  const std::string cursor(page1.at("next_cursor").as_string());
  const int64_t third =
      PlaceOrder(seq_a_key_, "third", 10000);  // no prover qualifies  // arrives between the pages
  json::object page2 = List("orders", "limit=1&cursor=" + cursor);
  EXPECT_EQ(Keys(page2.at("orders").as_array(), "id"), (std::vector<int64_t>{first_}));
  EXPECT_TRUE(page2.at("next_cursor").is_null());
  EXPECT_EQ(Keys(List("orders").at("orders").as_array(), "id"),
            (std::vector<int64_t>{third, second_, first_}));
  // The same for the ledger: the new order's escrow is not on the old pages.
  json::array before = Walk("ledger", "", 3);
  PlaceOrder(seq_b_key_, "fourth", 10000);
  json::array after = Walk("ledger", "", 3);
  ASSERT_EQ(after.size(), before.size() + 1);
  EXPECT_EQ(after[0].at("reason"), "escrow");
  after.erase(after.begin());
  EXPECT_EQ(after, before);
}

TEST_F(AdminListTest, BadQueriesAndNonAdminsAreRefused) {
  Scenario();
  if (HasFatalFailure()) return;
  for (const std::string list : {"settlements", "slashings", "ledger", "orders"}) {
    SCOPED_TRACE(list);
    const std::string path = "/v1/admin/" + list;
    EXPECT_EQ(client_->Get(path).status, 401);
    for (const std::string& key : {seq_a_key_, honest_key_}) {
      auto r = client_->Get(path, key);
      EXPECT_EQ(r.status, 403) << r.body;
      EXPECT_EQ(client_->Get(path + "?format=csv", key).status, 403);
    }
    const std::string good_cursor = "010000000000000005";  // the shape next_cursor has
    for (const std::string& query : std::vector<std::string>{
             "cursor=zz", "cursor=1", "cursor=010000000000000000", "cursor=020000000000000001",
             "cursor=01000000000000000g", "cursor=" + good_cursor + "0", "limit=x", "account=-1",
             "order=1.5", "from=yesterday", "to=", "format=xml", "page=2"}) {
      auto r = client_->Get(path + "?" + query, admin_key_);
      ASSERT_EQ(r.status, 400) << query << ": " << r.body;
      EXPECT_EQ(Json(r).at("error").at("code").as_string(), "invalid_argument");
      EXPECT_EQ(Json(r).at("error").at("field").as_string(), query.substr(0, query.find('=')))
          << query;
    }
    // Another list's detail filter is not this one's.
    const char* other = list == "orders" ? "reason=x" : "status=open";
    EXPECT_EQ(client_->Get(path + "?" + other, admin_key_).status, 400);
  }
}

// CSV: the same rows as the JSON listing, whole (no page limit), through pieces of the stream
// (more rows than one piece holds), by ?format=csv or Accept: text/csv.
TEST_F(AdminListTest, CsvExportsTheWholeFilteredRangeAndParsesBack) {
  Scenario();
  if (HasFatalFailure()) return;
  // 300 orders placed and cancelled: 600 more ledger rows, more than one piece of the stream.
  for (int i = 0; i < 300; ++i) {
    const int64_t id = PlaceOrder(seq_a_key_, "bulk " + std::to_string(i), 10000);
    ASSERT_EQ(client_->Request("DELETE", "/v1/orders/" + std::to_string(id), "", seq_a_key_).status,
              200);
  }
  for (const std::string list : {"settlements", "slashings", "ledger", "orders"}) {
    SCOPED_TRACE(list);
    json::array rows = Walk(list, "", 200);
    auto r = client_->Get("/v1/admin/" + list + "?format=csv", admin_key_);
    ASSERT_EQ(r.status, 200) << r.body;
    auto csv = ParseCsv(r.body);
    ASSERT_EQ(csv.size(), rows.size() + 1);
    const std::vector<std::string>& header = csv[0];
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const json::object& row = rows[i].as_object();
      ASSERT_EQ(csv[i + 1].size(), header.size());
      ASSERT_EQ(row.size(), header.size());
      for (std::size_t c = 0; c < header.size(); ++c) {
        const json::value& v = row.at(header[c]);
        const std::string want = v.is_null()     ? ""
                                 : v.is_string() ? std::string(v.as_string())
                                                 : json::serialize(v);
        ASSERT_EQ(csv[i + 1][c], want) << "row " << i << " column " << header[c];
      }
    }
  }
  // A filter applies to the export too, and Accept: text/csv asks for it as well (chunked).
  auto cancelled = client_->Get("/v1/admin/orders?format=csv&status=cancelled", admin_key_);
  EXPECT_EQ(ParseCsv(cancelled.body).size(), 301u);
  const std::string raw =
      RawExchange(server_->port(),
                  "GET /v1/admin/slashings HTTP/1.1\r\nHost: x\r\n"
                  "Authorization: Bearer " +
                      admin_key_ + "\r\nAccept: text/csv\r\nConnection: close\r\n\r\n");
  EXPECT_NE(raw.find("Transfer-Encoding: chunked"), std::string::npos) << raw;
  EXPECT_NE(raw.find("text/csv"), std::string::npos) << raw;
  EXPECT_NE(raw.find("id,seq,at_ms,order,assignment,prover,market,amount,reason"),
            std::string::npos)
      << raw;
  EXPECT_NE(raw.find("invalid_proof"), std::string::npos) << raw;
}

// Accounts with their keys (never the key), the prover leaderboard, the summary of a window.
TEST_F(AdminListTest, AccountsProversAndSummaryShowTheWholeMarket) {
  Scenario();
  if (HasFatalFailure()) return;
  // Accounts: all of them by id, filtered by role, paged; one with its keys.
  json::array provers_only = List("accounts", "role=prover").at("accounts").as_array();
  EXPECT_EQ(Keys(provers_only, "id"), (std::vector<int64_t>{cheat_, honest_}));
  json::object first = List("accounts", "limit=2");
  ASSERT_EQ(first.at("accounts").as_array().size(), 2u);
  EXPECT_EQ(first.at("accounts").as_array()[0].at("id"), 0);  // the treasury
  json::object rest =
      List("accounts", "limit=200&cursor=" + std::to_string(first.at("next_cursor").as_int64()));
  EXPECT_TRUE(rest.at("next_cursor").is_null());
  EXPECT_EQ(rest.at("accounts").as_array().size() + 2,
            List("accounts", "limit=200").at("accounts").as_array().size());
  auto honest = client_->Get("/v1/admin/accounts/" + std::to_string(honest_), admin_key_);
  ASSERT_EQ(honest.status, 200) << honest.body;
  const json::value honest_body = Json(honest);
  const json::object& account = honest_body.at("account").as_object();
  EXPECT_EQ(account.at("staked"), 1000);
  ASSERT_EQ(account.at("keys").as_array().size(), 1u);
  EXPECT_GT(account.at("keys").as_array()[0].at("created_at_ms").as_int64(), 0);
  EXPECT_TRUE(account.at("keys").as_array()[0].at("revoked_at_ms").is_null());
  EXPECT_EQ(honest.body.find(honest_key_), std::string::npos) << "a key is never shown again";
  EXPECT_EQ(honest.body.find("hash"), std::string::npos);
  EXPECT_EQ(client_->Get("/v1/admin/accounts/999999", admin_key_).status, 404);
  EXPECT_EQ(client_->Get("/v1/admin/accounts/x", admin_key_).status, 400);
  EXPECT_EQ(client_->Get("/v1/admin/accounts?role=king", admin_key_).status, 400);

  // The leaderboard: its counts are refreshed in the background once a reader finds them old
  // (never refreshed yet here), so the second look sees the scenario.
  json::object board;
  ASSERT_TRUE(WaitUntil([&] {
    board = List("provers", "sort=earned");
    return board.at("provers").as_array().size() == 2 &&
           board.at("provers").as_array()[0].at("settled") == 2;
  })) << board;
  const json::object& top = board.at("provers").as_array()[0].as_object();
  EXPECT_EQ(top.at("id"), honest_);
  EXPECT_EQ(top.at("won"), 2);
  EXPECT_EQ(top.at("earned"), 600);
  EXPECT_EQ(top.at("missed"), 0);
  EXPECT_FALSE(top.at("jailed").as_bool());
  EXPECT_TRUE(top.at("delivery_median_ms").is_int64());
  const json::object& cheat = board.at("provers").as_array()[1].as_object();
  EXPECT_EQ(cheat.at("id"), cheat_);
  EXPECT_EQ(cheat.at("invalid"), 1);
  EXPECT_EQ(cheat.at("slashed"), 400);
  EXPECT_EQ(cheat.at("earned"), 0);
  EXPECT_GT(board.at("as_of_ms").as_int64(), 0);
  EXPECT_EQ(Keys(List("provers", "sort=invalid").at("provers").as_array(), "id"),
            (std::vector<int64_t>{cheat_, honest_}));
  EXPECT_EQ(client_->Get("/v1/admin/provers?sort=name", admin_key_).status, 400);

  // The summary of the last day: two orders completed, two settlements of 300, one slash of
  // 400 of which the treasury kept half (compensation_bps 5000 by default).
  json::object sum = List("summary");
  const json::object& total = sum.at("total").as_object();
  EXPECT_EQ(total.at("orders").at("completed"), 2) << sum;
  EXPECT_EQ(total.at("settlements"), 2);
  EXPECT_EQ(total.at("volume"), 600);
  EXPECT_EQ(total.at("slashes"), 1);
  EXPECT_EQ(total.at("slashed"), 400);
  ASSERT_EQ(sum.at("markets").as_array().size(), 1u);
  EXPECT_EQ(sum.at("markets").as_array()[0].at("market"), "sha");
  auto treasury = client_->Get("/v1/admin/accounts/0", admin_key_);
  EXPECT_EQ(sum.at("treasury").at("available"), Json(treasury).at("account").at("available"));
  EXPECT_EQ(sum.at("treasury").at("available"), 200);
  // A window before all of it: nothing.
  json::object before = List("summary", "from=1&to=2");
  EXPECT_EQ(before.at("total").at("settlements"), 0);
  EXPECT_TRUE(before.at("markets").as_array().empty());
  EXPECT_EQ(client_->Get("/v1/admin/summary?from=5&to=4", admin_key_).status, 400);
  for (const char* path : {"/v1/admin/accounts", "/v1/admin/provers", "/v1/admin/summary"}) {
    EXPECT_EQ(client_->Get(path, seq_a_key_).status, 403) << path;
    EXPECT_EQ(client_->Get(path).status, 401) << path;
  }
}

// The seeding tool's history (proofbook-server seed-history) is one a server recovers from and
// runs on, with balanced books; on it, a filter no index serves walks the history a bounded
// scan at a time: pages may be short or empty, yet following next_cursor finds every row.
TEST_F(AdminListTest, SparseFiltersPageThroughSeededHistoryInBoundedScans) {
  server_.reset();  // seed-history writes engine_state: never beside a running server
  // Through RunServerCommand: the binary the other tests start (PROOFBOOK_TEST_SERVER_BIN).
  const auto seed =
      RunServerCommand({"seed-history", "--orders", "6000", "--provers", "5", "--sequencers", "3",
                        "--markets", "3", "--log-level", "warn", "--database-url", db_.url()});
  ASSERT_EQ(seed.exit_code, 0) << seed.output;
  StartServer();
  auto check = client_->Get("/v1/admin/ledger/check", admin_key_);
  ASSERT_EQ(check.status, 200);
  EXPECT_TRUE(Json(check).at("ok").as_bool()) << check.body;
  EXPECT_EQ(Json(check).at("entries").as_int64(), 6000 * 9 / 2 + 3 + 2 * 5);

  // Every slash_treasury entry of market seed-2: 6000 orders, one in four slashed, a third of
  // those in seed-2 (orders go round the markets, the slashed ones every fourth).
  pqxx::connection conn(db_.url());
  const int64_t want =
      pqxx::work(conn)
          .exec(
              "SELECT count(*) FROM ledger_entries l JOIN orders o ON o.id = l.order_id "
              "JOIN markets m ON m.idx = o.market_idx WHERE m.id = 'seed-2' "
              "AND l.reason = 'slash_treasury'")[0][0]
          .as<int64_t>();
  ASSERT_GT(want, 0);
  // Follows next_cursor to the end: the rows seen (checked newest first, none twice) and how
  // many pages came back empty.
  auto walk = [this](const std::string& query, const char* market) {
    std::pair<int64_t, int64_t> seen_and_empty{0, 0};
    std::string cursor;
    int64_t last_seq = INT64_MAX;
    for (int pages = 0; pages < 100; ++pages) {
      json::object page =
          List("ledger", query + "&limit=200" + (cursor.empty() ? "" : "&cursor=" + cursor));
      for (const auto& row : page.at("ledger").as_array()) {
        EXPECT_LT(row.at("seq").as_int64(), last_seq) << "newest first, no row twice";
        last_seq = row.at("seq").as_int64();
        if (market != nullptr) {
          EXPECT_EQ(row.at("market"), market);
        }
        ++seen_and_empty.first;
      }
      seen_and_empty.second += page.at("ledger").as_array().empty();
      if (page.at("next_cursor").is_null()) return seen_and_empty;
      cursor = std::string(page.at("next_cursor").as_string());
    }
    ADD_FAILURE() << "no end to the pages";
    return seen_and_empty;
  };
  EXPECT_EQ(walk("market=seed-2&reason=slash_treasury", "seed-2").first, want);
  // The 8 deposits are the oldest entries: the scans of the 48,000 newer sequence numbers come
  // back empty, with a cursor to go on.
  auto [deposits, empty_pages] = walk("reason=deposit", nullptr);
  EXPECT_EQ(deposits, 8);
  EXPECT_GE(empty_pages, 2);
  // The CSV export follows the same cursor to the end.
  auto csv =
      client_->Get("/v1/admin/ledger?format=csv&market=seed-2&reason=slash_treasury", admin_key_);
  EXPECT_EQ(static_cast<int64_t>(ParseCsv(csv.body).size()), want + 1);
  // And the server runs on it: a new order is accepted after the seeded ones.
  auto s = Account("sequencer", "after the seed");
  Deposit(s.first, 10'000);
  auto r = client_->Request("POST", "/v1/orders",
                            R"({"market":"seed-1","max_price":500,"deadline_ms":600000,)"
                            R"("inputs":{"sha256":")" +
                                server::Sha256Hex("x") + R"("}})",
                            s.second);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_GT(Json(r).at("order").at("id").as_int64(), 6000);
}

// ---- GET /metrics -----------------------------------------------------------------------------

// Prometheus' text format (0.0.4), parsed strictly: every sample belongs to a family declared by
// # TYPE (a histogram's _bucket, _sum and _count too), labels are name="value" with escapes,
// values are numbers, a histogram's buckets never decrease and its +Inf bucket is its count.
// Returns each series ("name{labels}" as written) with its value; a parse error fails the test.
std::map<std::string, double> ParsePrometheus(const std::string& text) {
  std::map<std::string, double> out;
  std::map<std::string, std::string> types;  // family -> type
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line.starts_with("# HELP ")) continue;
    if (line.starts_with("# TYPE ")) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" ||
                  type == "summary" || type == "untyped")
          << line;
      types[name] = type;
      continue;
    }
    EXPECT_NE(line[0], '#') << line;
    const std::size_t name_end = line.find_first_of("{ ");
    const std::string name = line.substr(0, name_end);
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (name.ends_with(suffix) && !types.contains(name)) {
        family = name.substr(0, name.size() - std::strlen(suffix));
      }
    }
    EXPECT_TRUE(types.contains(family)) << "no # TYPE for " << line;
    std::size_t value_at = name_end;
    if (line[name_end] == '{') {
      std::size_t i = name_end + 1;
      while (line[i] != '}') {  // name="value",
        const std::size_t eq = line.find('=', i);
        EXPECT_NE(eq, std::string::npos) << line;
        if (eq == std::string::npos) return out;
        EXPECT_EQ(line[eq + 1], '"') << line;
        i = eq + 2;
        while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
        EXPECT_LT(i, line.size()) << "unterminated label value: " << line;
        if (i >= line.size()) return out;
        ++i;
        if (line[i] == ',') ++i;
      }
      value_at = i + 1;
    }
    const std::string series = line.substr(0, value_at);
    const std::string value = line.substr(value_at + 1);
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    EXPECT_TRUE(end != value.c_str() && (*end == '\0' || *end == ' ')) << line;
    out[series] = v;
  }
  // Histograms: cumulative buckets, +Inf == count.
  for (const auto& [family, type] : types) {
    if (type != "histogram") continue;
    for (const auto& [series, count] : out) {
      if (!series.starts_with(family + "_count")) continue;
      const std::string labels = series.substr(family.size() + 6);  // "{...}" or ""
      std::string inf_key = family + "_bucket{";
      if (labels.size() > 2) inf_key += labels.substr(1, labels.size() - 2) + ",";
      inf_key += "le=\"+Inf\"}";
      EXPECT_TRUE(out.contains(inf_key)) << inf_key;
      if (out.contains(inf_key)) {
        EXPECT_EQ(out[inf_key], count) << inf_key;
      }
    }
  }
  return out;
}

TEST_F(AdminListTest, MetricsCountTheTrafficAndParseAsPrometheusText) {
  server_.reset();
  StartServer({"--ledger-check-interval", "1"});
  auto scrape = [this] {
    auto r = client_->Get("/metrics", admin_key_);
    EXPECT_EQ(r.status, 200) << r.body;
    return ParsePrometheus(r.body);
  };
  EXPECT_EQ(client_->Get("/metrics").status, 401);
  auto before = scrape();
  ASSERT_TRUE(before.contains("proofbook_orders_placed_total"));
  Scenario();
  if (HasFatalFailure()) return;
  std::map<std::string, double> after;
  // The ledger check runs every second; the WebSockets of the scenario are closed by now.
  ASSERT_TRUE(WaitUntil([&] {
    after = scrape();
    return after["proofbook_ledger_check_ok"] == 1 && after["proofbook_ws_connections"] == 0;
  })) << after["proofbook_ledger_check_ok"]
      << " " << after["proofbook_ws_connections"];
  auto moved = [&](const std::string& series) { return after[series] - before[series]; };
  // Two orders placed and completed; three assignments (the cheat's, then the honest prover's
  // for the first order; the honest prover's for the second); two settlements; one slash.
  EXPECT_EQ(moved("proofbook_orders_placed_total"), 2);
  EXPECT_EQ(moved("proofbook_orders_completed_total"), 2);
  EXPECT_EQ(moved("proofbook_assignments_total"), 3);
  EXPECT_EQ(moved("proofbook_settlements_total"), 2);
  EXPECT_EQ(moved("proofbook_slashes_total{reason=\"invalid_proof\"}"), 1);
  EXPECT_EQ(moved("proofbook_slashes_total{reason=\"missed_deadline\"}"), 0);
  EXPECT_EQ(moved("proofbook_verification_duration_seconds_count{kind=\"sha256-preimage\"}"), 3);
  EXPECT_EQ(moved("proofbook_http_requests_total{method=\"POST\",route=\"/v1/orders\","
                  "status=\"201\"}"),
            2);
  EXPECT_EQ(moved("proofbook_http_request_duration_seconds_count{route=\"/v1/orders\"}"), 2);
  EXPECT_GE(moved("proofbook_journal_batch_events_count"), 5);
  EXPECT_GE(after["proofbook_ledger_checks_total{result=\"ok\"}"], 1);
  EXPECT_EQ(after["proofbook_ledger_check_differences"], 0);
  EXPECT_EQ(after["proofbook_engine_inbox_depth"], 0);
  EXPECT_EQ(moved("proofbook_engine_inbox_full_total"), 0);
  EXPECT_TRUE(after.contains("proofbook_verifier_queue_depth{kind=\"sha256-preimage\"}"));
  // The scrapes themselves are counted under their route, and unknown paths under one label.
  EXPECT_GE(after["proofbook_http_requests_total{method=\"GET\",route=\"/metrics\","
                  "status=\"200\"}"],
            2);
  client_->Get("/no/such/path");
  EXPECT_EQ(scrape()["proofbook_http_requests_total{method=\"GET\",route=\"unmatched\","
                     "status=\"404\"}"],
            1);
}

// ---- The dashboard, in headless Chromium ------------------------------------------------------

// Chromium (Debian's) driven over the DevTools protocol: a page navigated to a URL, JavaScript
// evaluated in it, a screenshot taken. Real browser, real sockets.
class Browser {
 public:
  explicit Browser(const std::string& profile_dir) : process_(Options(profile_dir)) {
    EXPECT_TRUE(process_.started()) << process_.error();
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..." on stderr.
    const std::string marker = "DevTools listening on ws://127.0.0.1:";
    EXPECT_TRUE(WaitUntil([&] { return process_.Stdout().find(marker) != std::string::npos; },
                          std::chrono::seconds(30)))
        << process_.Stdout();
    const std::string out = process_.Stdout();
    const std::size_t at = out.find(marker);
    if (at == std::string::npos) return;
    port_ = static_cast<uint16_t>(std::stoi(out.substr(at + marker.size())));
    HttpClient http(port_);
    auto list = http.Get("/json/list");
    EXPECT_EQ(list.status, 200) << list.body;
    if (list.status != 200) return;
    const json::value targets = json::parse(list.body);
    for (const auto& target : targets.as_array()) {
      if (target.at("type") != "page") continue;
      std::string url(target.at("webSocketDebuggerUrl").as_string());
      page_ = std::make_unique<WsClient>(port_, "", url.substr(url.find("/devtools/")));
      break;
    }
    EXPECT_TRUE(page_ && page_->ok()) << "no page target";
  }
  ~Browser() { Close(); }
  void Close() {
    page_.reset();
    if (process_.pid() > 0) process_.Kill();
  }
  bool ok() const { return page_ && page_->ok(); }

  // Sends a DevTools command and returns its result (empty on error or timeout).
  json::object Call(const std::string& method, json::object params = {}) {
    const int64_t id = ++last_id_;
    EXPECT_TRUE(page_->SendJson({{"id", id}, {"method", method}, {"params", params}}));
    for (;;) {
      auto m = page_->Read(20000);
      if (!m) {
        ADD_FAILURE() << method << ": no answer";
        return {};
      }
      json::object reply = m->json();
      if (!reply.contains("id") || reply.at("id") != id) continue;  // events, other replies
      if (reply.contains("error")) {
        ADD_FAILURE() << method << ": " << reply.at("error");
        return {};
      }
      return reply.at("result").as_object();
    }
  }
  // Evaluates `expression` in the page; its value (JSON-serialisable).
  json::value Eval(const std::string& expression) {
    json::object r =
        Call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}});
    if (r.empty() || !r.at("result").as_object().contains("value")) return nullptr;
    return r.at("result").at("value");
  }

 private:
  static clients::ProcessOptions Options(const std::string& profile_dir) {
    clients::ProcessOptions o;
    o.argv = {"chromium",
              "--headless",
              "--no-sandbox",
              "--disable-gpu",
              "--disable-dev-shm-usage",
              "--no-first-run",
              "--remote-debugging-port=0",
              "--user-data-dir=" + profile_dir,
              "--window-size=1400,1500",
              "about:blank"};
    o.search_path = true;
    o.stdin_null = true;
    o.stdout_to = clients::ProcessOutput::Capture();
    o.stderr_to = clients::ProcessOutput::ToStdout();
    return o;
  }

  clients::Process process_;
  uint16_t port_ = 0;
  std::unique_ptr<WsClient> page_;
  int64_t last_id_ = 0;
};

// The dashboard against a running server with real traffic: the tables fill from the live
// feed, a chart moves when orders arrive, a search finds an order; a screenshot is saved
// (PROOFBOOK_DASHBOARD_PNG, default dashboard.png in the test's directory).
TEST_F(AdminListTest, DashboardShowsTheMarketLiveInHeadlessChromium) {
  Scenario();
  if (HasFatalFailure()) return;
  const std::string profile =
      ::testing::TempDir() + "/chromium-profile-" + std::to_string(::getpid());
  Browser browser(profile);
  ASSERT_TRUE(browser.ok());
  browser.Call("Page.enable");
  browser.Call("Page.navigate",
               {{"url", "http://127.0.0.1:" + std::to_string(server_->port()) +
                            "/admin/#key=" + admin_key_ + "&order=" + std::to_string(first_)}});
  // Orders keep arriving while the page watches (none can match: min reputation 10000).
  std::atomic<bool> placing{true};
  std::thread traffic([&] {
    HttpClient client(server_->port());
    for (int i = 0; placing.load() && i < 400; ++i) {
      client.Request("POST", "/v1/orders",
                     R"({"market":"sha","max_price":10,"deadline_ms":600000,)"
                     R"("min_reputation":10000,"inputs":{"sha256":")" +
                         server::Sha256Hex("live " + std::to_string(i)) + R"("}})",
                     seq_b_key_);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  json::value state;
  const bool filled = WaitUntil(
      [&] {
        state = browser.Eval(
            "JSON.stringify({"
            "settlements: document.querySelectorAll('#settlements tbody tr').length,"
            "slashings: document.querySelectorAll('#slashings tbody tr').length,"
            "books: document.querySelectorAll('#books tbody tr').length,"
            "provers: document.querySelectorAll('#provers tbody tr').length,"
            "points: Number(document.getElementById('orders-chart').dataset.points),"
            "rate: Number(document.getElementById('orders-rate').textContent) || 0,"
            "found: document.getElementById('found-body').dataset.found || '',"
            "order: document.getElementById('found-body').textContent,"
            "live: document.getElementById('status').dataset.state})");
        if (!state.is_string()) return false;
        json::object s = json::parse(state.as_string()).as_object();
        return s.at("settlements") == 2 && s.at("slashings") == 1 && s.at("books") == 1 &&
               s.at("provers") == 2 && s.at("points").as_int64() >= 2 &&
               s.at("rate").to_number<double>() > 0 && s.at("found") == "yes" &&
               s.at("live") == "live";
      },
      std::chrono::seconds(30));
  placing = false;
  traffic.join();
  EXPECT_TRUE(filled) << state;
  const json::object s = json::parse(state.as_string()).as_object();
  EXPECT_NE(std::string(s.at("order").as_string()).find("completed"), std::string::npos) << s;

  json::object shot = browser.Call("Page.captureScreenshot", {{"format", "png"}});
  ASSERT_TRUE(shot.contains("data"));
  const char* dest = std::getenv("PROOFBOOK_DASHBOARD_PNG");
  const std::string path = dest != nullptr ? dest : "dashboard.png";
  const json::string& b64 = shot.at("data").as_string();
  std::string png(boost::beast::detail::base64::decoded_size(b64.size()), '\0');
  png.resize(boost::beast::detail::base64::decode(png.data(), b64.data(), b64.size()).first);
  std::ofstream(path, std::ios::binary) << png;
  EXPECT_GT(std::filesystem::file_size(path), 10'000u) << path;
  browser.Close();
  std::error_code ignored;
  std::filesystem::remove_all(profile, ignored);
}

}  // namespace
}  // namespace proofbook::testing
