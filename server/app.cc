#include "server/app.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "server/api/api.h"
#include "server/api/api_internal.h"
#include "server/base/huge_pages.h"
#include "server/base/limits.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/core/api_keys.h"
#include "server/core/auth.h"
#include "server/core/engine_runner.h"
#include "server/core/ledger_audit.h"
#include "server/core/market_directory.h"
#include "server/core/order_watch.h"
#include "server/core/proof_receipts.h"
#include "server/core/vrf_keyring.h"
#include "server/db/database.h"
#include "server/db/migrations.h"
#include "server/db/seed_history.h"
#include "server/http/http_server.h"
#include "server/journal/recovery.h"
#include "server/journal/writer_lease.h"
#include "server/prover/prover_gateway.h"
#include "server/prover/verifier_pool.h"

namespace proofbook::server {
namespace {

Result<std::vector<Migration>> LoadMigrations(const Config& config) {
  if (config.migrations_dir.empty()) return EmbeddedMigrations();
  return LoadMigrationsFromDir(config.migrations_dir);
}

bool WriteFileAtomically(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out.flush()) return false;
  }
  if (::chmod(tmp.c_str(), mode) != 0) return false;
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// Descriptors kept for the server's own work beyond client connections: the database pool and
// the journal's connection, the verifier workers' pipes, log and key files, the listening
// socket, accepts in flight.
constexpr std::size_t kReservedDescriptors = 256;

// Raises the soft descriptor limit to the hard one (a server started under systemd's default
// soft 1,024 would otherwise run out with a thousand idle sockets); the limit it runs with.
std::size_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  const rlim_t before = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
  }
  spdlog::info("msg=descriptor_limit soft_before={} soft={} hard={}", before, limit.rlim_cur,
               limit.rlim_max);
  return limit.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20
                                         : static_cast<std::size_t>(limit.rlim_cur);
}

// --max-connections, or (0) what the descriptor limit leaves after the reserve.
std::size_t MaxConnections(std::size_t configured) {
  const std::size_t descriptors = RaiseDescriptorLimit();
  const std::size_t room =
      descriptors > 2 * kReservedDescriptors ? descriptors - kReservedDescriptors : descriptors / 2;
  if (configured == 0) return room;
  if (configured > room) {
    spdlog::warn("msg=max_connections_above_descriptor_limit max_connections={} room={}",
                 configured, room);
  }
  return configured;
}

// Whether a listen host reaches only this machine (127.0.0.0/8, ::1, localhost).
bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// The VRF master key: --vrf-master-key-file, else PROOFBOOK_VRF_MASTER_KEY; nullopt: neither.
Result<std::optional<VrfKeyring::MasterKey>> VrfMasterKey(const Config& config) {
  std::string text;
  if (!config.vrf_master_key_file.empty()) {
    std::ifstream in(config.vrf_master_key_file);
    if (!in) {
      return Status(StatusCode::kInvalidArgument,
                    "cannot read --vrf-master-key-file " + config.vrf_master_key_file);
    }
    std::getline(in, text);
  } else if (const char* env = std::getenv("PROOFBOOK_VRF_MASTER_KEY")) {
    text = env;
  } else {
    return std::optional<VrfKeyring::MasterKey>();
  }
  auto key = VrfKeyring::ParseMasterKey(text);
  if (!key) return key.error();
  return std::optional<VrfKeyring::MasterKey>(*key);
}

}  // namespace

int RunMigrate(const Config& config) {
  InitLogging(config.log_level);
  auto migrations = LoadMigrations(config);
  if (!migrations) {
    spdlog::error("msg=migrate_failed error={}", LogValue(migrations.error().ToString()));
    return 1;
  }
  auto conn = Connect(config.database_url);
  if (!conn) {
    spdlog::error("msg=migrate_failed error={}", LogValue(conn.error().message()));
    return 1;
  }
  auto report = ApplyMigrations(**conn, *migrations);
  if (!report) {
    spdlog::error("msg=migrate_failed error={}", LogValue(report.error().message()));
    return 1;
  }
  spdlog::info("msg=migrated applied={} version={}", report->applied.size(),
               report->current_version);
  return 0;
}

int RunBootstrapAdmin(const Config& config) {
  InitLogging(config.log_level);
  auto conn = Connect(config.database_url);
  if (!conn) {
    spdlog::error("msg=bootstrap_failed error={}", LogValue(conn.error().message()));
    return 1;
  }
  auto admin = BootstrapAdmin(**conn);
  if (!admin) {
    spdlog::error("msg=bootstrap_failed error={}", LogValue(admin.error().message()));
    return 1;
  }
  if (!admin->has_value()) {
    spdlog::info("msg=admin_exists");
    return 0;
  }
  const NewAccount& created = **admin;
  if (!config.admin_key_file.empty() &&
      !WriteFileAtomically(config.admin_key_file, created.api_key + "\n", 0600)) {
    // The key is printed below all the same, so it is not lost.
    spdlog::error("msg=key_file_not_written path={}", LogValue(config.admin_key_file));
  }
  std::cout << "Created admin account " << created.id << ". Its API key, shown once:\n"
            << created.api_key << "\n";
  if (!config.admin_key_file.empty())
    std::cout << "(also written to " << config.admin_key_file << ")\n";
  return 0;
}

int RunSeedHistory(const Config& config) {
  if (int rc = RunMigrate(config); rc != 0) return rc;
  auto conn = Connect(config.database_url);
  if (!conn) {
    spdlog::error("msg=seed_failed error={}", LogValue(conn.error().message()));
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  auto report = SeedHistory(**conn, SeedOptions{.orders = config.seed_orders,
                                                .provers = config.seed_provers,
                                                .sequencers = config.seed_sequencers,
                                                .markets = config.seed_markets});
  if (!report) {
    spdlog::error("msg=seed_failed error={}", LogValue(report.error().ToString()));
    return 1;
  }
  spdlog::info(
      "msg=seeded orders={} settlements={} slashings={} ledger_entries={} seconds={}",
      report->orders, report->settlements, report->slashings, report->ledger_entries,
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count());
  return 0;
}

int RunServe(const Config& config) {
  InitLogging(config.log_level);
  auto migrations = LoadMigrations(config);
  if (!migrations) {
    spdlog::error("msg=start_failed error={}", LogValue(migrations.error().ToString()));
    return 1;
  }

  // Signals are taken by sigwait below; block them before any thread starts so that every
  // thread inherits the mask and none is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reloads the TLS files
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Rebuild the engine from what PostgreSQL has committed before taking any request.
  // A connection to a database whose migrations are this binary's; null (logged) if not.
  auto connect_current = [&]() -> std::unique_ptr<DbSession> {
    auto c = Connect(config.database_url);
    if (!c) {
      spdlog::error("msg=start_failed error={}", LogValue(c.error().message()));
      return nullptr;
    }
    if (Status s = CheckMigrationsCurrent(**c, *migrations); !s.ok()) {
      spdlog::error("msg=start_failed error={} hint=\"run proofbook-server migrate\"",
                    LogValue(s.message()));
      return nullptr;
    }
    return std::move(c).value();
  };
  auto conn = connect_current();
  if (!conn) return 1;
  // One writer per database: take the write lease (or wait for it, as a standby) before
  // reading the state, so the state read is final for our epoch.
  WriterLease lease(config.database_url);
  for (bool said = false;;) {
    auto epoch = lease.Acquire();
    if (epoch) {
      spdlog::info("msg=write_lease_taken writer_epoch={}", *epoch);
      break;
    }
    const bool held = epoch.error().code() == StatusCode::kConflict;
    if (!held && !(config.standby && epoch.error().code() == StatusCode::kUnavailable)) {
      // A standby rides out a database that is briefly away (a failover); a plain start fails.
      spdlog::error("msg=start_failed error={}", LogValue(epoch.error().message()));
      return 1;
    }
    if (held && !config.standby) {
      spdlog::error(
          "msg=start_failed error={} hint=\"stop the other server, or start this one "
          "with --standby to take over when it stops\"",
          LogValue(epoch.error().message()));
      return kExitLeaseHeld;
    }
    if (!said) {
      spdlog::warn("msg=standby waiting_for={}", LogValue(epoch.error().message()));
      said = true;
    }
    // A signal ends the wait; the lease is polled once a second.
    timespec wait{1, 0};
    if (const int sig = sigtimedwait(&signals, nullptr, &wait); sig > 0 && sig != SIGHUP) {
      spdlog::info("msg=stopped standby=true");
      return 0;
    }
  }
  if (config.standby) {
    // The wait may have been long: a fresh connection, and the migrations checked again (the
    // old writer's deploy may have brought new ones).
    conn = connect_current();
    if (!conn) return 1;
  }
  const auto load_start = std::chrono::steady_clock::now();
  // Recovery's memory in huge pages (server/base/huge_pages.h), here and in runner.Start().
  auto state = [&] {
    ScopedHugePageArena huge_pages;
    return LoadState(*conn);
  }();
  const int64_t load_ms = MillisecondsSince(load_start);
  if (!state) {
    spdlog::error("msg=start_failed error={}", LogValue(state.error().ToString()));
    return 1;
  }
  auto auth = Authenticator::Load(*conn);
  if (!auth) {
    spdlog::error("msg=start_failed error={}", LogValue(auth.error().ToString()));
    return 1;
  }
  MarketDirectory markets;
  if (Status s = markets.Load(*conn); !s.ok()) {
    spdlog::error("msg=start_failed error={}", LogValue(s.ToString()));
    return 1;
  }
  auto master = VrfMasterKey(config);
  if (!master) {
    spdlog::error("msg=start_failed error={}", LogValue(master.error().ToString()));
    return 1;
  }
  VrfKeyring keyring(*master);
  if (!keyring.enabled()) {
    spdlog::warn(
        "msg=vrf_disabled hint=\"no --vrf-master-key-file or PROOFBOOK_VRF_MASTER_KEY: "
        "vrf orders are refused\"");
  }
  try {
    if (Status s = keyring.Load(*conn); !s.ok()) {
      spdlog::error("msg=start_failed error={}", LogValue(s.ToString()));
      return 1;
    }
  } catch (const std::exception& e) {
    spdlog::error("msg=start_failed error={}", LogValue(e.what()));
    return 1;
  }
  conn.reset();
  spdlog::info(
      "msg=recovered accounts={} orders={} offers={} assignments={} next_seq={} load_ms={}",
      state->snapshot.accounts.size(), state->snapshot.orders.size(), state->snapshot.offers.size(),
      state->snapshot.assignments.size(), state->next_seq, load_ms);

  // One pool of verifier workers per verifier kind; each fails start-up if it cannot run.
  const std::string root = PROOFBOOK_SOURCE_ROOT;
  const std::string script = config.verifier_script.empty()
                                 ? root + "/server/prover/verifiers/verifier_worker.js"
                                 : config.verifier_script;
  const std::string node_path =
      config.node_path.empty() ? root + "/var/node/node_modules" : config.node_path;
  std::vector<std::unique_ptr<VerifierPool>> pools;
  std::map<std::string, VerifierPool*> pool_by_kind;
  for (std::string_view kind_name :
       {kVerifierSha256Preimage, kVerifierSha256Merge, kVerifierGroth16}) {
    const std::string kind(kind_name);
    auto pool = std::make_unique<VerifierPool>(
        VerifierPool::Options{.kind = kind,
                              .argv = {config.node, script, "--kind", kind, "--max-batch",
                                       std::to_string(std::min(config.verifier_batch, 128))},
                              .env = {"NODE_PATH=" + node_path},
                              .workers = config.verifier_workers,
                              .timeout = std::chrono::milliseconds(config.verifier_timeout_ms),
                              .max_batch = config.verifier_batch,
                              .max_queue = static_cast<std::size_t>(config.verifier_max_queue)});
    // Its workers start once the engine is rebuilt (below); jobs queue until then.
    if (Status s = pool->Open(); !s.ok()) {
      spdlog::error("msg=start_failed error={} hint=\"./proofbook.sh node-deps\"",
                    LogValue(s.ToString()));
      return 1;
    }
    pool_by_kind[kind] = pool.get();
    pools.push_back(std::move(pool));
  }

  Database db(Database::Options{.url = config.database_url, .threads = config.db_pool_size},
              std::move(migrations).value());
  OrderWatch watch;
  std::atomic<ProverGateway*> gateway_ptr{nullptr};
  // After a rebuild, proofs adopted or left without a verdict are verified (again).
  auto on_rebuilt = [&gateway_ptr] {
    if (ProverGateway* g = gateway_ptr.load()) g->ResumeVerifications();
  };
  auto on_lease_lost = [&gateway_ptr] {
    if (ProverGateway* g = gateway_ptr.load()) {
      g->DisconnectAll(kWsServiceRestart, "this server lost the write lease");
    }
  };
  // Long polls on orders and trees wake when a commit makes them final; provers hear of theirs.
  auto on_commit = [&watch, &gateway_ptr](const JournalBatch& batch) {
    if (ProverGateway* g = gateway_ptr.load()) g->OnCommit(batch);
    std::vector<int64_t> finished;
    for (const auto& e : batch.events) {
      if (e.kind == matching::EventKind::kOrderCompleted ||
          e.kind == matching::EventKind::kOrderExpired ||
          e.kind == matching::EventKind::kOrderCancelled ||
          e.kind == matching::EventKind::kOrderFailed) {
        finished.push_back(e.order);
      }
      if (e.kind == matching::EventKind::kTreeCompleted ||
          e.kind == matching::EventKind::kTreeFailed) {
        finished.push_back(TreeWatchKey(e.tree));
      }
    }
    if (!finished.empty()) watch.Notify(finished);
  };
  // Proofs received and being stored: no Tick settles their assignments' misses meanwhile.
  ProofReceipts receipts;
  EngineRunner runner(EngineRunner::Options{.database_url = config.database_url,
                                            .on_commit = on_commit,
                                            .on_rebuilt = on_rebuilt,
                                            .on_lease_lost = on_lease_lost,
                                            .lease = &lease,
                                            .draws = &keyring,
                                            .receipts = &receipts},
                      std::move(state).value());
  const auto rebuild_start = std::chrono::steady_clock::now();
  if (Status s =
          [&] {
            ScopedHugePageArena huge_pages;
            return runner.Start();
          }();
      !s.ok()) {
    spdlog::error("msg=start_failed error={}", LogValue(s.ToString()));
    return 1;
  }
  spdlog::info("msg=engine_rebuilt ms={}", MillisecondsSince(rebuild_start));
  for (const auto& pool : pools) {
    if (Status s = pool->SpawnWorkers(); !s.ok()) {
      spdlog::error("msg=start_failed error={} hint=\"./proofbook.sh node-deps\"",
                    LogValue(s.ToString()));
      return 1;
    }
  }
  LedgerAudit audit(db, std::chrono::seconds(config.ledger_check_interval_s));
  audit.Start();
  RateLimiter limiter(config.rate_limit, config.rate_burst);
  Operations ops(Operations::Options{.on_key_revoked =
                                         [&gateway_ptr](const std::string& digest) {
                                           if (ProverGateway* g = gateway_ptr.load()) {
                                             g->DisconnectKey(digest);
                                           }
                                         }},
                 runner, db, **auth, markets, keyring);
  LiveFeed live(db, std::chrono::seconds(1));
  live.Start();
  ApiContext ctx{db, ops, **auth, markets, limiter, watch, live};
  // Gauges that mirror the rings and the verifier queues, read at each scrape of /metrics.
  const int scrape_hook = Metrics::Get().AddScrapeHook([&runner, &pools] {
    Metrics& m = Metrics::Get();
    m.inbox_depth.Set(static_cast<double>(runner.inbox_depth()));
    m.journal_ring_depth.Set(static_cast<double>(runner.journal_depth()));
    for (const auto& pool : pools) {
      m.VerifierQueue(pool->kind()).Set(static_cast<double>(pool->queue_depth()));
    }
  });
  Router router;
  RegisterApi(router, ctx);
  ProverGateway gateway(
      ProverGateway::Options{
          .offline_grace = std::chrono::milliseconds(config.prover_grace_ms),
          .proof_inflight_per_prover = config.proof_inflight_per_prover,
          .proof_inflight_total = config.proof_inflight_total,
          .proof_receive_floor = std::chrono::milliseconds(config.proof_receive_ms)},
      ProverGateway::Services{ops, db, **auth, markets, limiter, &receipts}, pool_by_kind);
  gateway_ptr.store(&gateway);
  gateway.ResumeVerifications();
  HttpServer server(HttpServer::Options{.host = config.listen_host,
                                        .port = config.listen_port,
                                        .io_threads = config.io_threads,
                                        .body_limit = config.body_limit,
                                        .header_limit = config.header_limit,
                                        .idle_timeout = std::chrono::seconds(config.idle_timeout_s),
                                        .max_connections = MaxConnections(config.max_connections),
                                        .max_connections_per_ip = config.max_connections_per_ip,
                                        .tls_cert_file = config.tls_cert_file,
                                        .tls_key_file = config.tls_key_file,
                                        .ip_request_rate = config.ip_request_rate,
                                        .ip_auth_failures_per_minute = config.ip_auth_failures},
                    router);
  server.SetWebSocket("/v1/prover/ws", &gateway,
                      WsOptions{.max_queued_messages = config.ws_max_queue,
                                .idle_timeout = std::chrono::seconds(config.ws_idle_timeout_s),
                                .max_messages_per_s = config.ws_message_rate});
  if (Status s = server.Start(); !s.ok()) {
    spdlog::error("msg=start_failed error={}", LogValue(s.message()));
    return 1;
  }
  const bool tls = !config.tls_cert_file.empty();
  spdlog::info("msg=listening host={} port={} io_threads={} tls={}", LogValue(config.listen_host),
               server.port(), config.io_threads, tls);
  if (!tls && !IsLoopback(config.listen_host)) {
    spdlog::warn(
        "msg=PLAINTEXT_ON_THE_NETWORK host={} warning=\"API keys and proofs cross the network "
        "unencrypted: serve with --tls-cert and --tls-key, or listen on 127.0.0.1 behind a TLS "
        "proxy\"",
        LogValue(config.listen_host));
  }
  if (!config.port_file.empty() &&
      !WriteFileAtomically(config.port_file, std::to_string(server.port()) + "\n", 0644)) {
    spdlog::error("msg=port_file_not_written path={}", LogValue(config.port_file));
  }

  int received = 0;
  for (;;) {
    sigwait(&signals, &received);
    if (received != SIGHUP) break;
    if (!tls) {
      spdlog::info("msg=sighup_ignored why=\"no TLS files to reload\"");
    } else if (Status reloaded = server.ReloadTls(); reloaded.ok()) {
      spdlog::info("msg=tls_reloaded cert={}", LogValue(config.tls_cert_file));
    } else {
      spdlog::error("msg=tls_reload_failed error={} kept=previous", LogValue(reloaded.message()));
    }
  }
  spdlog::info("msg=stopping signal={}", received == SIGINT ? "SIGINT" : "SIGTERM");
  // In dependency order: no new requests or proofs; finish verifications; commit and answer
  // what the engine applied; answer
  // the long polls; finish the database jobs. Only then may the objects go, because pending
  // answers hold HTTP sessions that belong to the server's io_context.
  server.Stop();
  Metrics::Get().RemoveScrapeHook(scrape_hook);
  for (auto& pool : pools) pool->Stop();  // verdicts in flight still reach the engine
  runner.Stop();
  gateway_ptr.store(nullptr);
  gateway.Stop();
  watch.Stop();
  live.Stop();
  audit.Stop();
  db.Stop();
  spdlog::info("msg=stopped");
  return 0;
}

}  // namespace proofbook::server
