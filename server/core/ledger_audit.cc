#include "server/core/ledger_audit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/db/ledger.h"

namespace proofbook::server {

namespace {
// The first few differing buckets, for one log line.
std::string FirstDifferences(const boost::json::array& all) {
  constexpr std::size_t kLogged = 5;
  boost::json::array first(all.begin(), all.begin() + std::min(all.size(), kLogged));
  return boost::json::serialize(first);
}
}  // namespace

LedgerAudit::LedgerAudit(Database& db, std::chrono::milliseconds interval)
    : db_(db), interval_(interval) {}

LedgerAudit::~LedgerAudit() { Stop(); }

void LedgerAudit::Start() {
  if (interval_.count() <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void LedgerAudit::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

LedgerAudit::Verdict LedgerAudit::last() const {
  std::lock_guard lock(shared_->mu);
  return shared_->verdict;
}

void LedgerAudit::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    RunOnce();
    lock.lock();
  }
}

void LedgerAudit::RunOnce() {
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->in_flight) return;  // the last one is still running: a slow database
    shared_->in_flight = true;
  }
  std::shared_ptr<Shared> shared = shared_;
  db_.Run(
      "ledger check",
      [shared](DbSession& session) {
        LedgerCheck check = CheckLedger(session);
        const int64_t ms = check.body.at("duration_ms").as_int64();
        if (check.ok) {
          spdlog::info("msg=ledger_check ok=true accounts={} entries={} duration_ms={}",
                       check.body.at("accounts").as_int64(), check.body.at("entries").as_int64(),
                       ms);
        } else {
          spdlog::error(
              "msg=ledger_check ok=false differences={} imbalance={} first={} duration_ms={}",
              check.differences, LogValue(check.body.at("imbalance").as_string()),
              LogValue(FirstDifferences(check.body.at("differences").as_array())), ms);
        }
        Metrics& metrics = Metrics::Get();
        (check.ok ? metrics.ledger_checks_ok : metrics.ledger_checks_failed).Increment();
        metrics.ledger_check_ok.Set(check.ok ? 1 : 0);
        metrics.ledger_check_differences.Set(static_cast<double>(check.differences));
        std::lock_guard lock(shared->mu);
        shared->in_flight = false;
        Verdict& v = shared->verdict;
        v.ran = true;
        v.ok = check.ok;
        v.differences = check.differences;
        v.duration_ms = ms;
        ++v.runs;
      },
      [shared](const Status& why) {
        spdlog::warn("msg=ledger_check_not_run error={}", LogValue(why.ToString()));
        std::lock_guard lock(shared->mu);
        shared->in_flight = false;
        ++shared->verdict.failed_runs;
      });
}

}  // namespace proofbook::server
