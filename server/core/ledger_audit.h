// LedgerAudit: the ledger check (db/ledger.h) run by the server itself every `interval`, on the
// database pool, so that books that stop balancing are noticed without anyone asking. Each run
// is logged (`msg=ledger_check ok=...`, at error level with the first differences when the
// books do not balance), counted in the metrics (proofbook_ledger_checks_total{result},
// proofbook_ledger_check_ok) and its verdict kept for last(). A run that cannot happen
// (PostgreSQL away, the pool full) is logged and leaves the previous verdict; a run never
// overlaps the one before it.
//
// Thread rules: Start/Stop from one thread; last() from any. Jobs in flight share their state
// with the object, so it may go before the Database has run them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "server/db/database.h"

namespace proofbook::server {

class LedgerAudit {
 public:
  struct Verdict {
    bool ran = false;  // a check has completed since the start
    bool ok = false;
    int64_t differences = 0;
    int64_t runs = 0;         // checks completed
    int64_t failed_runs = 0;  // checks that could not run
    int64_t duration_ms = 0;
  };

  // interval 0: never (last() stays not ran).
  LedgerAudit(Database& db, std::chrono::milliseconds interval);
  ~LedgerAudit();  // Stop()s
  LedgerAudit(const LedgerAudit&) = delete;
  LedgerAudit& operator=(const LedgerAudit&) = delete;

  void Start();
  void Stop();
  Verdict last() const;

 private:
  struct Shared {
    std::mutex mu;
    Verdict verdict;         // guarded by mu
    bool in_flight = false;  // guarded by mu
  };
  void Loop();
  void RunOnce();

  Database& db_;
  const std::chrono::milliseconds interval_;
  const std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace proofbook::server
