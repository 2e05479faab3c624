// The prover WebSocket protocol end to end: real server process, real sockets, real
// PostgreSQL, real verifier worker processes (Node). After each test the ledger invariant is
// checked in SQL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <boost/json.hpp>
#include <map>
#include <pqxx/pqxx>
#include <thread>

#include "server/base/crypto.h"
#include "server/core/api_keys.h"
#include "tests/integration/files.h"
#include "tests/integration/http_client.h"
#include "tests/integration/prover_fixture.h"
#include "tests/integration/server_fixture.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_database.h"
#include "tests/integration/ws_client.h"

namespace proofbook::testing {
namespace {

namespace json = boost::json;

class ProverTest : public ProverFixture {
 protected:
  // Starts the server with the delay failpoint `name` armed, `ms` each time (failpoint.h).
  void StartServerSlowedAt(const char* name, const char* ms, std::vector<std::string> args = {}) {
    ::setenv("PROOFBOOK_FAILPOINT", name, 1);
    ::setenv("PROOFBOOK_FAILPOINT_SLEEP_MS", ms, 1);
    StartServer(std::move(args));
    ::unsetenv("PROOFBOOK_FAILPOINT");
    ::unsetenv("PROOFBOOK_FAILPOINT_SLEEP_MS");
  }
};

TEST_F(ProverTest, UpgradeNeedsAProverKey) {
  StartServer();
  auto [seq, seq_key] = Account("sequencer", "s");
  WsClient none(server_->port(), "");
  EXPECT_FALSE(none.ok());
  EXPECT_EQ(none.status(), 401);
  WsClient bad(server_->port(), "pbk_" + std::string(64, '0'));
  EXPECT_EQ(bad.status(), 401);
  WsClient sequencer(server_->port(), seq_key);
  EXPECT_FALSE(sequencer.ok());
  EXPECT_EQ(sequencer.status(), 403);
  auto [p, p_key] = Account("prover", "p");
  WsClient prover(server_->port(), p_key);
  ASSERT_TRUE(prover.ok()) << prover.error();
  auto welcome = prover.ReadType("welcome");
  ASSERT_TRUE(welcome.has_value());
  EXPECT_EQ(welcome->at("account").as_int64(), p);
}

TEST_F(ProverTest, BadMessagesGetErrorsAndAbuseClosesTheConnection) {
  StartServer();
  auto [p, key] = Account("prover", "p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok()) << ws.error();
  ws.SendJson({{"type", "ping"}, {"id", "x1"}});
  auto pong = ws.ReadType("pong");
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->at("id").as_string(), "x1");

  auto expect_error = [&](const std::string& text, const std::string& code,
                          const std::string& field) {
    ws.SendText(text);
    auto e = ws.ReadType("error");
    ASSERT_TRUE(e.has_value()) << text;
    EXPECT_EQ(e->at("error").at("code").as_string(), code) << text;
    if (!field.empty()) {
      EXPECT_EQ(e->at("error").at("field").as_string(), field) << text;
    }
  };
  expect_error("{not json", "invalid_argument", "");
  expect_error(R"({"id":1})", "invalid_argument", "type");
  expect_error(R"({"type":"dance"})", "invalid_argument", "type");
  expect_error(R"({"type":"ping","extra":1})", "invalid_argument", "extra");
  expect_error(R"({"type":"offer","market":"nope","price":1,"est_ms":1,"capacity":1})",
               "unknown_market", "market");
  expect_error(R"({"type":"proof","assignment":1,"size":10,"sha256":"zz"})", "invalid_argument",
               "sha256");
  expect_error(
      R"({"type":"proof","assignment":1,"size":0,"sha256":")" + std::string(64, 'a') + "\"}",
      "invalid_argument", "size");
  ws.SendBinary("stray bytes");  // no header before them
  auto stray = ws.ReadType("error");
  ASSERT_TRUE(stray.has_value());
  EXPECT_EQ(stray->at("error").at("code").as_string(), "conflict");
  // A header for an assignment that does not exist is refused before any byte is taken; the
  // bytes sent anyway are dropped, without an error for each.
  expect_error(
      R"({"type":"proof","assignment":1,"size":5,"sha256":")" + std::string(64, 'a') + "\"}",
      "not_found", "assignment");
  ws.SendBinary("12345");
  ws.SendJson({{"type", "ping"}, {"id", "after"}});
  auto next = ws.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->type(), "pong") << next->data;

  // Keep misbehaving: the server closes with 1008 and stays up.
  for (int i = 0; i < 30 && ws.ok(); ++i) ws.SendText("{");
  while (ws.Read(2000)) {
  }
  EXPECT_EQ(ws.close_code(), 1008);
  EXPECT_EQ(client_->Get("/healthz").status, 200);
}

// One parser, one set of error codes: an invalid offer gets the same status, code and field
// (and message) whether it came as POST /v1/offers or as a WebSocket "offer" message.
TEST_F(ProverTest, AnInvalidOfferGetsTheSameErrorOverRestAndTheWebSocket) {
  StartServer();
  ShaMarket("sha");
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok()) << ws.error();
  const std::vector<std::string> bad_offers = {
      R"({"market":"sha","price":0,"est_ms":1000})",                   // price out of range
      R"({"market":"sha","price":"10","est_ms":1000})",                // price not an integer
      R"({"market":"sha","price":10})",                                // est_ms missing
      R"({"market":"sha","price":10,"est_ms":1000,"capacity":5000})",  // capacity too large
      R"({"market":"sha","price":10,"est_ms":1000,"expires_ms":0})",   // expires_ms too small
      R"({"market":"nope","price":10,"est_ms":1000})",                 // unknown market
      R"({"market":"sha","price":10,"est_ms":1000,"prize":1})",        // unknown field
      R"({"price":10,"est_ms":1000})",                                 // market missing
  };
  for (const std::string& offer : bad_offers) {
    auto rest = client_->Request("POST", "/v1/offers", offer, key);
    ASSERT_GE(rest.status, 400) << offer;
    const json::object rest_error = Json(rest).at("error").as_object();

    // The same fields inside a message: {"type":"offer","id":"bad", ...}.
    ws.SendText(R"({"type":"offer","id":"bad",)" + offer.substr(1));
    auto ws_error = ws.ReadType("error");
    ASSERT_TRUE(ws_error.has_value()) << ws.error() << " " << offer;
    EXPECT_EQ(ws_error->at("id").as_string(), "bad");
    EXPECT_EQ(ws_error->at("status").as_int64(), rest.status) << offer;
    EXPECT_EQ(ws_error->at("error").as_object(), rest_error) << offer;
    EXPECT_TRUE(rest_error.contains("field")) << offer;
  }
  // And a valid one is placed either way, with the same body.
  auto rest =
      client_->Request("POST", "/v1/offers", R"({"market":"sha","price":10,"est_ms":1000})", key);
  ASSERT_EQ(rest.status, 201) << rest.body;
  json::object placed = Offer(ws, "sha", 10, 1000, 1);
  ASSERT_TRUE(placed.contains("offer"));
  EXPECT_EQ(placed.at("offer").as_object().size(), Json(rest).at("offer").as_object().size());
}

TEST_F(ProverTest, ValidProofIsVerifiedSettledAndPaid) {
  StartServer();
  ShaMarket("sha");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok()) << ws.error();
  auto placed = Offer(ws, "sha", 300);
  EXPECT_EQ(placed.at("id").as_string(), "o1");  // the request's id comes back

  const int64_t order = PlaceOrder(seq_key, "sha", ShaInputs("hello proofbook"));
  auto assignment = ws.ReadType("assignment");
  ASSERT_TRUE(assignment.has_value()) << ws.error();
  EXPECT_EQ(assignment->at("order").as_int64(), order);
  EXPECT_EQ(assignment->at("market").as_string(), "sha");
  EXPECT_EQ(assignment->at("price").as_int64(), 300);
  EXPECT_EQ(assignment->at("inputs").at("sha256").as_string(),
            server::Sha256Hex("hello proofbook"));
  const int64_t a = assignment->at("assignment").as_int64();
  const int64_t before = Available(key);

  ASSERT_TRUE(ws.SendProof(a, "hello proofbook", "pr1", 4));  // in 4-byte frames
  auto received = ws.ReadType("proof_received");
  ASSERT_TRUE(received.has_value()) << ws.error();
  EXPECT_EQ(received->at("id").as_string(), "pr1");
  ExpectResult(ws, "accepted");
  auto settlement = ws.ReadType("settlement");
  ASSERT_TRUE(settlement.has_value()) << ws.error();
  EXPECT_EQ(settlement->at("amount").as_int64(), 300);

  auto o = GetOrder(order, seq_key);
  EXPECT_EQ(o.at("status").as_string(), "completed");
  EXPECT_EQ(Available(key), before + 300);

  // The sequencer gets the verified proof; the prover may not list it.
  auto proofs = client_->Get("/v1/orders/" + std::to_string(order) + "/proofs", seq_key);
  ASSERT_EQ(proofs.status, 200) << proofs.body;
  auto list = Json(proofs).at("proofs").as_array();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].at("sha256").as_string(), server::Sha256Hex("hello proofbook"));
  EXPECT_EQ(list[0].at("size").as_int64(), 15);
  EXPECT_EQ(list[0].at("data_base64").as_string(), "aGVsbG8gcHJvb2Zib29r");
  EXPECT_EQ(client_->Get("/v1/orders/" + std::to_string(order) + "/proofs", key).status, 403);
}

TEST_F(ProverTest, WrongProofIsRejectedSlashedAndTheOrderGoesToTheNextProver) {
  StartServer();
  ShaMarket("sha");
  const std::string seq_key = Sequencer();
  auto [cheat, cheat_key] = Prover("cheat");
  auto [honest, honest_key] = Prover("honest");
  WsClient c(server_->port(), cheat_key);
  WsClient h(server_->port(), honest_key);
  ASSERT_TRUE(c.ok() && h.ok());
  Offer(c, "sha", 200);  // cheaper: matched first
  Offer(h, "sha", 300);

  const int64_t order = PlaceOrder(seq_key, "sha", ShaInputs("the real preimage"));
  auto first = c.ReadType("assignment");
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(c.SendProof(first->at("assignment").as_int64(), "not the preimage"));
  auto rejected = c.ReadType("proof_result");
  ASSERT_TRUE(rejected.has_value()) << c.error();
  EXPECT_EQ(rejected->at("result").as_string(), "rejected");
  EXPECT_EQ(rejected->at("reason").as_string(), "verification_failed");
  auto slashed = c.ReadType("slashed");
  ASSERT_TRUE(slashed.has_value());
  EXPECT_EQ(slashed->at("reason").as_string(), "invalid_proof");
  EXPECT_GT(slashed->at("amount").as_int64(), 0);

  auto second = h.ReadType("assignment");
  ASSERT_TRUE(second.has_value()) << h.error();
  EXPECT_EQ(second->at("order").as_int64(), order);
  ASSERT_TRUE(h.SendProof(second->at("assignment").as_int64(), "the real preimage"));
  ExpectResult(h, "accepted");
  ASSERT_TRUE(h.ReadType("settlement").has_value());
  EXPECT_EQ(GetOrder(order, seq_key).at("status").as_string(), "completed");
}

TEST_F(ProverTest, ProverThatDropsMidProofGetsItsAssignmentAgainOnReconnect) {
  StartServer();
  ShaMarket("sha");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  int64_t a = 0;
  const std::string proof = "a proof sent in two halves";
  {
    WsClient ws(server_->port(), key);
    ASSERT_TRUE(ws.ok());
    Offer(ws, "sha", 300);
    PlaceOrder(seq_key, "sha", ShaInputs(proof));
    auto assignment = ws.ReadType("assignment");
    ASSERT_TRUE(assignment.has_value());
    a = assignment->at("assignment").as_int64();
    ws.SendProofHeader(a, proof.size(), server::Sha256Hex(proof));
    ws.SendBinary(proof.substr(0, 10));
    // Gone without a close handshake, mid-proof.
    ::shutdown(ws.native_handle(), SHUT_RDWR);
  }
  WsClient again(server_->port(), key);
  ASSERT_TRUE(again.ok());
  auto resent = again.ReadType("assignment");
  ASSERT_TRUE(resent.has_value()) << again.error();
  EXPECT_EQ(resent->at("assignment").as_int64(), a);
  EXPECT_TRUE(resent->at("resent").as_bool());
  ASSERT_TRUE(again.SendProof(a, proof));
  ExpectResult(again, "accepted");
}

TEST_F(ProverTest, SilentProverIsSlashedAndTheOrderReassigned) {
  StartServer();
  ShaMarket("fast", R"(,"grace_bps":0)");
  const std::string seq_key = Sequencer();
  auto [silent, silent_key] = Prover("silent");
  auto [honest, honest_key] = Prover("honest");
  WsClient s(server_->port(), silent_key);
  WsClient h(server_->port(), honest_key);
  ASSERT_TRUE(s.ok() && h.ok());
  Offer(s, "fast", 200, /*est_ms=*/300);  // due 300 ms after assignment
  Offer(h, "fast", 300, /*est_ms=*/60000);
  const std::string proof = "in time";
  const int64_t order = PlaceOrder(seq_key, "fast", ShaInputs(proof));
  auto first = s.ReadType("assignment");
  ASSERT_TRUE(first.has_value());
  // Says nothing. The engine's tick slashes it once due_at passes and re-matches the order.
  auto slashed = s.ReadType("slashed", 5000);
  ASSERT_TRUE(slashed.has_value()) << s.error();
  EXPECT_EQ(slashed->at("reason").as_string(), "missed_deadline");
  auto away = s.ReadType("reassigned_away", 2000);
  ASSERT_TRUE(away.has_value());
  EXPECT_EQ(away->at("assignment").as_int64(), first->at("assignment").as_int64());

  auto second = h.ReadType("assignment", 5000);
  ASSERT_TRUE(second.has_value()) << h.error();
  EXPECT_EQ(second->at("order").as_int64(), order);
  ASSERT_TRUE(h.SendProof(second->at("assignment").as_int64(), proof));
  ExpectResult(h, "accepted");
}

TEST_F(ProverTest, ProofOverTheMarketLimitOrItsHeaderIsRefused) {
  StartServer();
  ShaMarket("tiny", R"(,"max_proof_bytes":16)");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  Offer(ws, "tiny", 300);
  PlaceOrder(seq_key, "tiny", ShaInputs("x"));
  auto assignment = ws.ReadType("assignment");
  ASSERT_TRUE(assignment.has_value());
  const int64_t a = assignment->at("assignment").as_int64();

  ASSERT_TRUE(ws.SendProof(a, std::string(32, 'x')));  // over max_proof_bytes
  auto big = ws.ReadType("error");
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->at("status").as_int64(), 413);

  ws.SendJson(
      {{"type", "proof"}, {"assignment", a}, {"size", 2}, {"sha256", server::Sha256Hex("x")}});
  ws.SendBinary("xyz");  // more than announced
  auto over = ws.ReadType("error");
  ASSERT_TRUE(over.has_value());
  EXPECT_EQ(over->at("error").at("field").as_string(), "size");

  ASSERT_TRUE(ws.SendProof(a, "y"));  // sha256 of the header is right, bytes wrong for the order
  auto rejected = ws.ReadType("proof_result");
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->at("result").as_string(), "rejected");
  ASSERT_TRUE(ws.SendProof(a, "x"));  // a second delivery for the same assignment
  auto twice = ws.ReadType("error");
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(twice->at("status").as_int64(), 409);
}

// Real Groth16 (BN254) proofs from a real circuit, verified by snarkjs in the worker pool.
TEST_F(ProverTest, Groth16TamperedProofIsSlashedAndAValidOneSettles) {
  const std::string valid_proof = ReadFile(kFixtures + "/valid/proof.json");
  const std::string valid_public = ReadFile(kFixtures + "/valid/public.json");
  const std::string tampered_proof = ReadFile(kFixtures + "/tampered/proof.json");
  ASSERT_FALSE(valid_proof.empty() || valid_public.empty() || tampered_proof.empty())
      << "no fixtures under " << kFixtures << ": run tests/fixtures/groth16.sh";
  StartServer();
  ASSERT_NO_FATAL_FAILURE(Groth16Market());
  const std::string seq_key = Sequencer();
  auto [cheat, cheat_key] = Prover("cheat");
  auto [honest, honest_key] = Prover("honest");
  WsClient c(server_->port(), cheat_key);
  WsClient h(server_->port(), honest_key);
  ASSERT_TRUE(c.ok() && h.ok());
  Offer(c, "poseidon", 200);
  Offer(h, "poseidon", 300);
  const int64_t order = PlaceOrder(seq_key, "poseidon", valid_public);

  auto first = c.ReadType("assignment");
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(c.SendProof(first->at("assignment").as_int64(), tampered_proof));
  auto rejected = c.ReadType("proof_result", 15000);
  ASSERT_TRUE(rejected.has_value()) << c.error();
  EXPECT_EQ(rejected->at("result").as_string(), "rejected");
  ASSERT_TRUE(c.ReadType("slashed").has_value());

  auto second = h.ReadType("assignment");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->at("order").as_int64(), order);
  const int64_t before = Available(honest_key);
  ASSERT_TRUE(h.SendProof(second->at("assignment").as_int64(), valid_proof));
  auto accepted = h.ReadType("proof_result", 15000);
  ASSERT_TRUE(accepted.has_value()) << h.error();
  EXPECT_EQ(accepted->at("result").as_string(), "accepted");
  ASSERT_TRUE(h.ReadType("settlement").has_value());
  EXPECT_EQ(GetOrder(order, seq_key).at("status").as_string(), "completed");
  EXPECT_EQ(Available(honest_key), before + 300);
}

// A valid proof of other public inputs than the order's is no proof of the order.
TEST_F(ProverTest, Groth16ProofOfOtherInputsIsRejected) {
  const std::string proof = ReadFile(kFixtures + "/wrong_input/proof.json");
  const std::string inputs = ReadFile(kFixtures + "/wrong_input/public.json");
  ASSERT_FALSE(proof.empty() || inputs.empty()) << "no fixtures under " << kFixtures;
  StartServer();
  ASSERT_NO_FATAL_FAILURE(Groth16Market());
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  Offer(ws, "poseidon", 300);
  PlaceOrder(seq_key, "poseidon", inputs);
  auto a = ws.ReadType("assignment");
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(ws.SendProof(a->at("assignment").as_int64(), proof));
  auto result = ws.ReadType("proof_result", 15000);
  ASSERT_TRUE(result.has_value()) << ws.error();
  EXPECT_EQ(result->at("result").as_string(), "rejected");
  EXPECT_EQ(result->at("reason").as_string(), "verification_failed");
}

TEST_F(ProverTest, Groth16MarketNeedsAVerificationKey) {
  StartServer();
  auto r = client_->Request("POST", "/v1/admin/markets",
                            R"({"id":"g","proof_system":"groth16","verifier":"snarkjs-groth16"})",
                            admin_key_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json(r).at("error").at("field").as_string(), "verification_key");
  r = client_->Request("POST", "/v1/admin/markets",
                       R"({"id":"s","proof_system":"x","verifier":"sha256-preimage",)"
                       R"("verification_key":{"a":1}})",
                       admin_key_);
  EXPECT_EQ(r.status, 400);
}

TEST_F(ProverTest, OffersOfAGoneProverLeaveTheBookAfterTheGracePeriod) {
  StartServer({"--prover-grace-ms", "300"});
  ShaMarket("sha");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  {
    WsClient ws(server_->port(), key);
    ASSERT_TRUE(ws.ok());
    Offer(ws, "sha", 300);
  }
  // Back within the grace period: the offer stays.
  {
    WsClient ws(server_->port(), key);
    ASSERT_TRUE(ws.ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    auto offers = Json(client_->Get("/v1/offers", key)).at("offers").as_array();
    ASSERT_EQ(offers.size(), 1u);
  }
  // Gone for longer: no new work goes to it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_TRUE(Json(client_->Get("/v1/offers", key)).at("offers").as_array().empty());
  const int64_t order = PlaceOrder(seq_key, "sha", ShaInputs("x"));
  EXPECT_TRUE(GetOrder(order, seq_key).at("assignments").as_array().empty());
}

TEST_F(ProverTest, AFrameOverTheHardLimitClosesTheConnectionNotTheServer) {
  StartServer();
  auto [p, key] = Account("prover", "p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  ASSERT_TRUE(ws.ReadType("welcome").has_value());
  ws.SendBinary(std::string((16 << 20) + 1, 'x'));  // one byte over 16 MiB
  while (ws.Read(5000)) {
  }
  EXPECT_EQ(ws.close_code(), 1009) << ws.error();
  EXPECT_EQ(client_->Get("/healthz").status, 200);
  // Far over: the server reads on (and drops) until the close handshake, so the peer gets the
  // 1009 rather than a reset (it used to see 1006).
  WsClient big(server_->port(), key);
  ASSERT_TRUE(big.ok());
  ASSERT_TRUE(big.ReadType("welcome").has_value());
  big.SendBinary(std::string(48 << 20, 'y'));
  while (big.Read(5000)) {
  }
  EXPECT_EQ(big.close_code(), 1009) << big.error();
  WsClient again(server_->port(), key);
  EXPECT_TRUE(again.ok());
}

TEST_F(ProverTest, ProofHeaderIsCheckedBeforeAnyByteIsTaken) {
  StartServer({"--proof-inflight-per-prover", "4096", "--proof-inflight-total", "6144"});
  ShaMarket("sha", R"(,"max_proof_bytes":3000)");
  const std::string seq_key = Sequencer();
  auto [a, a_key] = Prover("a");
  auto [b, b_key] = Prover("b");
  WsClient wa(server_->port(), a_key);
  WsClient wb(server_->port(), b_key);
  ASSERT_TRUE(wa.ok() && wb.ok());
  const int64_t id = AssignOne(wa, seq_key, "sha", ShaInputs("x")).at("assignment").as_int64();

  auto header = [&](WsClient& ws, int64_t size) {
    const auto n = static_cast<std::size_t>(size);
    ws.SendProofHeader(id, n, server::Sha256Hex(std::string(n, 'z')), "h");
  };
  auto expect_refused = [&](WsClient& ws, int64_t size, const std::string& code,
                            const std::string& field) {
    header(ws, size);
    auto e = ws.ReadType("error");
    ASSERT_TRUE(e.has_value()) << ws.error();
    EXPECT_EQ(e->at("error").at("code").as_string(), code);
    EXPECT_EQ(e->at("error").at("field").as_string(), field);
    // Its bytes are dropped as they come; the connection goes on, with no error for them.
    ws.SendBinary(std::string(static_cast<size_t>(size), 'z'));
    ws.SendJson({{"type", "ping"}, {"id", "p"}});
    auto next = ws.Read();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->type(), "pong") << next->data;
  };
  expect_refused(wb, 10, "forbidden", "assignment");      // another prover's
  expect_refused(wa, 3001, "payload_too_large", "size");  // over the market's limit
  // The in-flight budgets: one prover 4096 bytes, everyone 6144.
  auto [c, c_key] = Prover("c");
  WsClient wc(server_->port(), c_key);
  ASSERT_TRUE(wc.ok());
  header(wa, 2500);  // accepted: A has 2500 bytes in flight until it sends them
  // Headers on other connections may overtake it; give the server a moment to take it in (the
  // budget is reserved as the header arrives).
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // A second connection of A's: 2500 + 2000 > 4096 for one prover.
  WsClient wa2(server_->port(), a_key);
  ASSERT_TRUE(wa2.ok());
  wa2.SendProofHeader(id, 2000, std::string(64, 'a'), "a2");
  auto per_prover = wa2.ReadType("error");
  ASSERT_TRUE(per_prover.has_value());
  EXPECT_EQ(per_prover->at("error").at("code").as_string(), "overloaded");
  EXPECT_EQ(per_prover->at("status").as_int64(), 503);
  // C: 2500 + 3700 > 6144 for everyone together.
  wc.SendProofHeader(id, 3700, std::string(64, 'a'), "c");
  auto total = wc.ReadType("error");
  ASSERT_TRUE(total.has_value());
  EXPECT_EQ(total->at("error").at("code").as_string(), "overloaded");
  // A's proof goes through once its bytes come (wrong bytes here: it is verified, rejected).
  wa.SendBinary(std::string(2500, 'z'));
  auto received = wa.ReadType("proof_received");
  ASSERT_TRUE(received.has_value()) << wa.error();
  ExpectResult(wa, "rejected");
}

TEST_F(ProverTest, AnnouncedProofBytesThatNeverComeCloseTheConnectionAndFreeTheBudget) {
  StartServer({"--proof-receive-ms", "300", "--proof-inflight-per-prover", "4096"});
  ShaMarket("sha", R"(,"max_proof_bytes":3000)");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  const int64_t a = AssignOne(ws, seq_key, "sha", ShaInputs("slow")).at("assignment").as_int64();
  const std::string bytes(2500, 's');
  ws.SendProofHeader(a, bytes.size(), server::Sha256Hex(bytes), "h");
  // Nothing follows the header: after 300 ms (+ 2.5 ms for the size) the connection goes.
  while (ws.Read(5000)) {
  }
  EXPECT_EQ(ws.close_code(), 1008) << ws.error();
  // Its 2500 bytes of budget went with it: another 2500 fit in the prover's 4096.
  WsClient again(server_->port(), key);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again.SendProof(a, bytes, "again"));
  auto received = again.ReadType("proof_received");
  ASSERT_TRUE(received.has_value()) << again.error();
}

TEST_F(ProverTest, TheSameProofDeliveredAgainIsAcceptedOnceOtherBytesAreRefused) {
  StartServer();
  ShaMarket("sha");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  const int64_t a = AssignOne(ws, seq_key, "sha", ShaInputs("same")).at("assignment").as_int64();
  ASSERT_TRUE(ws.SendProof(a, "same", "first"));
  auto first = ws.ReadType("proof_received");
  ASSERT_TRUE(first.has_value()) << ws.error();
  EXPECT_FALSE(first->contains("duplicate"));
  ExpectResult(ws, "accepted");
  const int64_t paid = Available(key);

  // A prover that did not hear back sends it again: told so, not refused, not paid twice.
  ASSERT_TRUE(ws.SendProof(a, "same", "again"));
  auto again = ws.ReadType("proof_received");
  ASSERT_TRUE(again.has_value()) << ws.error();
  EXPECT_EQ(again->at("id").as_string(), "again");
  EXPECT_TRUE(again->at("duplicate").as_bool());
  ASSERT_TRUE(ws.SendProof(a, "other", "other"));
  auto other = ws.ReadType("error");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->at("error").at("code").as_string(), "proof_already_delivered");
  EXPECT_EQ(other->at("status").as_int64(), 409);
  EXPECT_EQ(Available(key), paid);
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM settlements")[0][0].as<int64_t>(), 1);
}

// Found by loadtest/chaos.sh: when the connection went during the COMMIT that stores a proof
// (PostgreSQL shutting down), the proof was refused `internal`, which proofbook-prover takes as
// final: it dropped a valid proof and was slashed. The outcome of that COMMIT is unknown and
// storing the same bytes again is harmless, so it is `unavailable` (send it again). Here a
// deferred trigger kills the storing session at its COMMIT.
TEST_F(ProverTest, AProofWhoseStoringCommitWasCutIsRefusedForNowAndTakenWhenSentAgain) {
  StartServer();
  ShaMarket("sha");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  const int64_t a = AssignOne(ws, seq_key, "sha", ShaInputs("cut")).at("assignment").as_int64();
  {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    tx.exec(
        "CREATE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$");
    tx.exec(
        "CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON proofs DEFERRABLE INITIALLY "
        "DEFERRED FOR EACH ROW EXECUTE FUNCTION die_at_commit()");
    tx.commit();
  }
  ASSERT_TRUE(ws.SendProof(a, "cut", "first"));
  auto refused = ws.ReadType("error");
  ASSERT_TRUE(refused.has_value()) << ws.error();
  EXPECT_EQ(std::string(refused->at("error").at("code").as_string()), "unavailable")
      << json::serialize(*refused);
  {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    tx.exec("DROP TRIGGER die_at_commit ON proofs");
    tx.commit();
  }
  ASSERT_TRUE(ws.SendProof(a, "cut", "again"));
  auto received = ws.ReadType("proof_received");
  ASSERT_TRUE(received.has_value()) << ws.error();
  ExpectResult(ws, "accepted");
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM slashings")[0][0].as<int64_t>(), 0);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM settlements")[0][0].as<int64_t>(), 1);
}

#ifdef PROOFBOOK_FAILPOINTS
// A crash after the proof is stored and before its delivery is journaled used to leave a row
// that recovery ignored: after the restart the prover was slashed for a proof it had delivered
// on time. Now recovery delivers the stored proof, judged at its receipt time, before the first
// tick, even when the due time passed while the server was down.
TEST_F(ProverTest, ACrashBetweenStoringAProofAndJournalingItsDeliveryDoesNotSlashTheProver) {
  ::setenv("PROOFBOOK_FAILPOINT", "after_proof_stored", 1);
  StartServer();
  ::unsetenv("PROOFBOOK_FAILPOINT");
  ShaMarket("sha", R"(,"min_slash":1000)");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  const int64_t staked_before =
      Json(client_->Get("/v1/accounts/me", key)).at("account").at("staked").as_int64();
  int64_t due_at = 0;
  {
    WsClient ws(server_->port(), key);
    ASSERT_TRUE(ws.ok());
    auto assignment = AssignOne(ws, seq_key, "sha", ShaInputs("crash"), /*est_ms=*/2000);
    due_at = assignment.at("due_at_ms").as_int64();
    ASSERT_TRUE(ws.SendProof(assignment.at("assignment").as_int64(), "crash", "pr"));
    while (ws.Read(5000)) {
    }  // the server dies at the failpoint: the connection ends
  }
  for (int i = 0; i < 500 && server_->running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(server_->running()) << "the failpoint did not fire";
  {
    pqxx::connection conn(db_.url());
    pqxx::read_transaction tx(conn);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM proofs")[0][0].as<int64_t>(), 1);
    EXPECT_EQ(tx.exec("SELECT status FROM assignments")[0][0].as<std::string>(), "assigned");
  }
  // Down past the assignment's due time: only our crash kept the delivery from the journal.
  SleepPastWallClockMs(due_at + 200);
  StartServer();
  json::object account;
  for (int i = 0; i < 300; ++i) {  // verified and paid by the restarted server
    account = Json(client_->Get("/v1/accounts/me", key)).at("account").as_object();
    if (account.at("available").as_int64() > 4000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(account.at("staked").as_int64(), staked_before);
  EXPECT_GT(account.at("available").as_int64(), 4000);  // 4,000 unstaked + the payment
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM slashings")[0][0].as<int64_t>(), 0);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM settlements")[0][0].as<int64_t>(), 1);
  EXPECT_EQ(tx.exec("SELECT status FROM assignments")[0][0].as<std::string>(), "settled");
}

// Proofs a prover sends back to back are each received when they arrive. A small proof's
// header used to hold the connection's reads while PostgreSQL checked it (slowed to 150 ms each
// here), uncredited to the proofs queued behind it: the 8th of 12 counted as received 1.2 s
// after it was sent, past its due time, and was slashed. Now its bytes are read during the check.
TEST_F(ProverTest, ProofsSentTogetherAreNotLateWhileTheirHeadersAreChecked) {
  StartServerSlowedAt("slow_header_check", "150", {"--db-threads", "16"});
  ShaMarket("sha", R"(,"min_slash":10)");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  constexpr int kProofs = 12;
  Offer(ws, "sha", 300, /*est_ms=*/1000, /*capacity=*/kProofs);  // due 1.2 s after assignment
  const std::map<int64_t, std::string> jobs =
      PlaceShaJobs(ws, seq_key, "sha", "together ", kProofs);
  ASSERT_EQ(jobs.size(), static_cast<std::size_t>(kProofs));
  for (const auto& [a, proof] : jobs) ASSERT_TRUE(ws.SendProof(a, proof));
  // Every proof verified, whatever else comes meanwhile (kept for the failure message).
  std::string seen;
  int accepted = 0;
  while (accepted < kProofs) {
    auto m = ws.Read(30000);
    ASSERT_TRUE(m.has_value()) << ws.error() << "\nafter " << accepted << " accepted:\n" << seen;
    seen += m->data + "\n";
    if (m->type() == "proof_result") {
      EXPECT_EQ(m->json().at("result").as_string(), "accepted") << m->data;
      ++accepted;
    }
  }
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM slashings")[0].as<int64_t>(), 0);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM assignments WHERE status = 'settled'")[0].as<int64_t>(),
            kProofs);
}

// More proofs at once than the verifier's queue holds (1 here, the worker slowed to 100 ms an
// answer): the ones it refuses stay stored and delivered and are verified a second later, until
// every one is paid. They used to wait for the next restart.
TEST_F(ProverTest, ProofsTheVerifiersFullQueueRefusedAreVerifiedLater) {
  // The workers inherit the server's environment: the worker's test hook slows each answer.
  ::setenv("PROOFBOOK_VERIFIER_TEST_DELAY_MS", "100", 1);
  StartServer({"--verifier-max-queue", "1", "--verifier-batch", "1"});
  ::unsetenv("PROOFBOOK_VERIFIER_TEST_DELAY_MS");
  ShaMarket("sha", R"(,"min_slash":10)");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  constexpr int kProofs = 8;
  Offer(ws, "sha", 300, /*est_ms=*/20000, /*capacity=*/kProofs);
  const std::map<int64_t, std::string> jobs = PlaceShaJobs(ws, seq_key, "sha", "queued ", kProofs);
  ASSERT_EQ(jobs.size(), static_cast<std::size_t>(kProofs));
  for (const auto& [a, proof] : jobs) ASSERT_TRUE(ws.SendProof(a, proof));
  int accepted = 0;
  while (accepted < kProofs) {
    auto m = ws.ReadType("proof_result", 15000);
    ASSERT_TRUE(m.has_value()) << ws.error() << " after " << accepted << " accepted";
    EXPECT_EQ(m->at("result").as_string(), "accepted") << boost::json::serialize(*m);
    ++accepted;
  }
  const std::string log = server_->Logs();
  EXPECT_NE(log.find("msg=verifier_queue_full"), std::string::npos)
      << "the queue never filled: the test did not test anything";
}

// A proof received before its due time but stored after it (the store slowed to 1.5 s here, as
// a congested database would): no Tick settles a miss while the proof is on its way in, and the
// delivery, judged at its receipt time, is on time and paid. It used to be slashed as a miss.
TEST_F(ProverTest, AProofReceivedInTimeIsNotSlashedWhileItIsBeingStored) {
  StartServerSlowedAt("slow_proof_store", "1500");
  ShaMarket("sha", R"(,"min_slash":10)");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  auto assignment = AssignOne(ws, seq_key, "sha", ShaInputs("stored slowly"), /*est_ms=*/300);
  ASSERT_TRUE(ws.SendProof(assignment.at("assignment").as_int64(), "stored slowly"));
  ASSERT_NO_FATAL_FAILURE(ExpectResult(ws, "accepted", 20000));
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM slashings")[0].as<int64_t>(), 0);
  EXPECT_EQ(tx.exec1("SELECT status FROM assignments")[0].as<std::string>(), "settled");
}
#endif

// A prover that has not delivered yet when the server goes down does not pay for the outage:
// the first tick after the restart hands back the time the outage took from its window.
TEST_F(ProverTest, AnOutageOverADueTimeDoesNotSlashTheProver) {
  StartServer();
  ShaMarket("sha", R"(,"min_slash":1000)");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  int64_t a = 0, due_at = 0;
  {
    WsClient ws(server_->port(), key);
    ASSERT_TRUE(ws.ok());
    auto assignment = AssignOne(ws, seq_key, "sha", ShaInputs("outage"), /*est_ms=*/1000);
    a = assignment.at("assignment").as_int64();
    due_at = assignment.at("due_at_ms").as_int64();
    server_->Kill9();  // before the prover could deliver
  }
  SleepPastWallClockMs(due_at + 500);
  StartServer();
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  auto resent = ws.ReadType("assignment");
  ASSERT_TRUE(resent.has_value()) << ws.error();
  EXPECT_EQ(resent->at("assignment").as_int64(), a);
  EXPECT_GT(resent->at("due_at_ms").as_int64(), due_at);  // the time it lost, given back
  ASSERT_TRUE(ws.SendProof(a, "outage", "late-but-not-its-fault"));
  ASSERT_TRUE(ws.ReadType("proof_received").has_value()) << ws.error();
  ExpectResult(ws, "accepted");
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM slashings")[0][0].as<int64_t>(), 0);
  EXPECT_EQ(
      tx.exec("SELECT count(*) FROM engine_events WHERE kind = 'due_extended'")[0][0].as<int64_t>(),
      1);
}

TEST_F(ProverTest, AConnectionOverTheMessageRateIsClosedAndOthersAreServed) {
  StartServer({"--ws-message-rate", "5"});  // ten at once, five a second after
  auto [p, key] = Account("prover", "p");
  WsClient flood(server_->port(), key);
  ASSERT_TRUE(flood.ok()) << flood.error();
  // However slow this machine, two hundred pings overrun ten plus five a second.
  for (int i = 0; i < 200 && flood.ok(); ++i) flood.SendJson({{"type", "ping"}, {"id", "x"}});
  while (flood.Read(5000)) {
  }
  EXPECT_EQ(flood.close_code(), 1008) << flood.error();
  // The same prover on a new connection, at a polite pace, is served.
  WsClient polite(server_->port(), key);
  ASSERT_TRUE(polite.ok()) << polite.error();
  polite.SendJson({{"type", "ping"}, {"id", "y"}});
  EXPECT_TRUE(polite.ReadType("pong").has_value()) << polite.error();
  server_->Terminate();  // flushes the log
  EXPECT_NE(server_->Logs().find("message rate over 5/s"), std::string::npos);
}

// Found by loadtest/chaos.sh: a proof that arrives while nothing commits (PostgreSQL away or
// stuck, the engine rebuilding) is stored by the gateway, and recovery delivers it. It used to
// be delivered before the first Tick handed the outage's time back to the due times, so one
// that came after its due time was judged late and the prover slashed for our outage. It is
// now judged against the extended due time.
TEST_F(ProverTest, AProofStoredWhileNothingCommittedIsJudgedAgainstTheExtendedDueTime) {
  StartServer();
  ShaMarket("sha", R"(,"min_slash":1000)");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  {
    WsClient ws(server_->port(), key);
    ASSERT_TRUE(ws.ok());
    auto assignment = AssignOne(ws, seq_key, "sha", ShaInputs("stuck"), /*est_ms=*/1000);
    const int64_t a = assignment.at("assignment").as_int64();
    // Nothing commits from here on: the journal's row lock is held (a stuck database).
    pqxx::connection locker(db_.url());
    pqxx::work hold(locker);
    hold.exec("SELECT 1 FROM engine_state FOR UPDATE");
    SleepPastWallClockMs(assignment.at("due_at_ms").as_int64() + 300);
    ASSERT_TRUE(ws.SendProof(a, "stuck", "pr"));
    // The gateway stores the bytes (a commit of their own) ...
    pqxx::connection reader(db_.url());
    int64_t stored = 0;
    for (int i = 0; i < 200 && stored == 0; ++i) {
      pqxx::read_transaction tx(reader);
      stored = tx.exec("SELECT count(*) FROM proofs")[0][0].as<int64_t>();
      if (stored == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(stored, 1);
    server_->Kill9();  // ... and the server dies before anything else commits
    hold.abort();
  }
  StartServer();
  pqxx::connection conn(db_.url());
  std::string status;
  for (int i = 0; i < 300 && status != "settled"; ++i) {
    pqxx::read_transaction tx(conn);
    status = tx.exec("SELECT status FROM assignments")[0][0].as<std::string>();
    if (status != "settled") std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, "settled");
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM slashings")[0][0].as<int64_t>(), 0);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM settlements")[0][0].as<int64_t>(), 1);
  EXPECT_EQ(tx.exec("SELECT ledger_imbalance()")[0][0].as<int64_t>(), 0);
}

TEST_F(ProverTest, SlowConsumerIsClosed) {
  StartServer({"--ws-max-queue", "8"});
  auto [p, key] = Account("prover", "p");
  // Large pongs, not read: the socket buffers fill, then the server's queue does. A small
  // receive buffer (no autotuning, which may grow it to 32 MiB) makes that take a few MB, so
  // the client reads again soon after the server gives up on it, well within the 5 s the server
  // waits for its close frame to get out (slow under ThreadSanitizer otherwise: flaky).
  WsClient ws(server_->port(), key, "/v1/prover/ws", 16 << 10);
  ASSERT_TRUE(ws.ok());
  const std::string id(200 << 10, 'z');
  for (int i = 0; i < 60 && ws.ok(); ++i) ws.SendJson({{"type", "ping"}, {"id", id}});
  // Read only once the server has given up on us: reading earlier may drain its queue before
  // it fills on a slow (loaded, sanitized) machine, and then there is no slow consumer at all.
  // Its log is flushed every second; the bound is generous, the wait ends on the condition.
  for (int i = 0; i < 600 && server_->Logs().find("msg=ws_slow_consumer") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(server_->Logs().find("msg=ws_slow_consumer"), std::string::npos) << server_->Logs();
  while (ws.Read(5000)) {
  }
  EXPECT_EQ(ws.close_code(), 1013) << ws.error();
  EXPECT_EQ(client_->Get("/healthz").status, 200);
  // The server ends the session once the close handshake's teardown sees our socket close,
  // which may come after we have our close code; its log is flushed every second.
  for (int i = 0; i < 50 && server_->Logs().find("why=\"slow consumer\"") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  server_->Terminate();  // flushes the log
  EXPECT_NE(server_->Logs().find("why=\"slow consumer\""), std::string::npos);
}

}  // namespace
}  // namespace proofbook::testing

namespace proofbook::testing {
namespace {

// Proof trees over the wire (issue #17, the part built so far): POST /v1/trees places every leaf
// as an order carrying its inputs, a prover proves a lone leaf over its WebSocket, and GET
// /v1/trees/{id} shows the tree completed with the node's prover and proof digest. The tree's
// escrow is in the ledger, which the fixture checks balances.
TEST_F(ProverTest, ATreeIsPlacedProvedAndReadBackOverHttp) {
  StartServer();
  ShaMarket("sha");
  MergeMarket("merge");
  const std::string seq_key = Sequencer();
  auto [p, key] = Prover("p");
  WsClient ws(server_->port(), key);
  ASSERT_TRUE(ws.ok());
  Offer(ws, "sha", 300);
  auto post = [&](const std::string& body) {
    return client_->Request("POST", "/v1/trees", body, seq_key);
  };
  const std::string leaf = ShaInputs("leaf");
  auto placed = post(R"({"leaf_market":"sha","merge_market":"merge","leaves":[)" + leaf +
                     R"(],"leaf_price":500,"deadline_ms":60000})");
  ASSERT_EQ(placed.status, 201) << placed.body;
  auto tree = Json(placed).at("tree").as_object();
  const int64_t id = tree.at("id").as_int64();
  EXPECT_EQ(tree.at("escrow").as_int64(), 500);
  const int64_t order = tree.at("leaf_orders").at(0).at("order").as_int64();
  EXPECT_EQ(serialize(GetOrder(order, seq_key).at("inputs")), leaf);

  auto assignment = ws.ReadType("assignment");
  ASSERT_TRUE(assignment.has_value()) << ws.error();
  EXPECT_EQ(assignment->at("order").as_int64(), order);
  ASSERT_TRUE(ws.SendProof(assignment->at("assignment").as_int64(), "leaf"));
  ExpectResult(ws, "accepted");
  boost::json::object read;
  for (int i = 0; i < 100; ++i) {
    auto r = client_->Get("/v1/trees/" + std::to_string(id), seq_key);
    ASSERT_EQ(r.status, 200) << r.body;
    read = Json(r).at("tree").as_object();
    if (read.at("status").as_string() == "completed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(read.at("status").as_string(), "completed");
  auto node = read.at("nodes").at(0).as_object();
  EXPECT_EQ(node.at("state").as_string(), "proven");
  EXPECT_EQ(node.at("prover").as_int64(), p);
  EXPECT_EQ(node.at("proof_sha256").as_string(), server::Sha256Hex("leaf"));
  EXPECT_EQ(read.at("reserve").as_int64(), 0);
  // A lone leaf is the root: its output is its digest.
  EXPECT_EQ(node.at("output").as_string(), server::Sha256Hex("leaf"));
  EXPECT_EQ(read.at("root_output").as_string(), server::Sha256Hex("leaf"));

  // Another sequencer does not see it; an admin does.
  auto [other, other_key] = Account("sequencer", "o");
  EXPECT_EQ(client_->Get("/v1/trees/" + std::to_string(id), other_key).status, 404);
  EXPECT_EQ(client_->Get("/v1/trees/" + std::to_string(id), admin_key_).status, 200);
  EXPECT_EQ(client_->Get("/v1/trees/999", seq_key).status, 404);
  // A long poll on a tree that is already final, or not the caller's, answers at once.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(client_->Get("/v1/trees/" + std::to_string(id) + "?wait_ms=20000", seq_key).status,
            200);
  EXPECT_EQ(client_->Get("/v1/trees/" + std::to_string(id) + "?wait_ms=20000", other_key).status,
            404);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  for (const char* bad : {"?wait_ms=abc", "?wait_ms=30001", "?colour=1"}) {
    auto r = client_->Get("/v1/trees/" + std::to_string(id) + bad, seq_key);
    EXPECT_EQ(r.status, 400) << bad << " -> " << r.body;
  }

  // Refusals, each naming its field.
  auto refused = [&](const std::string& body, int status, const std::string& field,
                     const std::string& code = "") {
    auto r = post(body);
    EXPECT_EQ(r.status, status) << body << " -> " << r.body;
    if (r.status >= 400) {
      EXPECT_EQ(Json(r).at("error").at("field").as_string(), field) << r.body;
      if (!code.empty()) {
        EXPECT_EQ(Json(r).at("error").at("code").as_string(), code) << r.body;
      }
    }
  };
  refused(R"({"leaf_market":"sha","merge_market":"merge","leaves":[],"leaf_price":5,)"
          R"("deadline_ms":60000})",
          400, "leaves");
  refused(R"({"leaf_market":"sha","merge_market":"merge","leaves":{},"leaf_price":5,)"
          R"("deadline_ms":60000})",
          400, "leaves");
  refused(R"({"leaf_market":"sha","merge_market":"merge","leaves":[{"sha256":"zz"}],)"
          R"("leaf_price":5,"deadline_ms":60000})",
          422, "leaves");  // invalid_inputs, as for an order
  refused(R"({"leaf_market":"nope","merge_market":"merge","leaves":[1],"leaf_price":5,)"
          R"("deadline_ms":60000})",
          422, "leaf_market");
  refused(R"({"leaf_market":"sha","merge_market":"merge","leaves":[1],"leaf_price":5,)"
          R"("deadline_ms":60000,"colour":1})",
          400, "colour");
  // A merge's inputs are its children's digests: only a sha256-merge market takes them, and
  // only leaves that output a digest give them.
  refused(R"({"leaf_market":"sha","merge_market":"sha","leaves":[)" + leaf +
              R"(],"leaf_price":5,"deadline_ms":60000})",
          422, "merge_market", "incompatible_markets");
  refused(R"({"leaf_market":"merge","merge_market":"merge","leaves":[1],"leaf_price":5,)"
          R"("deadline_ms":60000})",
          422, "leaves", "invalid_inputs");
  // Merges are drawn among the children's provers: this server has no VRF key for "merge".
  refused(R"({"leaf_market":"sha","merge_market":"merge","leaves":[)" + leaf + "," + leaf +
              R"(],"leaf_price":5,"merge_price":5,"deadline_ms":60000})",
          422, "merge_market", "vrf_unavailable");
  EXPECT_EQ(client_->Request("POST", "/v1/trees", "{}", key).status, 403);  // a prover
}

}  // namespace
}  // namespace proofbook::testing
