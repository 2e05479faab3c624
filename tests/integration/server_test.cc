// proofbook-server as a real process, over real sockets, against a real PostgreSQL.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "server/core/api_keys.h"
#include "server/db/migrations.h"
#include "tests/integration/http_client.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_database.h"
#include "tests/integration/wait.h"

namespace proofbook::testing {
namespace {

namespace json = boost::json;

std::string ErrorCode(const HttpResult& r) {
  auto body = json::parse(r.body).as_object();
  return std::string(body.at("error").at("code").as_string());
}

// The readiness probe runs every 500 ms; give it a few rounds.
HttpResult WaitForReadyz(HttpClient& client, int want_status) {
  HttpResult r;
  for (int i = 0; i < 100; ++i) {
    r = client.Get("/readyz");
    if (r.status == want_status) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return r;
}

// A TCP connection to the server that sends nothing and stays open (from `source`, a loopback
// address, so tests can speak for several clients).
class HeldConnection {
 public:
  HeldConnection(uint16_t port, const char* source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  }
  ~HeldConnection() { Close(); }
  HeldConnection(const HeldConnection&) = delete;
  HeldConnection& operator=(const HeldConnection&) = delete;
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Sends `bytes`; false once the server has closed the connection.
  bool Send(const std::string& bytes) {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) {
      char c;
      if (::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) return false;  // closed by the server
    }
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size());
  }
  // Sends `bytes` and reads until the server closes or `timeout_ms` passes.
  std::string Exchange(const std::string& bytes, int timeout_ms = 5000) {
    if (!bytes.empty()) {
      EXPECT_EQ(::send(fd_, bytes.data(), bytes.size(), 0), ssize_t(bytes.size()));
    }
    std::string reply;
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
    }
    return reply;
  }

 private:
  int fd_ = -1;
};

// Retries GET /healthz until it answers 200 or `timeout_ms` passes.
bool HealthzWithin(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  return WaitUntil(
      [port] {
        return RawExchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .starts_with("HTTP/1.1 200");
      },
      timeout);
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { db_.Migrate(); }
  TestDatabase db_;
};

TEST_F(ServerTest, HealthzAnswersWithoutDatabaseWork) {
  ServerProcess server(db_.url());
  HttpClient client(server.port());
  auto r = client.Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(json::parse(r.body).at("status").as_string(), "ok");
}

TEST_F(ServerTest, ReadyzIs200WhenMigrated) {
  ServerProcess server(db_.url());
  HttpClient client(server.port());
  auto r = WaitForReadyz(client, 200);
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST(ServerReadiness, RefusesToServeAnUnmigratedDatabase) {
  // The engine is rebuilt from PostgreSQL before the first request, which needs the schema:
  // without it the server says so and exits instead of serving something half-ready.
  TestDatabase db;  // empty: no schema_migrations
  auto r = RunServerCommand({"serve", "--database-url", db.url(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("not migrated"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("proofbook-server migrate"), std::string::npos) << r.output;
}

TEST_F(ServerTest, MarketsAreListedFromPostgres) {
  {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    tx.exec(
        "INSERT INTO markets (id, proof_system, verifier, min_stake, min_slash, "
        "compensation_bps, fee_bps, min_prover_time_ms, grace_bps, uncle_reward_bps, "
        "max_proof_bytes) VALUES "
        "('groth16-poseidon', 'groth16', 'snarkjs-groth16', 1000000, 1000, 5000, 100, 2000, "
        "2000, 1000, 4096), "
        "('sha256-demo', 'sha256', 'sha256-preimage', 10, 500, 5000, 0, 0, 0, 0, 64)");
    tx.commit();
  }
  ServerProcess server(db_.url());
  HttpClient client(server.port());
  auto r = client.Get("/v1/markets");
  ASSERT_EQ(r.status, 200) << r.body;
  auto markets = json::parse(r.body).at("markets").as_array();
  ASSERT_EQ(markets.size(), 2u);
  auto first = markets[0].as_object();
  EXPECT_EQ(first.at("id").as_string(), "groth16-poseidon");
  EXPECT_EQ(first.at("min_stake").as_int64(), 1000000);
  EXPECT_EQ(first.at("min_prover_time_ms").as_int64(), 2000);
  EXPECT_EQ(first.at("verifier").as_string(), "snarkjs-groth16");
  // The parameters of issue #13, with the schema's defaults where the row gave none.
  EXPECT_EQ(first.at("min_slash").as_int64(), 1000);
  EXPECT_EQ(first.at("slash_multiplier_bps").as_int64(), 20000);
  EXPECT_EQ(first.at("decline_window_ms").as_int64(), 5000);
  EXPECT_EQ(first.at("unprovable_quorum").as_int64(), 2);
  EXPECT_EQ(first.at("reputation_weight_bps").as_int64(), 0);
  EXPECT_FALSE(first.contains("slash_bps"));
  EXPECT_EQ(markets[1].at("id").as_string(), "sha256-demo");
}

TEST_F(ServerTest, EmptyMarketListIsAnEmptyArray) {
  ServerProcess server(db_.url());
  HttpClient client(server.port());
  auto r = client.Get("/v1/markets");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(json::parse(r.body).at("markets").as_array().empty());
}

TEST_F(ServerTest, UnknownPathIs404WithJsonError) {
  ServerProcess server(db_.url());
  HttpClient client(server.port());
  auto r = client.Get("/v1/no-such-thing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "not_found");
}

TEST_F(ServerTest, WrongMethodIs405WithAllow) {
  ServerProcess server(db_.url());
  HttpClient client(server.port());
  auto r = client.Request("POST", "/v1/markets", "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(ErrorCode(r), "method_not_allowed");
  EXPECT_EQ(r.header("allow"), "GET");
}

TEST_F(ServerTest, OversizedBodyIs413AndServerStaysUp) {
  ServerProcess server(db_.url(), {"--body-limit", "1024"});
  std::string body(4096, 'x');
  std::string reply = RawExchange(server.port(),
                                  "POST /v1/markets HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n"
                                  "Content-Type: application/json\r\n\r\n" +
                                      body);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413")) << reply;
  EXPECT_NE(reply.find("\"payload_too_large\""), std::string::npos) << reply;

  // The same through chunked encoding, where no Content-Length warns ahead.
  std::string chunked =
      "POST /v1/markets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) chunked += "400\r\n" + std::string(1024, 'y') + "\r\n";
  chunked += "0\r\n\r\n";
  reply = RawExchange(server.port(), chunked);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413")) << reply;

  HttpClient client(server.port());
  EXPECT_EQ(client.Get("/healthz").status, 200);
  EXPECT_TRUE(server.running());
}

TEST_F(ServerTest, MalformedRequestIs400) {
  ServerProcess server(db_.url());
  std::string reply = RawExchange(server.port(), "THIS IS NOT HTTP\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400")) << reply;
  EXPECT_NE(reply.find("\"invalid_argument\""), std::string::npos) << reply;
  HttpClient client(server.port());
  EXPECT_EQ(client.Get("/healthz").status, 200);
}

TEST_F(ServerTest, OversizedHeadersAre431) {
  ServerProcess server(db_.url(), {"--header-limit", "2048"});
  std::string reply = RawExchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                                     std::string(8192, 'h') + "\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 431")) << reply;
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  ServerProcess server(db_.url());
  HttpClient client(server.port());
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(client.Get(i % 2 ? "/healthz" : "/v1/markets").status, 200);
  }
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST_F(ServerTest, IdleConnectionIsClosed) {
  ServerProcess server(db_.url(), {"--idle-timeout", "1"});
  auto start = std::chrono::steady_clock::now();
  std::string reply = RawExchange(server.port(), "", /*timeout_ms=*/10000);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(reply.empty());
  EXPECT_LT(waited, std::chrono::seconds(8));  // closed by the server, not by our timeout
}

TEST_F(ServerTest, RequestIdIsEchoedAndLogged) {
  ServerProcess server(db_.url());
  std::string reply = RawExchange(server.port(),
                                  "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n"
                                  "Connection: close\r\n\r\n");
  EXPECT_NE(reply.find("X-Request-Id: abc-123"), std::string::npos) << reply;
  HttpClient client(server.port());
  auto r = client.Get("/v1/nope");
  EXPECT_FALSE(r.header("x-request-id").empty());
  server.Terminate();
  std::string logs = server.Logs();
  EXPECT_NE(logs.find("msg=request id=abc-123 method=GET path=/healthz status=200 latency_us="),
            std::string::npos)
      << logs;
  EXPECT_NE(logs.find("path=/v1/nope status=404"), std::string::npos) << logs;
}

// Issue #14: a connection over the limit is answered and closed at once, so descriptors never
// run out and well-behaved clients keep being served; per address, other clients are not
// affected.
TEST_F(ServerTest, ConnectionsOverThePerAddressLimitAreRefusedCleanly) {
  ServerProcess server(db_.url(), {"--max-connections-per-ip", "3"});
  std::vector<std::unique_ptr<HeldConnection>> held;
  for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<HeldConnection>(server.port()));
  HeldConnection fourth(server.port());
  std::string reply = fourth.Exchange("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 503")) << reply;
  EXPECT_NE(reply.find("too_many_connections"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Retry-After: 1"), std::string::npos) << reply;
  // Another address is not this one's limit.
  HeldConnection other(server.port(), "127.0.0.2");
  EXPECT_TRUE(other.Exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                  .starts_with("HTTP/1.1 200"));
  // A place freed is a place to serve.
  held.front()->Close();
  EXPECT_TRUE(HealthzWithin(server.port()));
  server.Terminate();
  EXPECT_NE(server.Logs().find("msg=connection_refused why=too_many_connections ip=127.0.0.1"),
            std::string::npos)
      << server.Logs();
}

TEST_F(ServerTest, ConnectionsOverTheTotalLimitAreRefusedCleanly) {
  ServerProcess server(db_.url(), {"--max-connections", "4", "--max-connections-per-ip", "0"});
  std::vector<std::unique_ptr<HeldConnection>> held;
  held.push_back(std::make_unique<HeldConnection>(server.port(), "127.0.0.2"));
  held.push_back(std::make_unique<HeldConnection>(server.port(), "127.0.0.3"));
  held.push_back(std::make_unique<HeldConnection>(server.port(), "127.0.0.4"));
  held.push_back(std::make_unique<HeldConnection>(server.port(), "127.0.0.5"));
  std::string reply = RawExchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 503")) << reply;
  held.clear();
  EXPECT_TRUE(HealthzWithin(server.port()));
}

// The descriptor limit is raised to the hard limit at start, whatever the soft one was.
TEST_F(ServerTest, DescriptorLimitIsRaisedAtStart) {
  ServerProcess server(db_.url());
  HttpClient client(server.port());
  EXPECT_EQ(client.Get("/healthz").status, 200);
  server.Terminate();
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  const std::string want =
      "soft=" + (limit.rlim_max == RLIM_INFINITY ? std::string("18446744073709551615")
                                                 : std::to_string(limit.rlim_max));
  EXPECT_NE(server.Logs().find("msg=descriptor_limit"), std::string::npos) << server.Logs();
  EXPECT_NE(server.Logs().find(want), std::string::npos) << server.Logs();
}

// Slowloris: connections that trickle a header byte by byte hold a place only until the idle
// timeout (the whole request must arrive within it), and never keep others out.
TEST_F(ServerTest, SlowHeaderConnectionsAreCutAtTheIdleTimeoutAndOthersAreServed) {
  ServerProcess server(db_.url(), {"--idle-timeout", "2", "--max-connections-per-ip", "20"});
  std::vector<std::unique_ptr<HeldConnection>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<HeldConnection>(server.port(), "127.0.0.2"));
  }
  const auto start = std::chrono::steady_clock::now();
  // A well-behaved client (another address) is served while they trickle.
  for (auto& c : slow) c->Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  EXPECT_TRUE(HealthzWithin(server.port(), std::chrono::seconds(5)));
  // Each keeps sending a byte; the server cuts them anyway at about the idle timeout.
  bool all_closed = false;
  while (!all_closed && std::chrono::steady_clock::now() - start < std::chrono::seconds(30)) {
    all_closed = true;
    for (auto& c : slow) all_closed &= !c->Send("a");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(all_closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_TRUE(HealthzWithin(server.port(), std::chrono::seconds(5)));
}

// An HTTP/1.1 request that closes its connection: GET `target` with `bearer`, if any.
std::string ClosingGet(const std::string& target, const std::string& bearer = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
         (bearer.empty() ? "" : "Authorization: Bearer " + bearer + "\r\n") + "\r\n";
}

TEST_F(ServerTest, RequestsOverThePerAddressRateAre429AndOtherAddressesAreServed) {
  // One a second, two at once: however slow this machine, a hundred requests overrun it.
  ServerProcess server(db_.url(), {"--ip-request-rate", "1"});
  std::string refused;
  int served = 0;
  for (int i = 0; i < 100 && refused.empty(); ++i) {
    std::string reply = HeldConnection(server.port()).Exchange(ClosingGet("/healthz"));
    if (reply.starts_with("HTTP/1.1 429")) refused = reply;
    if (reply.starts_with("HTTP/1.1 200")) ++served;
  }
  ASSERT_FALSE(refused.empty()) << "never refused after " << served << " requests";
  EXPECT_GE(served, 2);  // the burst
  EXPECT_NE(refused.find(R"("code":"address_rate_limited")"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  // Another address has its own bucket.
  EXPECT_TRUE(HeldConnection(server.port(), "127.0.0.2")
                  .Exchange(ClosingGet("/healthz"))
                  .starts_with("HTTP/1.1 200"));
}

TEST_F(ServerTest, AnAddressThatFailsToAuthenticateIsCutOffBeforeAuthentication) {
  // Three failures a minute: the fourth request is refused whatever it carries.
  ServerProcess server(db_.url(), {"--ip-auth-failures", "3"});
  const std::string bad_key = "pbk_" + std::string(64, '0');
  int unauthenticated = 0;
  std::string refused;
  for (int i = 0; i < 10 && refused.empty(); ++i) {
    std::string reply = HeldConnection(server.port()).Exchange(ClosingGet("/v1/orders/1", bad_key));
    if (reply.starts_with("HTTP/1.1 401")) ++unauthenticated;
    if (reply.starts_with("HTTP/1.1 429")) refused = reply;
  }
  ASSERT_FALSE(refused.empty()) << unauthenticated << " failures and never refused";
  EXPECT_GE(unauthenticated, 3);
  EXPECT_NE(refused.find(R"("code":"too_many_auth_failures")"), std::string::npos) << refused;
  // Even a request that needs no key, from there; elsewhere all is well.
  EXPECT_TRUE(
      HeldConnection(server.port()).Exchange(ClosingGet("/healthz")).starts_with("HTTP/1.1 429"));
  EXPECT_TRUE(HeldConnection(server.port(), "127.0.0.2")
                  .Exchange(ClosingGet("/healthz"))
                  .starts_with("HTTP/1.1 200"));
}

// Error bodies are UTF-8 even when they repeat bytes that are not (found by
// fuzz/http_parse_fuzzer): a raw 0xFF in the path comes back as U+FFFD.
TEST_F(ServerTest, ErrorBodiesAreUtf8WhateverThePathHeld) {
  ServerProcess server(db_.url());
  std::string reply = RawExchange(server.port(),
                                  "GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n"
                                  "Connection: close\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 404")) << reply;
  const std::string body = reply.substr(reply.find("\r\n\r\n") + 4);
  EXPECT_EQ(body.find('\xff'), std::string::npos) << body;
  EXPECT_NE(body.find("\xEF\xBF\xBD"), std::string::npos) << body;
  EXPECT_NO_THROW(json::parse(body));
}

TEST_F(ServerTest, SigtermStopsCleanly) {
  ServerProcess server(db_.url());
  // Idle keep-alive connections on every io thread: the server stops with their sessions still
  // waiting for a request, and gives back their places as it is torn down.
  std::vector<std::unique_ptr<HttpClient>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<HttpClient>(server.port()));
    ASSERT_EQ(idle.back()->Get("/healthz").status, 200);
  }
  int status = server.Terminate();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(server.Logs().find("msg=stopped"), std::string::npos);
}

TEST(ServerCommands, MigrateAppliesEverythingOnce) {
  TestDatabase db;
  auto first = RunServerCommand({"migrate", "--database-url", db.url()});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto second = RunServerCommand({"migrate", "--database-url", db.url()});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("applied=0"), std::string::npos) << second.output;
  pqxx::connection conn(db.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM schema_migrations")[0][0].as<std::size_t>(),
            server::EmbeddedMigrations().size());
}

TEST(ServerCommands, MigrateFailsClearlyWhenDatabaseIsUnreachable) {
  auto r = RunServerCommand(
      {"migrate", "--database-url", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("database unreachable"), std::string::npos) << r.output;
}

TEST(ServerCommands, BootstrapAdminCreatesOneAdminAndShowsTheKeyOnce) {
  TestDatabase db;
  db.Migrate();
  std::string key_file = ::testing::TempDir() + "/admin-" + db.name() + ".key";
  auto first =
      RunServerCommand({"bootstrap-admin", "--database-url", db.url(), "--key-file", key_file});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto pos = first.output.find("pbk_");
  ASSERT_NE(pos, std::string::npos) << first.output;
  std::string key = first.output.substr(pos, 68);

  std::ifstream in(key_file);
  std::string from_file;
  in >> from_file;
  EXPECT_EQ(from_file, key);
  struct stat st {};
  ASSERT_EQ(stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  pqxx::connection conn(db.url());
  {
    pqxx::read_transaction tx(conn);
    auto hash = server::Sha256(key);
    auto row = tx.exec_params(
        "SELECT a.role FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = "
        "$1",
        pqxx::binarystring(hash.data(), hash.size()));
    ASSERT_EQ(row.size(), 1u);
    EXPECT_EQ(row[0][0].as<std::string>(), "admin");
    // The key itself is stored nowhere.
    EXPECT_EQ(tx.exec_params("SELECT count(*) FROM api_keys WHERE encode(key_hash, 'hex') = $1",
                             key.substr(4))[0][0]
                  .as<int>(),
              0);
  }

  auto second = RunServerCommand({"bootstrap-admin", "--database-url", db.url()});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(second.output.find("pbk_"), std::string::npos) << second.output;
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM accounts WHERE role = 'admin'")[0][0].as<int>(), 1);
  std::filesystem::remove(key_file);
}

TEST(ServerCommands, HelpListsSubcommands) {
  auto r = RunServerCommand({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("bootstrap-admin"), std::string::npos) << r.output;
  auto bad = RunServerCommand({"serve", "--no-such-flag"});
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace proofbook::testing
