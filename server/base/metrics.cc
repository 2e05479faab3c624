#include "server/base/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <unordered_map>

namespace proofbook::server {

namespace {

namespace p = prometheus;

p::Counter& CounterOf(p::Registry& r, const std::string& name, const std::string& help) {
  return p::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

p::Gauge& GaugeOf(p::Registry& r, const std::string& name, const std::string& help) {
  return p::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

// Latencies from 100 µs to 10 s.
p::Histogram::BucketBoundaries SecondsBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

p::Histogram& HistogramOf(p::Registry& r, const std::string& name, const std::string& help,
                          p::Histogram::BucketBoundaries buckets) {
  return p::BuildHistogram().Name(name).Help(help).Register(r).Add({}, std::move(buckets));
}

// One labelled series per (route, method, status) and per route, found once per thread: a
// request then counts without taking the family's lock.
struct RequestSeries {
  std::string method;
  int status;
  p::Counter* count;
  p::Histogram* seconds;
};
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
using RequestSeriesByRoute =
    std::unordered_map<std::string, std::vector<RequestSeries>, StringHash, std::equal_to<>>;

}  // namespace

Metrics& Metrics::Get() {
  // Never destroyed: threads may still count while the process exits.
  static Metrics* const metrics = new Metrics();
  return *metrics;
}

Metrics::Metrics()
    : orders_placed(CounterOf(*registry, "proofbook_orders_placed_total",
                              "Orders accepted by the engine and committed")),
      orders_completed(CounterOf(*registry, "proofbook_orders_completed_total",
                                 "Orders whose redundancy was met by verified proofs")),
      orders_expired(CounterOf(*registry, "proofbook_orders_expired_total",
                               "Orders whose deadline passed before they completed")),
      orders_failed(CounterOf(*registry, "proofbook_orders_failed_total",
                              "Orders failed through their sequencer's fault (bad inputs, "
                              "unprovable)")),
      orders_cancelled(CounterOf(*registry, "proofbook_orders_cancelled_total",
                                 "Orders cancelled by their sequencer")),
      assignments(CounterOf(*registry, "proofbook_assignments_total",
                            "Orders matched to a prover (each assignment once)")),
      settlements(
          CounterOf(*registry, "proofbook_settlements_total", "Verified proofs paid their price")),
      uncle_rewards(CounterOf(*registry, "proofbook_uncle_rewards_total",
                              "Late verified proofs paid the uncle reward")),
      slashes_missed_deadline(p::BuildCounter()
                                  .Name("proofbook_slashes_total")
                                  .Help("Provers slashed, by reason")
                                  .Register(*registry)
                                  .Add({{"reason", "missed_deadline"}})),
      slashes_invalid_proof(p::BuildCounter()
                                .Name("proofbook_slashes_total")
                                .Help("Provers slashed, by reason")
                                .Register(*registry)
                                .Add({{"reason", "invalid_proof"}})),
      commands_rejected(CounterOf(*registry, "proofbook_commands_rejected_total",
                                  "Commands the engine refused (business rules)")),
      inbox_full(CounterOf(*registry, "proofbook_engine_inbox_full_total",
                           "Submissions refused 503 because the engine's inbox was full")),
      inbox_depth(GaugeOf(*registry, "proofbook_engine_inbox_depth",
                          "Submissions waiting for the engine thread")),
      journal_ring_depth(GaugeOf(*registry, "proofbook_journal_ring_depth",
                                 "Batches waiting for the journal thread")),
      journal_batch_events(HistogramOf(*registry, "proofbook_journal_batch_events",
                                       "Events per committed journal batch",
                                       {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536})),
      journal_commit_seconds(HistogramOf(*registry, "proofbook_journal_commit_seconds",
                                         "Time to write and COMMIT one journal batch",
                                         SecondsBuckets())),
      journal_commit_failures(CounterOf(*registry, "proofbook_journal_commit_failures_total",
                                        "Journal batches whose COMMIT failed")),
      ws_connections(
          GaugeOf(*registry, "proofbook_ws_connections", "Open prover WebSocket connections")),
      ws_slow_consumers_closed(CounterOf(*registry, "proofbook_ws_slow_consumers_closed_total",
                                         "WebSockets closed because their send queue was full")),
      ledger_checks_ok(p::BuildCounter()
                           .Name("proofbook_ledger_checks_total")
                           .Help("Ledger checks run by the server, by result")
                           .Register(*registry)
                           .Add({{"result", "ok"}})),
      ledger_checks_failed(p::BuildCounter()
                               .Name("proofbook_ledger_checks_total")
                               .Help("Ledger checks run by the server, by result")
                               .Register(*registry)
                               .Add({{"result", "imbalanced"}})),
      ledger_check_ok(GaugeOf(*registry, "proofbook_ledger_check_ok",
                              "The last ledger check: 1 balanced, 0 not, -1 not run yet")),
      ledger_check_differences(GaugeOf(*registry, "proofbook_ledger_check_differences",
                                       "Buckets that disagreed with their entries at the last "
                                       "ledger check")),
      requests_(p::BuildCounter()
                    .Name("proofbook_http_requests_total")
                    .Help("HTTP requests answered, by route, method and status")
                    .Register(*registry)),
      request_seconds_(p::BuildHistogram()
                           .Name("proofbook_http_request_duration_seconds")
                           .Help("HTTP request latency from routing to the reply, by route")
                           .Register(*registry)),
      verifier_queue_(p::BuildGauge()
                          .Name("proofbook_verifier_queue_depth")
                          .Help("Proofs waiting for a verifier worker, by verifier kind")
                          .Register(*registry)),
      verification_seconds_(p::BuildHistogram()
                                .Name("proofbook_verification_duration_seconds")
                                .Help("Proof verification time (queued to verdict), by kind")
                                .Register(*registry)) {
  ledger_check_ok.Set(-1);
}

void Metrics::ObserveRequest(std::string_view route, std::string_view method, int status,
                             double seconds) {
  thread_local RequestSeriesByRoute by_route;
  auto it = by_route.find(route);
  if (it == by_route.end()) it = by_route.emplace(std::string(route), 0).first;
  std::vector<RequestSeries>& series = it->second;
  auto s = std::find_if(series.begin(), series.end(), [&](const RequestSeries& x) {
    return x.status == status && x.method == method;
  });
  if (s == series.end()) {
    p::Histogram* seconds_series =
        series.empty() ? &request_seconds_.Add({{"route", it->first}}, SecondsBuckets())
                       : series.front().seconds;
    series.push_back(RequestSeries{std::string(method), status,
                                   &requests_.Add({{"route", it->first},
                                                   {"method", std::string(method)},
                                                   {"status", std::to_string(status)}}),
                                   seconds_series});
    s = series.end() - 1;
  }
  s->count->Increment();
  s->seconds->Observe(seconds);
}

prometheus::Gauge& Metrics::VerifierQueue(const std::string& kind) {
  return verifier_queue_.Add({{"kind", kind}});
}

prometheus::Histogram& Metrics::VerificationSeconds(const std::string& kind) {
  return verification_seconds_.Add({{"kind", kind}}, SecondsBuckets());
}

std::string Metrics::Scrape() {
  {
    std::lock_guard lock(hooks_mu_);
    for (auto& [handle, hook] : hooks_) hook();
  }
  return p::TextSerializer().Serialize(registry->Collect());
}

int Metrics::AddScrapeHook(std::function<void()> hook) {
  std::lock_guard lock(hooks_mu_);
  hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

void Metrics::RemoveScrapeHook(int handle) {
  std::lock_guard lock(hooks_mu_);
  std::erase_if(hooks_, [handle](const auto& h) { return h.first == handle; });
}

}  // namespace proofbook::server
