// proof_latency_benchmark: end-to-end latency from a prover sending a proof to it receiving the
// settlement, through a real server, real sockets, a real PostgreSQL (DATABASE_URL, a fresh
// database) and the real verifier workers. One order at a time: place it (REST), take the
// assignment (WebSocket), send the proof, wait for `settlement`. Prints p50/p90/p99/max.
//
//   cmake --build --preset release --target proof_latency_benchmark
//   DATABASE_URL=... build/release/tests/integration/proof_latency_benchmark [sha256|groth16]
//   [orders]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>

#include "server/base/crypto.h"
#include "server/core/api_keys.h"
#include "tests/integration/http_client.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_database.h"
#include "tests/integration/ws_client.h"

namespace json = boost::json;
using namespace proofbook::testing;
using Clock = std::chrono::steady_clock;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "proof_latency: %s\n", why.c_str());
  std::exit(1);
}

json::value Post(HttpClient& c, const std::string& target, const std::string& body,
                 const std::string& key, int want) {
  auto r = c.Request("POST", target, body, key);
  if (r.status != want) Die(target + " -> " + std::to_string(r.status) + " " + r.body);
  return json::parse(r.body);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string kind = argc > 1 ? argv[1] : "sha256";
  const int orders = argc > 2 ? std::atoi(argv[2]) : 200;
  if (kind != "sha256" && kind != "groth16") Die("kind is sha256 or groth16");

  std::string market_body, inputs, proof;
  if (kind == "sha256") {
    market_body = R"({"id":"m","proof_system":"sha256","verifier":"sha256-preimage"})";
    proof = "latency probe";
    inputs = R"({"sha256":")" + proofbook::server::Sha256Hex(proof) + R"("})";
  } else {
    const std::string dir = std::string(PROOFBOOK_SOURCE_DIR) + "/var/fixtures/groth16";
    const std::string vk = ReadFile(dir + "/verification_key.json");
    if (vk.empty()) Die("no fixtures under " + dir + ": run tests/fixtures/groth16.sh");
    market_body = R"({"id":"m","proof_system":"groth16","verifier":"snarkjs-groth16",)"
                  R"("verification_key":)" +
                  vk + "}";
    inputs = ReadFile(dir + "/valid/public.json");
    proof = ReadFile(dir + "/valid/proof.json");
  }

  TestDatabase db;
  db.Migrate();
  std::string admin;
  {
    pqxx::connection conn(db.url());
    auto a = proofbook::server::BootstrapAdmin(*::proofbook::server::BorrowSession(conn));
    if (!a || !*a) Die("bootstrap-admin failed");
    admin = (*a)->api_key;
  }
  ServerProcess server(db.url());
  HttpClient http(server.port());
  Post(http, "/v1/admin/markets", market_body, admin, 201);
  auto account = [&](const std::string& role) {
    auto v =
        Post(http, "/v1/admin/accounts", R"({"role":")" + role + R"(","name":"x"})", admin, 201);
    int64_t id = v.at("account").at("id").as_int64();
    Post(http, "/v1/admin/accounts/" + std::to_string(id) + "/deposits", R"({"amount":100000000})",
         admin, 201);
    return std::string(v.at("api_key").as_string());
  };
  const std::string seq = account("sequencer");
  const std::string prover = account("prover");
  Post(http, "/v1/stake", R"({"amount":1000000})", prover, 200);
  WsClient ws(server.port(), prover);
  if (!ws.ok()) Die("websocket: " + ws.error());
  ws.SendJson(
      {{"type", "offer"}, {"market", "m"}, {"price", 10}, {"est_ms", 60000}, {"capacity", 1000}});
  if (!ws.ReadType("offer_placed")) Die("no offer_placed: " + ws.error());

  std::vector<double> ms;
  for (int i = 0; i < orders; ++i) {
    Post(http, "/v1/orders",
         R"({"market":"m","max_price":100,"deadline_ms":600000,"inputs":)" + inputs + "}", seq,
         201);
    auto a = ws.ReadType("assignment");
    if (!a) Die("no assignment: " + ws.error());
    const auto t0 = Clock::now();
    ws.SendProof(a->at("assignment").as_int64(), proof);
    if (!ws.ReadType("settlement", 30000)) Die("no settlement: " + ws.error());
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  std::printf("%s: %d proofs, delivery -> settlement ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
              kind.c_str(), orders, pct(0.5), pct(0.9), pct(0.99), ms.back());
  return 0;
}
