#include "server/core/engine_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/base/failpoint.h"
#include "server/base/huge_pages.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/db/session.h"
#include "server/journal/journal.h"

namespace proofbook::server {

struct EngineRunner::Pending {
  Committed committed;
  Status status = Status::Ok();  // the runner's own refusal (a reused key), else ok
};

struct EngineRunner::Batch {
  JournalBatch data;
  std::vector<Pending> pending;
  uint64_t epoch = 0;  // the engine incarnation that produced it; stale ones are never written
};

namespace {

// What the market did, counted once its events are committed (Metrics, base/metrics.h).
void CountOutcomes(const std::vector<matching::Event>& events) {
  using matching::EventKind;
  Metrics& m = Metrics::Get();
  for (const matching::Event& e : events) {
    switch (e.kind) {
      case EventKind::kAccepted:
        if (e.command == matching::CommandKind::kPlaceOrder) m.orders_placed.Increment();
        break;
      case EventKind::kRejected:
        m.commands_rejected.Increment();
        break;
      case EventKind::kAssigned:
      case EventKind::kReassigned:  // re-matched after a miss or an invalid proof
        m.assignments.Increment();
        break;
      case EventKind::kSettled:
        m.settlements.Increment();
        break;
      case EventKind::kUncleRewarded:
        m.uncle_rewards.Increment();
        break;
      case EventKind::kSlashed:
        (e.reason == matching::Reason::kInvalidProof ? m.slashes_invalid_proof
                                                     : m.slashes_missed_deadline)
            .Increment();
        break;
      case EventKind::kOrderCompleted:
        m.orders_completed.Increment();
        break;
      case EventKind::kOrderExpired:
        m.orders_expired.Increment();
        break;
      case EventKind::kOrderCancelled:
        m.orders_cancelled.Increment();
        break;
      case EventKind::kOrderFailed:
        m.orders_failed.Increment();
        break;
      default:
        break;
    }
  }
}

const Status kCommitFailed(StatusCode::kUnavailable,
                           "the database did not confirm the write; nothing was acknowledged, "
                           "retry (orders with a client_order_id are safe to retry)");
const Status kRecovering(StatusCode::kUnavailable,
                         "the engine is recovering from a database outage");

// Appends `from`'s images into `into`, the later image of a record replacing the earlier.
template <typename T>
void MergeImages(std::vector<T>& into, std::vector<T>& from) {
  if (from.empty()) return;
  std::unordered_map<decltype(T{}.id), std::size_t> where;
  where.reserve(into.size());
  for (std::size_t i = 0; i < into.size(); ++i) where[into[i].id] = i;
  for (auto& image : from) {
    auto it = where.find(image.id);
    if (it == where.end()) {
      where[image.id] = into.size();
      into.push_back(std::move(image));
    } else {
      into[it->second] = std::move(image);
    }
  }
}

// Folds a later batch into an earlier one: events stay in seq order, images last-wins.
void Merge(EngineRunner::Batch& into, EngineRunner::Batch& from) {
  JournalBatch& a = into.data;
  JournalBatch& b = from.data;
  for (auto& d : b.deposit_extras) {  // indexes into b.events, which now follow a's
    d.event += a.events.size();
    a.deposit_extras.push_back(std::move(d));
  }
  a.events.insert(a.events.end(), b.events.begin(), b.events.end());
  MergeImages(a.accounts, b.accounts);
  MergeImages(a.markets, b.markets);
  MergeImages(a.orders, b.orders);
  MergeImages(a.offers, b.offers);
  MergeImages(a.assignments, b.assignments);
  for (auto& extra : b.order_extras) a.order_extras.push_back(std::move(extra));
  for (auto& tree : b.new_trees) a.new_trees.push_back(std::move(tree));
  for (auto& extra : b.account_extras) a.account_extras.push_back(std::move(extra));
  for (auto& extra : b.market_extras) a.market_extras.push_back(std::move(extra));
  // A record is forgotten at most once, and never touched after: closed entries just append.
  a.closed_orders.insert(a.closed_orders.end(), b.closed_orders.begin(), b.closed_orders.end());
  a.closed_assignments.insert(a.closed_assignments.end(), b.closed_assignments.begin(),
                              b.closed_assignments.end());
  a.ids = b.ids;
  for (auto& p : from.pending) into.pending.push_back(std::move(p));
}

void Answer(std::vector<EngineRunner::Pending>& pending, const Status* failure) {
  for (auto& p : pending) {
    p.committed(failure != nullptr ? *failure : p.status);
  }
  pending.clear();
}

}  // namespace

EngineRunner::EngineRunner(Options options, RecoveredState state)
    : options_(std::move(options)),
      recovered_(std::move(state)),
      inbox_(options_.inbox_capacity),
      journal_ring_(options_.journal_capacity) {}

EngineRunner::~EngineRunner() { Stop(); }

Status EngineRunner::Start() {
  if (options_.lease == nullptr || options_.lease->epoch() == 0) {
    return Status(StatusCode::kInternal, "engine runner started without the write lease");
  }
  if (Status s = RestoreFrom(recovered_, options_.lease->epoch(), nullptr); !s.ok()) return s;
  recovered_ = {};  // the snapshot is in the engine now
  current_ = std::make_unique<Batch>();
  healthy_.store(true, std::memory_order_release);
  engine_thread_ = std::thread([this] { EngineLoop(); });
  journal_thread_ = std::thread([this] { JournalLoop(); });
  return Status::Ok();
}

void EngineRunner::Stop() {
  if (!engine_thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_.store(true);
  }
  engine_cv_.notify_all();
  engine_thread_.join();
  {
    std::lock_guard lock(mu_);
    engine_done_ = true;
  }
  journal_cv_.notify_all();
  journal_thread_.join();
  healthy_.store(false);
}

Status EngineRunner::RestoreFrom(RecoveredState& state, uint64_t epoch, DbSession* conn) {
  // The idempotency keys need nothing of the engine, so a second thread builds them meanwhile:
  // with a million orders each side is one to two seconds of a core on the loadtest VM
  // (loadtest/REPORT_RESTART.md). Joined on every return (jthread); taken only on success.
  ClientOrderIndex keys;
  int64_t keys_ms = 0;
  std::jthread keys_builder([&state, &keys, &keys_ms] {
    ScopedHugePageArena huge_pages;  // as the restoring thread's (server/base/huge_pages.h)
    const auto start = std::chrono::steady_clock::now();
    keys.Reserve(state.client_orders.size());
    for (RecoveredState::ClientOrder& c : state.client_orders) {
      keys.Insert(c.account, c.client_id, c.order, c.request_sha256);
    }
    keys_ms = MillisecondsSince(start);
  });
  // Sized for what is restored: the rebuild then grows nothing.
  matching::EngineOptions sizes{.draws = options_.draws, .receipts = options_.receipts};
  const matching::Snapshot& snap = state.snapshot;
  sizes.accounts = std::max(sizes.accounts, snap.accounts.size());
  sizes.orders = std::max(sizes.orders, snap.orders.size());
  sizes.offers = std::max(sizes.offers, snap.offers.size());
  sizes.assignments = std::max(sizes.assignments, snap.assignments.size());
  const auto restore_start = std::chrono::steady_clock::now();
  auto engine = std::make_unique<matching::Engine>(sizes);
  if (Status s = engine->Restore(state.snapshot); !s.ok()) {
    return Status(StatusCode::kInternal, "engine restore failed: " + s.ToString());
  }
  const int64_t restore_ms = MillisecondsSince(restore_start);
  uint64_t next_seq = state.next_seq;
  // Before any other Tick, so nobody pays for the time nothing ran: stored proofs received by
  // their due time are delivered (judged at their receipt), then the first Tick hands the
  // outage's time back to the due times it swallowed, then the stored proofs received after
  // their due time are delivered: one that came while nothing ran (the gateway stored it, the
  // engine was down or rebuilding) is judged against its extended due time, so it is on time
  // (loadtest/chaos.sh: 6 honest proofs stored just before a rebuild were slashed as late).
  // All of it is journaled here, before any other work.
  JournalBatch batch;
  // The journal's time never goes back, across restarts too (a wall clock set back while the
  // server was down): its tables are in time order, which the admin listings' time filters use.
  last_now_ = std::max(last_now_, state.last_event_at);
  const matching::Timestamp now = Now();
  std::unordered_map<matching::AssignmentId, matching::Timestamp> due_at;
  for (const matching::AssignmentState& a : state.snapshot.assignments) due_at[a.id] = a.due_at;
  auto deliver = [&](const matching::ProofDelivered& p) -> Status {
    auto events = engine->Apply(matching::Command{next_ref_++, now, p});
    if (!events.empty()) {
      spdlog::info("msg=stored_proof_adopted assignment={} prover={} received_at_ms={} outcome={}",
                   p.assignment, p.account, p.received_at,
                   matching::EventKindName(events.front().kind));
    }
    return AppendWithDraws(*engine, events, batch);
  };
  std::vector<const matching::ProofDelivered*> after_due;
  for (const matching::ProofDelivered& p : state.stored_proofs) {
    auto due = due_at.find(p.assignment);
    if (due != due_at.end() && p.received_at > due->second) {
      after_due.push_back(&p);
      continue;
    }
    if (Status s = deliver(p); !s.ok()) return s;
  }
  if (state.last_event_at > 0) {
    auto events = engine->Apply(
        matching::Command{0, now, matching::Tick{.outage_since = state.last_event_at}});
    std::size_t extended = 0;
    for (const matching::Event& e : events) extended += e.kind == matching::EventKind::kDueExtended;
    if (extended > 0) {
      spdlog::info("msg=due_times_extended count={} outage_since_ms={} now_ms={}", extended,
                   state.last_event_at, now);
    }
    if (Status s = AppendWithDraws(*engine, events, batch); !s.ok()) return s;
  }
  for (const matching::ProofDelivered* p : after_due) {
    if (Status s = deliver(*p); !s.ok()) return s;
  }
  if (!batch.empty()) {
    batch.first_seq = next_seq;
    batch.ids = engine->GetIds();
    batch.writer_epoch = epoch;
    std::unique_ptr<DbSession> own;
    if (conn == nullptr) {
      auto opened = Connect(options_.database_url);
      if (!opened) return opened.error();
      own = std::move(opened).value();
      conn = own.get();
    }
    Journal journal;
    if (Status s = journal.WriteBatch(*conn, batch); !s.ok()) return s;
    next_seq += batch.events.size();
    // As after any commit: a late adopted proof may have reassigned its order to a prover
    // who must hear of it, and long polls may be waiting.
    if (options_.on_commit) options_.on_commit(batch);
  }
  engine_ = std::move(engine);
  keys_builder.join();
  client_orders_ = std::move(keys);
  deposit_references_.clear();
  for (const auto& [reference, account, amount] : state.deposit_references) {
    deposit_references_[reference] = DepositKey{account, amount};
  }
  spdlog::info("msg=engine_restored restore_ms={} keys_ms={} client_orders={}", restore_ms, keys_ms,
               state.client_orders.size());
  next_seq_ = next_seq;
  epoch_.store(epoch);
  return Status::Ok();
}

bool EngineRunner::Submit(std::unique_ptr<Submission> submission) {
  if (!healthy_.load(std::memory_order_acquire) || stopping_.load(std::memory_order_relaxed)) {
    return false;
  }
  Submission* raw = submission.release();
  if (!inbox_.try_push(raw)) {
    delete raw;
    Metrics::Get().inbox_full.Increment();
    return false;
  }
  inbox_pushed_.fetch_add(1, std::memory_order_relaxed);
  // While a batch is being committed the engine thread is not woken for a submission: whatever
  // it applies now is answered after the next commit either way, and JournalDone wakes it to
  // take everything that came meanwhile in one go (EngineLoop). Woken for each, it slept and
  // woke ~3,000 times a second at the maximum rate, each a futex call and a switch on both
  // sides (loadtest/REPORT.md, session 19).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (in_flight_.load() == 0 && WakeIfSleeping(engine_sleeping_, engine_cv_)) {
    submission_wakeups_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

bool EngineRunner::WakeIfSleeping(std::atomic<bool>& sleeping, std::condition_variable& cv) {
  // The sleeper stores `sleeping`, fences, then looks for work (and at in_flight_); the producer
  // publishes work (or changes in_flight_), fences, then reads `sleeping`: at least one of the
  // two sees the other's store. A wake-up lost anyway would cost the tick (10 ms), not a hang.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!sleeping.load(std::memory_order_relaxed) || !sleeping.exchange(false)) return false;
  // The sleeper holds mu_ from storing `sleeping` until it waits: once mu_ is ours it either
  // waits (and the notify reaches it) or it is past the wait. The notify comes after unlocking,
  // so the woken thread does not block at once on a mutex its waker still holds (measured at
  // ~3,000 wake-ups a second at the maximum order rate: loadtest/REPORT.md, session 19).
  { std::lock_guard lock(mu_); }
  cv.notify_one();
  return true;
}

matching::Timestamp EngineRunner::WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

matching::Timestamp EngineRunner::Now() {
  // The engine needs time that never goes back; the wall clock can (NTP steps).
  last_now_ = std::max<matching::Timestamp>(last_now_, WallClockMs());
  return last_now_;
}

void EngineRunner::ApplyOne(Submission& s, matching::Timestamp now) {
  s.command.ref = next_ref_++;
  s.command.now = now;
  // The API speaks in durations ("deadline in 30 s"); the engine in times. Anchoring them here,
  // to the clock the engine runs on, keeps the engine's view of time in one place.
  if (auto* o = std::get_if<matching::PlaceOrder>(&s.command.body)) o->deadline += now;
  if (auto* t = std::get_if<matching::PlaceTree>(&s.command.body)) t->deadline += now;
  if (auto* o = std::get_if<matching::PlaceOffer>(&s.command.body); o && o->expires_at != 0) {
    o->expires_at += now;
  }
  Pending pending{std::move(s.committed)};

  const auto* order = std::get_if<matching::PlaceOrder>(&s.command.body);
  if (order != nullptr && !s.extra.client_order_id.empty()) {
    if (const ClientOrderIndex::Entry* found =
            client_orders_.Find(order->account, s.extra.client_order_id)) {
      // A replay: nothing is applied; the answer still waits for the batch that holds the
      // original, so it never reports an order that is not yet durable.
      const ClientOrderIndex::Entry& original = *found;
      if (original.request_sha256 && s.extra.request_sha256 &&
          *original.request_sha256 != *s.extra.request_sha256) {
        pending.status = Status(StatusCode::kConflict,
                                "client_order_id was already used for order " +
                                    std::to_string(original.order) + " with other parameters",
                                "client_order_id")
                             .WithReason("idempotency_key_reused");
      } else {
        s.reply(*engine_, {}, original.order);
      }
      current_->pending.push_back(std::move(pending));
      return;
    }
  }

  const auto* deposit = std::get_if<matching::Deposit>(&s.command.body);
  if (deposit != nullptr && !s.deposit_reference.empty()) {
    if (auto it = deposit_references_.find(s.deposit_reference); it != deposit_references_.end()) {
      if (it->second.account != deposit->account || it->second.amount != deposit->amount) {
        pending.status = Status(StatusCode::kConflict, "reference already used for another deposit",
                                "reference");
      } else {
        s.reply(*engine_, {}, /*duplicate_of=*/1);
      }
      current_->pending.push_back(std::move(pending));  // answered after the original commits
      return;
    }
  }

  std::size_t first_event = current_->data.events.size();
  auto events = engine_->Apply(s.command);
  Collect(events);
  if (deposit != nullptr && !s.deposit_reference.empty() && !events.empty() &&
      events.front().kind == matching::EventKind::kAccepted) {
    deposit_references_[s.deposit_reference] = DepositKey{deposit->account, deposit->amount};
    current_->data.deposit_extras.push_back(
        DepositExtra{s.deposit_reference, deposit->account, deposit->amount, first_event});
  }
  const bool accepted = !events.empty() && events.front().kind == matching::EventKind::kAccepted;
  if (accepted && !s.leaf_inputs.empty()) {
    // A tree's leaves: AppendToBatch gave each node order an extra; the leaves' carry inputs.
    std::vector<OrderExtra>& extras = current_->data.order_extras;
    std::size_t next = extras.size();
    for (auto e = events.rbegin(); e != events.rend(); ++e) {
      if (e->kind != matching::EventKind::kTreeNodePlaced) continue;
      while (next > 0 && extras[next - 1].id != e->order) --next;
      if (next == 0) break;
      if (static_cast<std::size_t>(e->value) < s.leaf_inputs.size()) {
        extras[next - 1].inputs_json = std::move(s.leaf_inputs[static_cast<std::size_t>(e->value)]);
      }
    }
  }
  if (order != nullptr && accepted) {
    s.extra.id = events.front().order;
    if (!s.extra.client_order_id.empty()) {
      client_orders_.Insert(order->account, s.extra.client_order_id, s.extra.id,
                            s.extra.request_sha256);
    }
    current_->data.order_extras.push_back(std::move(s.extra));
  }
  if (accepted && !std::holds_alternative<std::monostate>(s.created)) {
    if (auto* a = std::get_if<AccountExtra>(&s.created)) {
      current_->data.account_extras.push_back(std::move(*a));
    } else {
      current_->data.market_extras.push_back(std::move(std::get<MarketExtra>(s.created)));
    }
    Failpoint("created_not_committed");
  }
  s.reply(*engine_, events, 0);
  current_->pending.push_back(std::move(pending));
}

void EngineRunner::ApplyTick(matching::Timestamp now) {
  matching::Command tick{0, now, matching::Tick{}};
  Collect(engine_->Apply(tick));
}

Status EngineRunner::AppendWithDraws(const matching::Engine& engine,
                                     std::span<const matching::Event> events, JournalBatch& batch) {
  // The draws the engine made for these events go in the same batch (one transaction).
  if (options_.draws) options_.draws->MoveDraws(batch.draws);
  return AppendToBatch(engine, events, &batch);
}

void EngineRunner::Collect(std::span<const matching::Event> events) {
  if (Status s = AppendWithDraws(*engine_, events, current_->data); !s.ok()) {
    // The engine and its own events disagree: a bug. Writing this batch could store a wrong
    // state, so treat it like a failed commit: answer 503 and rebuild from PostgreSQL.
    spdlog::error("msg=journal_batch_inconsistent error={}", LogValue(s.ToString()));
    healthy_.store(false, std::memory_order_release);
    failed_.store(true);
  }
}

// Hands the current batch to the journal when there is anything in it and room in the ring
// (or `force`, which waits for room). Returns false when it could not.
bool EngineRunner::HandOver(bool force) {
  if (failed_.load()) return false;  // EngineLoop answers and drops it
  if (current_->data.events.empty() && current_->pending.empty()) return true;
  // Group commit: while the journal writes a batch, the next one keeps filling.
  if (!force && in_flight_.load() > 0) return true;
  current_->data.first_seq = next_seq_;
  current_->data.ids = engine_->GetIds();
  current_->epoch = epoch_.load();
  current_->data.writer_epoch = current_->epoch;
  // Read before the push: from then on the journal thread owns the batch and may free it.
  const std::size_t events = current_->data.events.size();
  Batch* raw = current_.get();
  for (;;) {
    if (journal_ring_.try_push(raw)) break;
    if (!force || failed_.load()) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  in_flight_.fetch_add(1);
  (void)current_.release();  // owned by the journal thread now
  next_seq_ += events;
  current_ = std::make_unique<Batch>();
  (void)WakeIfSleeping(journal_sleeping_, journal_cv_);
  return true;
}

void EngineRunner::EngineLoop() {
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    if (failed_.load()) {
      // What was applied since the last COMMIT is not durable: answer 503, drop it, and
      // rebuild the engine from what PostgreSQL has.
      Answer(current_->pending, &kCommitFailed);
      current_ = std::make_unique<Batch>();
      Submission* raw = nullptr;
      while (inbox_.try_pop(raw)) {
        inbox_popped_.fetch_add(1, std::memory_order_relaxed);
        std::unique_ptr<Submission> s(raw);
        s->committed(kRecovering);
      }
      if (!Rebuild()) return;  // stopping
      continue;
    }

    bool worked = false;
    Submission* raw = nullptr;
    while (current_->data.events.size() < options_.max_batch_events && !failed_.load() &&
           inbox_.try_pop(raw)) {
      inbox_popped_.fetch_add(1, std::memory_order_relaxed);
      std::unique_ptr<Submission> s(raw);
      ApplyOne(*s, Now());
      worked = true;
    }
    auto steady = std::chrono::steady_clock::now();
    if (steady >= next_tick) {
      ApplyTick(Now());
      next_tick = steady + options_.tick_interval;
    }
    // Big batches wait for room; small ones go when the journal can take them, and otherwise
    // keep growing, which is what makes the commit a group commit.
    HandOver(current_->data.events.size() >= options_.max_batch_events);

    if (stopping_.load() && !worked) {
      if (inbox_.empty()) {
        HandOver(/*force=*/true);
        return;
      }
      continue;
    }
    if (worked) continue;
    std::unique_lock lock(mu_);
    engine_sleeping_.store(true);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with WakeIfSleeping's
    // Sleep unless there is work to do now: a filled batch the journal can take, or submissions
    // while no batch is being committed. Those that come while one is wait for JournalDone (or
    // the tick): they could not be answered before the next commit anyway (Submit).
    const bool committing = in_flight_.load() > 0;
    const bool can_hand_over =
        !committing && !(current_->data.events.empty() && current_->pending.empty());
    if ((inbox_.empty() || committing) && !can_hand_over && !stopping_.load()) {
      engine_cv_.wait_until(lock, next_tick);
    }
    engine_sleeping_.store(false, std::memory_order_relaxed);
  }
}

bool EngineRunner::Rebuild() {
  spdlog::warn("msg=engine_rebuild_started");
  std::string last_error;
  while (!stopping_.load()) {
    ScopedHugePageArena huge_pages;  // the rebuilt engine's memory (server/base/huge_pages.h)
    // The lease first: a new epoch fences every batch of the engine we are replacing, and the
    // state loaded after it is final for that epoch.
    Status status = Status::Ok();
    auto epoch = options_.lease->Acquire();
    if (!epoch) {
      status = epoch.error();
    } else if (auto conn = Connect(options_.database_url); !conn) {
      status = conn.error();
    } else if (auto state = LoadState(**conn); !state) {
      status = state.error();
    } else {
      status = RestoreFrom(*state, *epoch, conn->get());
      if (status.ok()) {
        failed_.store(false);  // after epoch_: the journal drops stale batches
        healthy_.store(true, std::memory_order_release);
        spdlog::info("msg=engine_rebuilt next_seq={} writer_epoch={}", next_seq_, *epoch);
        if (options_.on_rebuilt) options_.on_rebuilt();
        return true;
      }
    }
    // The same reason again and again (a standby waiting for the lease) is logged once.
    if (status.message() != last_error) {
      last_error = status.message();
      if (status.code() == StatusCode::kConflict) {
        spdlog::warn("msg=write_lease_lost standby=true error={}", LogValue(last_error));
        if (options_.on_lease_lost) options_.on_lease_lost();
      } else {
        // A database that holds a state the engine refuses is a bug, not an outage: keep
        // refusing work rather than serving from a wrong state.
        spdlog::error("msg=engine_rebuild_failed error={}", LogValue(last_error));
      }
    }
    std::unique_lock lock(mu_);
    engine_cv_.wait_for(lock, options_.reconnect_interval, [this] { return stopping_.load(); });
  }
  return false;
}

namespace {
constexpr int64_t kSlowCommitMs = 100;
}  // namespace

void EngineRunner::JournalDone(int batches) {
  in_flight_.fetch_sub(batches);
  // The engine thread may be parked with a filled batch, or with submissions, waiting for this.
  (void)WakeIfSleeping(engine_sleeping_, engine_cv_);
}

void EngineRunner::JournalLoop() {
  Journal journal;
  std::unique_ptr<DbSession> conn;
  for (;;) {
    Batch* raw = nullptr;
    if (!journal_ring_.try_pop(raw)) {
      std::unique_lock lock(mu_);
      if (engine_done_ && journal_ring_.size_approx() == 0) return;
      journal_sleeping_.store(true);
      std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with WakeIfSleeping's
      if (journal_ring_.size_approx() == 0) {
        journal_cv_.wait_for(lock, std::chrono::milliseconds(5));
      }
      journal_sleeping_.store(false, std::memory_order_relaxed);
      continue;
    }
    std::unique_ptr<Batch> batch(raw);
    int popped = 1;
    // Only forced hand-overs (a full batch, shutdown) queue more than one: write them together.
    while (batch->data.events.size() < 4 * options_.max_batch_events &&
           journal_ring_.try_pop(raw)) {
      std::unique_ptr<Batch> later(raw);
      ++popped;
      if (later->epoch != batch->epoch) {  // never mix incarnations
        Answer(later->pending, &kCommitFailed);
        continue;
      }
      Merge(*batch, *later);
    }
    // However this batch ends, the engine thread may hand over the next one after it: once it
    // is committed, before its replies are answered (rendering ~100 replies is ~1 ms the commit
    // pipeline need not wait for: the next batch is handed over meanwhile and written after).
    struct Done {
      EngineRunner* self;
      int popped;
      void Release() {
        if (popped > 0) self->JournalDone(std::exchange(popped, 0));
      }
      ~Done() { Release(); }
    } done{this, popped};
    if (failed_.load() || batch->epoch != epoch_.load()) {
      Answer(batch->pending, &kCommitFailed);
      continue;
    }
    Status status = EnsureConnected(conn, options_.database_url);
    const auto write_start = std::chrono::steady_clock::now();
    if (conn) status = journal.WriteBatch(*conn, batch->data);
    const int64_t write_ms = MillisecondsSince(write_start);
    if (write_ms >= kSlowCommitMs) {
      // Every reply of the batch waited this long: worth a line when it is out of the ordinary.
      spdlog::warn("msg=journal_slow_commit ms={} events={} replies={} ok={}", write_ms,
                   batch->data.events.size(), batch->pending.size(), status.ok());
    }
    Metrics& metrics = Metrics::Get();
    metrics.journal_commit_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count());
    if (status.ok()) {
      done.Release();
      commits_.fetch_add(1, std::memory_order_relaxed);
      metrics.journal_batch_events.Observe(static_cast<double>(batch->data.events.size()));
      CountOutcomes(batch->data.events);
      Answer(batch->pending, nullptr);
      if (options_.on_commit) options_.on_commit(batch->data);
      continue;
    }
    metrics.journal_commit_failures.Increment();
    spdlog::error("msg=journal_commit_failed first_seq={} events={} error={}",
                  batch->data.first_seq, batch->data.events.size(), LogValue(status.ToString()));
    conn.reset();
    healthy_.store(false, std::memory_order_release);
    failed_.store(true);
    Answer(batch->pending, &kCommitFailed);
    std::lock_guard lock(mu_);
    engine_cv_.notify_one();
  }
}

}  // namespace proofbook::server
