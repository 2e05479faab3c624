// Metrics: the server's Prometheus metrics, kept with prometheus-cpp's core library (counters,
// gauges, histograms in a registry, and its text serializer). GET /metrics is served by the
// server's own HTTP stack (api/), not by prometheus-cpp's civetweb exposer, so the port, TLS,
// limits and logging stay the server's.
//
// Process-wide, as Prometheus client libraries are (Metrics::Get()): counters only ever grow,
// so components and tests in one process can share them. Thread rules: counters and histograms
// are updated from any thread without locks (prometheus-cpp's are atomic; a labelled series is
// looked up once and kept). Gauges that mirror a component's state (ring depths, connections,
// the ledger check) are set by scrape hooks, which Scrape() runs just before it serializes;
// AddScrapeHook before serving, RemoveScrapeHooks before the components they read go away.
//
// The names (README, "Metrics") follow Prometheus' conventions: proofbook_ prefix, _total for
// counters, base units (_seconds, _bytes).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace proofbook::server {

namespace metrics_detail {
// Built before Metrics' members, which register in it.
struct RegistryHolder {
  const std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
};
}  // namespace metrics_detail

class Metrics : private metrics_detail::RegistryHolder {
 public:
  static Metrics& Get();

  // One HTTP request answered: by the route's pattern ("/v1/orders/{id}", "unmatched"), method
  // and status; its latency from routing to the reply.
  void ObserveRequest(std::string_view route, std::string_view method, int status, double seconds);

  // Engine outcomes, counted from each committed batch's events (core/): what the market did.
  prometheus::Counter& orders_placed;
  prometheus::Counter& orders_completed;
  prometheus::Counter& orders_expired;
  prometheus::Counter& orders_failed;
  prometheus::Counter& orders_cancelled;
  prometheus::Counter& assignments;  // orders matched to provers (each assignment once)
  prometheus::Counter& settlements;
  prometheus::Counter& uncle_rewards;
  prometheus::Counter& slashes_missed_deadline;
  prometheus::Counter& slashes_invalid_proof;
  prometheus::Counter& commands_rejected;

  // The engine's rings: submissions refused because the inbox was full (503 overloaded).
  prometheus::Counter& inbox_full;
  prometheus::Gauge& inbox_depth;
  prometheus::Gauge& journal_ring_depth;
  // The journal: events per committed batch, and the time from BEGIN to COMMIT done.
  prometheus::Histogram& journal_batch_events;
  prometheus::Histogram& journal_commit_seconds;
  prometheus::Counter& journal_commit_failures;

  // WebSockets: open connections (a gauge set at scrape), slow consumers closed.
  prometheus::Gauge& ws_connections;
  prometheus::Counter& ws_slow_consumers_closed;

  // Verifiers, by kind: jobs waiting, and each verification's time (submit to verdict).
  prometheus::Gauge& VerifierQueue(const std::string& kind);
  prometheus::Histogram& VerificationSeconds(const std::string& kind);

  // The ledger check (core/ledger_audit.h): runs by result, and the last one's verdict.
  prometheus::Counter& ledger_checks_ok;
  prometheus::Counter& ledger_checks_failed;
  prometheus::Gauge& ledger_check_ok;  // 1 balanced, 0 not, -1 not run yet
  prometheus::Gauge& ledger_check_differences;

  // Runs the scrape hooks, then returns every metric in the Prometheus text format (0.0.4).
  std::string Scrape();
  // Returns a handle for RemoveScrapeHook.
  int AddScrapeHook(std::function<void()> hook);
  void RemoveScrapeHook(int handle);

 private:
  Metrics();
  static Metrics* Make();

  // Constant after construction; the families own their series.
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_seconds_;
  prometheus::Family<prometheus::Gauge>& verifier_queue_;
  prometheus::Family<prometheus::Histogram>& verification_seconds_;

  std::mutex hooks_mu_;
  std::vector<std::pair<int, std::function<void()>>> hooks_;  // guarded by hooks_mu_
  int next_hook_ = 0;                                         // guarded by hooks_mu_
};

}  // namespace proofbook::server
