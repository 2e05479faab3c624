#include "server/journal.h"

#include <algorithm>
#include <charconv>
#include <pqxx/except>
#include <pqxx/transaction>
#include <string_view>

namespace proofbook::server {
namespace {

using matching::Event;
using matching::EventKind;

// Appends SQL literals to a string. Numbers and the engine's own enum names (lowercase
// snake_case, see matching/types.cc) are written as they are; anything else goes through the
// connection's escaping.
class SqlText {
 public:
  SqlText(std::string& out, pqxx::connection& conn) : s_(out), conn_(conn) {}

  SqlText& operator<<(std::string_view raw) {
    s_ += raw;
    return *this;
  }
  SqlText& Int(int64_t v) {
    char buf[24];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    s_.append(buf, end);
    return *this;
  }
  SqlText& IdOrNull(int64_t id) { return id == 0 ? *this << "NULL" : Int(id); }
  SqlText& Bool(bool b) { return *this << (b ? "true" : "false"); }
  SqlText& Name(std::string_view name) {
    s_ += '\'';
    s_ += name;
    s_ += '\'';
    return *this;
  }
  SqlText& Text(std::string_view text) {
    s_ += '\'';
    s_ += conn_.esc(text.data(), text.size());
    s_ += '\'';
    return *this;
  }
  SqlText& TextOrNull(std::string_view text) { return text.empty() ? *this << "NULL" : Text(text); }
  // Row separator: "(" for the first row of a VALUES list, ",(" after.
  SqlText& Row(size_t i) { return *this << (i == 0 ? "(" : ",("); }

 private:
  std::string& s_;
  pqxx::connection& conn_;
};

bool AllZero(const matching::VrfOutput& v) {
  return std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; });
}

void Hex(std::string& s, const matching::VrfOutput& v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (uint8_t b : v) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
}

void WriteEvents(SqlText& q, const JournalBatch& b) {
  q << "INSERT INTO engine_events (seq, ref, at_ms, kind, command, reason, field, market, "
       "account, to_account, order_id, offer_id, assignment_id, amount, value) VALUES ";
  for (size_t i = 0; i < b.events.size(); ++i) {
    const Event& e = b.events[i];
    q.Row(i).Int(static_cast<int64_t>(b.first_seq + i)) << ",";
    q.Int(static_cast<int64_t>(e.ref)) << ",";  // the caller's correlation id, bit for bit
    q.Int(e.now) << ",";
    q.Name(matching::EventKindName(e.kind)) << ",";
    q.Name(matching::CommandKindName(e.command)) << ",";
    if (e.reason == matching::Reason::kNone) {
      q << "NULL,";
    } else {
      q.Name(matching::ReasonName(e.reason)) << ",";
    }
    q.TextOrNull(e.field) << ",";
    q.Int(e.market) << ",";
    q.Int(e.account) << ",";
    q.Int(e.to_account) << ",";
    q.IdOrNull(e.order) << ",";
    q.IdOrNull(e.offer) << ",";
    q.IdOrNull(e.assignment) << ",";
    q.Int(e.amount) << ",";
    q.Int(e.value) << ")";
  }
  q << ";\n";
}

// ledger_entries, settlements and slashings: rows derived from single events.
void WriteEventRows(SqlText& q, const JournalBatch& b) {
  size_t n = 0;
  for (size_t i = 0; i < b.events.size(); ++i) {
    const Event& e = b.events[i];
    if (e.kind != EventKind::kTransfer) continue;
    if (n == 0) {
      q << "INSERT INTO ledger_entries (seq, from_account, from_bucket, to_account, to_bucket, "
           "amount, reason, order_id, assignment_id, at_ms) VALUES ";
    }
    q.Row(n++).Int(static_cast<int64_t>(b.first_seq + i)) << ",";
    q.Int(e.account) << ",";
    q.Name(matching::BucketName(e.from_bucket)) << ",";
    q.Int(e.to_account) << ",";
    q.Name(matching::BucketName(e.to_bucket)) << ",";
    q.Int(e.amount) << ",";
    q.Name(matching::TransferReasonName(e.transfer_reason)) << ",";
    q.IdOrNull(e.order) << ",";
    q.IdOrNull(e.assignment) << ",";
    q.Int(e.now) << ")";
  }
  if (n > 0) q << ";\n";

  n = 0;
  for (size_t i = 0; i < b.events.size(); ++i) {
    const Event& e = b.events[i];
    if (e.kind != EventKind::kSettled && e.kind != EventKind::kUncleRewarded) continue;
    if (n == 0) {
      q << "INSERT INTO settlements (seq, assignment_id, order_id, prover_id, amount, kind, "
           "at_ms) VALUES ";
    }
    q.Row(n++).Int(static_cast<int64_t>(b.first_seq + i)) << ",";
    q.Int(e.assignment) << ",";
    q.Int(e.order) << ",";
    q.Int(e.account) << ",";
    q.Int(e.amount) << ",";
    q.Name(e.kind == EventKind::kSettled ? "settled" : "uncle") << ",";
    q.Int(e.now) << ")";
  }
  if (n > 0) q << ";\n";

  n = 0;
  for (size_t i = 0; i < b.events.size(); ++i) {
    const Event& e = b.events[i];
    if (e.kind != EventKind::kSlashed) continue;
    if (n == 0) {
      q << "INSERT INTO slashings (seq, assignment_id, order_id, prover_id, market_idx, amount, "
           "reason, at_ms) VALUES ";
    }
    q.Row(n++).Int(static_cast<int64_t>(b.first_seq + i)) << ",";
    q.Int(e.assignment) << ",";
    q.Int(e.order) << ",";
    q.Int(e.account) << ",";
    q.Int(e.market) << ",";
    q.Int(e.amount) << ",";
    q.Name(matching::ReasonName(e.reason)) << ",";
    q.Int(e.now) << ")";
  }
  if (n > 0) q << ";\n";
}

// An UPDATE ... FROM (VALUES ...) that must hit exactly `rows` rows, else the batch fails.
void ExpectRows(SqlText& q, std::string_view what, size_t rows) {
  q << ") SELECT journal_expect_rows(";
  q.Name(what) << ", (SELECT count(*) FROM u), ";
  q.Int(static_cast<int64_t>(rows)) << ");\n";
}

void WriteAccounts(SqlText& q, const JournalBatch& b) {
  if (b.accounts.empty()) return;
  // The row (and its role) exists before the engine hears of the account; only balances move.
  q << "WITH v (id, role, available, escrowed, staked, reputation_bps) AS (VALUES ";
  for (size_t i = 0; i < b.accounts.size(); ++i) {
    const matching::AccountState& a = b.accounts[i];
    q.Row(i).Int(a.id) << ",";
    q.Name(matching::RoleName(a.role)) << ",";
    q.Int(a.available) << ",";
    q.Int(a.escrowed) << ",";
    q.Int(a.staked) << ",";
    q.Int(a.reputation) << ")";
  }
  q << "), u AS (UPDATE accounts a SET available = v.available, escrowed = v.escrowed, "
       "staked = v.staked, reputation_bps = v.reputation_bps FROM v "
       "WHERE a.id = v.id AND a.role = v.role RETURNING 1";
  ExpectRows(q, "accounts (id and role)", b.accounts.size());
}

void WriteMarkets(SqlText& q, const JournalBatch& b) {
  if (b.markets.empty()) return;
  q << "WITH v (idx, min_stake, slash_bps, compensation_bps, fee_bps, min_prover_time_ms, "
       "grace_bps, uncle_reward_bps, max_proof_bytes, seq) AS (VALUES ";
  for (size_t i = 0; i < b.markets.size(); ++i) {
    const matching::MarketState& m = b.markets[i];
    // The seq of the CreateMarket acceptance, for markets.created_seq.
    int64_t seq = 0;
    for (size_t j = 0; j < b.events.size(); ++j) {
      const Event& e = b.events[j];
      if (e.kind == EventKind::kAccepted && e.command == matching::CommandKind::kCreateMarket &&
          e.market == m.id) {
        seq = static_cast<int64_t>(b.first_seq + j);
      }
    }
    q.Row(i).Int(m.id) << ",";
    q.Int(m.params.min_stake) << ",";
    q.Int(m.params.slash_bps) << ",";
    q.Int(m.params.compensation_bps) << ",";
    q.Int(m.params.fee_bps) << ",";
    q.Int(m.params.min_prover_time_ms) << ",";
    q.Int(m.params.grace_bps) << ",";
    q.Int(m.params.uncle_reward_bps) << ",";
    q.Int(m.params.max_proof_bytes) << ",";
    q.IdOrNull(seq) << "::bigint)";
  }
  // The admin endpoint made the row (slug, verifier, idx); the engine's params are what count.
  q << "), u AS (UPDATE markets m SET min_stake = v.min_stake, slash_bps = v.slash_bps, "
       "compensation_bps = v.compensation_bps, fee_bps = v.fee_bps, "
       "min_prover_time_ms = v.min_prover_time_ms, grace_bps = v.grace_bps, "
       "uncle_reward_bps = v.uncle_reward_bps, max_proof_bytes = v.max_proof_bytes, "
       "created_seq = coalesce(m.created_seq, v.seq) FROM v WHERE m.idx = v.idx RETURNING 1";
  ExpectRows(q, "markets (idx)", b.markets.size());
}

void WriteOrders(SqlText& q, const JournalBatch& b, const std::vector<const OrderExtra*>& extras,
                 size_t* extras_used) {
  if (b.orders.empty()) return;
  q << "INSERT INTO orders (id, account_id, market_idx, client_order_id, inputs, max_price, "
       "deadline_ms, placed_at_ms, priority, min_reputation_bps, redundancy, selection, "
       "direct_prover, exclusive_until_ms, exclusive_ended, has_vrf_output, vrf_output, "
       "vrf_draws, status, verified, escrow_left, needed) VALUES ";
  for (size_t i = 0; i < b.orders.size(); ++i) {
    const matching::OrderState& o = b.orders[i];
    auto it = std::lower_bound(extras.begin(), extras.end(), o.id,
                               [](const OrderExtra* x, int64_t id) { return x->id < id; });
    const OrderExtra* extra = it != extras.end() && (*it)->id == o.id ? *it : nullptr;
    if (extra != nullptr) ++*extras_used;
    q.Row(i).Int(o.id) << ",";
    q.Int(o.account) << ",";
    q.Int(o.market) << ",";
    q.TextOrNull(extra ? std::string_view(extra->client_order_id) : std::string_view()) << ",";
    q.TextOrNull(extra ? std::string_view(extra->inputs_json) : std::string_view()) << ",";
    q.Int(o.max_price) << ",";
    q.Int(o.deadline) << ",";
    q.Int(o.placed_at) << ",";
    q.Name(o.priority == matching::Priority::kPrice ? "price" : "time") << ",";
    q.Int(o.min_reputation) << ",";
    q.Int(o.redundancy) << ",";
    q.Name(o.selection == matching::Selection::kBest     ? "best"
           : o.selection == matching::Selection::kDirect ? "direct"
                                                         : "vrf")
        << ",";
    q.Int(o.direct_prover) << ",";
    q.Int(o.exclusive_until) << ",";
    q.Bool(o.exclusive_ended) << ",";
    q.Bool(o.has_vrf_output) << ",";
    if (AllZero(o.vrf_output)) {
      q << "NULL,";
    } else {
      q << "decode('";
      std::string hex;
      Hex(hex, o.vrf_output);
      q << hex << "','hex'),";
    }
    q.Int(o.vrf_draws) << ",";
    q.Name(matching::OrderStatusName(o.status)) << ",";
    q.Int(o.verified) << ",";
    q.Int(o.escrow_left) << ",";
    q.Int(o.needed) << ")";
  }
  // Placement fields never change; client_order_id and inputs come only with the first image.
  q << " ON CONFLICT (id) DO UPDATE SET exclusive_ended = EXCLUDED.exclusive_ended, "
       "vrf_draws = EXCLUDED.vrf_draws, status = EXCLUDED.status, verified = EXCLUDED.verified, "
       "escrow_left = EXCLUDED.escrow_left, needed = EXCLUDED.needed;\n";
}

void WriteOffers(SqlText& q, const JournalBatch& b) {
  if (b.offers.empty()) return;
  q << "INSERT INTO offers (id, prover_id, market_idx, price, est_ms, capacity, capacity_left, "
       "expires_at_ms) VALUES ";
  for (size_t i = 0; i < b.offers.size(); ++i) {
    const matching::OfferState& f = b.offers[i];
    q.Row(i).Int(f.id) << ",";
    q.Int(f.prover) << ",";
    q.Int(f.market) << ",";
    q.Int(f.price) << ",";
    q.Int(f.est_ms) << ",";
    q.Int(f.capacity) << ",";
    q.Int(f.capacity_left) << ",";
    q.Int(f.expires_at) << ")";
  }
  q << " ON CONFLICT (id) DO UPDATE SET capacity_left = EXCLUDED.capacity_left;\n";
}

void WriteAssignments(SqlText& q, const JournalBatch& b) {
  if (b.assignments.empty()) return;
  q << "INSERT INTO assignments (id, order_id, offer_id, prover_id, market_idx, price, "
       "assigned_at_ms, due_at_ms, status) VALUES ";
  for (size_t i = 0; i < b.assignments.size(); ++i) {
    const matching::AssignmentState& a = b.assignments[i];
    q.Row(i).Int(a.id) << ",";
    q.Int(a.order) << ",";
    q.Int(a.offer) << ",";
    q.Int(a.prover) << ",";
    q.Int(a.market) << ",";
    q.Int(a.price) << ",";
    q.Int(a.assigned_at) << ",";
    q.Int(a.due_at) << ",";
    q.Name(matching::AssignmentStatusName(a.status)) << ")";
  }
  q << " ON CONFLICT (id) DO UPDATE SET due_at_ms = EXCLUDED.due_at_ms, "
       "status = EXCLUDED.status;\n";
}

// Records the engine forgot: applied after the images, which may predate the closing command.
void WriteClosed(SqlText& q, const JournalBatch& b) {
  if (!b.closed_orders.empty()) {
    q << "WITH v (id, status, settled, exclusive_ended) AS (VALUES ";
    for (size_t i = 0; i < b.closed_orders.size(); ++i) {
      const ClosedOrder& c = b.closed_orders[i];
      q.Row(i).Int(c.id) << ",";
      if (c.has_status) {
        q.Name(matching::OrderStatusName(c.status)) << ",";
      } else {
        q << "NULL,";
      }
      q.Int(c.settled) << ",";
      q.Bool(c.exclusive_ended) << ")";
    }
    // Forgotten means closed with nothing pending, so no escrow is left and nothing needed.
    q << "), u AS (UPDATE orders o SET status = coalesce(v.status, o.status), "
         "verified = o.verified + v.settled, escrow_left = 0, needed = 0, "
         "exclusive_ended = o.exclusive_ended OR v.exclusive_ended FROM v "
         "WHERE o.id = v.id RETURNING 1";
    ExpectRows(q, "closed orders", b.closed_orders.size());
  }
  if (!b.closed_assignments.empty()) {
    q << "WITH v (id, status) AS (VALUES ";
    for (size_t i = 0; i < b.closed_assignments.size(); ++i) {
      const ClosedAssignment& c = b.closed_assignments[i];
      q.Row(i).Int(c.id) << ",";
      q.Name(matching::AssignmentStatusName(c.status)) << ")";
    }
    q << "), u AS (UPDATE assignments a SET status = v.status FROM v WHERE a.id = v.id "
         "RETURNING 1";
    ExpectRows(q, "closed assignments", b.closed_assignments.size());
  }

  size_t n = 0;
  for (size_t i = 0; i < b.events.size(); ++i) {
    const Event& e = b.events[i];
    bool expired = e.kind == EventKind::kOfferExpired;
    if (e.kind != EventKind::kOfferCancelled && !expired) continue;
    q << (n++ == 0 ? "WITH v (id, status, close_reason, seq) AS (VALUES (" : ",(");
    q.Int(e.offer) << ",";
    q.Name(expired ? "expired" : "cancelled") << ",";
    if (expired) {
      q << "NULL,";
    } else {
      q.Name(matching::ReasonName(e.reason)) << ",";
    }
    q.Int(static_cast<int64_t>(b.first_seq + i)) << ")";
  }
  if (n > 0) {
    q << "), u AS (UPDATE offers f SET status = v.status, close_reason = v.close_reason, "
         "closed_seq = v.seq FROM v WHERE f.id = v.id AND f.status = 'open' RETURNING 1";
    ExpectRows(q, "closed offers", n);
  }

  // A forgotten assignment that was live freed capacity on its offer, and no image of the
  // offer may follow. Recompute from the invariant capacity_left == capacity - live ones.
  if (!b.closed_assignments.empty()) {
    q << "UPDATE offers f SET capacity_left = f.capacity - (SELECT count(*) FROM assignments a "
         "WHERE a.offer_id = f.id AND a.status IN ('assigned', 'delivered')) "
         "WHERE f.status = 'open' AND f.id IN (SELECT offer_id FROM assignments WHERE id IN (";
    for (size_t i = 0; i < b.closed_assignments.size(); ++i) {
      if (i > 0) q << ",";
      q.Int(b.closed_assignments[i].id);
    }
    q << "));\n";
  }
}

void WriteDepositReferences(SqlText& q, const JournalBatch& b) {
  if (b.deposit_extras.empty()) return;
  q << "INSERT INTO deposit_references (reference, account_id, amount, seq) VALUES ";
  for (size_t i = 0; i < b.deposit_extras.size(); ++i) {
    const DepositExtra& d = b.deposit_extras[i];
    q.Row(i).Text(d.reference) << ",";  // client text: escaped
    q.Int(d.account) << ",";
    q.Int(d.amount) << ",";
    q.Int(static_cast<int64_t>(b.first_seq + d.event)) << ")";
  }
  q << ";\n";
}

void WriteEngineState(SqlText& q, const JournalBatch& b) {
  q << "UPDATE engine_state SET next_order = ";
  q.Int(b.ids.next_order) << ", next_offer = ";
  q.Int(b.ids.next_offer) << ", next_assignment = ";
  q.Int(b.ids.next_assignment) << ", external_net = ";
  q.Int(b.ids.external_net) << ", last_seq = ";
  q.Int(static_cast<int64_t>(b.last_seq())) << ";\n";
}

}  // namespace

Status Journal::BuildSql(pqxx::connection& conn, const JournalBatch& batch) {
  sql_.clear();
  SqlText q(sql_, conn);

  std::vector<const OrderExtra*> extras;
  extras.reserve(batch.order_extras.size());
  for (const OrderExtra& x : batch.order_extras) extras.push_back(&x);
  std::sort(extras.begin(), extras.end(),
            [](const OrderExtra* a, const OrderExtra* b) { return a->id < b->id; });

  // Parents before children: events before ledger rows, orders/offers before assignments,
  // assignments before settlements.
  WriteEvents(q, batch);
  WriteAccounts(q, batch);
  WriteMarkets(q, batch);
  size_t extras_used = 0;
  WriteOrders(q, batch, extras, &extras_used);
  if (extras_used != extras.size()) {
    return Status(StatusCode::kInternal,
                  "journal: an order_extras entry has no order image in the batch");
  }
  WriteOffers(q, batch);
  WriteAssignments(q, batch);
  WriteClosed(q, batch);
  WriteEventRows(q, batch);
  WriteDepositReferences(q, batch);
  WriteEngineState(q, batch);
  return Status::Ok();
}

Status Journal::WriteBatch(pqxx::connection& conn, const JournalBatch& batch) {
  if (batch.empty()) return Status::Ok();
  if (batch.first_seq == 0) {
    return Status(StatusCode::kInternal, "journal: batch has no first_seq (seqs start at 1)");
  }
  try {
    pqxx::work tx(conn, "journal");
    // The row lock also keeps a second writer (a stale server) from interleaving.
    pqxx::result r = tx.exec("SELECT last_seq FROM engine_state FOR UPDATE");
    if (r.size() != 1) return Status(StatusCode::kInternal, "journal: engine_state row missing");
    uint64_t last = r[0][0].as<uint64_t>();
    if (batch.last_seq() <= last) return Status::Ok();  // committed by an earlier attempt
    if (batch.first_seq != last + 1) {
      return Status(StatusCode::kInternal, "journal: batch starts at seq " +
                                               std::to_string(batch.first_seq) +
                                               " but the journal ends at " + std::to_string(last));
    }
    if (Status s = BuildSql(conn, batch); !s.ok()) return s;
    tx.exec(sql_);
    tx.commit();
    return Status::Ok();
  } catch (const pqxx::broken_connection& e) {
    return Status(StatusCode::kUnavailable, std::string("journal: connection lost: ") + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    return Status(StatusCode::kUnavailable,
                  std::string("journal: commit outcome unknown, retry the batch: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    return Status(StatusCode::kInternal,
                  "journal: batch refused (SQLSTATE " + e.sqlstate() + "): " + e.what());
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string("journal: ") + e.what());
  }
}

}  // namespace proofbook::server
