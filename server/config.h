// Config: everything proofbook-server reads from its command line and environment.
//
// Flags win over environment variables, which win over defaults. ParseCommandLine never
// exits the process and never throws: --help and errors come back as text plus an exit code,
// so main() decides what to print and tests can check both. Value type; no thread rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "matching/status.h"

namespace proofbook::server {

enum class Subcommand { kServe, kMigrate, kBootstrapAdmin, kSeedHistory };

struct Config {
  Subcommand subcommand = Subcommand::kServe;

  std::string database_url;  // libpq URI or key=value string; required
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;  // 0 picks a free port (see port_file)
  int io_threads = 2;
  std::string log_level = "info";  // trace|debug|info|warn|error|off

  // HTTP limits, named where set: a request over them is refused, never buffered.
  std::size_t body_limit = 1 << 20;     // 413 beyond 1 MiB
  std::size_t header_limit = 16 << 10;  // 431-class error beyond 16 KiB of headers
  int idle_timeout_s = 30;              // keep-alive connections idle longer are closed
  // Open connections at once (HTTP and WebSocket); beyond: 503 too_many_connections. 0 for
  // max_connections: the descriptor limit (raised to the hard limit at start) less a reserve
  // for the server's own files, sockets and worker pipes (app.cc kReservedDescriptors).
  std::size_t max_connections = 0;
  std::size_t max_connections_per_ip = 1024;  // 0: no per-address limit

  // TLS (both or neither): HTTPS and WSS only; SIGHUP reloads the files.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The master key that seals the markets' VRF secrets (server/core/vrf_keyring.h): a file
  // holding 32 bytes as 64 hex digits, or (when empty) PROOFBOOK_VRF_MASTER_KEY itself; neither:
  // vrf orders are refused.
  std::string vrf_master_key_file;
  // Per remote address (IPv6: its /64), before authentication: requests a second (0: off;
  // burst twice that), and 401 answers a minute before the address is refused for a while.
  int64_t ip_request_rate = 20000;
  int64_t ip_auth_failures = 600;
  std::size_t ws_message_rate = 1000;  // messages a second per WebSocket (burst 2x); 0: off

  int64_t rate_limit = 20000;  // requests a second per API key (token bucket); 0: off
  int64_t rate_burst = 40000;  // requests at once per API key
  int db_pool_size = 2;  // blocking PostgreSQL work runs on this many threads, off the io threads
  std::string migrations_dir;  // empty: the migrations compiled into the binary
  std::string port_file;       // if set, the bound port is written here once listening

  // Provers over WebSocket and proof verification (issue #6).
  int verifier_workers = 1;         // worker processes per verifier kind
  int verifier_timeout_ms = 10000;  // one verification; a worker past it is replaced
  int verifier_max_queue = 10000;   // proofs waiting per verifier kind; beyond: verified later
  int verifier_batch = 32;      // proofs sent to a worker at once (Groth16 checks them together)
  std::string node = "node";    // the Node.js the workers run on
  std::string verifier_script;  // verifier_worker.js; default: the source tree's
  std::string node_path;        // NODE_PATH for the workers; default: var/node's
  int prover_grace_ms = 10000;  // a prover gone this long loses its offers
  int ws_idle_timeout_s = 20;   // a silent WebSocket is pinged at half, closed at this
  std::size_t ws_max_queue = 1024;  // messages queued to one connection; beyond: closed
  // Proof bytes being received (announced by accepted `proof` headers, not yet stored): a
  // header that would take a prover, or the server, past its budget is refused (503).
  std::size_t proof_inflight_per_prover = std::size_t{64} << 20;
  std::size_t proof_inflight_total = std::size_t{256} << 20;
  int proof_receive_ms = 10000;  // an accepted proof's bytes arrive within this + 1 ms/KB

  // The server checks its own books (every bucket of every account against its ledger
  // entries, core/ledger_audit.h) this often; 0: never (GET /v1/admin/ledger/check still does).
  int ledger_check_interval_s = 600;

  // One writer per database (server/journal/writer_lease.h): without --standby a server that finds
  // the write lease held exits (code 3); with it, it waits and takes over when the lease frees.
  bool standby = false;

  // bootstrap-admin
  std::string admin_key_file;  // where the first admin's key is written (mode 600)

  // seed-history (server/db/seed_history.h): a fresh database filled with this much history.
  int64_t seed_orders = 1'112'000;
  int seed_provers = 50;
  int seed_sequencers = 20;
  int seed_markets = 4;
};

struct ParsedArgs {
  std::optional<Config> config;  // set when the program should go on and run
  int exit_code = 0;             // meaningful when config is empty (help or error)
  std::string output;            // help text or error message, for stdout/stderr
};

// Parses argv (and the environment, through getenv). argv[0] is the program name.
ParsedArgs ParseCommandLine(int argc, const char* const* argv);

// Splits "host:port" ("[::1]:80" for IPv6). The port must be 0..65535.
Result<std::pair<std::string, uint16_t>> ParseListenAddress(const std::string& text);

}  // namespace proofbook::server
