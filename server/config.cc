#include "server/config.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <sstream>

namespace proofbook::server {

Result<std::pair<std::string, uint16_t>> ParseListenAddress(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status(StatusCode::kInvalidArgument,
                  "listen address must be host:port, got '" + text + "'", "listen");
  }
  std::string host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') {
      return Status(StatusCode::kInvalidArgument, "unclosed '[' in listen address", "listen");
    }
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || ptr != last || port > 65535) {
    return Status(StatusCode::kInvalidArgument,
                  "listen port must be 0..65535, got '" + text.substr(colon + 1) + "'", "listen");
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

ParsedArgs ParseCommandLine(int argc, const char* const* argv) {
  Config config;
  std::string listen = config.listen_host + ":" + std::to_string(config.listen_port);

  CLI::App app{
      "proofbook-server: a market where sequencers buy zero-knowledge proofs from staked provers"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");

  // Options shared by several subcommands are added to each without a bound variable and
  // read back from the one that ran: CLI11 fills bound variables from the environment even
  // for subcommands that did not run, which would let an env var beat a flag.
  auto add_database = [](CLI::App* sub) {
    sub->add_option("--database-url", "PostgreSQL connection URI")
        ->envname("DATABASE_URL")
        ->required();
    sub->add_option("--migrations-dir",
                    "Read migrations from this folder instead of those built in")
        ->envname("PROOFBOOK_MIGRATIONS_DIR");
  };
  auto add_logging = [](CLI::App* sub) {
    sub->add_option("--log-level", "trace|debug|info|warn|error|off")
        ->envname("PROOFBOOK_LOG_LEVEL")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->default_val("info");
  };

  CLI::App* serve = app.add_subcommand("serve", "Serve the HTTP API");
  add_database(serve);
  add_logging(serve);
  serve->add_option("--listen", listen, "host:port to listen on (port 0: any free port)")
      ->envname("PROOFBOOK_LISTEN")
      ->capture_default_str();
  serve->add_option("--io-threads", config.io_threads, "Threads running network I/O")
      ->envname("PROOFBOOK_IO_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  serve
      ->add_option("--db-threads", config.db_pool_size,
                   "Threads (and connections) for PostgreSQL reads")
      ->envname("PROOFBOOK_DB_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  serve->add_option("--body-limit", config.body_limit, "Largest request body in bytes (413 beyond)")
      ->envname("PROOFBOOK_BODY_LIMIT")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64} << 20))
      ->capture_default_str();
  serve->add_option("--header-limit", config.header_limit, "Largest request header block in bytes")
      ->envname("PROOFBOOK_HEADER_LIMIT")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 20))
      ->capture_default_str();
  serve
      ->add_option("--idle-timeout", config.idle_timeout_s,
                   "Seconds before an idle connection is closed")
      ->envname("PROOFBOOK_IDLE_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve
      ->add_option("--max-connections", config.max_connections,
                   "Open connections at once (0: the descriptor limit less a reserve); beyond: "
                   "503 too_many_connections")
      ->envname("PROOFBOOK_MAX_CONNECTIONS")
      ->capture_default_str();
  serve
      ->add_option("--max-connections-per-ip", config.max_connections_per_ip,
                   "Open connections at once from one address (0: no limit)")
      ->envname("PROOFBOOK_MAX_CONNECTIONS_PER_IP")
      ->capture_default_str();
  serve
      ->add_option("--tls-cert", config.tls_cert_file,
                   "PEM certificate chain: serve HTTPS and WSS only (with --tls-key); SIGHUP "
                   "reloads it")
      ->envname("PROOFBOOK_TLS_CERT");
  serve->add_option("--tls-key", config.tls_key_file, "PEM private key of --tls-cert")
      ->envname("PROOFBOOK_TLS_KEY");
  serve
      ->add_option("--vrf-master-key-file", config.vrf_master_key_file,
                   "File with the 32-byte master key (64 hex digits) that seals the markets' VRF "
                   "keys; without it (or PROOFBOOK_VRF_MASTER_KEY) vrf orders are refused")
      ->envname("PROOFBOOK_VRF_MASTER_KEY_FILE");
  serve
      ->add_option("--ip-request-rate", config.ip_request_rate,
                   "Requests a second from one address (IPv6: its /64) before authentication, "
                   "on average, twice that at once (0: no limit); beyond: 429 "
                   "address_rate_limited")
      ->envname("PROOFBOOK_IP_REQUEST_RATE")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->capture_default_str();
  serve
      ->add_option("--ip-auth-failures", config.ip_auth_failures,
                   "Failed authentications (401) a minute from one address before its requests "
                   "are refused with 429 too_many_auth_failures until they refill (0: no limit)")
      ->envname("PROOFBOOK_IP_AUTH_FAILURES")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->capture_default_str();
  serve
      ->add_option("--ws-message-rate", config.ws_message_rate,
                   "Messages a second from one WebSocket, on average, twice that at once (0: no "
                   "limit); beyond: closed with 1008")
      ->envname("PROOFBOOK_WS_MESSAGE_RATE")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 30))
      ->capture_default_str();
  serve
      ->add_option("--rate-limit", config.rate_limit,
                   "Requests a second per API key, on average (0: no limit); beyond: 429")
      ->envname("PROOFBOOK_RATE_LIMIT")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->capture_default_str();
  serve->add_option("--rate-burst", config.rate_burst, "Requests at once per API key")
      ->envname("PROOFBOOK_RATE_BURST")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  serve->add_option("--port-file", config.port_file,
                    "Write the bound port to this file once listening");
  serve
      ->add_option("--verifier-workers", config.verifier_workers,
                   "Verifier worker processes per verifier kind")
      ->envname("PROOFBOOK_VERIFIER_WORKERS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  serve
      ->add_option("--verifier-timeout-ms", config.verifier_timeout_ms,
                   "Time limit of one verification; a worker past it is killed and replaced")
      ->envname("PROOFBOOK_VERIFIER_TIMEOUT_MS")
      ->check(CLI::Range(10, 600000))
      ->capture_default_str();
  serve
      ->add_option("--verifier-max-queue", config.verifier_max_queue,
                   "Proofs waiting for a verifier worker per kind; a proof beyond is left "
                   "stored and verified once there is room (retried every second)")
      ->envname("PROOFBOOK_VERIFIER_MAX_QUEUE")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve
      ->add_option("--verifier-batch", config.verifier_batch,
                   "Proofs sent to a verifier worker at once (two such rounds in flight); a "
                   "Groth16 worker checks those of one key together, up to this many (at most "
                   "128; 1: each proof alone)")
      ->envname("PROOFBOOK_VERIFIER_BATCH")
      ->check(CLI::Range(1, 512))
      ->capture_default_str();
  serve->add_option("--node", config.node, "Node.js program that runs the verifier workers")
      ->envname("PROOFBOOK_NODE")
      ->capture_default_str();
  serve
      ->add_option("--verifier-script", config.verifier_script,
                   "verifier_worker.js (default: server/prover/verifiers/ of the source tree)")
      ->envname("PROOFBOOK_VERIFIER_SCRIPT");
  serve
      ->add_option("--node-path", config.node_path,
                   "NODE_PATH for the workers (default: var/node/node_modules of the source tree)")
      ->envname("PROOFBOOK_NODE_PATH");
  serve
      ->add_option("--prover-grace-ms", config.prover_grace_ms,
                   "A prover with no connection for this long loses its offers")
      ->envname("PROOFBOOK_PROVER_GRACE_MS")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  serve
      ->add_option("--ledger-check-interval", config.ledger_check_interval_s,
                   "Seconds between the server's own ledger checks (0: never)")
      ->envname("PROOFBOOK_LEDGER_CHECK_INTERVAL")
      ->check(CLI::Range(0, 86400 * 7))
      ->capture_default_str();
  serve
      ->add_option("--ws-idle-timeout", config.ws_idle_timeout_s,
                   "Seconds of WebSocket silence (pings unanswered) before closing")
      ->envname("PROOFBOOK_WS_IDLE_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve
      ->add_option("--ws-max-queue", config.ws_max_queue,
                   "Messages queued to one WebSocket; a client that lets more pile up is closed")
      ->envname("PROOFBOOK_WS_MAX_QUEUE")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  serve
      ->add_option("--proof-inflight-per-prover", config.proof_inflight_per_prover,
                   "Proof bytes one prover may have announced and not yet delivered; a proof "
                   "header beyond it is refused (503)")
      ->envname("PROOFBOOK_PROOF_INFLIGHT_PER_PROVER")
      ->check(CLI::Range(std::size_t{1} << 10, std::size_t{1} << 34))
      ->capture_default_str();
  serve
      ->add_option("--proof-inflight-total", config.proof_inflight_total,
                   "Proof bytes all provers together may have announced and not yet delivered")
      ->envname("PROOFBOOK_PROOF_INFLIGHT_TOTAL")
      ->check(CLI::Range(std::size_t{1} << 10, std::size_t{1} << 36))
      ->capture_default_str();
  serve
      ->add_option("--proof-receive-ms", config.proof_receive_ms,
                   "An accepted proof's bytes must arrive within this many ms plus 1 ms per KB, "
                   "else the connection is closed (1008)")
      ->envname("PROOFBOOK_PROOF_RECEIVE_MS")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  serve
      ->add_flag("--standby", config.standby,
                 "If another server holds this database's write lease, wait and take over when "
                 "it frees (default: exit with code 3)")
      ->envname("PROOFBOOK_STANDBY");

  CLI::App* migrate = app.add_subcommand("migrate", "Apply pending migrations and exit");
  add_database(migrate);
  add_logging(migrate);

  CLI::App* bootstrap = app.add_subcommand(
      "bootstrap-admin", "Create the first admin account if none exists; print its API key once");
  add_database(bootstrap);
  add_logging(bootstrap);
  bootstrap->add_option("--key-file", config.admin_key_file,
                        "Also write the new key here (mode 600)");

  CLI::App* seed = app.add_subcommand(
      "seed-history",
      "Fill a fresh database (no orders yet; server stopped) with a busy market's history, to "
      "measure the admin listings: ~1 settlement and ~4.6 ledger entries per order");
  add_database(seed);
  add_logging(seed);
  seed->add_option("--orders", config.seed_orders, "Completed orders to write")
      ->capture_default_str();
  seed->add_option("--provers", config.seed_provers, "Provers")->capture_default_str();
  seed->add_option("--sequencers", config.seed_sequencers, "Sequencers")->capture_default_str();
  seed->add_option("--markets", config.seed_markets, "Markets (seed-1, seed-2, ...)")
      ->capture_default_str();

  ParsedArgs out;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports --help as a ParseError too; exit() formats either case (help of the
    // subcommand given) and says which exit code it deserves.
    std::ostringstream normal, error;
    out.exit_code = app.exit(e, normal, error);
    out.output = normal.str() + error.str();
    return out;
  }

  CLI::App* ran = serve->parsed()       ? serve
                  : migrate->parsed()   ? migrate
                  : bootstrap->parsed() ? bootstrap
                                        : seed;
  config.database_url = ran->get_option("--database-url")->as<std::string>();
  if (CLI::Option* dir = ran->get_option("--migrations-dir"); !dir->empty()) {
    config.migrations_dir = dir->as<std::string>();
  }
  config.log_level = ran->get_option("--log-level")->as<std::string>();
  if (ran == serve) {
    config.subcommand = Subcommand::kServe;
    auto addr = ParseListenAddress(listen);
    if (!addr) {
      out.exit_code = 2;
      out.output = addr.error().ToString();
      return out;
    }
    config.listen_host = addr->first;
    config.listen_port = addr->second;
  } else if (ran == migrate) {
    config.subcommand = Subcommand::kMigrate;
  } else if (ran == bootstrap) {
    config.subcommand = Subcommand::kBootstrapAdmin;
  } else {
    config.subcommand = Subcommand::kSeedHistory;
  }
  out.config = std::move(config);
  return out;
}

}  // namespace proofbook::server
