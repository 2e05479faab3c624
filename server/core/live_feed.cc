#include "server/core/live_feed.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/core/engine_runner.h"
#include "server/db/admin_lists.h"
#include "server/db/admin_reports.h"

namespace proofbook::server {

namespace json = boost::json;

namespace {

constexpr int64_t kProverBoardMaxAgeMs = 10'000;
constexpr int64_t kRecentRows = 10;  // settlements, slashings and provers in each snapshot

// The metrics' counters the dashboard charts (rates are differences between snapshots).
json::object Counters() {
  Metrics& m = Metrics::Get();
  auto v = [](prometheus::Counter& c) { return static_cast<int64_t>(c.Value()); };
  return json::object{
      {"orders_placed", v(m.orders_placed)},
      {"orders_completed", v(m.orders_completed)},
      {"orders_expired", v(m.orders_expired)},
      {"orders_failed", v(m.orders_failed)},
      {"assignments", v(m.assignments)},
      {"settlements", v(m.settlements)},
      {"slashes", v(m.slashes_missed_deadline) + v(m.slashes_invalid_proof)},
      {"ledger_check_ok", static_cast<int64_t>(m.ledger_check_ok.Value())},
      {"ledger_check_differences", static_cast<int64_t>(m.ledger_check_differences.Value())}};
}

}  // namespace

struct LiveFeed::Shared {
  std::mutex mu;
  std::string last;        // the last snapshot event; guarded by mu
  uint64_t version = 0;    // of `last`; guarded by mu
  bool stopped = false;    // guarded by mu
  bool in_flight = false;  // a snapshot is being read; guarded by mu
  std::vector<std::weak_ptr<class LiveSubscriber>> subscribers;  // guarded by mu
};

// One dashboard's stream: asks for the next event (Next), which waits for the next snapshot
// unless one it has not seen is there already.
class LiveSubscriber : public BodyStream {
 public:
  explicit LiveSubscriber(std::shared_ptr<LiveFeed::Shared> feed) : feed_(std::move(feed)) {}

  void Next(Deliver deliver) override {
    std::unique_lock lock(feed_->mu);
    if (feed_->stopped || cancelled_) {
      lock.unlock();
      return deliver("", Then::kEnd);
    }
    if (seen_ < feed_->version) {
      seen_ = feed_->version;
      std::string event = feed_->last;
      lock.unlock();
      return deliver(std::move(event), Then::kMore);
    }
    pending_ = std::move(deliver);
  }

  void Cancel() override {
    Deliver pending;
    {
      std::lock_guard lock(feed_->mu);
      cancelled_ = true;
      pending.swap(pending_);
    }
    if (pending) pending("", Then::kEnd);
  }

  // Under feed_->mu: takes the waiting Deliver, if any, marking `version` seen.
  Deliver TakePending(uint64_t version) {
    if (!pending_) return nullptr;
    seen_ = version;
    Deliver d;
    d.swap(pending_);
    return d;
  }

 private:
  const std::shared_ptr<LiveFeed::Shared> feed_;
  // Guarded by feed_->mu.
  Deliver pending_;
  uint64_t seen_ = 0;
  bool cancelled_ = false;
};

LiveFeed::LiveFeed(Database& db, std::chrono::milliseconds interval)
    : db_(db), interval_(interval), shared_(std::make_shared<Shared>()) {}

LiveFeed::~LiveFeed() { Stop(); }

void LiveFeed::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void LiveFeed::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<BodyStream::Deliver> ending;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopped = true;
    for (auto& weak : shared_->subscribers) {
      if (auto s = weak.lock()) {
        if (auto d = s->TakePending(shared_->version)) ending.push_back(std::move(d));
      }
    }
    shared_->subscribers.clear();
  }
  for (auto& d : ending) d("", BodyStream::Then::kEnd);
}

std::shared_ptr<BodyStream> LiveFeed::Subscribe() {
  auto s = std::make_shared<LiveSubscriber>(shared_);
  std::lock_guard lock(shared_->mu);
  std::erase_if(shared_->subscribers, [](const auto& w) { return w.expired(); });
  shared_->subscribers.push_back(s);
  return s;
}

void LiveFeed::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    Tick();
    lock.lock();
  }
}

void LiveFeed::Tick() {
  {
    std::lock_guard lock(shared_->mu);
    std::erase_if(shared_->subscribers, [](const auto& w) { return w.expired(); });
    if (shared_->subscribers.empty() || shared_->in_flight || shared_->stopped) return;
    shared_->in_flight = true;
  }
  std::shared_ptr<Shared> shared = shared_;
  Database& db = db_;
  db_.Run(
      "live feed",
      [shared, &db](DbSession& session) {
        AdminFilter recent;
        recent.limit = kRecentRows;
        json::object snapshot{
            {"at_ms", EngineRunner::WallClockMs()},
            {"counters", Counters()},
            {"books", ReadBooks(session)},
            {"settlements", ListAdmin(session, AdminList::kSettlements, recent).rows},
            {"slashings", ListAdmin(session, AdminList::kSlashings, recent).rows}};
        if (auto provers = ListProvers(session, "earned", kRecentRows)) {
          snapshot["provers"] = std::move(provers->at("provers"));
          snapshot["provers_as_of_ms"] = provers->at("as_of_ms");
        }
        RefreshProverBoardIfOld(db, session);
        std::string event = "event: snapshot\ndata: " + json::serialize(snapshot) + "\n\n";
        std::vector<BodyStream::Deliver> ready;
        uint64_t version = 0;
        {
          std::lock_guard lock(shared->mu);
          shared->in_flight = false;
          shared->last = event;
          version = ++shared->version;
          for (auto& weak : shared->subscribers) {
            if (auto s = weak.lock()) {
              if (auto d = s->TakePending(version)) ready.push_back(std::move(d));
            }
          }
        }
        for (auto& d : ready) d(event, BodyStream::Then::kMore);
      },
      [shared](const Status& why) {
        spdlog::debug("msg=live_feed_skipped error={}", LogValue(why.ToString()));
        std::lock_guard lock(shared->mu);
        shared->in_flight = false;
      });
}

void RefreshProverBoardIfOld(Database& db, DbSession& session) {
  static std::atomic<bool> refreshing{false};
  if (ProverBoardAgeMs(session) <= kProverBoardMaxAgeMs || refreshing.exchange(true)) return;
  db.Run(
      "prover board refresh",
      [](DbSession& s) {
        RefreshProverBoard(s);
        refreshing.store(false);
      },
      [](const Status&) { refreshing.store(false); });
}

}  // namespace proofbook::server
