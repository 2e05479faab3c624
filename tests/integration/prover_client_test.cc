// proofbook-prover, the real binary, against a real server and PostgreSQL: an honest prover
// proves and is paid, a tampering one is slashed and the order goes to the honest one, a real
// Groth16 proof is made with snarkjs from the order's witness, and SIGTERM finishes cleanly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <pqxx/pqxx>
#include <thread>

#include "clients/common/process.h"
#include "server/base/crypto.h"
#include "tests/integration/files.h"
#include "tests/integration/prover_process.h"
#include "tests/integration/server_fixture.h"

namespace proofbook::testing {
namespace {

const std::string kFixtures = std::string(PROOFBOOK_SOURCE_DIR) + "/var/fixtures/groth16";

class ProverClientTest : public ServerFixture {
 protected:
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  // The sha256-preimage market "sha" (min stake 100).
  void ShaMarket() {
    auto r = client_->Request(
        "POST", "/v1/admin/markets",
        R"({"id":"sha","proof_system":"sha256","verifier":"sha256-preimage","min_stake":100})",
        admin_key_);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  std::string ProverKey(const std::string& name) {
    auto [id, key] = Account("prover", name);
    Deposit(id, 5'000);
    return key;
  }
  std::string SequencerKey() {
    auto [id, key] = Account("sequencer", "s");
    Deposit(id, 10'000);
    return key;
  }
  int64_t Place(const std::string& key, const std::string& market, const std::string& inputs) {
    auto r =
        client_->Request("POST", "/v1/orders",
                         R"({"market":")" + market +
                             R"(","max_price":500,"deadline_ms":600000,"inputs":)" + inputs + "}",
                         key);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? Json(r).at("order").at("id").as_int64() : 0;
  }
  std::string WaitFinal(int64_t order, const std::string& key) {
    auto r = client_->Get("/v1/orders/" + std::to_string(order) + "?wait_ms=20000", key);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? std::string(Json(r).at("order").at("status").as_string()) : "";
  }
};

// Issue #13 (g): a worker that misses its due time keeps proving when the market pays an uncle
// reward, delivers before the order's deadline, and is paid the reward although another
// prover's proof completed the order first.
TEST_F(ProverClientTest, ALateWorkerKeepsProvingAndIsPaidTheUncleReward) {
  StartServer();
  auto r = client_->Request("POST", "/v1/admin/markets",
                            R"({"id":"sha","proof_system":"sha256","verifier":"sha256-preimage",)"
                            R"("min_stake":100,"uncle_reward_bps":2000})",
                            admin_key_);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string seq = SequencerKey();
  // Cheaper, so it is picked first; due 360 ms after the assignment (300 ms + 20% grace), it
  // delivers after 2 s.
  ProverProcess late({"--url", Url(), "--api-key", ProverKey("late"), "--stake", "1000", "--offer",
                      "market=sha,price=200,est_ms=300,capacity=1", "--delay-ms", "2000"});
  ASSERT_TRUE(late.WaitFor("msg=offer_placed")) << late.Logs();
  ProverProcess prompt({"--url", Url(), "--api-key", ProverKey("prompt"), "--stake", "1000",
                        "--offer", "market=sha,price=300,est_ms=300,capacity=1"});
  ASSERT_TRUE(prompt.WaitFor("msg=offer_placed")) << prompt.Logs();
  const std::string preimage = "uncle";
  const int64_t order = Place(
      seq, "sha",
      R"({"sha256":")" + server::Sha256Hex(preimage) + R"(","preimage":")" + preimage + "\"}");
  EXPECT_EQ(WaitFinal(order, seq), "completed") << late.Logs() << prompt.Logs();
  EXPECT_TRUE(late.WaitFor("msg=reassigned_away")) << late.Logs();
  // 20% of its price of 200, from the treasury (which holds its slash).
  EXPECT_TRUE(late.WaitFor("amount=40 kind=uncle")) << late.Logs();
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger_entries WHERE reason = 'uncle_reward'")[0][0]
                .as<int64_t>(),
            1);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM slashings WHERE reason = 'missed_deadline'")[0][0]
                .as<int64_t>(),
            1);
}

TEST_F(ProverClientTest, HonestProverIsPaidAndTamperingOneIsSlashed) {
  StartServer();
  ASSERT_NO_FATAL_FAILURE(ShaMarket());
  const std::string seq = SequencerKey();
  ProverProcess honest({"--url", Url(), "--api-key", ProverKey("honest"), "--stake", "1000",
                        "--offer", "market=sha,price=300,est_ms=60000,capacity=2"});
  ASSERT_TRUE(honest.WaitFor("msg=offer_placed")) << honest.Logs();
  const std::string preimage = "proofbook demo";
  const std::string inputs =
      R"({"sha256":")" + server::Sha256Hex(preimage) + R"(","preimage":")" + preimage + "\"}";
  const int64_t first = Place(seq, "sha", inputs);
  EXPECT_EQ(WaitFinal(first, seq), "completed") << honest.Logs();
  EXPECT_TRUE(honest.WaitFor("msg=paid")) << honest.Logs();

  // A cheaper prover that tampers gets the next order, is slashed, and the honest one takes it.
  ProverProcess cheat({"--url", Url(), "--api-key", ProverKey("cheat"), "--stake", "1000",
                       "--offer", "market=sha,price=200,est_ms=60000,capacity=1", "--tamper"});
  ASSERT_TRUE(cheat.WaitFor("msg=offer_placed")) << cheat.Logs();
  const int64_t second = Place(seq, "sha", inputs);
  EXPECT_EQ(WaitFinal(second, seq), "completed");
  EXPECT_TRUE(cheat.WaitFor("reason=invalid_proof")) << cheat.Logs();
  EXPECT_NE(cheat.Logs().find("result=rejected"), std::string::npos) << cheat.Logs();

  int status = honest.Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << honest.Logs();
  EXPECT_NE(honest.Logs().find("msg=stopped"), std::string::npos);
}

// SIGTERM mid-job: the offer is cancelled, the job is finished and paid, then it exits 0.
TEST_F(ProverClientTest, SigtermFinishesTheJobInFlight) {
  StartServer();
  ASSERT_NO_FATAL_FAILURE(ShaMarket());
  const std::string seq = SequencerKey();
  const std::string key = ProverKey("p");
  ProverProcess prover({"--url", Url(), "--api-key", key, "--stake", "1000", "--offer",
                        "market=sha,price=300,capacity=1", "--delay-ms", "1500"});
  ASSERT_TRUE(prover.WaitFor("msg=offer_placed")) << prover.Logs();
  const std::string inputs = R"({"sha256":")" + server::Sha256Hex("x") + R"(","preimage":"x"})";
  const int64_t order = Place(seq, "sha", inputs);
  ASSERT_TRUE(prover.WaitFor("msg=assignment")) << prover.Logs();
  const int status = prover.Stop();  // while it waits out its delay
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << prover.Logs();
  EXPECT_NE(prover.Logs().find("msg=draining"), std::string::npos);
  EXPECT_NE(prover.Logs().find("result=accepted"), std::string::npos) << prover.Logs();
  EXPECT_EQ(WaitFinal(order, seq), "completed");
  EXPECT_TRUE(Json(client_->Get("/v1/offers", key)).at("offers").as_array().empty());
}

// The server crashes and comes back on the same port: the prover reconnects by itself (backoff
// with jitter), finds its offer still in the book and proves the next order.
TEST_F(ProverClientTest, ProverReconnectsAfterAServerCrash) {
  StartServer();
  const uint16_t port = server_->port();
  ASSERT_NO_FATAL_FAILURE(ShaMarket());
  const std::string seq = SequencerKey();
  ProverProcess prover({"--url", Url(), "--api-key", ProverKey("p"), "--stake", "1000", "--offer",
                        "market=sha,price=300,capacity=1", "--max-backoff-ms", "500"});
  ASSERT_TRUE(prover.WaitFor("msg=offer_placed")) << prover.Logs();
  server_->Kill9();
  ASSERT_TRUE(prover.WaitFor("msg=disconnected")) << prover.Logs();
  StartServer({"--listen", "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(prover.WaitFor("msg=connected", 10000));
  for (int i = 0; i < 100; ++i) {  // the second "connected" line
    std::string logs = prover.Logs();
    auto first = logs.find("msg=connected");
    if (logs.find("msg=connected", first + 1) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string inputs = R"({"sha256":")" + server::Sha256Hex("y") + R"(","preimage":"y"})";
  const int64_t order = Place(seq, "sha", inputs);
  EXPECT_EQ(WaitFinal(order, seq), "completed") << prover.Logs();
}

TEST_F(ProverClientTest, Groth16ProofIsMadeWithSnarkjsFromTheOrdersWitness) {
  const std::string vk = ReadFile(kFixtures + "/verification_key.json");
  const std::string witness = ReadFile(kFixtures + "/input.json");
  const std::string pub = ReadFile(kFixtures + "/valid/public.json");
  ASSERT_FALSE(vk.empty() || witness.empty() || pub.empty())
      << "no fixtures under " << kFixtures << ": run tests/fixtures/groth16.sh";
  StartServer();
  ASSERT_EQ(client_
                ->Request("POST", "/v1/admin/markets",
                          R"({"id":"poseidon","proof_system":"groth16",)"
                          R"("verifier":"snarkjs-groth16","min_stake":100,)"
                          R"("verification_key":)" +
                              vk + "}",
                          admin_key_)
                .status,
            201);
  const std::string seq = SequencerKey();
  ProverProcess prover({"--url", Url(), "--api-key", ProverKey("p"), "--stake", "1000", "--offer",
                        "market=poseidon,price=300,est_ms=60000,capacity=1", "--circuit",
                        "poseidon=" + kFixtures});
  ASSERT_TRUE(prover.WaitFor("msg=offer_placed")) << prover.Logs();
  const int64_t order =
      Place(seq, "poseidon", R"({"public":)" + pub + R"(,"witness":)" + witness + "}");
  EXPECT_EQ(WaitFinal(order, seq), "completed") << prover.Logs();
  EXPECT_TRUE(prover.WaitFor("result=accepted")) << prover.Logs();
  auto proofs = client_->Get("/v1/orders/" + std::to_string(order) + "/proofs", seq);
  ASSERT_EQ(proofs.status, 200);
  EXPECT_EQ(Json(proofs).at("proofs").as_array().size(), 1u);
}

}  // namespace
}  // namespace proofbook::testing
