// Issue #13 end to end: who pays when something goes wrong. Real server process, real sockets,
// real PostgreSQL, real verifier workers (Node); after each test the ledger invariant is
// checked in SQL (ServerFixture). The engine's own rule tests are matching/engine_test.cc.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <pqxx/pqxx>
#include <thread>

#include "tests/integration/files.h"
#include "tests/integration/prover_fixture.h"

namespace proofbook::testing {
namespace {

namespace json = boost::json;

// Offers promise 10 s, well inside the orders' 60 s deadline, so a job handed on after a
// decline still fits.
constexpr int64_t kEstMs = 10'000;

class FairnessTest : public ProverFixture {
 protected:
  // A staked prover (Prover()) connected to the WebSocket.
  struct Online {
    int64_t id = 0;
    std::string key;
    std::unique_ptr<WsClient> ws;
  };
  Online Connect(const std::string& name) {
    auto [id, key] = Prover(name);
    Online p{id, key, std::make_unique<WsClient>(server_->port(), key)};
    EXPECT_TRUE(p.ws->ok()) << p.ws->error();
    return p;
  }
  int64_t Count(const std::string& sql) {
    pqxx::connection conn(db_.url());
    pqxx::read_transaction tx(conn);
    return tx.exec(sql)[0][0].as<int64_t>();
  }
  json::object Me(const std::string& key) {
    return Json(client_->Get("/v1/accounts/me", key)).at("account").as_object();
  }
  json::object Standing(int64_t prover, const std::string& key) {
    auto r = client_->Get("/v1/provers/" + std::to_string(prover), key);
    EXPECT_EQ(r.status, 200) << r.body;
    return Json(r).as_object();
  }
  // An order of `max_price` in `market`; its id (0 on failure, reported).
  int64_t Order(const std::string& key, const std::string& market, int64_t max_price,
                const std::string& inputs, const std::string& extra = "") {
    auto r = client_->Request("POST", "/v1/orders",
                              R"({"market":")" + market + R"(","max_price":)" +
                                  std::to_string(max_price) + R"(,"deadline_ms":60000,"inputs":)" +
                                  inputs + extra + "}",
                              key);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? Json(r).at("order").at("id").as_int64() : 0;
  }
  // Reads the next assignment pushed to `ws`; its id (0 on timeout, reported).
  int64_t NextAssignment(WsClient& ws, int timeout_ms = 5000) {
    auto a = ws.ReadType("assignment", timeout_ms);
    EXPECT_TRUE(a.has_value()) << ws.error();
    return a ? a->at("assignment").as_int64() : 0;
  }
  // Sends a proof that is not the preimage and waits for its rejection.
  void SendWrongProof(WsClient& ws, int64_t assignment) {
    ASSERT_TRUE(ws.SendProof(assignment, "not the preimage"));
    auto r = ws.ReadType("proof_result", 15000);
    ASSERT_TRUE(r.has_value()) << ws.error();
    EXPECT_EQ(r->at("result").as_string(), "rejected");
    EXPECT_EQ(r->at("fault").as_string(), "prover");
  }
};

// (a) A Groth16 statement the verifier would refuse whatever the proof never reaches a prover.
TEST_F(FairnessTest, BadGroth16PublicInputsAreRefusedAtPlacement) {
  StartServer();
  Groth16Market();
  const std::string seq = Sequencer();
  auto markets = Json(client_->Get("/v1/markets")).at("markets").as_array();
  ASSERT_EQ(markets.size(), 1u);
  EXPECT_TRUE(markets[0].at("inputs_checked").as_bool());
  const std::string r_modulus =
      "21888242871839275222246405745257275088548364400416034343698204186575808495617";
  for (const std::string& bad :
       {std::string(R"(["1"])"), std::string(R"(["1","2","3"])"), std::string(R"(["1",2])"),
        std::string(R"(["01","2"])"), R"(["1",")" + r_modulus + R"("])"}) {
    auto r = client_->Request(
        "POST", "/v1/orders",
        R"({"market":"poseidon","max_price":500,"deadline_ms":60000,"inputs":)" + bad + "}", seq);
    EXPECT_EQ(r.status, 422) << bad << ": " << r.body;
    if (r.status == 422) {
      EXPECT_EQ(Json(r).at("error").at("code").as_string(), "invalid_inputs") << r.body;
      EXPECT_TRUE(Json(r).at("error").at("field").as_string().starts_with("inputs")) << r.body;
    }
  }
  const std::string good = ReadFile(kFixtures + "/valid/public.json");
  ASSERT_FALSE(good.empty());
  EXPECT_GT(Order(seq, "poseidon", 500, good), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM orders"), 1);  // the refused ones left no row
}

// (b) Inputs the verifier refuses are the sequencer's fault: the order fails, the prover is
// compensated from the escrow and not slashed. The door check makes such an order impossible
// to place today, so the test stands in for an order stored before it (an older server's row):
// the resting order's inputs are rewritten in the database before a prover takes it.
TEST_F(FairnessTest, InputsTheVerifierRefusesFailTheOrderAndCompensateTheProver) {
  StartServer();
  ShaMarket("sha", R"(,"griefing_bps":5000)");
  const std::string seq = Sequencer();
  auto [p, key] = Prover("p");
  const int64_t order = Order(seq, "sha", 500, ShaInputs("x"));
  {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    tx.exec_params("UPDATE orders SET inputs = '{\"sha256\":\"zz\"}' WHERE id = $1", order);
    tx.commit();
  }
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok()) << ws.error();
  // The offer takes the resting order as it is placed: the answer lists the assignment.
  auto placed = Offer(ws, "sha", 300, kEstMs);
  ASSERT_EQ(placed.at("offer").at("assigned").as_array().size(), 1u) << placed;
  const int64_t a = placed.at("offer").at("assigned").at(0).at("assignment").as_int64();
  ASSERT_TRUE(ws.SendProof(a, "whatever"));
  auto result = ws.ReadType("proof_result", 15000);
  ASSERT_TRUE(result.has_value()) << ws.error();
  EXPECT_EQ(result->at("result").as_string(), "rejected");
  EXPECT_EQ(result->at("reason").as_string(), "bad_public_inputs");
  EXPECT_EQ(result->at("fault").as_string(), "sequencer");
  auto paid = ws.ReadType("settlement", 5000);
  ASSERT_TRUE(paid.has_value()) << ws.error();
  EXPECT_EQ(paid->at("kind").as_string(), "griefing_compensation");
  // Half the job's price, which is the resting order's max price of 500 (the offer took it).
  EXPECT_EQ(paid->at("amount").as_int64(), 250);

  json::value o = GetOrder(order, seq);
  EXPECT_EQ(o.at("status").as_string(), "failed");
  EXPECT_EQ(o.at("failure").as_string(), "bad_inputs");
  EXPECT_EQ(Count("SELECT count(*) FROM slashings"), 0);
  EXPECT_EQ(Me(key).at("staked").as_int64(), 1000);
  EXPECT_EQ(Me(key).at("available").as_int64(), 4000 + 250);
  EXPECT_EQ(Me(seq).at("available").as_int64(), 10'000 - 250);
  EXPECT_EQ(Me(key).at("reputation_bps").as_int64(), 5000);
}

// (c) A digest whose preimage nobody knows: two provers say so, the order fails as
// unprovable, nobody is slashed, the decliners share the market's fee.
TEST_F(FairnessTest, AnOrderTwoProversCallUnprovableFailsWithoutSlashingAnyone) {
  StartServer();
  ShaMarket("sha");  // defaults: unprovable_quorum 2, unprovable_fee_bps 1000
  const std::string seq = Sequencer();
  auto [p1, key1, ws1_] = Connect("p1");
  auto [p2, key2, ws2_] = Connect("p2");
  WsClient& ws1 = *ws1_;
  WsClient& ws2 = *ws2_;
  Offer(ws1, "sha", 200, kEstMs);
  Offer(ws2, "sha", 300, kEstMs);
  const int64_t order = Order(seq, "sha", 500, ShaInputs("a secret nobody was told"));

  // The first prover declines over the WebSocket...
  const int64_t a1 = NextAssignment(ws1);
  ws1.SendJson({{"type", "decline"}, {"id", "d1"}, {"assignment", a1}, {"reason", "unprovable"}});
  auto declined = ws1.ReadType("declined");
  ASSERT_TRUE(declined.has_value()) << ws1.error();
  EXPECT_EQ(declined->at("id").as_string(), "d1");
  EXPECT_EQ(declined->at("status").as_string(), "declined_unprovable");
  // ... the job goes to the second, who declines over REST: the quorum of two is reached.
  const int64_t a2 = NextAssignment(ws2);
  auto r = client_->Request("POST", "/v1/assignments/" + std::to_string(a2) + "/decline",
                            R"({"reason":"unprovable"})", key2);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r).at("order").as_int64(), order);

  json::value o = GetOrder(order, seq);
  EXPECT_EQ(o.at("status").as_string(), "failed");
  EXPECT_EQ(o.at("failure").as_string(), "unprovable");
  EXPECT_EQ(Count("SELECT count(*) FROM slashings"), 0);
  // 10% of the max price of 500, shared: 25 each; the rest back to the sequencer.
  EXPECT_EQ(Me(key1).at("available").as_int64(), 4000 + 25);
  EXPECT_EQ(Me(key2).at("available").as_int64(), 4000 + 25);
  EXPECT_EQ(Me(key1).at("staked").as_int64(), 1000);
  EXPECT_EQ(Me(key2).at("staked").as_int64(), 1000);
  EXPECT_EQ(Me(seq).at("available").as_int64(), 10'000 - 50);
  EXPECT_EQ(Me(seq).at("escrowed").as_int64(), 0);
  auto standing = Standing(p1, seq);
  EXPECT_EQ(standing.at("jobs").at("declined").as_int64(), 1);
  EXPECT_EQ(standing.at("jobs").at("missed").as_int64(), 0);
  EXPECT_EQ(standing.at("reputation_bps").as_int64(), 5000);
}

// (d) A prover that took more than it can do hands a job back inside the window: the next
// prover has it at once, and the first loses no stake.
TEST_F(FairnessTest, ABusyDeclineInsideTheWindowHandsTheJobOnAtOnce) {
  StartServer();
  ShaMarket("sha", R"(,"decline_window_ms":60000)");
  ShaMarket("tight", R"(,"decline_window_ms":1)");
  const std::string seq = Sequencer();
  auto [p1, key1, ws1_] = Connect("p1");
  auto [p2, key2, ws2_] = Connect("p2");
  WsClient& ws1 = *ws1_;
  WsClient& ws2 = *ws2_;
  Offer(ws1, "sha", 200, kEstMs);
  Offer(ws2, "sha", 300, kEstMs);
  Order(seq, "sha", 500, ShaInputs("busy"));
  const int64_t a1 = NextAssignment(ws1);
  ws1.SendJson({{"type", "decline"}, {"assignment", a1}, {"reason", "busy"}});
  ASSERT_TRUE(ws1.ReadType("declined").has_value()) << ws1.error();
  const int64_t a2 = NextAssignment(ws2, 2000);  // reassigned in the same command
  EXPECT_GT(a2, a1);
  EXPECT_EQ(Count("SELECT count(*) FROM slashings"), 0);
  EXPECT_EQ(Me(key1).at("staked").as_int64(), 1000);
  EXPECT_EQ(Me(key1).at("reputation_bps").as_int64(), 4995);  // a small, documented cost
  // Its offer backs one job fewer, so the busy prover is not handed the next one at once.
  auto offers = Json(client_->Get("/v1/offers", key1)).at("offers").as_array();
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].at("capacity").as_int64(), 3);

  // Outside the window a busy decline is refused: the prover proves or misses.
  Offer(ws1, "tight", 200, kEstMs);
  Order(seq, "tight", 500, ShaInputs("tight"));
  const int64_t a3 = NextAssignment(ws1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = client_->Request("POST", "/v1/assignments/" + std::to_string(a3) + "/decline",
                            R"({"reason":"busy"})", key1);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Json(r).at("error").at("code").as_string(), "decline_window_passed");
  // Someone else's assignment is not the caller's to decline.
  r = client_->Request("POST", "/v1/assignments/" + std::to_string(a3) + "/decline",
                       R"({"reason":"unprovable"})", key2);
  EXPECT_EQ(r.status, 403) << r.body;
}

// (e) A slash is proportional to the job: twice its price here, at least min_slash.
TEST_F(FairnessTest, ASlashIsGradedByTheJobsPrice) {
  StartServer();
  ShaMarket("sha", R"(,"min_slash":100,"slash_multiplier_bps":20000)");
  const std::string seq = Sequencer();
  auto [cheap, cheap_key, c_] = Connect("cheap");
  auto [dear, dear_key, d_] = Connect("dear");
  WsClient& c = *c_;
  WsClient& d = *d_;
  Offer(c, "sha", 30, kEstMs);
  Offer(d, "sha", 400, kEstMs);
  Order(seq, "sha", 30, ShaInputs("cheap"));
  SendWrongProof(c, NextAssignment(c));
  auto slashed = c.ReadType("slashed");
  ASSERT_TRUE(slashed.has_value()) << c.error();
  EXPECT_EQ(slashed->at("amount").as_int64(), 100);  // 2 x 30 = 60 is below min_slash
  // The cheap prover lost reputation (4500): an order asking 5000 goes to the dear one.
  Order(seq, "sha", 500, ShaInputs("dear"), R"(,"min_reputation":5000)");
  SendWrongProof(d, NextAssignment(d));
  slashed = d.ReadType("slashed");
  ASSERT_TRUE(slashed.has_value()) << d.error();
  EXPECT_EQ(slashed->at("amount").as_int64(), 800);  // 2 x 400
  EXPECT_EQ(Me(cheap_key).at("staked").as_int64(), 900);
  EXPECT_EQ(Me(dear_key).at("staked").as_int64(), 200);
}

// (f) With reputation_weight_bps, a more reliable prover wins over a slightly cheaper one;
// the book shows each offer's prover and reputation in that order.
TEST_F(FairnessTest, ReputationWeightMovesAMoreReliableProverAhead) {
  StartServer();
  ShaMarket("weighted", R"(,"reputation_weight_bps":10000)");
  ShaMarket("plain");
  const std::string seq = Sequencer();
  auto [shaky, shaky_key, s_] = Connect("shaky");
  auto [steady, steady_key, t_] = Connect("steady");
  WsClient& s = *s_;
  WsClient& t = *t_;
  // The shaky prover sends one wrong proof: reputation 5000 -> 4500.
  Offer(s, "weighted", 100, kEstMs);
  Order(seq, "weighted", 100, ShaInputs("first"));
  SendWrongProof(s, NextAssignment(s));
  ASSERT_EQ(Me(shaky_key).at("reputation_bps").as_int64(), 4500);
  Offer(t, "weighted", 103, kEstMs);
  Offer(s, "plain", 100, kEstMs);
  Offer(t, "plain", 103, kEstMs);

  // score = price x (10000 + weight x (10000 - reputation) / 10000):
  // shaky 100 x 15500 = 1'550'000, steady 103 x 15000 = 1'545'000.
  auto book = Json(client_->Get("/v1/markets/weighted/book")).at("offers").as_array();
  ASSERT_EQ(book.size(), 2u);
  EXPECT_EQ(book[0].at("prover").as_int64(), steady);
  EXPECT_EQ(book[0].at("reputation_bps").as_int64(), 5000);
  EXPECT_EQ(book[1].at("prover").as_int64(), shaky);
  EXPECT_EQ(book[1].at("reputation_bps").as_int64(), 4500);

  Order(seq, "weighted", 500, ShaInputs("weighted"));
  auto won = t.ReadType("assignment");
  ASSERT_TRUE(won.has_value()) << t.error();
  EXPECT_EQ(won->at("price").as_int64(), 103);
  // Without the weight the cheaper offer wins, as before.
  Order(seq, "plain", 500, ShaInputs("plain"));
  won = s.ReadType("assignment");
  ASSERT_TRUE(won.has_value()) << s.error();
  EXPECT_EQ(won->at("market").as_string(), "plain");
  EXPECT_EQ(won->at("price").as_int64(), 100);
}

}  // namespace
}  // namespace proofbook::testing
