// The journal and recovery against a real PostgreSQL. Random engine runs are journaled batch
// by batch exactly as the engine thread will (AppendToBatch after every Apply, WriteBatch per
// group); after every batch LoadState must give back the engine's own snapshot, that snapshot
// must restore, and ledger_imbalance() must be 0. Replayed batches write once; a bad batch
// commits nothing.
#include "server/journal/journal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <thread>
#include <tuple>

#include "matching/draw_source.h"
#include "matching/engine.h"
#include "matching/random_commands.h"
#include "matching/tree_shape.h"
#include "server/base/crypto.h"
#include "server/core/engine_runner.h"
#include "server/db/rows.h"
#include "server/journal/journal_batch.h"
#include "server/journal/recovery.h"
#include "server/journal/writer_lease.h"
#include "tests/integration/test_database.h"

namespace proofbook::server {
namespace {

using matching::AccountId;
using matching::AssignmentId;
using matching::AssignmentStatus;
using matching::Command;
using matching::Engine;
using matching::Event;
using matching::EventKind;
using matching::OfferId;
using matching::OrderId;
using matching::OrderStatus;
using matching::RandomCommands;
using matching::Snapshot;
using testing::TestDatabase;

// ---- Printing, for failure messages --------------------------------------------------------

std::string Describe(const matching::AccountState& a) {
  std::ostringstream s;
  s << "account " << a.id << " role=" << matching::RoleName(a.role) << " available=" << a.available
    << " escrowed=" << a.escrowed << " staked=" << a.staked << " reputation=" << a.reputation
    << " last_slashed_at=" << a.last_slashed_at;
  return s.str();
}
std::string Describe(const matching::MarketState& m) {
  const matching::MarketParams& p = m.params;
  std::ostringstream s;
  s << "market " << m.id << " min_stake=" << p.min_stake << " min_slash=" << p.min_slash
    << " slash_multiplier_bps=" << p.slash_multiplier_bps
    << " repeat_window_ms=" << p.repeat_window_ms << " decline_window_ms=" << p.decline_window_ms
    << " unprovable_quorum=" << p.unprovable_quorum
    << " unprovable_fee_bps=" << p.unprovable_fee_bps << " griefing_bps=" << p.griefing_bps
    << " reputation_weight_bps=" << p.reputation_weight_bps
    << " compensation_bps=" << p.compensation_bps << " fee_bps=" << p.fee_bps
    << " min_prover_time_ms=" << p.min_prover_time_ms << " grace_bps=" << p.grace_bps
    << " uncle_reward_bps=" << p.uncle_reward_bps << " max_proof_bytes=" << p.max_proof_bytes;
  return s.str();
}
std::string Describe(const matching::OrderState& o) {
  std::ostringstream s;
  s << "order " << o.id << " account=" << o.account << " market=" << o.market
    << " max_price=" << o.max_price << " deadline=" << o.deadline << " placed_at=" << o.placed_at
    << " priority=" << static_cast<int>(o.priority) << " min_rep=" << o.min_reputation
    << " k=" << o.redundancy << " selection=" << static_cast<int>(o.selection)
    << " direct=" << o.direct_prover << " exclusive_until=" << o.exclusive_until
    << " exclusive_ended=" << o.exclusive_ended << " vrf_draws=" << o.vrf_draws
    << " status=" << matching::OrderStatusName(o.status)
    << " failure=" << matching::ReasonName(o.failure) << " verified=" << o.verified
    << " escrow_left=" << o.escrow_left << " needed=" << o.needed;
  return s.str();
}
std::string Describe(const matching::OfferState& f) {
  std::ostringstream s;
  s << "offer " << f.id << " prover=" << f.prover << " market=" << f.market << " price=" << f.price
    << " est_ms=" << f.est_ms << " capacity=" << f.capacity << " capacity_left=" << f.capacity_left
    << " expires_at=" << f.expires_at;
  return s.str();
}
std::string Describe(const matching::AssignmentState& a) {
  std::ostringstream s;
  s << "assignment " << a.id << " order=" << a.order << " offer=" << a.offer
    << " prover=" << a.prover << " market=" << a.market << " price=" << a.price
    << " assigned_at=" << a.assigned_at << " due_at=" << a.due_at
    << " status=" << matching::AssignmentStatusName(a.status);
  return s.str();
}

// Both lists sorted by id: reports records missing on either side and records that differ.
template <typename T>
void ExpectSameRecords(const char* what, const std::vector<T>& db, const std::vector<T>& engine) {
  int failures = 0;
  constexpr int kMaxFailures = 5;  // one broken rule tends to break many records
  size_t i = 0, j = 0;
  while ((i < db.size() || j < engine.size()) && failures < kMaxFailures) {
    if (j == engine.size() || (i < db.size() && db[i].id < engine[j].id)) {
      ADD_FAILURE() << what << ": loaded but not in the engine: " << Describe(db[i++]);
    } else if (i == db.size() || engine[j].id < db[i].id) {
      ADD_FAILURE() << what << ": in the engine but not loaded: " << Describe(engine[j++]);
    } else {
      if (!(db[i] == engine[j])) {
        ADD_FAILURE() << what << " differs:\n  loaded " << Describe(db[i]) << "\n  engine "
                      << Describe(engine[j]);
      } else {
        --failures;
      }
      ++i, ++j;
    }
    ++failures;
  }
}

void ExpectSameSnapshot(const Snapshot& db, const Snapshot& engine) {
  ExpectSameRecords("accounts", db.accounts, engine.accounts);
  ExpectSameRecords("markets", db.markets, engine.markets);
  ExpectSameRecords("orders", db.orders, engine.orders);
  ExpectSameRecords("offers", db.offers, engine.offers);
  ExpectSameRecords("assignments", db.assignments, engine.assignments);
  EXPECT_EQ(db.ids.next_order, engine.ids.next_order);
  EXPECT_EQ(db.ids.next_offer, engine.ids.next_offer);
  EXPECT_EQ(db.ids.next_assignment, engine.ids.next_assignment);
  EXPECT_EQ(db.ids.external_net, engine.ids.external_net);
  EXPECT_TRUE(db == engine);  // catches anything the field comparisons above missed
}

// ---- Database helpers ------------------------------------------------------------------------

int64_t Scalar(pqxx::connection& conn, const std::string& sql) {
  pqxx::read_transaction tx(conn);
  return tx.exec(sql)[0][0].as<int64_t>();
}

// ---- The engine thread, as the server will run it --------------------------------------------

class JournaledRun {
 public:
  explicit JournaledRun(uint64_t seed, RandomCommands::Shape shape = {}) : gen_(seed, shape) {}

  // Applies the next random command and adds it to the open batch.
  void Step() { Apply(gen_.Next()); }

  void Apply(const Command& c) {
    std::span<const Event> events = engine_.Apply(c);
    gen_.Observe(events);
    if (batch_.empty()) batch_.first_seq = next_seq_;
    Status s = AppendToBatch(engine_, events, &batch_);
    ASSERT_TRUE(s.ok()) << s.ToString();
    next_seq_ += events.size();
    for (const Event& e : events) Track(e);
    events_.insert(events_.end(), events.begin(), events.end());
  }

  Status Flush(pqxx::connection& conn) {
    batch_.writer_epoch = epoch_;
    Status s = journal_.WriteBatch(*::proofbook::server::BorrowSession(conn), batch_);
    batch_.Clear();
    return s;
  }

  // The fencing epoch the run's batches carry (WriterLease); 0, the database's initial one.
  void set_epoch(uint64_t epoch) { epoch_ = epoch; }
  // False: accounts and markets are created without their rows' other fields (a bug).
  void set_created_rows(bool on) { created_rows_ = on; }

  // Everything LoadState must give back.
  void Verify(pqxx::connection& conn) {
    Result<RecoveredState> loaded = LoadState(*::proofbook::server::BorrowSession(conn));
    ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
    ExpectSameSnapshot(loaded->snapshot, engine_.GetSnapshot());
    EXPECT_EQ(loaded->next_seq, next_seq_);
    EXPECT_EQ(loaded->client_orders, client_orders_);  // each with its request hash
    Engine restored;
    Status s = restored.Restore(loaded->snapshot);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(Scalar(conn, "SELECT ledger_imbalance()"), 0);
  }

  // Records the engine has forgotten are not loaded; check what the rows say about them.
  void VerifyClosedRecords(pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    size_t n = 0;
    for (const auto& row :
         tx.exec("SELECT id, status, verified, escrow_left, needed FROM orders")) {
      OrderId id = row[0].as<int64_t>();
      ASSERT_TRUE(order_status_.count(id)) << "order " << id << " was never placed";
      std::string want(matching::OrderStatusName(order_status_[id]));
      EXPECT_EQ(row[1].as<std::string>(), want) << "order " << id;
      EXPECT_EQ(row[2].as<int>(), verified_[id]) << "order " << id;
      if (!engine_.GetOrder(id)) {
        EXPECT_EQ(row[3].as<int64_t>(), 0) << "forgotten order " << id << " keeps escrow";
        EXPECT_EQ(row[4].as<int>(), 0) << "forgotten order " << id;
      }
      ++n;
    }
    EXPECT_EQ(n, order_status_.size());
    n = 0;
    for (const auto& row : tx.exec("SELECT id, status FROM assignments")) {
      AssignmentId id = row[0].as<int64_t>();
      std::string want(matching::AssignmentStatusName(assignment_status_[id]));
      EXPECT_EQ(row[1].as<std::string>(), want) << "assignment " << id;
      ++n;
    }
    EXPECT_EQ(n, assignment_status_.size());
    n = 0;
    for (const auto& row : tx.exec("SELECT id, status FROM offers")) {
      OfferId id = row[0].as<int64_t>();
      EXPECT_EQ(row[1].as<std::string>(), offer_status_[id]) << "offer " << id;
      ++n;
    }
    EXPECT_EQ(n, offer_status_.size());
    EXPECT_EQ(tx.exec("SELECT count(*) FROM engine_events")[0][0].as<uint64_t>(), next_seq_ - 1);
    ExpectEventRows(tx);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger_entries")[0][0].as<size_t>(), transfers_);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM settlements")[0][0].as<size_t>(), settlements_);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM slashings")[0][0].as<size_t>(), slashings_);
  }

  // The view engine_events decodes the journal's event log (server/journal/event_log.h): every
  // event comes back field for field, NULL where the event has none.
  void ExpectEventRows(pqxx::transaction_base& tx) {
    size_t i = 0;
    int failures = 0;
    for (const auto& r : tx.exec("SELECT seq, ref, at_ms, kind, command, reason, field, market, "
                                 "account, to_account, order_id, offer_id, assignment_id, amount, "
                                 "value, tree_id FROM engine_events ORDER BY seq")) {
      ASSERT_LT(i, events_.size());
      const Event& e = events_[i++];
      auto id = [](const pqxx::field& f) { return f.is_null() ? int64_t{0} : f.as<int64_t>(); };
      auto text = [](const pqxx::field& f) {
        return f.is_null() ? std::string() : f.as<std::string>();
      };
      const bool same =
          r[0].as<uint64_t>() == i && r[1].as<int64_t>() == static_cast<int64_t>(e.ref) &&
          r[2].as<int64_t>() == e.now && text(r[3]) == matching::EventKindName(e.kind) &&
          text(r[4]) == matching::CommandKindName(e.command) &&
          text(r[5]) == (e.reason == matching::Reason::kNone
                             ? std::string()
                             : std::string(matching::ReasonName(e.reason))) &&
          text(r[6]) == e.field && r[7].as<int64_t>() == e.market &&
          r[8].as<int64_t>() == e.account && r[9].as<int64_t>() == e.to_account &&
          id(r[10]) == e.order && id(r[11]) == e.offer && id(r[12]) == e.assignment &&
          r[13].as<int64_t>() == e.amount && r[14].as<int64_t>() == e.value && id(r[15]) == e.tree;
      if (!same && failures++ < 5) {
        ADD_FAILURE() << "event " << i << " reads back as (" << r[3].c_str() << ", order "
                      << id(r[10]) << ", amount " << r[13].c_str() << ", field " << text(r[6])
                      << "), was " << matching::EventToString(e);
      }
    }
    EXPECT_EQ(i, events_.size());
  }

  Engine& engine() { return engine_; }
  JournalBatch& batch() { return batch_; }
  RandomCommands& gen() { return gen_; }
  uint64_t next_seq() const { return next_seq_; }

 private:
  // The request hash an order is placed with: 32 bytes that differ by order.
  static Sha256Digest RequestHash(OrderId order) {
    Sha256Digest d;
    for (size_t i = 0; i < d.size(); ++i) {
      d[i] = static_cast<uint8_t>((order * 37 + static_cast<OrderId>(i) * 11) & 0xff);
    }
    return d;
  }
  void Track(const Event& e) {
    switch (e.kind) {
      case EventKind::kAccepted:
        if (e.command == matching::CommandKind::kPlaceOrder) {
          order_status_[e.order] = OrderStatus::kOpen;
          verified_[e.order] = 0;
          // As the HTTP handler will: every placed order carries its idempotency key.
          std::string key = "c-" + std::to_string(e.order);
          batch_.order_extras.push_back({e.order, key,
                                         R"({"public_inputs":[)" + std::to_string(e.order) + "]}",
                                         RequestHash(e.order)});
          client_orders_.push_back({e.account, key, e.order, RequestHash(e.order)});
        }
        if (e.command == matching::CommandKind::kPlaceOffer) offer_status_[e.offer] = "open";
        // As the admin endpoints will: the new row's other fields ride with the acceptance.
        if (e.command == matching::CommandKind::kCreateAccount && created_rows_) {
          batch_.account_extras.push_back({e.account, "a" + std::to_string(e.account), {}});
          batch_.account_extras.back().key_hash[0] = static_cast<uint8_t>(e.account);
          batch_.account_extras.back().key_hash[1] = static_cast<uint8_t>(e.account >> 8);
        }
        if (e.command == matching::CommandKind::kCreateMarket && created_rows_) {
          batch_.market_extras.push_back({e.market, "m" + std::to_string(e.market), "groth16",
                                          "groth16-bn254", R"({"nPublic":1})"});
        }
        break;
      case EventKind::kTransfer:
        ++transfers_;
        break;
      case EventKind::kAssigned:
      case EventKind::kReassigned:
        assignment_status_[e.assignment] = AssignmentStatus::kAssigned;
        break;
      case EventKind::kProofDelivered:
        assignment_status_[e.assignment] =
            e.value ? AssignmentStatus::kLateDelivered : AssignmentStatus::kDelivered;
        break;
      case EventKind::kSettled:
        assignment_status_[e.assignment] = AssignmentStatus::kSettled;
        ++verified_[e.order];
        ++settlements_;
        break;
      case EventKind::kUncleRewarded:
        assignment_status_[e.assignment] = AssignmentStatus::kUncled;
        ++settlements_;
        break;
      case EventKind::kProofRejected:
        assignment_status_[e.assignment] = AssignmentStatus::kInvalid;
        break;
      case EventKind::kSlashed:
        assignment_status_[e.assignment] = e.reason == matching::Reason::kMissedDeadline
                                               ? AssignmentStatus::kLate
                                               : AssignmentStatus::kInvalid;
        ++slashings_;
        break;
      case EventKind::kAssignmentLapsed:
        assignment_status_[e.assignment] = AssignmentStatus::kLapsed;
        break;
      case EventKind::kOfferCancelled:
        offer_status_[e.offer] = "cancelled";
        break;
      case EventKind::kOfferExpired:
        offer_status_[e.offer] = "expired";
        break;
      case EventKind::kOrderCompleted:
        order_status_[e.order] = OrderStatus::kCompleted;
        break;
      case EventKind::kOrderExpired:
        order_status_[e.order] = OrderStatus::kExpired;
        break;
      case EventKind::kOrderCancelled:
        order_status_[e.order] = OrderStatus::kCancelled;
        break;
      case EventKind::kOrderFailed:
        order_status_[e.order] = OrderStatus::kFailed;
        break;
      case EventKind::kDeclined:
        assignment_status_[e.assignment] = e.reason == matching::Reason::kBusy
                                               ? AssignmentStatus::kDeclinedBusy
                                               : AssignmentStatus::kDeclinedUnprovable;
        break;
      case EventKind::kReleased:
        assignment_status_[e.assignment] = AssignmentStatus::kReleased;
        break;
      default:
        break;
    }
  }

  RandomCommands gen_;
  Engine engine_;
  JournalBatch batch_;
  uint64_t epoch_ = 0;
  bool created_rows_ = true;
  Journal journal_;
  uint64_t next_seq_ = 1;
  std::vector<Event> events_;  // every event applied, in seq order
  std::vector<RecoveredState::ClientOrder> client_orders_;
  std::map<OrderId, OrderStatus> order_status_;
  std::map<OrderId, int> verified_;
  std::map<AssignmentId, AssignmentStatus> assignment_status_;
  std::map<OfferId, std::string> offer_status_;
  size_t transfers_ = 0, settlements_ = 0, slashings_ = 0;
};

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// How many commands RandomCommands spends on set-up before the random mix.
int SetupCommands(const RandomCommands::Shape& shape) {
  return shape.markets + 2 * shape.sequencers + 3 * shape.provers;
}

// ---- Tests -----------------------------------------------------------------------------------

TEST(Journal, RandomRunsLoadBackAsTheEngineAfterEveryBatch) {
  const int seeds = EnvInt("PROOFBOOK_JOURNAL_SEEDS", 8);
  const int steps = EnvInt("PROOFBOOK_JOURNAL_STEPS", 400);
  for (int seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    TestDatabase db;
    db.Migrate();
    pqxx::connection conn(db.url());
    RandomCommands::Shape shape;
    JournaledRun run(static_cast<uint64_t>(seed), shape);
    std::mt19937_64 rng(static_cast<uint64_t>(seed) * 7919);
    // The first batch holds the set-up (CreateMarket, CreateAccount, ...), so from then on
    // every account and market row is one the engine knows (LoadState loads every row).
    int step = 0;
    int group = SetupCommands(shape);
    while (step < steps) {
      for (int i = 0; i < group && step < steps; ++i, ++step) {
        ASSERT_NO_FATAL_FAILURE(run.Step());
      }
      Status s = run.Flush(conn);
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_NO_FATAL_FAILURE(run.Verify(conn));
      if (::testing::Test::HasFailure()) return;
      group = std::uniform_int_distribution<int>(1, 40)(rng);  // group commit of 1..40 commands
    }
    run.VerifyClosedRecords(conn);

    // The loaded engine continues exactly as the original one.
    Result<RecoveredState> loaded = LoadState(*::proofbook::server::BorrowSession(conn));
    ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
    Engine restored;
    ASSERT_TRUE(restored.Restore(loaded->snapshot).ok());
    for (int i = 0; i < 150; ++i) {
      Command c = run.gen().Next();
      std::vector<Event> want;
      {
        std::span<const Event> got = restored.Apply(c);
        want.assign(got.begin(), got.end());
      }
      ASSERT_NO_FATAL_FAILURE(run.Apply(c));
      std::span<const Event> original(
          run.batch().events.end() - static_cast<ptrdiff_t>(want.size()), run.batch().events.end());
      ASSERT_TRUE(std::equal(want.begin(), want.end(), original.begin(), original.end()))
          << "restored engine diverged at command " << i;
    }
    ASSERT_TRUE(run.Flush(conn).ok());
    run.Verify(conn);
    run.VerifyClosedRecords(conn);
  }
}

TEST(Journal, ReplayedBatchIsWrittenOnce) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape;
  JournaledRun run(42, shape);
  for (int i = 0; i < 120; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  JournalBatch first = run.batch();  // a copy, as a retry would hold it
  Journal journal;
  ASSERT_TRUE(journal.WriteBatch(*::proofbook::server::BorrowSession(conn), first).ok());
  const int64_t events = Scalar(conn, "SELECT count(*) FROM engine_events");
  const int64_t ledger = Scalar(conn, "SELECT count(*) FROM ledger_entries");
  const int64_t balances = Scalar(conn, "SELECT sum(available + escrowed + staked) FROM accounts");
  EXPECT_EQ(events, static_cast<int64_t>(first.events.size()));

  // The COMMIT went through but its answer was lost: the retry must not write again.
  Status again = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), first);
  EXPECT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM engine_events"), events);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM ledger_entries"), ledger);
  EXPECT_EQ(Scalar(conn, "SELECT sum(available + escrowed + staked) FROM accounts"), balances);

  // The next batch goes on; then the first, replayed late, is still a no-op.
  ASSERT_TRUE(run.Flush(conn).ok());  // run's copy of the first batch: also a no-op
  for (int i = 0; i < 60; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());
  EXPECT_TRUE(journal.WriteBatch(*::proofbook::server::BorrowSession(conn), first).ok());
  run.Verify(conn);
  run.VerifyClosedRecords(conn);
}

// A batch's event log is stored lz4-compressed (migration 0020: ~6x smaller, fewer TOAST
// chunks and WAL a commit) and the view engine_events still reads every event back.
TEST(Journal, ALargeBatchsEventsAreStoredCompressedAndReadBack) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape;
  JournaledRun run(7, shape);
  for (int i = 0; i < 200; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());
  EXPECT_EQ(Scalar(conn,
                   "SELECT count(*) FROM journal_batches WHERE pg_column_compression(events) = "
                   "'lz4' AND pg_column_size(events) * 3 < length(events)"),
            1);
  run.Verify(conn);
  run.VerifyClosedRecords(conn);  // every event, field for field, through the view
}

TEST(Journal, BatchOfAnEarlierWriterEpochIsFencedAndWritesNothing) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape;
  auto first = std::make_unique<WriterLease>(db.url());
  auto epoch = first->Acquire();
  ASSERT_TRUE(epoch.has_value()) << epoch.error().ToString();
  JournaledRun run(5, shape);
  run.set_epoch(*epoch);
  for (int i = 0; i < 40; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());
  for (int i = 0; i < 40; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  JournalBatch stale = run.batch();
  stale.writer_epoch = *epoch;
  const int64_t events = Scalar(conn, "SELECT count(*) FROM engine_events");
  const int64_t last_seq = Scalar(conn, "SELECT last_seq FROM engine_state");

  // The first writer's lease goes (its session ended); a second server takes over.
  first.reset();
  WriterLease second(db.url());
  auto taken = second.Acquire();
  ASSERT_TRUE(taken.has_value()) << taken.error().ToString();
  EXPECT_GT(*taken, *epoch);
  EXPECT_EQ(Scalar(conn, "SELECT writer_epoch_seq FROM engine_state"), last_seq);

  // The first writer's next batch must not commit, however its seqs look.
  Journal journal;
  Status s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), stale);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(s.wire_code(), "write_lease_lost");
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM engine_events"), events);
  EXPECT_EQ(Scalar(conn, "SELECT last_seq FROM engine_state"), last_seq);
  EXPECT_EQ(Scalar(conn, "SELECT ledger_imbalance()"), 0);
}

// The bug behind issue #11: a stale writer took the other writer's seqs for its own commit
// ("already committed") and acknowledged work that was never written.
TEST(Journal, AnotherWritersSeqsAreNeverTakenForOurCommit) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape;
  auto a_lease = std::make_unique<WriterLease>(db.url());
  auto a_epoch = a_lease->Acquire();
  ASSERT_TRUE(a_epoch.has_value());
  // Two engines from the same start: A's batch and B's cover the same seqs.
  JournaledRun a(8, shape), b(8, shape);
  a.set_epoch(*a_epoch);
  for (int i = 0; i < 50; ++i) ASSERT_NO_FATAL_FAILURE(a.Step());
  for (int i = 0; i < 50; ++i) ASSERT_NO_FATAL_FAILURE(b.Step());
  JournalBatch a_batch = a.batch();
  a_batch.writer_epoch = *a_epoch;
  a_lease.reset();
  WriterLease b_lease(db.url());
  auto b_epoch = b_lease.Acquire();
  ASSERT_TRUE(b_epoch.has_value());
  b.set_epoch(*b_epoch);
  ASSERT_TRUE(b.Flush(conn).ok());  // B commits seqs 1..n
  ASSERT_GE(Scalar(conn, "SELECT last_seq FROM engine_state"),
            static_cast<int64_t>(a_batch.last_seq()));
  Journal journal;
  Status s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), a_batch);
  EXPECT_FALSE(s.ok()) << "A's batch was taken as committed: B wrote those seqs";
  EXPECT_EQ(s.wire_code(), "write_lease_lost");
}

TEST(WriterLease, ASecondHolderIsRefusedAndTakesOverWhenTheFirstGoes) {
  TestDatabase db;
  db.Migrate();
  auto first = std::make_unique<WriterLease>(db.url());
  auto e1 = first->Acquire();
  ASSERT_TRUE(e1.has_value()) << e1.error().ToString();
  WriterLease second(db.url());
  auto refused = second.Acquire();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), StatusCode::kConflict);
  EXPECT_EQ(refused.error().wire_code(), "write_lease_held");
  EXPECT_NE(refused.error().message().find("proofbook-server pid"), std::string::npos)
      << refused.error().message();
  // The holder re-validates (as after a failed commit): a new epoch, still its lease.
  auto e2 = first->Acquire();
  ASSERT_TRUE(e2.has_value());
  EXPECT_EQ(*e2, *e1 + 1);
  first.reset();  // the session ends: the lock goes with it
  auto e3 = second.Acquire();
  ASSERT_TRUE(e3.has_value()) << e3.error().ToString();
  EXPECT_EQ(*e3, *e2 + 1);
}

// journal_write does not wait for the row lock on engine_state: a batch that finds it held waits
// for it in a transaction of its own (so a server that dies waiting leaves nothing to commit,
// tests/integration/prover_test.cc), then commits once it is free, or sees the lease it lost.
TEST(Journal, ABatchWaitsForTheHeldRowLockThenCommitsOrSeesTheFence) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape;
  auto lease = std::make_unique<WriterLease>(db.url());
  auto epoch = lease->Acquire();
  ASSERT_TRUE(epoch.has_value()) << epoch.error().ToString();
  JournaledRun run(11, shape);
  run.set_epoch(*epoch);
  for (int i = 0; i < 30; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  JournalBatch batch = run.batch();
  batch.writer_epoch = *epoch;

  for (bool take_over : {false, true}) {
    pqxx::connection locker(db.url());
    auto hold = std::make_unique<pqxx::work>(locker);
    hold->exec("SELECT 1 FROM engine_state FOR UPDATE");
    std::atomic<bool> done = false;
    Status s = Status::Ok();
    std::thread writer([&] {
      pqxx::connection own(db.url());
      Journal journal;
      s = journal.WriteBatch(*::proofbook::server::BorrowSession(own), batch);
      done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(done.load()) << "the batch did not wait for the lock";
    if (take_over) {
      // What WriterLease::Acquire does for a new server, in the lock holder's transaction.
      hold->exec(
          "UPDATE engine_state SET writer_epoch = writer_epoch + 1, "
          "writer_epoch_seq = last_seq");
    }
    hold->commit();
    writer.join();
    if (!take_over) {
      EXPECT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(Scalar(conn, "SELECT last_seq FROM engine_state"),
                static_cast<int64_t>(batch.last_seq()));
    } else {
      EXPECT_EQ(s.wire_code(), "write_lease_lost") << s.ToString();
      EXPECT_EQ(Scalar(conn, "SELECT last_seq FROM engine_state"),
                static_cast<int64_t>(batch.last_seq()));
    }
  }
  EXPECT_EQ(Scalar(conn, "SELECT ledger_imbalance()"), 0);
}

TEST(Journal, BatchThatSkipsSeqsIsRefused) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape;
  JournaledRun run(3, shape);
  for (int i = 0; i < 30; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  JournalBatch gap = run.batch();
  gap.first_seq += 5;  // as if a batch before it had been lost
  Journal journal;
  Status s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), gap);
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("journal ends at 0"), std::string::npos) << s.message();
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM engine_events"), 0);
  EXPECT_TRUE(run.Flush(conn).ok());
}

// The slug of a market the batch creates is taken (core/operations.cc reserves slugs, so only
// another server could race it there): the batch fails whole, and goes through once it is free.
TEST(Journal, ATakenSlugFailsTheWholeBatch) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  auto exec = [&](const std::string& sql) {
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
  };
  exec(
      "INSERT INTO markets (id, idx, proof_system, verifier, min_stake, compensation_bps, "
      "fee_bps, min_prover_time_ms, grace_bps, uncle_reward_bps, max_proof_bytes) "
      "VALUES ('m2', 50, 'groth16', 'groth16-bn254', 0, 0, 0, 0, 0, 0, 1)");
  RandomCommands::Shape shape;
  JournaledRun run(5, shape);
  for (int i = 0; i < 60; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  JournalBatch batch = run.batch();
  Journal journal;
  Status s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), batch);
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("markets_pkey"), std::string::npos) << s.message();
  // Nothing of the batch is left: no events, accounts, orders or other markets.
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM engine_events"), 0);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM ledger_entries"), 0);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM orders"), 0);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM accounts WHERE role <> 'treasury'"), 0);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM markets"), 1);
  EXPECT_EQ(Scalar(conn, "SELECT last_seq FROM engine_state"), 0);

  // Once the slug is free the same batch goes through, on the same connection.
  exec("DELETE FROM markets WHERE idx = 50");
  s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), batch);
  ASSERT_TRUE(s.ok()) << s.ToString();
  run.batch().Clear();
  run.Verify(conn);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM markets WHERE created_seq IS NOT NULL"), 3);
}

TEST(Journal, ConstraintViolationFailsTheWholeBatch) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape;
  JournaledRun run(11, shape);
  for (int i = 0; i < 40; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());
  const int64_t events = Scalar(conn, "SELECT count(*) FROM engine_events");
  const int64_t orders = Scalar(conn, "SELECT count(*) FROM orders");

  // Two orders of one sequencer with the same client_order_id (the handler's idempotency check
  // should never let this through; the UNIQUE constraint is the last line).
  Command deposit{1000, run.gen().now(), matching::Deposit{100, 100000}};
  ASSERT_NO_FATAL_FAILURE(run.Apply(deposit));
  for (int i = 0; i < 2; ++i) {
    matching::PlaceOrder p;
    p.account = 100;
    p.market = 0;
    p.max_price = 50;
    p.deadline = run.gen().now() + 60000;
    ASSERT_NO_FATAL_FAILURE(
        run.Apply(Command{1001 + static_cast<uint64_t>(i), run.gen().now(), p}));
  }
  JournalBatch bad = run.batch();
  ASSERT_GE(bad.order_extras.size(), 2u);
  bad.order_extras[bad.order_extras.size() - 1].client_order_id =
      bad.order_extras[bad.order_extras.size() - 2].client_order_id;
  Journal journal;
  Status s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), bad);
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("23505"), std::string::npos) << s.message();  // unique_violation
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM engine_events"), events);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM orders"), orders);
  EXPECT_EQ(Scalar(conn, "SELECT ledger_imbalance()"), 0);

  // A value its column cannot hold (an engine count past an `integer` column's range) is
  // refused before anything is sent, never cut down to fit.
  JournalBatch wide = run.batch();
  ASSERT_FALSE(wide.orders.empty());
  wide.orders.back().vrf_draws = 3'000'000'000u;
  s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), wide);
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  // Ours, not PostgreSQL's CHECK on the value cut to 32 bits (negative).
  EXPECT_NE(s.message().find("does not fit its column"), std::string::npos) << s.message();
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM engine_events"), events);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM orders"), orders);

  // The connection is still good, and the corrected batch goes through.
  ASSERT_TRUE(run.Flush(conn).ok());
  run.Verify(conn);
}

// Client text reaches the bulk tables inside array literals inside SQL strings, where quotes,
// backslashes, braces, commas and the word NULL are syntax: it must come back byte for byte.
TEST(Journal, ClientTextSurvivesArrayQuoting) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape;
  JournaledRun run(5, shape);
  for (int i = 0; i < 40; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());

  Command deposit{2000, run.gen().now(), matching::Deposit{100, 100000}};
  ASSERT_NO_FATAL_FAILURE(run.Apply(deposit));
  matching::PlaceOrder p;
  p.account = 100;
  p.market = 0;
  p.max_price = 50;
  p.deadline = run.gen().now() + 60000;
  ASSERT_NO_FATAL_FAILURE(run.Apply(Command{2001, run.gen().now(), p}));
  ASSERT_FALSE(run.batch().order_extras.empty());
  OrderExtra& extra = run.batch().order_extras.back();
  const std::string client_id =
      "tab\there back\\slash nl\nline cr\rend 'q' \"dq\" {a,b} NULL \\N \xc3\xa9";
  const std::string inputs = R"({"s":"a\\tb\\\\c\\n'{,}","q":"\"","u":"\u00e9\\N"})";
  extra.client_order_id = client_id;
  extra.inputs_json = inputs;
  const matching::OrderId id = extra.id;
  Journal journal;
  Status s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), run.batch());
  ASSERT_TRUE(s.ok()) << s.ToString();

  pqxx::work tx(conn);
  pqxx::row row = tx.exec1("SELECT client_order_id, inputs = '" + tx.esc(inputs) +
                           "'::jsonb FROM orders WHERE id = " + std::to_string(id));
  EXPECT_EQ(row[0].as<std::string>(), client_id);
  EXPECT_TRUE(row[1].as<bool>()) << "inputs changed on the way in";
  tx.commit();
  // And back out the way recovery reads it (a binary COPY on a second connection).
  Result<RecoveredState> loaded = LoadState(*::proofbook::server::BorrowSession(conn));
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  auto it = std::find_if(loaded->client_orders.begin(), loaded->client_orders.end(),
                         [&](const RecoveredState::ClientOrder& c) { return c.order == id; });
  ASSERT_NE(it, loaded->client_orders.end());
  EXPECT_EQ(it->client_id, client_id);
  EXPECT_EQ(it->account, 100);
}

// Recovery reads the idempotency keys on a second connection; when PostgreSQL refuses it (here
// a role allowed one connection; in production max_connections), the keys are read on the
// recovery's own connection and the state loads all the same.
TEST(Journal, KeysAreReadOnTheOwnConnectionWhenASecondIsRefused) {
  TestDatabase db;
  db.Migrate();
  const std::string role = db.name() + "_one";
  // Dropped however the test ends (its grants first, then the role, which is cluster-wide).
  struct RoleGuard {
    const TestDatabase& db;
    std::string role;
    ~RoleGuard() {
      try {
        pqxx::connection in_db(db.url());
        pqxx::nontransaction(in_db).exec("DROP OWNED BY " + role);
        in_db.disconnect();
        pqxx::connection admin(std::getenv("DATABASE_URL"));
        pqxx::nontransaction(admin).exec("DROP ROLE IF EXISTS " + role);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "dropping role " << role << ": " << e.what();
      }
    }
  } guard{db, role};
  {
    pqxx::connection owner(db.url());
    pqxx::nontransaction tx(owner);
    tx.exec("CREATE ROLE " + role + " LOGIN CONNECTION LIMIT 1");
    tx.exec("GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + role);
  }
  pqxx::connection conn(db.url());
  JournaledRun run(11);
  for (int i = 0; i < 200; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());

  pqxx::connection limited(db.url() + " user=" + role);
  EXPECT_THROW(pqxx::connection second(db.url() + " user=" + role), pqxx::broken_connection)
      << "the role's limit lets a second connection in: this test checks nothing";
  Result<RecoveredState> loaded = LoadState(*::proofbook::server::BorrowSession(limited));
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  EXPECT_FALSE(loaded->client_orders.empty());
  ASSERT_NO_FATAL_FAILURE(run.Verify(limited));  // the same state as over two connections
}

// CopyRows (recovery's streamed reads): each width and type recovery asks for, NULLs, text
// and bytes as stored, several rows in order; a number of the wrong width, a NULL asked as a
// value and a row of another column count are refused, not guessed at.
TEST(Journal, CopyRowsReadsWhatRecoveryAsksForAndRefusesTheRest) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  const std::string text = "tab\there back\\slash nl\nline \xc3\xa9";
  const std::string query = "SELECT g::int2, (-g)::int4, (g * 4000000000)::int8, g % 2 = 0, " +
                            std::string("NULL::bigint, ") + tx.quote(text) +
                            ", '\\x00ff0a'::bytea FROM generate_series(1, 3) g ORDER BY g";
  std::vector<std::tuple<int32_t, int32_t, int64_t, bool, std::string>> got;
  CopyRows(tx, query, 7, [&](const CopyRow& row) {
    EXPECT_TRUE(row[4].is_null());
    EXPECT_FALSE(row[0].is_null());
    EXPECT_EQ(row[6].bytes(), std::string_view("\x00\xff\n", 3));
    EXPECT_THROW(row[2].as<int32_t>(), BadValue) << "4e9 is no int32";
    EXPECT_THROW(row[4].as<int64_t>(), BadValue) << "NULL is no number";
    EXPECT_THROW(row[6].as<int64_t>(), BadValue) << "3 bytes are no integer width";
    EXPECT_THROW(row[1].as<uint32_t>(), BadValue) << "negative";
    got.emplace_back(row[0].as<int32_t>(), row[1].as<int32_t>(), row[2].as<int64_t>(),
                     row[3].as<bool>(), row[5].as<std::string>());
  });
  ASSERT_EQ(got.size(), 3u);
  for (int32_t g = 1; g <= 3; ++g) {
    EXPECT_EQ(got[g - 1], std::make_tuple(g, -g, g * 4000000000LL, g % 2 == 0, text));
  }
  EXPECT_THROW(CopyRows(tx, query, 6, [](const CopyRow&) {}), BadValue);
  int rows = 0;
  CopyRows(tx, "SELECT 1 WHERE false", 1, [&](const CopyRow&) { ++rows; });
  EXPECT_EQ(rows, 0);
}

// An account's and a market's rows are written by the batch that holds the engine's acceptance
// of them, never before (issue #15), with the fields the engine does not hold.
TEST(Journal, CreatedAccountsAndMarketsGetTheirRowsWithTheirAcceptance) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  JournaledRun run(13);
  for (int i = 0; i < 30; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());
  matching::MarketParams params;
  params.max_proof_bytes = 1;
  const uint64_t market_seq = run.next_seq();
  ASSERT_NO_FATAL_FAILURE(
      run.Apply(Command{1, run.gen().now(), matching::CreateMarket{7, params}}));
  ASSERT_NO_FATAL_FAILURE(run.Apply(
      Command{2, run.gen().now(), matching::CreateAccount{999, matching::Role::kProver}}));
  ASSERT_NO_FATAL_FAILURE(run.Apply(Command{3, run.gen().now(), matching::Deposit{999, 500}}));
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM accounts WHERE id = 999"), 0);
  ASSERT_TRUE(run.Flush(conn).ok());
  pqxx::read_transaction tx(conn);
  pqxx::row a = tx.exec1("SELECT role, name, available FROM accounts WHERE id = 999");
  EXPECT_EQ(a[0].as<std::string>(), "prover");
  EXPECT_EQ(a[1].as<std::string>(), "a999");
  EXPECT_EQ(a[2].as<int64_t>(), 500);
  pqxx::row k = tx.exec1("SELECT encode(key_hash, 'hex') FROM api_keys WHERE account_id = 999");
  EXPECT_EQ(k[0].as<std::string>(), "e703" + std::string(60, '0'));  // 999 = 0x03e7
  pqxx::row m = tx.exec1(
      "SELECT id, verifier, verification_key->>'nPublic', created_seq, max_proof_bytes "
      "FROM markets WHERE idx = 7");
  EXPECT_EQ(m[0].as<std::string>(), "m7");
  EXPECT_EQ(m[1].as<std::string>(), "groth16-bn254");
  EXPECT_EQ(m[2].as<std::string>(), "1");
  EXPECT_EQ(m[3].as<uint64_t>(), market_seq);
  EXPECT_EQ(m[4].as<int>(), 1);
}

// The engine created an account or a market whose row fields the batch lacks (or the batch has
// fields for one it did not create): a bug, so nothing of the batch is written.
TEST(Journal, ACreationWithoutItsRowFieldsFailsTheWholeBatch) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  JournaledRun run(13);
  for (int i = 0; i < 30; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());
  const int64_t events = Scalar(conn, "SELECT count(*) FROM engine_events");
  const int64_t accounts = Scalar(conn, "SELECT count(*) FROM accounts");
  run.set_created_rows(false);
  ASSERT_NO_FATAL_FAILURE(run.Apply(
      Command{1, run.gen().now(), matching::CreateAccount{999, matching::Role::kProver}}));
  ASSERT_NO_FATAL_FAILURE(run.Apply(Command{2, run.gen().now(), matching::Deposit{999, 500}}));
  JournalBatch kept = run.batch();
  Status s = run.Flush(conn);
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_NE(s.message().find("account_extras"), std::string::npos) << s.message();
  // Fields for an account the batch did not create.
  kept.account_extras.push_back({998, "ghost", {}});
  kept.account_extras.push_back({999, "real", {}});
  Journal journal;
  s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), kept);
  EXPECT_EQ(s.code(), StatusCode::kInternal) << s.ToString();
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM engine_events"), events);
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM accounts"), accounts);
  EXPECT_EQ(Scalar(conn, "SELECT ledger_imbalance()"), 0);
}

// Proof trees through the journal (issue #17): random trees under provers that prove, prove
// wrong or miss, committed in random groups; after every batch LoadState gives back exactly the
// engine (trees, their nodes, node orders with their takeover, next_tree), and the trees table
// ends with every tree's outcome. Leaves carry sha256 digests and merges are sha256-merge: every
// proven node's output and every merge's inputs are those of the Merkle tree computed here.
std::string LeafDigest(matching::OrderId order) {
  return server::Sha256Hex("leaf " + std::to_string(order));
}

// The parent digest of two hex digests: SHA-256 of their bytes.
std::string MergeDigest(const std::string& left, const std::string& right) {
  auto l = server::HexDecode(left), r = server::HexDecode(right);
  std::string bytes(l->begin(), l->end());
  bytes.append(r->begin(), r->end());
  return server::Sha256Hex(bytes);
}

// Every tree's proven nodes' outputs and its merges' inputs against the Merkle tree of its
// leaves' digests, computed here with TreeShape; counts the nodes checked in `checked`.
void ExpectMerkleOutputs(pqxx::connection& conn, std::map<std::string, int>* checked) {
  pqxx::read_transaction tx(conn);
  for (const auto& t : tx.exec("SELECT id, leaves FROM trees ORDER BY id")) {
    const int64_t tree = t[0].as<int64_t>();
    const matching::TreeShape shape(t[1].as<int32_t>());
    std::vector<std::optional<std::string>> want(static_cast<size_t>(shape.nodes()));
    std::map<int32_t, std::pair<std::string, std::string>> rows;  // node -> (output, inputs)
    for (const auto& r :
         tx.exec("SELECT n.node, n.order_id, n.done, n.output, o.inputs::text FROM tree_nodes n "
                 "LEFT JOIN orders o ON o.id = n.order_id WHERE n.tree_id = " +
                 std::to_string(tree) + " ORDER BY n.node")) {
      const auto node = r[0].as<int32_t>();
      if (node < shape.LevelSize(0) && !r[1].is_null()) {
        want[static_cast<size_t>(node)] = LeafDigest(r[1].as<int64_t>());
      }
      rows[node] = {r[3].is_null() ? "" : r[3].as<std::string>(),
                    r[4].is_null() ? "" : r[4].as<std::string>()};
      if (!r[2].as<bool>()) {
        EXPECT_TRUE(r[3].is_null()) << "tree " << tree << " node " << node;
      }
    }
    for (int32_t n = shape.LevelSize(0); n < shape.nodes(); ++n) {
      const int32_t left = shape.Node(shape.LevelOf(n) - 1, 2 * shape.PosOf(n));
      const auto& l = want[static_cast<size_t>(left)];
      if (!shape.IsMerge(n)) {
        want[static_cast<size_t>(n)] = l;
        continue;
      }
      const auto& r = want[static_cast<size_t>(left + 1)];
      if (l && r) want[static_cast<size_t>(n)] = MergeDigest(*l, *r);
      // A merge's order carries its children's outputs.
      if (l && r && !rows[n].second.empty()) {
        EXPECT_EQ(rows[n].second, R"({"left": ")" + *l + R"(", "right": ")" + *r + R"("})")
            << "tree " << tree << " node " << n;
        ++(*checked)["merge inputs"];
      }
    }
    for (const auto& [node, row] : rows) {
      if (row.first.empty()) continue;
      EXPECT_EQ(row.first, want[static_cast<size_t>(node)].value_or("?"))
          << "tree " << tree << " node " << node;
      ++(*checked)["outputs"];
    }
  }
}

TEST(Journal, ProofTreesLoadBackAsTheEngineAfterEveryBatch) {
  std::map<std::string, int> ended;  // over all seeds: both outcomes must occur
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    TestDatabase db;
    db.Migrate();
    pqxx::connection conn(db.url());
    std::mt19937_64 rng(seed);
    matching::HashDrawSource draws(seed);
    Engine engine{matching::EngineOptions{.draws = &draws}};
    Journal journal;
    JournalBatch batch;
    uint64_t next_seq = 1;
    uint64_t ref = 0;
    matching::Timestamp now = 1'000;
    std::map<matching::TreeId, std::string> outcome;
    auto apply = [&](matching::CommandBody body) {
      std::span<const Event> ev = engine.Apply(Command{++ref, now, body});
      if (batch.empty()) batch.first_seq = next_seq;
      ASSERT_TRUE(AppendToBatch(engine, ev, &batch).ok());
      next_seq += ev.size();
      for (const Event& e : ev) {
        if (e.kind == EventKind::kAccepted && e.command == matching::CommandKind::kCreateAccount) {
          batch.account_extras.push_back({e.account, "a" + std::to_string(e.account), {}});
          batch.account_extras.back().key_hash[0] = static_cast<uint8_t>(e.account);
        }
        if (e.kind == EventKind::kAccepted && e.command == matching::CommandKind::kCreateMarket) {
          batch.market_extras.push_back({e.market, "m" + std::to_string(e.market), "sha256",
                                         e.market == 0 ? "sha256-preimage" : "sha256-merge", ""});
        }
        if (e.kind == EventKind::kTreeNodePlaced && e.market == 0) {  // a leaf: its digest
          for (server::OrderExtra& x : batch.order_extras) {
            if (x.id == e.order) {
              x.inputs_json = R"({"sha256":")" + LeafDigest(e.order) + R"("})";
            }
          }
        }
        if (e.kind == EventKind::kTreeCompleted) outcome[e.tree] = "completed";
        if (e.kind == EventKind::kTreeFailed) outcome[e.tree] = "failed";
        if (e.kind == EventKind::kAccepted && e.command == matching::CommandKind::kPlaceTree) {
          outcome[e.tree] = "open";
        }
      }
    };
    auto flush = [&] {
      Status st = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), batch);
      ASSERT_TRUE(st.ok()) << st.ToString();
      batch.Clear();
      Result<RecoveredState> loaded = LoadState(*::proofbook::server::BorrowSession(conn));
      ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
      ExpectSameSnapshot(loaded->snapshot, engine.GetSnapshot());
      EXPECT_EQ(Scalar(conn, "SELECT ledger_imbalance()"), 0);
    };
    matching::MarketParams params;
    params.min_stake = 100;
    params.min_slash = 10;
    params.slash_multiplier_bps = 10000;
    params.min_prover_time_ms = 50;
    params.grace_bps = 5000;
    params.uncle_reward_bps = 5000;
    params.max_proof_bytes = 1000;
    apply(matching::CreateMarket{0, params});
    apply(matching::CreateMarket{1, params});
    apply(matching::CreateAccount{10, matching::Role::kSequencer});
    apply(matching::Deposit{10, 1'000'000'000});
    for (AccountId p = 100; p < 104; ++p) {
      apply(matching::CreateAccount{p, matching::Role::kProver});
      apply(matching::Deposit{p, 1'000'000});
      apply(matching::Stake{p, 1'000'000});
      apply(matching::PlaceOffer{p, 0, 50 + p % 3, 100, 3, 0});
      apply(matching::PlaceOffer{p, 1, 30 + p % 2, 100, 3, 0});
    }
    ASSERT_NO_FATAL_FAILURE(flush());
    for (int t = 0; t < 3; ++t) {
      matching::PlaceTree tree;
      tree.account = 10;
      tree.leaf_market = 0;
      tree.merge_market = 1;
      tree.leaves = std::uniform_int_distribution<int32_t>(1, 20)(rng);
      tree.leaf_price = 100;
      tree.merge_price = 60;
      tree.deadline = now + 8'000;
      if (t == 2) tree.min_reputation = matching::kMaxReputation;  // nobody qualifies: it fails
      ASSERT_NO_FATAL_FAILURE(apply(tree));
    }
    for (int step = 0; step < 400; ++step) {
      for (AccountId p = 100; p < 104; ++p) {
        for (const matching::AssignmentState& a : engine.GetLiveAssignments(p)) {
          const int roll = std::uniform_int_distribution<int>(0, 99)(rng);
          if (a.status != AssignmentStatus::kAssigned || roll >= 80) continue;  // a miss
          ASSERT_NO_FATAL_FAILURE(apply(matching::ProofDelivered{p, a.id, 10, 0}));
          if (roll < 8) {
            ASSERT_NO_FATAL_FAILURE(apply(matching::ProofRejected{a.id}));
          } else {
            ASSERT_NO_FATAL_FAILURE(apply(matching::ProofVerified{a.id}));
          }
        }
      }
      now += std::uniform_int_distribution<int64_t>(20, 150)(rng);
      ASSERT_NO_FATAL_FAILURE(apply(matching::Tick{}));
      if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) {
        ASSERT_NO_FATAL_FAILURE(flush());
      }
      if (::testing::Test::HasFailure()) return;
    }
    ASSERT_NO_FATAL_FAILURE(flush());
    ASSERT_EQ(outcome.size(), 3u);
    for (const auto& [id, status] : outcome) {
      pqxx::read_transaction tx(conn);
      EXPECT_EQ(tx.exec1("SELECT status FROM trees WHERE id = " + std::to_string(id))[0]
                    .as<std::string>(),
                status)
          << "tree " << id;
      ++ended[status];
    }
    ended["takeover"] += static_cast<int>(
        Scalar(conn, "SELECT count(*) FROM engine_events WHERE kind = 'merge_takeover'"));
    ended["merges"] += static_cast<int>(
        Scalar(conn,
               "SELECT count(*) FROM orders WHERE tree_id IS NOT NULL AND tree_node > 0 "
               "AND market_idx = 1"));
    EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM trees WHERE status <> 'open' AND reserve <> 0"),
              0);
    ASSERT_NO_FATAL_FAILURE(ExpectMerkleOutputs(conn, &ended));
  }
  for (const auto& [what, n] : ended)
    std::cout << "[ journal  ] trees " << what << ": " << n << "\n";
  for (const char* what :
       {"completed", "failed", "takeover", "merges", "merge inputs", "outputs"}) {
    EXPECT_GT(ended[what], 0) << what;
  }
}

TEST(Journal, TreasuryRowExistsAndRolesAreChecked) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM accounts WHERE id = 0 AND role = 'treasury'"), 1);
  pqxx::work tx(conn);
  EXPECT_THROW(tx.exec("INSERT INTO accounts (role, name) VALUES ('treasury', 'second')"),
               pqxx::check_violation);
}

TEST(Journal, EmptyDatabaseLoadsAsAFreshEngine) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  Result<RecoveredState> loaded = LoadState(*::proofbook::server::BorrowSession(conn));
  ASSERT_TRUE(loaded.has_value()) << loaded.error().ToString();
  Engine fresh;
  ExpectSameSnapshot(loaded->snapshot, fresh.GetSnapshot());
  EXPECT_EQ(loaded->next_seq, 1u);
  EXPECT_TRUE(loaded->client_orders.empty());
}

// Not a timing assertion: prints what one group commit of ~1000 events costs here.
TEST(Journal, LargeBatchWriteAndLoadTimes) {
  TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  RandomCommands::Shape shape{.markets = 4, .sequencers = 20, .provers = 40, .max_redundancy = 3};
  JournaledRun run(77, shape);
  // Warm up: a first batch so the tables and the connection are not cold.
  for (int i = 0; i < 300; ++i) ASSERT_NO_FATAL_FAILURE(run.Step());
  ASSERT_TRUE(run.Flush(conn).ok());
  for (int round = 0; round < 3; ++round) {
    int commands = 0;
    auto build_start = std::chrono::steady_clock::now();
    while (run.batch().events.size() < 1000) {
      ASSERT_NO_FATAL_FAILURE(run.Step());
      ++commands;
    }
    auto build = std::chrono::steady_clock::now() - build_start;
    size_t n = run.batch().events.size();
    auto start = std::chrono::steady_clock::now();
    Status s = run.Flush(conn);
    auto write = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::cout << "[ journal  ] batch of " << commands << " commands, " << n
              << " events: WriteBatch " << std::chrono::duration<double, std::milli>(write).count()
              << " ms (engine + AppendToBatch "
              << std::chrono::duration<double, std::milli>(build).count() << " ms)\n";
  }
  auto start = std::chrono::steady_clock::now();
  Result<RecoveredState> loaded = LoadState(*::proofbook::server::BorrowSession(conn));
  auto load = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(loaded.has_value());
  std::cout << "[ journal  ] LoadState " << std::chrono::duration<double, std::milli>(load).count()
            << " ms (" << loaded->snapshot.orders.size() << " orders, "
            << loaded->snapshot.offers.size() << " offers, " << loaded->client_orders.size()
            << " client order ids)\n";
  run.Verify(conn);
}

// An EngineRunner started on a fresh, migrated database, as the server starts one.
struct StartedRunner {
  TestDatabase db;
  std::unique_ptr<WriterLease> lease;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<EngineRunner> runner;

  void Start() {
    db.Migrate();
    lease = std::make_unique<WriterLease>(db.url());
    ASSERT_TRUE(lease->Acquire().has_value());
    conn = std::make_unique<pqxx::connection>(db.url());
    Result<RecoveredState> state = LoadState(*::proofbook::server::BorrowSession(*conn));
    ASSERT_TRUE(state.has_value()) << state.error().ToString();
    EngineRunner::Options options;
    options.database_url = db.url();
    options.lease = lease.get();
    runner = std::make_unique<EngineRunner>(std::move(options), std::move(*state));
    ASSERT_TRUE(runner->Start().ok());
  }
};

// A sequencer account's creation, answered to `committed`.
std::unique_ptr<Submission> CreateAccountSubmission(AccountId id, Committed committed) {
  auto s = std::make_unique<Submission>();
  s->command.body = matching::CreateAccount{id, matching::Role::kSequencer};
  AccountExtra extra{id, "pipeline-" + std::to_string(id), {}};
  extra.key_hash[0] = static_cast<uint8_t>(id);  // API key digests are unique
  extra.key_hash[1] = static_cast<uint8_t>(id >> 8);
  s->created = std::move(extra);
  s->reply = [](const Engine&, std::span<const Event>, OrderId) {};
  s->committed = std::move(committed);
  return s;
}

// The engine thread hands the journal its next batch as soon as the last one is committed,
// while the journal thread is still answering that one's replies (issue #18: answering ~100
// replies took ~1 ms of the commit pipeline). Seen from inside a reply's Committed callback,
// which runs on the journal thread: a command submitted there reaches the journal's ring
// before the callback returns.
TEST(EngineRunnerPipeline, TheNextBatchIsHandedOverWhileTheLastOneIsAnswered) {
  StartedRunner started;
  ASSERT_NO_FATAL_FAILURE(started.Start());
  EngineRunner& runner = *started.runner;
  pqxx::connection& conn = *started.conn;
  auto submit = [&runner](AccountId id, Committed committed) {
    return runner.Submit(CreateAccountSubmission(id, std::move(committed)));
  };
  std::promise<bool> handed_over;
  std::promise<Status> second;
  ASSERT_TRUE(submit(9001, [&](const Status& first) {
    EXPECT_TRUE(first.ok()) << first.ToString();
    EXPECT_TRUE(submit(9002, [&](const Status& s) { second.set_value(s); }));
    bool queued = false;
    for (int i = 0; i < 2000 && !queued; ++i) {
      queued = runner.journal_depth() > 0;
      if (!queued) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    handed_over.set_value(queued);
  }));
  EXPECT_TRUE(handed_over.get_future().get()) << "the second batch waited for the first's replies";
  Status written = second.get_future().get();
  EXPECT_TRUE(written.ok()) << written.ToString();
  runner.Stop();
  EXPECT_EQ(Scalar(conn, "SELECT count(*) FROM accounts WHERE id IN (9001, 9002)"), 2);
  EXPECT_EQ(Scalar(conn, "SELECT ledger_imbalance()"), 0);
}

// While a batch is being committed, a submission does not wake the engine thread (issue #18,
// session 19: woken for each, it slept and woke ~3,000 times a second at the maximum rate): it
// takes what came meanwhile once the commit is done, in one batch, and each submission is
// answered after that batch commits. The commit is held here by a row lock on engine_state.
TEST(EngineRunnerPipeline, SubmissionsDuringACommitAreTakenInOneGoAfterIt) {
  StartedRunner started;
  ASSERT_NO_FATAL_FAILURE(started.Start());
  EngineRunner& runner = *started.runner;
  constexpr int kMore = 50;
  std::atomic<int> ok = 0;
  std::atomic<int> answered = 0;
  auto submit = [&](AccountId id) {
    return runner.Submit(CreateAccountSubmission(id, [&](const Status& st) {
      if (st.ok()) ++ok;
      ++answered;
    }));
  };
  auto wait_until = [](auto done) {
    for (int i = 0; i < 5000 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
  };

  pqxx::connection locker(started.db.url());
  auto hold = std::make_unique<pqxx::work>(locker);
  hold->exec("SELECT 1 FROM engine_state FOR UPDATE");
  ASSERT_TRUE(submit(9100));
  ASSERT_TRUE(wait_until([&] { return runner.batches_in_flight() == 1; }));
  const uint64_t wakeups = runner.submission_wakeups();
  for (int i = 1; i <= kMore; ++i) {
    ASSERT_TRUE(submit(9100 + i));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the engine would sleep between
  }
  EXPECT_EQ(runner.submission_wakeups(), wakeups) << "a submission woke the engine mid-commit";
  EXPECT_EQ(answered.load(), 0);
  EXPECT_EQ(runner.commits(), 0u);

  hold->commit();
  EXPECT_TRUE(wait_until([&] { return answered.load() == kMore + 1; }));
  runner.Stop();
  EXPECT_EQ(ok.load(), kMore + 1);
  EXPECT_EQ(runner.commits(), 2u) << "the submissions made during the first commit took >1 batch";
  EXPECT_EQ(Scalar(*started.conn, "SELECT count(*) FROM accounts WHERE id BETWEEN 9100 AND 9150"),
            kMore + 1);
  EXPECT_EQ(Scalar(*started.conn, "SELECT ledger_imbalance()"), 0);
}

}  // namespace
}  // namespace proofbook::server
