// ProverFixture: ServerFixture plus what the prover-side end-to-end tests share: markets
// (sha256-preimage, the Groth16 fixtures'), funded sequencers and staked provers, offers over a
// prover's WebSocket, orders, and waiting for pushed messages.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <utility>

#include "server/base/crypto.h"
#include "tests/integration/files.h"
#include "tests/integration/server_fixture.h"
#include "tests/integration/ws_client.h"

namespace proofbook::testing {

// Made by tests/fixtures/groth16.sh (./proofbook.sh test runs it; cached under var/).
inline const std::string kFixtures = std::string(PROOFBOOK_SOURCE_DIR) + "/var/fixtures/groth16";

class ProverFixture : public ServerFixture {
 protected:
  void Market(const std::string& body) {
    auto r = client_->Request("POST", "/v1/admin/markets", body, admin_key_);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // The "poseidon" market: snarkjs-groth16 with the fixtures' verification key.
  void Groth16Market() {
    const std::string vk = ReadFile(kFixtures + "/verification_key.json");
    ASSERT_FALSE(vk.empty()) << "no fixtures under " << kFixtures
                             << ": run tests/fixtures/groth16.sh";
    Market(R"({"id":"poseidon","proof_system":"groth16","verifier":"snarkjs-groth16",)"
           R"("min_stake":100,"verification_key":)" +
           vk + "}");
  }
  void ShaMarket(const std::string& id, const std::string& extra = "") {
    Market(R"({"id":")" + id +
           R"(","proof_system":"sha256","verifier":"sha256-preimage","min_stake":100)" + extra +
           "}");
  }
  // A proof tree's merge market (sha256-merge).
  void MergeMarket(const std::string& id, const std::string& extra = "") {
    Market(R"({"id":")" + id +
           R"(","proof_system":"sha256","verifier":"sha256-merge","min_stake":100)" + extra + "}");
  }
  // A sequencer with 10,000 deposited; its key.
  std::string Sequencer() {
    auto [id, key] = Account("sequencer", "s");
    Deposit(id, 10'000);
    return key;
  }
  // Reads the next proof_result and checks it.
  void ExpectResult(WsClient& ws, const std::string& result, int timeout_ms = 15000) {
    auto r = ws.ReadType("proof_result", timeout_ms);
    ASSERT_TRUE(r.has_value()) << ws.error();
    EXPECT_EQ(r->at("result").as_string(), result);
  }
  // A prover with 5,000 deposited and 1,000 staked.
  std::pair<int64_t, std::string> Prover(const std::string& name) {
    auto p = Account("prover", name);
    Deposit(p.first, 5'000);
    EXPECT_EQ(client_->Request("POST", "/v1/stake", R"({"amount":1000})", p.second).status, 200);
    return p;
  }
  int64_t PlaceOrder(const std::string& key, const std::string& market, const std::string& inputs,
                     int64_t deadline_ms = 600000) {
    auto r = client_->Request("POST", "/v1/orders",
                              R"({"market":")" + market + R"(","max_price":500,"deadline_ms":)" +
                                  std::to_string(deadline_ms) + R"(,"inputs":)" + inputs + "}",
                              key);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? Json(r).at("order").at("id").as_int64() : 0;
  }
  boost::json::object Offer(WsClient& ws, const std::string& market, int64_t price,
                            int64_t est_ms = 60000, int64_t capacity = 4) {
    ws.SendJson({{"type", "offer"},
                 {"id", "o1"},
                 {"market", market},
                 {"price", price},
                 {"est_ms", est_ms},
                 {"capacity", capacity}});
    auto placed = ws.ReadType("offer_placed");
    EXPECT_TRUE(placed.has_value()) << ws.error();
    return placed.value_or(boost::json::object{});
  }
  boost::json::value GetOrder(int64_t id, const std::string& key) {
    auto r = client_->Get("/v1/orders/" + std::to_string(id), key);
    EXPECT_EQ(r.status, 200) << r.body;
    return Json(r).at("order");
  }
  int64_t Available(const std::string& key) {
    return Json(client_->Get("/v1/accounts/me", key)).at("account").at("available").as_int64();
  }
  // Offers on `ws` at 300 in `market`, places an order of `inputs` and returns the assignment
  // message the prover gets (empty on failure, which is then reported).
  boost::json::object AssignOne(WsClient& ws, const std::string& seq_key, const std::string& market,
                                const std::string& inputs, int64_t est_ms = 60000) {
    Offer(ws, market, 300, est_ms);
    PlaceOrder(seq_key, market, inputs, /*deadline_ms=*/60000);
    auto assignment = ws.ReadType("assignment");
    EXPECT_TRUE(assignment.has_value()) << ws.error();
    return assignment.value_or(boost::json::object{});
  }
  // Places `n` orders in the sha256-preimage market `market` (preimages `prefix` 0..n-1) and
  // reads their assignments on `ws`: assignment -> the preimage that proves it. An assignment
  // may come twice (pushed, and sent again with the open ones as the connection opened): the
  // second is the same job. Empty on failure, which is then reported.
  std::map<int64_t, std::string> PlaceShaJobs(WsClient& ws, const std::string& seq_key,
                                              const std::string& market, const std::string& prefix,
                                              int n) {
    std::map<int64_t, std::string> preimage_of;  // by order
    for (int i = 0; i < n; ++i) {
      const std::string preimage = prefix + std::to_string(i);
      preimage_of[PlaceOrder(seq_key, market, ShaInputs(preimage))] = preimage;
    }
    std::map<int64_t, std::string> jobs;
    while (jobs.size() < static_cast<std::size_t>(n)) {
      auto a = ws.ReadType("assignment");
      EXPECT_TRUE(a.has_value()) << ws.error();
      if (!a) return {};
      jobs[a->at("assignment").as_int64()] = preimage_of.at(a->at("order").as_int64());
    }
    return jobs;
  }
  // Sleeps until the wall clock (the server's time, ms since the epoch) is past `ms`.
  static void SleepPastWallClockMs(int64_t ms) {
    while (std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() <= ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  static std::string ShaInputs(const std::string& preimage) {
    return R"({"sha256":")" + server::Sha256Hex(preimage) + R"("})";
  }
};

}  // namespace proofbook::testing
