// `proofbook`, the real command-line binary, against a real server process and PostgreSQL:
// each test runs it as a child process (stdout, stderr and exit code captured) with a clean
// environment (its own HOME, so no user config file is read). Proofs come from provers driven
// over the WebSocket by the test itself. After each test the ledger invariant is checked in
// SQL.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "clients/common/process.h"
#include "server/base/crypto.h"
#include "tests/integration/files.h"
#include "tests/integration/server_fixture.h"
#include "tests/integration/ws_client.h"

namespace proofbook::testing {
namespace {

namespace json = boost::json;

void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

struct CliRun {
  int exit_code = -1;  // -1: killed or did not exit
  std::string out, err;
};

// One `proofbook` child: argv after the binary's name, and its whole environment ("K=V").
// stdin is /dev/null; stdout and stderr go to files in `dir`, read back by Wait().
class CliProcess {
 public:
  CliProcess(const std::vector<std::string>& args, const std::vector<std::string>& env,
             const std::string& dir)
      : process_(Options(args, env, dir)) {
    EXPECT_TRUE(process_.started()) << process_.error();
  }
  ~CliProcess() {
    if (process_.pid() > 0) Wait(std::chrono::seconds(1));
  }

  CliRun Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    CliRun run;
    std::optional<int> status = process_.Wait(timeout);
    if (!status) {
      status = process_.Kill();
      ADD_FAILURE() << "proofbook did not exit in time";
    }
    run.exit_code = clients::Process::ExitCode(*status);
    run.out = process_.Stdout();
    run.err = process_.Stderr();
    return run;
  }

 private:
  static clients::ProcessOptions Options(const std::vector<std::string>& args,
                                         const std::vector<std::string>& env,
                                         const std::string& dir) {
    static int serial = 0;
    const std::string base = dir + "/run" + std::to_string(++serial);
    clients::ProcessOptions options;
    options.argv = {PROOFBOOK_CLI_BIN};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = env;
    options.stdin_null = true;
    options.stdout_to = clients::ProcessOutput::File(base + ".out");
    options.stderr_to = clients::ProcessOutput::File(base + ".err");
    return options;
  }

  clients::Process process_;
};

std::ostream& operator<<(std::ostream& os, const CliRun& r) {
  return os << "exit " << r.exit_code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

// A loopback port nothing listens on.
uint16_t ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A loopback listener standing in for a server in trouble: it answers every request with
// `reply` (raw HTTP), or with nothing at all when `reply` is empty, holding the connection.
class FakeServer {
 public:
  explicit FakeServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    for (int c : clients_) ::close(c);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) != 1) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      clients_.push_back(c);
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      if (!reply_.empty()) ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
    }
  }

  std::string reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> clients_;  // owned by the thread until it is joined
  std::thread thread_;
};

std::string HttpReply(int status, const std::string& reason, const std::string& extra_headers,
                      const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// A child's environment: PATH, a HOME of its own (empty: no config file), the sanitizers'
// options of a debug build, then `extra`. Nothing else: no PROOFBOOK_* of ours.
std::vector<std::string> ChildEnv(const std::string& home,
                                  const std::vector<std::string>& extra = {}) {
  std::vector<std::string> env = {"HOME=" + home};
  for (const char* name : {"PATH", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"}) {
    if (const char* value = std::getenv(name)) env.push_back(std::string(name) + "=" + value);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class CliTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    if (HasFatalFailure()) return;
    StartServer();
    char dir[] = "/tmp/proofbook-cli-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    ServerFixture::TearDown();
  }

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<std::string> Env(const std::vector<std::string>& extra = {}) const {
    return ChildEnv(dir_ + "/home", extra);
  }
  // `proofbook args...` exactly as given.
  CliRun Raw(const std::vector<std::string>& args, const std::vector<std::string>& env_extra = {}) {
    return CliProcess(args, Env(env_extra), dir_).Wait();
  }
  // `proofbook --url <server> --api-key <key> args...`.
  std::vector<std::string> With(const std::string& key, std::vector<std::string> args) const {
    args.insert(args.begin(), {"--url", Url(), "--api-key", key});
    return args;
  }
  CliRun Cli(const std::string& key, const std::vector<std::string>& args) {
    return Raw(With(key, args));
  }

  void ShaMarket(const std::string& id = "sha") {
    auto r = client_->Request("POST", "/v1/admin/markets",
                              R"({"id":")" + id +
                                  R"(","proof_system":"sha256","verifier":"sha256-preimage",)"
                                  R"("min_stake":100})",
                              admin_key_);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  std::pair<int64_t, std::string> Sequencer() {
    auto s = Account("sequencer", "rollup");
    Deposit(s.first, 10'000);
    return s;
  }
  // A prover with 5,000 deposited and 1,000 staked, connected, with an offer on "sha".
  std::unique_ptr<WsClient> Prover(const std::string& name, int64_t price, int64_t* id = nullptr) {
    auto [account, key] = Account("prover", name);
    if (id != nullptr) *id = account;
    Deposit(account, 5'000);
    EXPECT_EQ(client_->Request("POST", "/v1/stake", R"({"amount":1000})", key).status, 200);
    auto ws = std::make_unique<WsClient>(server_->port(), key);
    EXPECT_TRUE(ws->ok()) << ws->error();
    ws->SendJson({{"type", "offer"},
                  {"market", "sha"},
                  {"price", price},
                  {"est_ms", 60000},
                  {"capacity", 4}});
    EXPECT_TRUE(ws->ReadType("offer_placed").has_value()) << ws->error();
    return ws;
  }
  // Takes the next assignment on `ws`, sends `proof` and checks the verdict.
  void Prove(WsClient& ws, const std::string& proof, const std::string& result) {
    auto a = ws.ReadType("assignment", 10000);
    ASSERT_TRUE(a.has_value()) << ws.error();
    ASSERT_TRUE(ws.SendProof(a->at("assignment").as_int64(), proof));
    auto verdict = ws.ReadType("proof_result", 15000);
    ASSERT_TRUE(verdict.has_value()) << ws.error();
    EXPECT_EQ(verdict->at("result").as_string(), result);
  }
  static std::string ShaInputs(const std::string& preimage) {
    return R"({"sha256":")" + server::Sha256Hex(preimage) + R"("})";
  }
  static json::value Parse(const CliRun& r) {
    json::error_code ec;
    json::value v = json::parse(r.out, ec);
    EXPECT_FALSE(ec) << "stdout is not one JSON document:\n" << r;
    return v;
  }

  std::string dir_;
};

// ---- Admin --------------------------------------------------------------------------------------

TEST_F(CliTest, AdminCreatesAccountsDepositsAndMarkets) {
  // An account in a table, with its key and the warning that it is shown once.
  auto made =
      Cli(admin_key_, {"admin", "account", "create", "--role", "sequencer", "--name", "rollup-a"});
  ASSERT_EQ(made.exit_code, 0) << made;
  std::smatch key;
  ASSERT_TRUE(std::regex_search(made.out, key, std::regex("pbk_[0-9a-f]{64}"))) << made;
  EXPECT_TRUE(Contains(made.out, "shown this once")) << made;
  EXPECT_TRUE(std::regex_search(made.out, std::regex("role +sequencer"))) << made;
  EXPECT_TRUE(std::regex_search(made.out, std::regex("name +rollup-a"))) << made;
  EXPECT_EQ(made.err, "");
  // The key works.
  EXPECT_EQ(client_->Get("/v1/accounts/me", key.str()).status, 200);

  // --json: the server's answer as it is.
  auto prover =
      Cli(admin_key_, {"--json", "admin", "account", "create", "--role", "prover", "--name", "p1"});
  ASSERT_EQ(prover.exit_code, 0) << prover;
  auto body = Parse(prover);
  const int64_t prover_id = body.at("account").at("id").as_int64();
  EXPECT_EQ(body.at("account").at("role").as_string(), "prover");
  EXPECT_EQ(body.at("api_key").as_string().size(), 68u);

  // Deposits, and the replay of a reference credits nothing.
  const std::string id = std::to_string(prover_id);
  auto dep = Cli(admin_key_, {"admin", "deposit", "--account", id, "--amount", "7000",
                              "--reference", "wire-1"});
  ASSERT_EQ(dep.exit_code, 0) << dep;
  EXPECT_TRUE(std::regex_search(dep.out, std::regex("available +7000"))) << dep;
  auto replay = Cli(admin_key_, {"--json", "admin", "deposit", "--account", id, "--amount", "7000",
                                 "--reference", "wire-1"});
  ASSERT_EQ(replay.exit_code, 0) << replay;
  EXPECT_TRUE(Parse(replay).at("replayed").as_bool());
  EXPECT_EQ(Parse(replay).at("account").at("available").as_int64(), 7000);
  auto clash = Cli(admin_key_,
                   {"admin", "deposit", "--account", id, "--amount", "1", "--reference", "wire-1"});
  EXPECT_EQ(clash.exit_code, 3) << clash;
  EXPECT_TRUE(Contains(clash.err, "conflict")) << clash;

  // Markets with every parameter given on the command line.
  auto market = Cli(admin_key_, {"admin",
                                 "market",
                                 "create",
                                 "--id",
                                 "sha",
                                 "--proof-system",
                                 "sha256",
                                 "--verifier",
                                 "sha256-preimage",
                                 "--min-stake",
                                 "250",
                                 "--min-slash",
                                 "120",
                                 "--slash-multiplier-bps",
                                 "15000",
                                 "--repeat-window-ms",
                                 "60000",
                                 "--compensation-bps",
                                 "4000",
                                 "--fee-bps",
                                 "100",
                                 "--min-prover-time-ms",
                                 "50",
                                 "--grace-bps",
                                 "3000",
                                 "--uncle-reward-bps",
                                 "200",
                                 "--max-proof-bytes",
                                 "4096",
                                 "--decline-window-ms",
                                 "5000",
                                 "--unprovable-quorum",
                                 "3",
                                 "--unprovable-fee-bps",
                                 "1000",
                                 "--griefing-bps",
                                 "5000",
                                 "--reputation-weight-bps",
                                 "2000"});
  ASSERT_EQ(market.exit_code, 0) << market;
  EXPECT_TRUE(std::regex_search(market.out, std::regex("min_stake +250"))) << market;
  auto listed = Json(client_->Get("/v1/markets")).at("markets").at(0);
  EXPECT_EQ(listed.at("id").as_string(), "sha");
  EXPECT_EQ(listed.at("min_stake").as_int64(), 250);
  EXPECT_EQ(listed.at("min_slash").as_int64(), 120);
  EXPECT_EQ(listed.at("slash_multiplier_bps").as_int64(), 15000);
  EXPECT_EQ(listed.at("repeat_window_ms").as_int64(), 60000);
  EXPECT_EQ(listed.at("compensation_bps").as_int64(), 4000);
  EXPECT_EQ(listed.at("fee_bps").as_int64(), 100);
  EXPECT_EQ(listed.at("min_prover_time_ms").as_int64(), 50);
  EXPECT_EQ(listed.at("grace_bps").as_int64(), 3000);
  EXPECT_EQ(listed.at("uncle_reward_bps").as_int64(), 200);
  EXPECT_EQ(listed.at("max_proof_bytes").as_int64(), 4096);
  EXPECT_EQ(listed.at("decline_window_ms").as_int64(), 5000);
  EXPECT_EQ(listed.at("unprovable_quorum").as_int64(), 3);
  EXPECT_EQ(listed.at("unprovable_fee_bps").as_int64(), 1000);
  EXPECT_EQ(listed.at("griefing_bps").as_int64(), 5000);
  EXPECT_EQ(listed.at("reputation_weight_bps").as_int64(), 2000);

  // A Groth16 market takes its verification key from a file.
  WriteFile(dir_ + "/vk.json", R"({"protocol":"groth16","curve":"bn128","nPublic":1})");
  auto groth = Cli(admin_key_, {"--json", "admin", "market", "create", "--id", "g16",
                                "--proof-system", "groth16", "--verifier", "snarkjs-groth16",
                                "--verification-key", dir_ + "/vk.json"});
  ASSERT_EQ(groth.exit_code, 0) << groth;
  EXPECT_EQ(Parse(groth).at("market").at("verifier").as_string(), "snarkjs-groth16");

  auto markets = Cli(admin_key_, {"markets"});
  ASSERT_EQ(markets.exit_code, 0) << markets;
  EXPECT_TRUE(Contains(markets.out, "MARKET")) << markets;
  EXPECT_TRUE(std::regex_search(markets.out, std::regex("\ng16 +groth16 +snarkjs-groth16")))
      << markets;
  EXPECT_TRUE(std::regex_search(markets.out, std::regex("\nsha +sha256 +sha256-preimage +250")))
      << markets;
}

// ---- Orders -------------------------------------------------------------------------------------

TEST_F(CliTest, SequencerPlacesGetsListsAndCancelsOrders) {
  ShaMarket();
  auto [seq, key] = Sequencer();

  // --json place: the server's 201 answer.
  auto first = Cli(key, {"--json", "order", "place", "--market", "sha", "--max-price", "500",
                         "--deadline-ms", "600000", "--inputs", ShaInputs("one")});
  ASSERT_EQ(first.exit_code, 0) << first;
  const int64_t one = Parse(first).at("order").at("id").as_int64();
  EXPECT_EQ(Parse(first).at("order").at("status").as_string(), "open");

  // Every option of the order reaches the server; inputs from a file.
  WriteFile(dir_ + "/inputs.json", ShaInputs("two"));
  auto second =
      Cli(key, {"order", "place", "--market", "sha", "--max-price", "300", "--deadline-ms",
                "600000", "--inputs", "@" + dir_ + "/inputs.json", "--priority", "time",
                "--redundancy", "2", "--min-reputation", "100", "--client-order-id", "batch-7"});
  ASSERT_EQ(second.exit_code, 0) << second;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(second.out, m, std::regex("order +([0-9]+)"))) << second;
  const int64_t two = std::stoll(m[1].str());
  EXPECT_TRUE(std::regex_search(second.out, std::regex("status +open"))) << second;
  auto got = Json(client_->Get("/v1/orders/" + std::to_string(two), key)).at("order");
  EXPECT_EQ(got.at("priority").as_string(), "time");
  EXPECT_EQ(got.at("redundancy").as_int64(), 2);
  EXPECT_EQ(got.at("min_reputation").as_int64(), 100);
  EXPECT_EQ(got.at("client_order_id").as_string(), "batch-7");
  EXPECT_EQ(got.at("inputs").at("sha256").as_string(), server::Sha256Hex("two"));

  // get: a table for people; --json is the server's body byte for byte.
  auto table = Cli(key, {"order", "get", std::to_string(one)});
  ASSERT_EQ(table.exit_code, 0) << table;
  EXPECT_TRUE(std::regex_search(table.out, std::regex("market +sha"))) << table;
  EXPECT_TRUE(std::regex_search(table.out, std::regex("max_price +500"))) << table;
  EXPECT_TRUE(Contains(table.out, server::Sha256Hex("one").substr(0, 16))) << table;
  auto raw = Cli(key, {"order", "get", std::to_string(one), "--json"});
  ASSERT_EQ(raw.exit_code, 0) << raw;
  EXPECT_EQ(raw.out, client_->Get("/v1/orders/" + std::to_string(one), key).body + "\n");

  // list: newest first, pages with a cursor, filters.
  auto list = Cli(key, {"order", "list"});
  ASSERT_EQ(list.exit_code, 0) << list;
  EXPECT_TRUE(std::regex_search(
      list.out, std::regex("ORDER +MARKET +STATUS[^\n]*\n +" + std::to_string(two) +
                           " +sha +open +300 +2[^\n]*\n +" + std::to_string(one) + " +sha +open")))
      << list;
  auto page = Cli(key, {"--json", "order", "list", "--limit", "1"});
  ASSERT_EQ(page.exit_code, 0) << page;
  ASSERT_EQ(Parse(page).at("orders").as_array().size(), 1u);
  EXPECT_EQ(Parse(page).at("orders").at(0).at("id").as_int64(), two);
  const int64_t cursor = Parse(page).at("next_cursor").as_int64();
  auto paged_table = Cli(key, {"order", "list", "--limit", "1"});
  EXPECT_TRUE(Contains(paged_table.out, "--cursor " + std::to_string(cursor))) << paged_table;
  auto next =
      Cli(key, {"--json", "order", "list", "--limit", "1", "--cursor", std::to_string(cursor)});
  ASSERT_EQ(next.exit_code, 0) << next;
  EXPECT_EQ(Parse(next).at("orders").at(0).at("id").as_int64(), one);
  EXPECT_TRUE(Parse(next).at("next_cursor").is_null());

  // book: public (no key); the open orders bid at their max price, nobody offers yet.
  auto book = Raw({"--url", Url(), "book", "sha"});
  ASSERT_EQ(book.exit_code, 0) << book;
  EXPECT_TRUE(Contains(book.out, "no offers\n")) << book;
  EXPECT_TRUE(std::regex_search(
      book.out, std::regex("BID_MAX_PRICE +ORDERS +PROOFS_WANTED\n +500 +1 +1\n +300 +1 +2\n")))
      << book;
  auto book_json = Raw({"--url", Url(), "--json", "book", "sha"});
  EXPECT_EQ(book_json.out, client_->Get("/v1/markets/sha/book").body + "\n");
  auto no_market = Raw({"--url", Url(), "book", "nope"});
  EXPECT_EQ(no_market.exit_code, 3) << no_market;
  EXPECT_TRUE(Contains(no_market.err, "not_found")) << no_market;
  auto bad_slug = Raw({"--url", Url(), "book", "../admin"});
  EXPECT_EQ(bad_slug.exit_code, 2) << bad_slug;

  // cancel, then the order shows it; a second cancel is refused by the server.
  auto cancel = Cli(key, {"order", "cancel", std::to_string(one)});
  ASSERT_EQ(cancel.exit_code, 0) << cancel;
  EXPECT_TRUE(Contains(cancel.out, "cancelled")) << cancel;
  auto after = Cli(key, {"--json", "order", "get", std::to_string(one)});
  EXPECT_EQ(Parse(after).at("order").at("status").as_string(), "cancelled");
  auto again = Cli(key, {"order", "cancel", std::to_string(one)});
  EXPECT_EQ(again.exit_code, 3) << again;
  EXPECT_TRUE(Contains(again.err, "not_found")) << again;
  auto cancelled = Cli(key, {"--json", "order", "list", "--status", "cancelled"});
  ASSERT_EQ(Parse(cancelled).at("orders").as_array().size(), 1u);
  EXPECT_EQ(Parse(cancelled).at("orders").at(0).at("id").as_int64(), one);
  auto none = Cli(key, {"order", "list", "--market", "other"});
  EXPECT_EQ(none.exit_code, 0) << none;
  EXPECT_EQ(none.out, "no orders\n");

  // account show: 10,000 less the escrow of the open order (300 x 2).
  auto me = Cli(key, {"account", "show"});
  ASSERT_EQ(me.exit_code, 0) << me;
  EXPECT_TRUE(std::regex_search(me.out, std::regex("available +9400"))) << me;
  EXPECT_TRUE(std::regex_search(me.out, std::regex("escrowed +600"))) << me;
  EXPECT_FALSE(Contains(me.out + me.err, key)) << "the API key is never printed";
  auto me_json = Cli(key, {"--json", "account", "show"});
  EXPECT_EQ(Parse(me_json).at("account").at("id").as_int64(), seq);
}

// ---- Provers ------------------------------------------------------------------------------------

TEST_F(CliTest, ProverSeesItsOfferInTheBookDeclinesAnAssignmentAndShowsItsStanding) {
  auto market = client_->Request("POST", "/v1/admin/markets",
                                 R"({"id":"sha","proof_system":"sha256",)"
                                 R"("verifier":"sha256-preimage","min_stake":100,)"
                                 R"("decline_window_ms":600000})",
                                 admin_key_);
  ASSERT_EQ(market.status, 201) << market.body;
  auto [seq, seq_key] = Sequencer();
  auto [prover, prover_key] = Account("prover", "decliner");
  Deposit(prover, 5'000);
  ASSERT_EQ(client_->Request("POST", "/v1/stake", R"({"amount":1000})", prover_key).status, 200);
  WsClient ws(server_->port(), prover_key);
  ASSERT_TRUE(ws.ok()) << ws.error();
  ws.SendJson(
      {{"type", "offer"}, {"market", "sha"}, {"price", 200}, {"est_ms", 60000}, {"capacity", 1}});
  auto placed = ws.ReadType("offer_placed");
  ASSERT_TRUE(placed.has_value()) << ws.error();
  const int64_t offer = placed->at("offer").at("id").as_int64();

  // book: the offer itself, with its prover and reputation, best first.
  auto book = Raw({"--url", Url(), "book", "sha", "--offers", "5"});
  ASSERT_EQ(book.exit_code, 0) << book;
  EXPECT_TRUE(std::regex_search(
      book.out, std::regex("OFFER +PROVER +PRICE +EST_MS +CAPACITY_LEFT +REPUTATION_BPS\n +" +
                           std::to_string(offer) + " +" + std::to_string(prover) +
                           " +200 +60000 +1 +[0-9]+\n")))
      << book;

  auto order = Cli(seq_key, {"order", "place", "--market", "sha", "--max-price", "500",
                             "--deadline-ms", "600000", "--inputs", ShaInputs("x")});
  ASSERT_EQ(order.exit_code, 0) << order;
  auto assigned = ws.ReadType("assignment", 10000);
  ASSERT_TRUE(assigned.has_value()) << ws.error();
  const std::string assignment = std::to_string(assigned->at("assignment").as_int64());

  // decline: only the prover that holds the assignment, once, and only as busy or unprovable.
  auto not_mine = Cli(seq_key, {"decline", assignment, "--reason", "busy"});
  EXPECT_EQ(not_mine.exit_code, 3) << not_mine;
  auto bad_reason = Cli(prover_key, {"decline", assignment, "--reason", "bored"});
  EXPECT_EQ(bad_reason.exit_code, 2) << bad_reason;
  auto declined = Cli(prover_key, {"decline", assignment, "--reason", "busy"});
  ASSERT_EQ(declined.exit_code, 0) << declined;
  EXPECT_TRUE(std::regex_search(declined.out, std::regex("assignment +" + assignment + "\n")))
      << declined;
  EXPECT_TRUE(std::regex_search(declined.out, std::regex("status +declined_busy\n"))) << declined;
  auto again = Cli(prover_key, {"decline", assignment, "--reason", "busy"});
  EXPECT_EQ(again.exit_code, 3) << again;
  EXPECT_TRUE(Contains(again.err, "conflict")) << again;
  auto missing = Cli(prover_key, {"decline", "999999", "--reason", "unprovable"});
  EXPECT_EQ(missing.exit_code, 3) << missing;
  EXPECT_TRUE(Contains(missing.err, "not_found")) << missing;

  // prover show: the caller's own standing by default; anyone's by id; --json is the body.
  auto mine = Cli(prover_key, {"prover", "show"});
  ASSERT_EQ(mine.exit_code, 0) << mine;
  EXPECT_TRUE(std::regex_search(mine.out, std::regex("prover +" + std::to_string(prover) + "\n")))
      << mine;
  EXPECT_TRUE(std::regex_search(mine.out, std::regex("staked +1000\n"))) << mine;
  EXPECT_TRUE(std::regex_search(mine.out, std::regex("jailed_in +-\n"))) << mine;
  EXPECT_TRUE(Contains(mine.out, "WON  DELIVERED  SETTLED  MISSED  INVALID  DECLINED  RELEASED\n"))
      << mine;
  auto theirs = Cli(seq_key, {"--json", "prover", "show", std::to_string(prover)});
  ASSERT_EQ(theirs.exit_code, 0) << theirs;
  EXPECT_EQ(theirs.out, client_->Get("/v1/provers/" + std::to_string(prover), seq_key).body + "\n");
  EXPECT_EQ(Parse(theirs).at("jobs").at("declined").as_int64(), 1);
  EXPECT_EQ(Parse(theirs).at("staked").as_int64(), 1000);
  auto nobody = Cli(seq_key, {"prover", "show", "999999"});
  EXPECT_EQ(nobody.exit_code, 3) << nobody;
}

// ---- --wait -------------------------------------------------------------------------------------

TEST_F(CliTest, PlaceWaitWritesTheVerifiedProofAfterACheatIsSlashed) {
  ShaMarket();
  auto [seq, key] = Sequencer();
  int64_t cheat_id = 0, honest_id = 0;
  auto cheat = Prover("cheat", 200, &cheat_id);  // cheaper: assigned first
  auto honest = Prover("honest", 300, &honest_id);
  const std::string proof("binary\0proof\xff\x01 bytes", 20);
  const std::string out = dir_ + "/order.proof";

  CliProcess cli(
      With(key, {"order", "place", "--market", "sha", "--max-price", "500", "--deadline-ms",
                 "600000", "--inputs", ShaInputs(proof), "--wait", "--out", out}),
      Env(), dir_);
  Prove(*cheat, "not the preimage", "rejected");
  Prove(*honest, proof, "accepted");
  auto run = cli.Wait();
  ASSERT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(ReadFile(out), proof);
  EXPECT_TRUE(std::regex_search(run.out, std::regex("status +completed"))) << run;
  EXPECT_TRUE(Contains(run.out, "written to " + out)) << run;
  EXPECT_TRUE(Contains(run.out, server::Sha256Hex(proof))) << run;
  EXPECT_TRUE(Contains(run.err, "waiting until it is final")) << run;
  EXPECT_FALSE(Contains(run.err, "\r")) << "no spinner when stderr is not a terminal";

  // The history of it: one payment to the honest prover, one slash of the cheat.
  auto settlements = Cli(key, {"settlements"});
  ASSERT_EQ(settlements.exit_code, 0) << settlements;
  EXPECT_TRUE(std::regex_search(settlements.out,
                                std::regex("SEQ +ORDER +ASSIGNMENT +PROVER +MARKET +AMOUNT +KIND")))
      << settlements;
  EXPECT_TRUE(std::regex_search(
      settlements.out, std::regex(" " + std::to_string(honest_id) + " +sha +300 +settled")))
      << settlements;
  auto slashings = Cli(key, {"--json", "slashings"});
  ASSERT_EQ(slashings.exit_code, 0) << slashings;
  auto rows = Parse(slashings).at("slashings").as_array();
  ASSERT_EQ(rows.size(), 1u) << slashings;
  EXPECT_EQ(rows[0].at("prover").as_int64(), cheat_id);
  EXPECT_EQ(rows[0].at("reason").as_string(), "invalid_proof");
  auto slash_table = Cli(admin_key_, {"slashings"});
  EXPECT_TRUE(std::regex_search(slash_table.out, std::regex(" sha +[1-9][0-9]* +invalid_proof")))
      << slash_table;
  auto none = Cli(key, {"settlements", "--order", "999"});
  EXPECT_EQ(none.out, "no settlements\n") << none;
}

TEST_F(CliTest, PlaceWaitWithSeveralProofsWritesOneFileEachAndJsonIsTheFinalOrder) {
  ShaMarket();
  auto [seq, key] = Sequencer();
  auto p1 = Prover("p1", 300);
  auto p2 = Prover("p2", 300);
  const std::string proof = "same statement, two provers";
  const std::string out = dir_ + "/k2.proof";
  CliProcess cli(With(key, {"--json", "order", "place", "--market", "sha", "--max-price", "500",
                            "--deadline-ms", "600000", "--redundancy", "2", "--inputs",
                            ShaInputs(proof), "--wait", "--out", out}),
                 Env(), dir_);
  Prove(*p1, proof, "accepted");
  Prove(*p2, proof, "accepted");
  auto run = cli.Wait();
  ASSERT_EQ(run.exit_code, 0) << run;
  auto order = Parse(run).at("order");
  EXPECT_EQ(order.at("status").as_string(), "completed");
  EXPECT_EQ(order.at("verified").as_int64(), 2);
  EXPECT_EQ(
      run.out,
      client_->Get("/v1/orders/" + std::to_string(order.at("id").as_int64()), key).body + "\n");
  EXPECT_EQ(ReadFile(out + ".1"), proof);
  EXPECT_EQ(ReadFile(out + ".2"), proof);
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_TRUE(Contains(run.err, "written to " + out + ".2")) << "notes go to stderr with --json";
}

TEST_F(CliTest, PlaceWaitExitsFiveWhenTheOrderEndsWithoutAProof) {
  ShaMarket();
  auto [seq, key] = Sequencer();
  // Nobody offers: the order expires at its deadline.
  auto expired =
      Cli(key, {"order", "place", "--market", "sha", "--max-price", "500", "--deadline-ms", "800",
                "--inputs", ShaInputs("none"), "--wait", "--out", dir_ + "/none.proof"});
  EXPECT_EQ(expired.exit_code, 5) << expired;
  EXPECT_TRUE(std::regex_search(expired.out, std::regex("status +expired"))) << expired;
  EXPECT_TRUE(Contains(expired.err, "ended expired without a proof")) << expired;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/none.proof"));

  // --wait-timeout passes first: exit 5, and the order is still there.
  auto timed_out =
      Cli(key, {"order", "place", "--market", "sha", "--max-price", "500", "--deadline-ms",
                "600000", "--inputs", ShaInputs("later"), "--wait", "--wait-timeout", "0.5"});
  EXPECT_EQ(timed_out.exit_code, 5) << timed_out;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(timed_out.err, m, std::regex("order ([0-9]+) is still open after 0.5 s")))
      << timed_out;
  auto still = Json(client_->Get("/v1/orders/" + m[1].str(), key)).at("order");
  EXPECT_EQ(still.at("status").as_string(), "open");

  // Cancelled while it waits: exit 5.
  CliProcess waiting(With(key, {"order", "place", "--market", "sha", "--max-price", "500",
                                "--deadline-ms", "600000", "--inputs", ShaInputs("cancel"),
                                "--client-order-id", "to-cancel", "--wait"}),
                     Env(), dir_);
  int64_t id = 0;
  for (int i = 0; i < 500 && id == 0; ++i) {
    auto page = Json(client_->Get("/v1/orders?status=open", key)).at("orders").as_array();
    for (const auto& o : page) {
      if (o.as_object().contains("client_order_id")) id = o.at("id").as_int64();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(id, 0);
  ASSERT_EQ(client_->Request("DELETE", "/v1/orders/" + std::to_string(id), "", key).status, 200);
  auto cancelled = waiting.Wait();
  EXPECT_EQ(cancelled.exit_code, 5) << cancelled;
  EXPECT_TRUE(Contains(cancelled.err, "ended cancelled without a proof")) << cancelled;
}

// ---- Errors -------------------------------------------------------------------------------------

TEST_F(CliTest, ErrorsAreOneClearLineWithAnExitCodeScriptsCanTrust) {
  ShaMarket();
  auto [seq, key] = Sequencer();

  // A bad key: the server's 401, exit 3.
  const std::string bad_key = "pbk_" + std::string(64, '0');
  auto unauth = Cli(bad_key, {"account", "show"});
  EXPECT_EQ(unauth.exit_code, 3) << unauth;
  EXPECT_TRUE(std::regex_match(unauth.err,
                               std::regex("proofbook: unauthenticated: [^\n]+ \\(HTTP 401\\)\n")))
      << unauth;
  EXPECT_EQ(unauth.out, "");
  EXPECT_FALSE(Contains(unauth.err, bad_key));

  // A business rule: code, message and field.
  auto unknown =
      Cli(key, {"order", "place", "--market", "nope", "--max-price", "1", "--deadline-ms", "1000"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown;
  EXPECT_TRUE(std::regex_match(
      unknown.err,
      std::regex("proofbook: unknown_market: [^\n]*nope[^\n]* \\(field market, HTTP 422\\)\n")))
      << unknown;
  auto forbidden = Cli(key, {"admin", "deposit", "--account", "1", "--amount", "5"});
  EXPECT_EQ(forbidden.exit_code, 3) << forbidden;
  EXPECT_TRUE(Contains(forbidden.err, "proofbook: forbidden: ")) << forbidden;
  auto poor = Cli(key, {"order", "place", "--market", "sha", "--max-price", "999999",
                        "--deadline-ms", "60000", "--inputs", ShaInputs("poor")});
  EXPECT_EQ(poor.exit_code, 3) << poor;
  EXPECT_TRUE(Contains(poor.err, "insufficient_balance")) << poor;

  // No server: exit 4.
  const std::string down = "http://127.0.0.1:" + std::to_string(ClosedPort());
  auto unreachable = Raw({"--url", down, "--api-key", key, "account", "show"});
  EXPECT_EQ(unreachable.exit_code, 4) << unreachable;
  EXPECT_EQ(unreachable.err,
            "proofbook: cannot reach the server at " + down + ": Connection refused\n");

  // Usage errors: exit 2, before anything is sent.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"order"},
           {"order", "frobnicate"},
           {"order", "place", "--market", "sha"},
           {"order", "place", "--market", "sha", "--max-price", "five", "--deadline-ms", "1"},
           {"order", "place", "--market", "sha", "--max-price", "5", "--deadline-ms", "1",
            "--priority", "soon"},
           {"order", "place", "--market", "sha", "--max-price", "5", "--deadline-ms", "1", "--out",
            "x"},
           {"order", "get", "abc"},
           {"admin", "account", "create", "--role", "king", "--name", "x"},
           {"admin", "market", "create", "--id", "x", "--proof-system", "y", "--verifier", "z"}}) {
    auto r = Cli(key, args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_TRUE(Contains(r.err, "proofbook: ")) << r;
    EXPECT_EQ(r.out, "") << r;
  }
  auto bad_json = Cli(key, {"order", "place", "--market", "sha", "--max-price", "5",
                            "--deadline-ms", "1000", "--inputs", "{not json"});
  EXPECT_EQ(bad_json.exit_code, 2) << bad_json;
  EXPECT_TRUE(Contains(bad_json.err, "proofbook: --inputs is not valid JSON")) << bad_json;
  auto no_file = Cli(key, {"order", "place", "--market", "sha", "--max-price", "5", "--deadline-ms",
                           "1000", "--inputs", "@" + dir_ + "/missing.json"});
  EXPECT_EQ(no_file.exit_code, 2) << no_file;
  auto ftp = Raw({"--url", "ftp://example.com", "--api-key", key, "account", "show"});
  EXPECT_EQ(ftp.exit_code, 2) << ftp;
  EXPECT_TRUE(Contains(ftp.err, "http:// or https://")) << ftp;

  // --help documents the exit codes.
  auto help = Raw({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help;
  for (const char* line : {"Exit codes:", "0  success", "2  usage error", "3  the server refused",
                           "4  the server is unavailable", "5  order place --wait"}) {
    EXPECT_TRUE(Contains(help.out, line)) << line;
  }
  EXPECT_EQ(Raw({"order", "place", "--help"}).exit_code, 0);
}

// A server that is there but in trouble: 503 and silence are "unavailable" (exit 4), a 500 is
// "anything else" (exit 1). Stand-ins, since the real server cannot be made to do this on cue.
TEST(CliServerTrouble, UnavailableOrSilentIsFourAndInternalErrorIsOne) {
  char dir[] = "/tmp/proofbook-cli-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::vector<std::string> env = ChildEnv(dir);
  const std::string key = "pbk_" + std::string(64, 'a');
  auto run = [&](const FakeServer& server, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--url", "http://127.0.0.1:" + std::to_string(server.port()),
                                     "--api-key", key};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"account", "show"});
    return CliProcess(args, env, dir).Wait();
  };

  FakeServer unavailable(
      HttpReply(503, "Service Unavailable", "Retry-After: 1\r\n",
                R"({"error":{"code":"unavailable","message":"database unreachable"}})"));
  auto r503 = run(unavailable);
  EXPECT_EQ(r503.exit_code, 4) << r503;
  EXPECT_EQ(r503.err, "proofbook: unavailable: database unreachable (HTTP 503; retry after 1 s)\n");

  FakeServer silent("");
  auto quiet = run(silent, {"--timeout", "0.5"});
  EXPECT_EQ(quiet.exit_code, 4) << quiet;
  EXPECT_EQ(quiet.err, "proofbook: the server at http://127.0.0.1:" +
                           std::to_string(silent.port()) + " did not answer within 0.5 s\n");

  FakeServer broken(HttpReply(500, "Internal Server Error", "",
                              R"({"error":{"code":"internal","message":"database error"}})"));
  auto r500 = run(broken);
  EXPECT_EQ(r500.exit_code, 1) << r500;
  EXPECT_EQ(r500.err, "proofbook: internal: database error (HTTP 500)\n");

  FakeServer proxy(HttpReply(502, "Bad Gateway", "", "<html>bad gateway</html>"));
  auto r502 = run(proxy);
  EXPECT_EQ(r502.exit_code, 4) << r502;
  EXPECT_TRUE(Contains(r502.err, "the server answered HTTP 502: <html>bad gateway</html>")) << r502;
  std::filesystem::remove_all(dir);
}

// ---- Configuration ------------------------------------------------------------------------------

TEST_F(CliTest, ServerAndKeyComeFromTheFlagThenTheEnvironmentThenTheConfigFile) {
  auto [seq, key] = Sequencer();
  const std::string bad_key = "pbk_" + std::string(64, '1');
  auto account_id = [&](const CliRun& r) -> int64_t {
    if (r.exit_code != 0) {
      ADD_FAILURE() << r;
      return 0;
    }
    return Parse(r).at("account").at("id").as_int64();
  };

  // The environment.
  EXPECT_EQ(account_id(Raw({"--json", "account", "show"},
                           {"PROOFBOOK_URL=" + Url(), "PROOFBOOK_API_KEY=" + key})),
            seq);
  // A flag beats the environment.
  EXPECT_EQ(account_id(Raw({"--json", "--api-key", key, "account", "show"},
                           {"PROOFBOOK_URL=" + Url(), "PROOFBOOK_API_KEY=" + bad_key})),
            seq);

  // --config FILE, with comments and quotes.
  const std::string file = dir_ + "/proofbook.conf";
  WriteFile(file, "# proofbook\nurl = " + Url() + "\n\napi_key = \"" + key + "\"\n");
  EXPECT_EQ(account_id(Raw({"--json", "--config", file, "account", "show"})), seq);
  // The environment beats the file.
  auto env_first = Raw({"--config", file, "account", "show"}, {"PROOFBOOK_API_KEY=" + bad_key});
  EXPECT_EQ(env_first.exit_code, 3) << env_first;

  // The default files: $XDG_CONFIG_HOME/proofbook/config, else ~/.config/proofbook/config.
  WriteFile(dir_ + "/xdg/proofbook/config", "url=" + Url() + "\napi_key=" + key + "\n");
  EXPECT_EQ(account_id(Raw({"--json", "account", "show"}, {"XDG_CONFIG_HOME=" + dir_ + "/xdg"})),
            seq);
  WriteFile(dir_ + "/home/.config/proofbook/config", "url = " + Url() + "\napi_key = " + key);
  EXPECT_EQ(account_id(Raw({"--json", "account", "show"})), seq);
  std::filesystem::remove(dir_ + "/home/.config/proofbook/config");

  // No key anywhere, a config file that is missing or malformed: usage errors.
  auto no_key = Raw({"--url", Url(), "account", "show"});
  EXPECT_EQ(no_key.exit_code, 2) << no_key;
  EXPECT_TRUE(Contains(no_key.err, "no API key")) << no_key;
  auto missing = Raw({"--config", dir_ + "/nope.conf", "account", "show"});
  EXPECT_EQ(missing.exit_code, 2) << missing;
  EXPECT_TRUE(Contains(missing.err, dir_ + "/nope.conf")) << missing;
  WriteFile(file, "url = " + Url() + "\napikey = " + key + "\n");
  auto malformed = Raw({"--config", file, "account", "show"});
  EXPECT_EQ(malformed.exit_code, 2) << malformed;
  EXPECT_TRUE(Contains(malformed.err, file + ":2: unknown setting 'apikey'")) << malformed;
  EXPECT_FALSE(Contains(malformed.err, key)) << "the key is never printed";

  // Without any URL the default is 127.0.0.1:8080: not this test's server, whatever listens
  // there (usually nothing).
  auto fallback = Raw({"--api-key", key, "account", "show"});
  EXPECT_NE(fallback.exit_code, 0) << fallback;
  if (fallback.exit_code == 4) {
    EXPECT_TRUE(Contains(fallback.err, "http://127.0.0.1:8080")) << fallback;
  }
}

}  // namespace
}  // namespace proofbook::testing
