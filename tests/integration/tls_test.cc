// TLS end to end (issue #14): the real server with a throwaway self-signed certificate made by
// the openssl command, over real sockets. HTTPS and WSS with the certificate trusted; refusals
// without it, for another name, and for plaintext on the TLS port; the certificate reloaded on
// SIGHUP; and both clients, the `proofbook` command line and proofbook-prover, over https://
// and wss:// (an order placed with the CLI, proven by the worker, settled).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "clients/common/process.h"
#include "clients/common/ws_client.h"
#include "server/base/crypto.h"
#include "tests/integration/files.h"
#include "tests/integration/prover_process.h"
#include "tests/integration/server_fixture.h"
#include "tests/integration/wait.h"

namespace proofbook::testing {
namespace {

using std::chrono::milliseconds;

class TlsTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    char pattern[] = "/tmp/proofbook-tls-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    MakeCertificate("first");
  }
  void TearDown() override {
    ServerFixture::TearDown();
    std::filesystem::remove_all(dir_);
  }

  // A self-signed P-256 certificate (CN=`name`) for `names`, written where the server reads
  // its pair (cert.pem, key.pem) and copied to `name`.pem, the file a client trusts.
  void MakeCertificate(const std::string& name,
                       const std::string& names = "IP:127.0.0.1,DNS:localhost") {
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=" +
        name + " -addext subjectAltName=" + names + " -keyout '" + Path("key.pem") + "' -out '" +
        Path("cert.pem") + "' 2>/dev/null && cp '" + Path("cert.pem") + "' '" +
        Path(name + ".pem") + "'";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  std::string Path(const std::string& file) const { return (dir_ / file).string(); }

  // The server on TLS; client_ (the fixture's helpers) trusts the first certificate.
  void StartTlsServer() {
    StartServer({"--tls-cert", Path("cert.pem"), "--tls-key", Path("key.pem")});
    client_ = std::make_unique<HttpClient>(Endpoint(Path("first.pem")));
  }
  clients::HttpEndpoint Endpoint(const std::string& ca_file) const {
    return clients::HttpEndpoint{.url = "",
                                 .host = "127.0.0.1",
                                 .port = std::to_string(server_->port()),
                                 .base_path = "",
                                 .tls = true,
                                 .ca_file = ca_file};
  }
  std::string Url() const { return "https://127.0.0.1:" + std::to_string(server_->port()); }
  // Polls `ok` every 50 ms for up to 20 s.
  std::filesystem::path dir_;
};

TEST_F(TlsTest, HttpsAndWssWithTheCertificateTrustedPlaintextAndStrangersRefused) {
  StartTlsServer();
  auto health = client_->Get("/healthz");
  ASSERT_EQ(health.status, 200) << health.error;

  // A prover account made over HTTPS connects over WSS and is welcomed.
  auto [prover, key] = Account("prover", "p");
  clients::WsClient ws;
  clients::WsConnectOptions options;
  options.port = std::to_string(server_->port());
  options.path = "/v1/prover/ws";
  options.bearer = key;
  options.tls = true;
  options.ca_file = Path("first.pem");
  ASSERT_TRUE(ws.Connect(options)) << ws.error();
  auto welcome = ws.Read(std::chrono::seconds(10));
  ASSERT_TRUE(welcome.has_value()) << ws.error();
  EXPECT_EQ(boost::json::parse(welcome->data).at("account").as_int64(), prover) << welcome->data;

  // A client that trusts only the system's CAs does not trust a self-signed certificate.
  HttpClient system_cas(Endpoint(""));
  auto refused = system_cas.Get("/healthz");
  EXPECT_EQ(refused.status, 0);
  EXPECT_NE(refused.error.find("certificate verify failed"), std::string::npos) << refused.error;

  // Plaintext HTTP to the TLS port: an answer it can read, then the connection closes.
  const std::string reply =
      RawExchange(server_->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400")) << reply;
  EXPECT_NE(reply.find(R"("code":"tls_required")"), std::string::npos) << reply;
  // A plaintext WebSocket upgrade gets the same.
  clients::WsClient plain;
  options.tls = false;
  EXPECT_FALSE(plain.Connect(options));
  EXPECT_EQ(plain.status(), 400) << plain.error();
  // And the server goes on serving.
  EXPECT_EQ(client_->Get("/healthz").status, 200);
}

TEST_F(TlsTest, ACertificateForAnotherNameIsRefused) {
  MakeCertificate("elsewhere", "DNS:proofbook.example");
  StartServer({"--tls-cert", Path("cert.pem"), "--tls-key", Path("key.pem")});
  HttpClient client(Endpoint(Path("elsewhere.pem")));  // trusted, but not for 127.0.0.1
  auto r = client.Get("/healthz");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("certificate verify failed"), std::string::npos) << r.error;
}

TEST_F(TlsTest, SighupReloadsTheCertificateAndABrokenOneKeepsTheOld) {
  StartTlsServer();
  ASSERT_EQ(client_->Get("/healthz").status, 200);
  MakeCertificate("second");
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  // New connections present the second certificate...
  EXPECT_TRUE(WaitUntil([&] {
    return HttpClient(Endpoint(Path("second.pem"))).Get("/healthz").status == 200;
  })) << server_->Logs();
  EXPECT_EQ(HttpClient(Endpoint(Path("first.pem"))).Get("/healthz").status, 0);
  // ...while a connection made before keeps its own.
  EXPECT_EQ(client_->Get("/healthz").status, 200);
  EXPECT_EQ(client_->connections_opened(), 1);

  // A broken file: the reload fails, loudly, and the second certificate stays in use.
  std::ofstream(Path("cert.pem"), std::ios::trunc) << "not a certificate\n";
  ASSERT_EQ(::kill(server_->pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitUntil([&] {
    return server_->Logs().find("msg=tls_reload_failed") != std::string::npos;
  })) << server_->Logs();
  EXPECT_EQ(HttpClient(Endpoint(Path("second.pem"))).Get("/healthz").status, 200);
}

TEST_F(TlsTest, TheCommandLineAndTheProverWorkerSpeakHttpsAndWss) {
  StartTlsServer();
  auto market = client_->Request(
      "POST", "/v1/admin/markets",
      R"({"id":"sha","proof_system":"sha256","verifier":"sha256-preimage","min_stake":100})",
      admin_key_);
  ASSERT_EQ(market.status, 201) << market.body;
  auto [seq, seq_key] = Account("sequencer", "s");
  Deposit(seq, 10'000);
  auto [prover, prover_key] = Account("prover", "p");
  Deposit(prover, 5'000);

  ProverProcess worker({"--url", Url(), "--ca-file", Path("first.pem"), "--api-key", prover_key,
                        "--stake", "1000", "--offer",
                        "market=sha,price=200,est_ms=1000,capacity=1"});
  ASSERT_TRUE(worker.WaitFor("msg=offer_placed", 20000)) << worker.Logs();

  const std::string preimage = "over tls";
  clients::ProcessOptions cli;
  cli.argv = {
      PROOFBOOK_CLI_BIN,
      "--url",
      Url(),
      "--ca-file",
      Path("first.pem"),
      "--api-key",
      seq_key,
      "--json",
      "order",
      "place",
      "--market",
      "sha",
      "--max-price",
      "500",
      "--deadline-ms",
      "600000",
      "--inputs",
      R"({"sha256":")" + server::Sha256Hex(preimage) + R"(","preimage":")" + preimage + "\"}",
      "--wait"};
  cli.stdout_to = clients::ProcessOutput::Capture();
  cli.stderr_to = clients::ProcessOutput::Capture();
  clients::Process place(cli);
  ASSERT_TRUE(place.started()) << place.error();
  auto status = place.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(clients::Process::ExitCode(*status), 0) << place.Stdout() << place.Stderr();
  auto order = boost::json::parse(place.Stdout()).at("order");
  EXPECT_EQ(order.at("status").as_string(), "completed") << place.Stdout();

  // Without the CA file, the command line refuses the server, with a clear line.
  cli.argv = {PROOFBOOK_CLI_BIN, "--url", Url(), "--api-key", seq_key, "order", "list"};
  clients::Process untrusting(cli);
  auto untrusted = untrusting.Wait(std::chrono::seconds(30));
  ASSERT_TRUE(untrusted.has_value());
  EXPECT_NE(clients::Process::ExitCode(*untrusted), 0);
  EXPECT_NE(untrusting.Stderr().find("certificate verify failed"), std::string::npos)
      << untrusting.Stderr();
}

}  // namespace
}  // namespace proofbook::testing
