// EngineRunner: the server's spine. Owns the matching::Engine, the engine thread and the
// journal thread:
//
//   front ends --Submit()--> MPSC inbox --> ENGINE THREAD: Apply, build the reply, collect the
//   events and state images into a batch --> SPSC --> JOURNAL THREAD: merge every waiting batch,
//   write them in ONE PostgreSQL transaction (group commit), COMMIT, then answer the replies.
//
// Nothing is answered before its events are committed. When a commit fails, every reply of
// that batch and of every batch applied after it gets 503, the runner stops taking work
// (healthy() is false, Submit refuses), and once PostgreSQL answers again the engine is rebuilt
// from what was committed (LoadState + Engine::Restore): acknowledged work is never lost, and
// unacknowledged work is never half-kept.
//
// One writer: the runner writes only under the WriterLease taken before Start (its epoch
// fences every batch, server/journal/journal.h). A rebuild first re-takes the lease, which starts a
// new epoch; while another server holds it, the runner stays unhealthy (503s) and retries, a
// standby until the lease frees.
//
// Stored proofs: at Start and at each rebuild, the proofs RecoveredState::stored_proofs lists
// are delivered to the engine before its first Tick and journaled before any other work, so a
// crash between storing a proof and journaling its delivery does not slash the prover.
//
// Idempotency: a PlaceOrder with a (sequencer, client_order_id) already seen, or a Deposit
// with a reference already used, is not applied again; its reply builder is called with
// `duplicate_of` set (the order id; for a deposit, 1). A reference reused for another account
// or amount is a 409.
//
// Thread rules: Submit, healthy and the counters are thread-safe; Start and Stop are called
// from one thread. Reply builders run on the engine thread and may read the Engine; Committed
// callbacks run on the journal thread and must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>

#include "matching/engine.h"
#include "matching/mpsc_ring.h"
#include "matching/spsc_ring.h"
#include "matching/status.h"
#include "server/core/client_order_index.h"
#include "server/journal/journal_batch.h"
#include "server/journal/recovery.h"
#include "server/journal/writer_lease.h"

namespace proofbook::server {

// Reads a command's outcome on the engine thread, from its events and the engine's state at
// that instant, into a typed result the builder keeps (core/operations.h); for a replayed order,
// `events` is empty and `duplicate_of` names the original. The runner knows no wire format.
using ReplyBuilder =
    std::function<void(const matching::Engine& engine, std::span<const matching::Event> events,
                       matching::OrderId duplicate_of)>;
// Told once whether the command's outcome is durable: ok after COMMIT; otherwise why the
// command was not applied or not committed (503 commit failed or recovering, 409 a replay that
// reuses a key with other parameters). Its result counts only when the Status is ok.
using Committed = std::function<void(const Status& status)>;

// The engine's DrawSource when vrf orders are served (core/vrf_keyring.h): besides each draw's
// word it keeps the draw's record (alpha, pi, beta), which the runner moves into the batch right
// after every Apply, so a draw is committed with the events that used it. Engine thread only.
class DrawRecorder : public matching::DrawSource {
 public:
  virtual void MoveDraws(std::vector<VrfDrawRecord>& into) = 0;
};

// The fields of the row a CreateAccount or CreateMarket makes that the engine does not hold:
// written by the journal with the engine's acceptance, never before.
using CreatedRow = std::variant<std::monostate, AccountExtra, MarketExtra>;

struct Submission {
  matching::Command command;      // ref and now are set by the runner
  OrderExtra extra;               // PlaceOrder only: client_order_id (may be empty) and inputs
  std::string deposit_reference;  // Deposit only: idempotency key (may be empty)
  CreatedRow created;             // CreateAccount / CreateMarket: the new row's other fields
  std::vector<std::string> leaf_inputs;  // PlaceTree only: leaf i's inputs (minified JSON)
  ReplyBuilder reply;                    // runs on the engine thread right after Apply
  Committed committed;                   // called once, after COMMIT (or with why not)
};

class EngineRunner {
 public:
  struct Options {
    std::string database_url;
    std::size_t inbox_capacity = 1 << 14;         // submissions waiting; beyond: 503 overloaded
    std::size_t journal_capacity = 64;            // batches waiting for the journal
    std::size_t max_batch_events = 1 << 14;       // one batch's events before it is handed over
    std::chrono::milliseconds tick_interval{10};  // deadline resolution
    std::chrono::milliseconds reconnect_interval{500};
    // Called after each COMMIT, after the replies; must not block. On the journal thread,
    // and for the batch of adopted stored proofs on the thread that restores the engine (the
    // caller of Start, or the engine thread in a rebuild): so it must be thread-safe.
    std::function<void(const JournalBatch&)> on_commit;
    // Called on the engine thread after a rebuild (the adopted proofs are committed by then);
    // must not block.
    std::function<void()> on_rebuilt;
    // Called on the engine thread when a rebuild finds the write lease held by another
    // server (once per loss); must not block.
    std::function<void()> on_lease_lost;
    // Held (Acquire()d) before Start; used by the engine thread after. Required; outlives us.
    WriterLease* lease = nullptr;
    // vrf orders' draws; null: they are refused vrf_unavailable. Outlives us.
    DrawRecorder* draws = nullptr;
    // Proofs received and not yet delivered (matching/receipt_source.h); null: none. Outlives
    // us.
    const matching::ReceiptSource* receipts = nullptr;
  };

  // `state` must have been loaded after options.lease was acquired.
  EngineRunner(Options options, RecoveredState state);
  ~EngineRunner();  // Stop()s
  EngineRunner(const EngineRunner&) = delete;
  EngineRunner& operator=(const EngineRunner&) = delete;

  // Restores the engine, delivers and journals the stored proofs, starts both threads.
  Status Start();
  void Stop();  // finishes what was submitted (committing it if it can), joins

  // False when the inbox is full or the runner is recovering: answer 503 at once.
  [[nodiscard]] bool Submit(std::unique_ptr<Submission> submission);

  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  // The wall clock the engine's time comes from (ms since the epoch; Now() keeps it from going
  // back), for times taken elsewhere that the engine compares with its own (a proof's arrival).
  static matching::Timestamp WallClockMs();
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  // Submissions waiting for the engine thread, and batches for the journal thread (for
  // metrics: approximate, from any thread).
  std::size_t inbox_depth() const {
    const uint64_t pushed = inbox_pushed_.load(std::memory_order_relaxed);
    const uint64_t popped = inbox_popped_.load(std::memory_order_relaxed);
    return pushed > popped ? pushed - popped : 0;
  }
  std::size_t journal_depth() const { return journal_ring_.size_approx(); }
  // Batches handed to the journal and not yet committed (or failed).
  int batches_in_flight() const { return in_flight_.load(); }
  // How many times a submission woke the sleeping engine thread (none while a batch is in
  // flight: Submit).
  uint64_t submission_wakeups() const {
    return submission_wakeups_.load(std::memory_order_relaxed);
  }

  struct Pending;  // a built reply waiting for its batch COMMIT
  struct Batch;

 private:
  void EngineLoop();
  void JournalLoop();
  void ApplyOne(Submission& submission, matching::Timestamp now);
  void ApplyTick(matching::Timestamp now);
  void Collect(std::span<const matching::Event> events);
  Status AppendWithDraws(const matching::Engine& engine, std::span<const matching::Event> events,
                         JournalBatch& batch);
  bool HandOver(bool force);
  void JournalDone(int batches);  // journal thread: `batches` popped batches are written
  // Wakes the thread parked on `cv` if `sleeping` says it is about to or does; the work it must
  // see was published before the call.
  // Returns whether it woke it.
  bool WakeIfSleeping(std::atomic<bool>& sleeping, std::condition_variable& cv);
  // Builds the engine from `state` under fencing epoch `epoch` and journals the delivery of its
  // stored proofs (on `conn`, opened if null and needed); the runner's engine, keys, next seq
  // and epoch change only if all of that succeeded. Takes the request hashes out of `state`.
  Status RestoreFrom(RecoveredState& state, uint64_t epoch, DbSession* session);
  void FailEverything(const Status& why);
  bool Rebuild();
  matching::Timestamp Now();

  // Constant after construction.
  const Options options_;

  // Owned by the engine thread (set up before it starts).
  std::unique_ptr<matching::Engine> engine_;
  RecoveredState recovered_;
  ClientOrderIndex client_orders_;
  struct DepositKey {
    matching::AccountId account;
    matching::Amount amount;
  };
  std::unordered_map<std::string, DepositKey> deposit_references_;
  std::unique_ptr<Batch> current_;
  uint64_t next_seq_ = 1;
  uint64_t next_ref_ = 1;
  matching::Timestamp last_now_ = 0;

  matching::MpscRing<Submission*> inbox_;
  std::atomic<uint64_t> inbox_pushed_{0};  // submissions taken by inbox_, for inbox_depth()
  std::atomic<uint64_t> inbox_popped_{0};  // engine thread only writes
  std::atomic<uint64_t> submission_wakeups_{0};
  matching::SpscRing<Batch*> journal_ring_;

  // Wake-ups: the engine thread parks here when idle; the journal thread too.
  std::mutex mu_;
  std::condition_variable engine_cv_;
  std::condition_variable journal_cv_;
  // Set true under mu_ by the thread itself before it looks for work a last time; the first
  // producer to see it true clears it and wakes the thread (WakeIfSleeping), the others need not.
  std::atomic<bool> engine_sleeping_{false};
  std::atomic<bool> journal_sleeping_{false};
  bool engine_done_ = false;  // guarded by mu_: the engine thread has handed over its last batch

  std::atomic<bool> stopping_{false};
  std::atomic<bool> healthy_{false};
  std::atomic<bool> failed_{false};  // a commit failed: the engine thread must rebuild
  // The writer epoch the engine was built under (WriterLease): new at each rebuild; batches of
  // older ones are dropped, and the journal refuses them anyway.
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint64_t> commits_{0};
  // Batches handed to the journal thread and not yet written. While one is being written the
  // engine thread keeps growing the next instead of handing over small ones: one batch in
  // flight, one filling, so a commit carries everything that arrived during the previous one.
  std::atomic<int> in_flight_{0};
  std::thread engine_thread_;
  std::thread journal_thread_;
};

}  // namespace proofbook::server
