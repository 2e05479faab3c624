// Issue #16 end to end, real server, PostgreSQL and command line: vrf orders are drawn by the
// server's ECVRF (RFC 9381) among staked provers with probability proportional to stake; every
// draw is re-derived offline by the real `proofbook draw verify`; keys, beacons and draws live
// through kill -9 and key rotation; a wrong master key stops the server.
#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <thread>

#include "clients/common/process.h"
#include "tests/integration/prover_fixture.h"
#include "tests/integration/wait.h"

namespace proofbook::testing {
namespace {

namespace json = boost::json;

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

std::ostream& operator<<(std::ostream& os, const CliRun& r) {
  return os << "exit " << r.exit_code << "\n--- stdout\n"
            << r.out.substr(0, 4000) << "--- stderr\n"
            << r.err;
}

class VrfTest : public ProverFixture {
 protected:
  void SetUp() override {
    ProverFixture::SetUp();
    char dir[] = "/tmp/proofbook-vrf-test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    key_file_ = dir_ + "/master.key";
    WriteKey(key_file_);
  }
  void TearDown() override {
    ProverFixture::TearDown();
    std::filesystem::remove_all(dir_);
  }

  static void WriteKey(const std::string& path) {
    unsigned char key[32];
    randombytes_buf(key, sizeof key);
    std::ofstream(path) << server::HexEncode(key, sizeof key) << "\n";
  }
  void Start() { StartServer({"--vrf-master-key-file", key_file_}); }

  // A prover staking `stake`, with offers at 100 for `capacity` jobs in `market`, estimating
  // `est_ms` a job. Nobody delivers in these tests: with the default 300 s nobody misses a due
  // time during them.
  int64_t StakedProver(const std::string& market, int64_t stake, int64_t capacity,
                       int64_t est_ms = 300000) {
    auto [id, key] = Account("prover", "p" + std::to_string(stake));
    Deposit(id, stake);
    EXPECT_EQ(
        client_->Request("POST", "/v1/stake", R"({"amount":)" + std::to_string(stake) + "}", key)
            .status,
        200);
    // Offers hold at most 1,024 jobs: as many as `capacity` needs (one candidate per prover
    // whatever its offers, so this does not change its odds).
    for (int64_t left = capacity; left > 0; left -= 1024) {
      auto r = client_->Request("POST", "/v1/offers",
                                R"({"market":")" + market + R"(","price":100,"est_ms":)" +
                                    std::to_string(est_ms) + R"(,"capacity":)" +
                                    std::to_string(std::min<int64_t>(left, 1024)) + "}",
                                key);
      EXPECT_EQ(r.status, 201) << r.body;
    }
    return id;
  }

  // `n` vrf orders in `market` from `threads` sequencers at once; their ids.
  std::vector<int64_t> VrfOrders(const std::string& market, int n, int threads = 1) {
    std::vector<std::string> keys;
    for (int t = 0; t < threads; ++t) {
      auto [id, key] = Account("sequencer", "s" + std::to_string(t));
      Deposit(id, int64_t{500} * n);
      keys.push_back(key);
    }
    std::vector<std::vector<int64_t>> ids(static_cast<std::size_t>(threads));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        HttpClient http(server_->port());
        for (int i = t; i < n; i += threads) {
          auto r = http.Request(
              "POST", "/v1/orders",
              R"({"market":")" + market +
                  R"(","max_price":200,"deadline_ms":600000,"selection":"vrf","inputs":)" +
                  ShaInputs("vrf" + std::to_string(i)) + "}",
              keys[static_cast<std::size_t>(t)]);
          EXPECT_EQ(r.status, 201) << r.body;
          if (r.status == 201)
            ids[static_cast<std::size_t>(t)].push_back(Json(r).at("order").at("id").as_int64());
        }
      });
    }
    for (auto& w : workers) w.join();
    std::vector<int64_t> all;
    for (const auto& v : ids) all.insert(all.end(), v.begin(), v.end());
    return all;
  }

  // `proofbook --url <server> --api-key admin draw verify ids...`.
  CliRun Verify(const std::vector<int64_t>& orders, bool json_mode = false) {
    clients::ProcessOptions options;
    options.argv = {PROOFBOOK_CLI_BIN, "--url",
                    "http://127.0.0.1:" + std::to_string(server_->port()), "--api-key", admin_key_};
    if (json_mode) options.argv.push_back("--json");
    options.argv.insert(options.argv.end(), {"draw", "verify"});
    for (int64_t id : orders) options.argv.push_back(std::to_string(id));
    options.env = {"PATH=/usr/bin:/bin", "HOME=" + dir_};
    options.stdin_null = true;
    options.stdout_to = clients::ProcessOutput::Capture();
    options.stderr_to = clients::ProcessOutput::Capture();
    clients::Process p(options);
    EXPECT_TRUE(p.started()) << p.error();
    CliRun run;
    std::optional<int> status = p.Wait(std::chrono::seconds(180));
    if (!status) {
      status = p.Kill();
      ADD_FAILURE() << "proofbook draw verify did not exit in time";
    }
    run.exit_code = clients::Process::ExitCode(*status);
    run.out = p.Stdout();
    run.err = p.Stderr();
    return run;
  }

  // The VRF epoch (an hour of the server's clock) now.
  static int64_t NowEpoch() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() /
           3'600'000;
  }

  json::object Draws(int64_t order) {
    auto r = client_->Get("/v1/orders/" + std::to_string(order) + "/draws", admin_key_);
    EXPECT_EQ(r.status, 200) << r.body;
    return Json(r).as_object();
  }

  std::map<int64_t, int64_t> WinsByProver() {
    pqxx::connection conn(db_.url());
    pqxx::read_transaction tx(conn);
    std::map<int64_t, int64_t> wins;
    for (const auto& r : tx.exec("SELECT a.prover_id, count(*) FROM assignments a JOIN orders o "
                                 "ON o.id = a.order_id WHERE o.selection = 'vrf' GROUP BY 1")) {
      wins[r[0].as<int64_t>()] = r[1].as<int64_t>();
    }
    return wins;
  }

  void Sql(const std::string& statement) {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    tx.exec(statement);
    tx.commit();
  }

  std::string dir_, key_file_;
};

TEST_F(VrfTest, WinsFollowStakeSharesAndEveryDrawVerifiesOffline) {
  Start();
  ShaMarket("vrfm");
  auto markets = Json(client_->Get("/v1/markets")).at("markets").as_array();
  ASSERT_EQ(markets.size(), 1u);
  ASSERT_TRUE(markets[0].at("vrf_public_key").is_string()) << markets[0];
  EXPECT_EQ(markets[0].at("vrf_public_key").as_string().size(), 64u);
  EXPECT_EQ(markets[0].at("vrf_keys").as_array().size(), 1u);

  constexpr int kOrders = 2000;
  const std::vector<int64_t> stakes = {1000, 2000, 3000, 4000, 10000};
  std::map<int64_t, int64_t> stake_of;
  for (int64_t s : stakes) stake_of[StakedProver("vrfm", s, kOrders)] = s;
  std::vector<int64_t> orders = VrfOrders("vrfm", kOrders, 4);
  ASSERT_EQ(orders.size(), static_cast<std::size_t>(kOrders));

  // Pearson's chi-square of wins against stake shares, 4 degrees of freedom. 33.4 is its
  // 1 - 1e-6 quantile: a fair draw fails this about once in a million runs; drawing uniformly
  // instead of by stake gives about 1,500.
  std::map<int64_t, int64_t> wins = WinsByProver();
  double chi = 0;
  for (auto [prover, stake] : stake_of) {
    const double expected = kOrders * static_cast<double>(stake) / 20000.0;
    const double observed = static_cast<double>(wins[prover]);
    chi += (observed - expected) * (observed - expected) / expected;
  }
  std::string shares;
  for (auto [prover, stake] : stake_of) {
    shares += " prover " + std::to_string(prover) + " stake " + std::to_string(stake) + " wins " +
              std::to_string(wins[prover]) + ";";
  }
  EXPECT_LT(chi, 33.4) << "wins do not follow stake shares:" << shares;

  CliRun run = Verify(orders);
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), kOrders);
  EXPECT_EQ(run.out.find("INVALID"), std::string::npos);
}

TEST_F(VrfTest, DrawsShowEverythingToRederiveThemAndTamperingIsCaught) {
  Start();
  ShaMarket("vrfm");
  StakedProver("vrfm", 1000, 10);
  StakedProver("vrfm", 3000, 10);
  std::vector<int64_t> orders = VrfOrders("vrfm", 3);
  ASSERT_EQ(orders.size(), 3u);
  json::object d = Draws(orders[0]);
  EXPECT_EQ(d.at("selection").as_string(), "vrf");
  EXPECT_EQ(d.at("suite").as_string(), "ECVRF-EDWARDS25519-SHA512-TAI");
  ASSERT_EQ(d.at("rounds").as_array().size(), 1u);
  const json::object& round = d.at("rounds").as_array()[0].as_object();
  EXPECT_EQ(round.at("candidates").as_array().size(), 2u);
  ASSERT_EQ(round.at("draws").as_array().size(), 1u);
  const json::object& draw = round.at("draws").as_array()[0].as_object();
  EXPECT_EQ(draw.at("attempt").as_int64(), 0);
  EXPECT_EQ(draw.at("pi").as_string().size(), 160u);
  EXPECT_EQ(draw.at("beta").as_string().size(), 128u);
  EXPECT_TRUE(draw.at("beacon").is_null());
  EXPECT_TRUE(draw.contains("assignment"));
  EXPECT_EQ(Verify(orders).exit_code, 0);

  // A beta that is not the proof's output, and a proof that does not verify.
  Sql("UPDATE vrf_draws SET beta = decode(repeat('00', 64), 'hex') WHERE order_id = " +
      std::to_string(orders[1]));
  Sql("UPDATE vrf_draws SET pi = overlay(pi placing '\\x00'::bytea from 40 for 1) "
      "WHERE order_id = " +
      std::to_string(orders[2]));
  CliRun run = Verify(orders);
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_NE(run.out.find("order " + std::to_string(orders[0]) + ": valid"), std::string::npos)
      << run;
  EXPECT_NE(run.out.find("beta is not the proof's output"), std::string::npos) << run;
  EXPECT_NE(run.out.find("does not verify"), std::string::npos) << run;
  EXPECT_NE(run.err.find("2 of 3 orders do not verify"), std::string::npos) << run;
  CliRun as_json = Verify({orders[1]}, true);
  EXPECT_EQ(as_json.exit_code, 1);
  auto parsed = json::parse(as_json.out);
  EXPECT_FALSE(parsed.at("orders").as_array()[0].at("valid").as_bool());

  // An unknown order is a 404; draws are for accounts only.
  EXPECT_EQ(client_->Get("/v1/orders/999999/draws", admin_key_).status, 404);
  EXPECT_EQ(client_->Get("/v1/orders/1/draws").status, 401);
}

TEST_F(VrfTest, KeysAndDrawsSurviveKill9AndRotation) {
  Start();
  ShaMarket("vrfm");
  StakedProver("vrfm", 1000, 100);
  StakedProver("vrfm", 2000, 100);
  std::vector<int64_t> before = VrfOrders("vrfm", 10);
  const std::string key1(Json(client_->Get("/v1/markets"))
                             .at("markets")
                             .as_array()[0]
                             .at("vrf_public_key")
                             .as_string());

  // A beacon fixed before the crash is still fixed after it (the seed of its epoch is kept).
  const std::string beacon =
      R"({"epoch":)" + std::to_string(NowEpoch() + 3) + R"(,"value":"beac0e"})";
  ASSERT_EQ(client_->Request("POST", "/v1/admin/vrf/beacons", beacon, admin_key_).status, 201);

  server_->Kill9();
  Start();
  EXPECT_EQ(client_->Request("POST", "/v1/admin/vrf/beacons", beacon, admin_key_).status, 409);
  std::vector<int64_t> after = VrfOrders("vrfm", 10);
  auto rotated = client_->Request("POST", "/v1/admin/markets/vrfm/vrf-key", "", admin_key_);
  ASSERT_EQ(rotated.status, 201) << rotated.body;
  const std::string key2(Json(rotated).at("vrf_key").at("public_key").as_string());
  EXPECT_NE(key1, key2);
  std::vector<int64_t> rotated_orders = VrfOrders("vrfm", 10);

  auto market = Json(client_->Get("/v1/markets")).at("markets").as_array()[0];
  EXPECT_EQ(market.at("vrf_public_key").as_string(), key2);
  EXPECT_EQ(market.at("vrf_keys").as_array().size(), 2u);  // the old one kept, retired
  auto first_draw = [this](int64_t order) {
    return Draws(order).at("rounds").as_array()[0].at("draws").as_array()[0].as_object();
  };
  EXPECT_EQ(first_draw(before[0]).at("public_key").as_string(), key1);
  EXPECT_EQ(first_draw(after[0]).at("public_key").as_string(), key1);  // same key after kill -9
  EXPECT_EQ(first_draw(rotated_orders[0]).at("public_key").as_string(), key2);

  std::vector<int64_t> all = before;
  all.insert(all.end(), after.begin(), after.end());
  all.insert(all.end(), rotated_orders.begin(), rotated_orders.end());
  CliRun run = Verify(all);
  EXPECT_EQ(run.exit_code, 0) << run;

  // A server given another master key cannot open the market's key: it does not start.
  server_.reset();
  const std::string wrong = dir_ + "/wrong.key";
  WriteKey(wrong);
  CommandResult refused = RunServerCommand({"serve", "--database-url", db_.url(), "--listen",
                                            "127.0.0.1:0", "--vrf-master-key-file", wrong});
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("does not open"), std::string::npos) << refused.output;
}

TEST_F(VrfTest, AMissIsRedrawnAmongTheOthersAndStaysCheckable) {
  Start();
  ShaMarket("vrfm");
  // 100 ms a job, and nobody delivers: each assignment is missed at its due time.
  for (int64_t stake : {1000, 2000, 3000}) StakedProver("vrfm", stake, 1, /*est_ms=*/100);
  std::vector<int64_t> orders = VrfOrders("vrfm", 1);
  ASSERT_EQ(orders.size(), 1u);
  json::object d;
  WaitUntil([&] {
    d = Draws(orders[0]);
    // Every answer is one state of the journal: the count and the draws listed agree even
    // while the server is making the next draw (each read is one snapshot).
    int64_t listed = 0;
    for (const json::value& r : d.at("rounds").as_array()) {
      listed += static_cast<int64_t>(r.at("draws").as_array().size());
    }
    EXPECT_EQ(listed, d.at("draws_made").as_int64()) << d;
    return d.at("draws_made").as_int64() >= 2;
  });
  ASSERT_GE(d.at("draws_made").as_int64(), 2) << d;
  const json::array& rounds = d.at("rounds").as_array();
  ASSERT_GE(rounds.size(), 2u);
  const json::object& second = rounds[1].as_object();
  EXPECT_EQ(second.at("first_attempt").as_int64(), 1);
  EXPECT_EQ(second.at("candidates").as_array().size(), 2u);  // the prover who missed is out
  const int64_t missed = rounds[0].at("draws").as_array()[0].at("prover").as_int64();
  for (const json::value& c : second.at("candidates").as_array()) {
    EXPECT_NE(c.at("prover").as_int64(), missed);
  }
  CliRun run = Verify(orders);
  EXPECT_EQ(run.exit_code, 0) << run;
}

TEST_F(VrfTest, BeaconsAreFixedAheadAndNeverReplaced) {
  Start();
  const int64_t now_epoch = NowEpoch();
  auto set = [this](int64_t epoch, const std::string& value) {
    return client_->Request(
        "POST", "/v1/admin/vrf/beacons",
        R"({"epoch":)" + std::to_string(epoch) + R"(,"value":")" + value + R"("})", admin_key_);
  };
  // The current epoch and the next are too late (an hour may turn during the test: the
  // current one stays too late either way); three ahead is fine whenever the hour turns.
  auto late = set(now_epoch, "ab");
  EXPECT_EQ(late.status, 422) << late.body;
  EXPECT_EQ(Json(late).at("error").at("code").as_string(), "beacon_too_late");
  EXPECT_EQ(set(now_epoch + 1, "ab").status, 422);
  EXPECT_EQ(set(now_epoch + 3, "abcd").status, 201);
  EXPECT_EQ(set(now_epoch + 3, "abcd").status, 409);
  EXPECT_EQ(set(now_epoch + 4, "xyz").status, 400);
  EXPECT_EQ(set(now_epoch + 4, "").status, 400);
  auto [seq, seq_key] = Account("sequencer", "s");
  EXPECT_EQ(
      client_
          ->Request("POST", "/v1/admin/vrf/beacons",
                    R"({"epoch":)" + std::to_string(now_epoch + 5) + R"(,"value":"ab"})", seq_key)
          .status,
      403);
}

}  // namespace
}  // namespace proofbook::testing
