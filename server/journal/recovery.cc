#include "server/journal/recovery.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "matching/command.h"
#include "matching/event.h"
#include "matching/rules.h"
#include "matching/tree_shape.h"
#include "matching/types.h"
#include "server/base/crypto.h"
#include "server/base/huge_pages.h"
#include "server/base/resources.h"
#include "server/db/pq.h"
#include "server/db/rows.h"

namespace proofbook::server {
namespace {

using matching::AssignmentStatus;
using matching::OrderStatus;
using matching::Role;

// Orders with work pending (assignments_pending_idx).
constexpr const char* kPendingOrders =
    "SELECT order_id FROM assignments "
    "WHERE status IN ('assigned', 'delivered', 'late', 'late_delivered')";

void LoadAccounts(pqxx::transaction_base& tx, matching::Snapshot& s) {
  for (const auto& row : tx.exec("SELECT id, role, available, escrowed, staked, reputation_bps, "
                                 "last_slashed_at_ms FROM accounts ORDER BY id")) {
    matching::AccountState a;
    a.id = row[0].as<int64_t>();
    a.role = FromName(row[1], Role::kTreasury, matching::RoleName, "role");
    a.available = row[2].as<int64_t>();
    a.escrowed = row[3].as<int64_t>();
    a.staked = row[4].as<int64_t>();
    a.reputation = row[5].as<int32_t>();
    a.last_slashed_at = row[6].as<int64_t>();
    s.accounts.push_back(a);
  }
}

void LoadMarkets(pqxx::transaction_base& tx, matching::Snapshot& s) {
  for (const auto& row : tx.exec("SELECT * FROM markets ORDER BY idx")) {
    s.markets.push_back({row["idx"].as<uint32_t>(), MarketParamsFromRow(row)});
  }
}

// The most orders reserved for without a count of PostgreSQL's (LoadOrders): 4M OrderStates
// are 570 MB of address space, of which only what the rows fill is ever faulted in.
constexpr int64_t kUnsizedReserve = int64_t{1} << 22;

// Reserves room for about `estimate` elements (a statistic of PostgreSQL's; -1 or 0 when it
// has none, then nothing is reserved). A stale estimate costs only address space, pages never
// written being never faulted in, or the doubling it would have spared.
template <typename T>
void ReserveEstimated(std::vector<T>& v, double estimate) {
  if (estimate > 0) v.reserve(static_cast<size_t>(std::min(estimate * 1.05 + 1024, 1e8)));
}

// Orders still in the engine (open, or with work pending) in id order, streamed (CopyRows):
// the open ones through orders_open_idx, then the few others that have an assignment pending,
// merged in. (One query with `id IN (open UNION pending)` sorted a million ids and merge-joined
// them back to the table: 1.5 s of PostgreSQL's time with a million open orders.)
void LoadOrders(pqxx::transaction_base& tx, matching::Snapshot& s) {
  // Sized ahead from the open-orders index's row count as VACUUM or ANALYZE last saw it: a
  // million OrderStates grown by doubling wrote twice their 136 MB (page faults on a machine
  // whose cores recovery keeps busy) and copied them; sized, the million-order restart on the
  // loadtest VM took 4.4-4.8 s against 5.6-5.8 s (loadtest/REPORT_RESTART.md). Before the
  // first VACUUM or ANALYZE of the table (a restart soon after a burst of orders) there is no
  // count; then the number of orders ever placed bounds it, up to kUnsizedReserve.
  double estimate = tx.exec(
                          "SELECT coalesce((SELECT reltuples FROM pg_class "
                          "WHERE oid = to_regclass('orders_open_idx')), -1)")[0][0]
                        .as<double>();
  if (estimate <= 0) {
    estimate = static_cast<double>(std::min(s.ids.next_order - 1, kUnsizedReserve));
  }
  ReserveEstimated(s.orders, estimate);
  const OrderColumns columns;
  auto add = [&](const CopyRow& row) { s.orders.push_back(OrderFromRow(row, columns)); };
  std::string sql = "SELECT ";
  sql += kOrderColumnList;
  sql += " FROM orders WHERE ";
  CopyRows(tx, sql + "status = 'open' ORDER BY id", kOrderColumnCount, add);
  const auto open = static_cast<std::ptrdiff_t>(s.orders.size());
  sql += "status <> 'open' AND id IN (";
  sql += kPendingOrders;
  CopyRows(tx, sql + ") ORDER BY id", kOrderColumnCount, add);
  std::inplace_merge(
      s.orders.begin(), s.orders.begin() + open, s.orders.end(),
      [](const matching::OrderState& a, const matching::OrderState& b) { return a.id < b.id; });

  // All assignments of those orders.
  sql =
      "SELECT * FROM assignments WHERE order_id IN (SELECT id FROM orders WHERE status = 'open' "
      "UNION ";
  sql += kPendingOrders;
  sql += ") ORDER BY id";
  for (const auto& row : tx.exec(sql)) s.assignments.push_back(AssignmentFromRow(row));
}

// Open trees, with their nodes (matching/tree_shape.h indices) as tree_nodes records them.
void LoadTrees(pqxx::transaction_base& tx, matching::Snapshot& s) {
  for (const auto& row :
       tx.exec("SELECT id, account_id, leaf_market_idx, merge_market_idx, leaves, leaf_price, "
               "merge_price, placed_at_ms, deadline_ms, priority, min_reputation_bps, "
               "leaf_selection, leaf_share_bps, reserve FROM trees WHERE status = 'open' "
               "ORDER BY id")) {
    matching::TreeState t;
    t.id = row[0].as<int64_t>();
    t.account = row[1].as<int64_t>();
    t.leaf_market = row[2].as<uint32_t>();
    t.merge_market = row[3].as<uint32_t>();
    t.leaves = row[4].as<int32_t>();
    t.leaf_price = row[5].as<int64_t>();
    t.merge_price = row[6].as<int64_t>();
    t.placed_at = row[7].as<int64_t>();
    t.deadline = row[8].as<int64_t>();
    t.priority = FromName(row[9], matching::Priority::kTime, PriorityName, "priority");
    t.min_reputation = row[10].as<int32_t>();
    t.leaf_selection =
        FromName(row[11], matching::Selection::kVrf, SelectionName, "leaf_selection");
    t.leaf_share_bps = row[12].as<int32_t>();
    t.reserve = row[13].as<int64_t>();
    t.nodes.assign(static_cast<size_t>(matching::TreeShape(t.leaves).nodes()), {});
    s.trees.push_back(std::move(t));
  }
  for (const auto& row :
       tx.exec("SELECT n.tree_id, n.node, n.order_id, n.prover_id, n.done FROM tree_nodes n "
               "JOIN trees t ON t.id = n.tree_id WHERE t.status = 'open' "
               "ORDER BY n.tree_id, n.node")) {
    const int64_t tree = row[0].as<int64_t>();
    auto it = std::lower_bound(s.trees.begin(), s.trees.end(), tree,
                               [](const matching::TreeState& t, int64_t id) { return t.id < id; });
    const auto node = row[1].as<size_t>();
    if (it == s.trees.end() || it->id != tree || node >= it->nodes.size()) {
      throw BadValue("tree_nodes: node " + std::to_string(node) + " of tree " +
                     std::to_string(tree) + " is out of its tree");
    }
    matching::TreeNodeState& n = it->nodes[node];
    if (!row[2].is_null()) n.order = row[2].as<int64_t>();
    if (!row[3].is_null()) n.prover = row[3].as<int64_t>();
    n.done = row[4].as<bool>();
  }
}

void LoadOffers(pqxx::transaction_base& tx, matching::Snapshot& s) {
  for (const auto& row :
       tx.exec("SELECT id, prover_id, market_idx, price, est_ms, capacity, capacity_left, "
               "expires_at_ms FROM offers WHERE status = 'open' ORDER BY id")) {
    matching::OfferState f;
    f.id = row[0].as<int64_t>();
    f.prover = row[1].as<int64_t>();
    f.market = row[2].as<uint32_t>();
    f.price = row[3].as<int64_t>();
    f.est_ms = row[4].as<int64_t>();
    f.capacity = row[5].as<int32_t>();
    f.capacity_left = row[6].as<int32_t>();
    f.expires_at = row[7].as<int64_t>();
    s.offers.push_back(f);
  }
}

// Every order placed with a client_order_id (RecoveredState::client_orders).
void LoadClientOrders(pqxx::transaction_base& tx, std::vector<RecoveredState::ClientOrder>& out) {
  // Not sized ahead as LoadOrders' list: measured, that made the restart slower (5.5 against
  // 4.8 s with a million keys; the doubling's freed blocks are memory the engine's pools reuse
  // instead of faulting in fresh pages, loadtest/REPORT_RESTART.md).
  CopyRows(tx,
           "SELECT account_id, client_order_id, id, request_sha256 FROM orders "
           "WHERE client_order_id IS NOT NULL ORDER BY id",
           4, [&](const CopyRow& row) {
             RecoveredState::ClientOrder& c = out.emplace_back();
             c.account = row[0].as<int64_t>();
             c.client_id = row[1].as<std::string>();
             c.order = row[2].as<int64_t>();
             if (!row[3].is_null()) {
               const std::string_view sha = row[3].bytes();
               if (sha.size() != std::tuple_size_v<Sha256Digest>) {
                 throw BadValue("orders.request_sha256 of order " + std::to_string(c.order) +
                                " is not 32 bytes");
               }
               std::memcpy(c.request_sha256.emplace().data(), sha.data(), sha.size());
             }
           });
}

// LoadClientOrders on a second connection, in a transaction that imports `snapshot`
// (pg_export_snapshot of the recovery's own): it sees the same committed state, and
// PostgreSQL reads the keys on one core while it reads the live orders on the other (with a
// million orders, 0.9 s and 1.7 s of a backend's time on the loadtest VM). Run() leaves
// `loaded` false if it cannot connect (max_connections reached, say): the caller then reads
// them itself. Any later failure is kept for the caller to rethrow.
struct SecondReader {
  std::string url, snapshot;
  std::vector<RecoveredState::ClientOrder>* out;
  bool loaded = false;
  std::exception_ptr error;

  void Run() {
    ScopedHugePageArena huge_pages;  // as the recovering thread's (server/base/huge_pages.h)
    std::unique_ptr<pqxx::connection> conn;
    try {
      conn = std::make_unique<pqxx::connection>(url);
    } catch (const std::exception&) {
      return;
    }
    try {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn, "recovery_keys");
      tx.exec("SET TRANSACTION SNAPSHOT " + tx.quote(snapshot));
      tx.exec("SET LOCAL jit = off");  // as LoadState's
      LoadClientOrders(tx, *out);
      tx.commit();
      loaded = true;
    } catch (...) {
      error = std::current_exception();
    }
  }
};

// The event log stores names as text (server/journal/event_log.h) that only the view
// engine_events casts to the enum types, so a name without its migration would be written
// without complaint and break every read of the view. Refuse to start instead.
template <typename Kind>
void CheckNames(pqxx::transaction_base& tx, const char* type, Kind first, Kind last,
                std::string_view (*name)(Kind)) {
  std::set<std::string, std::less<>> labels;
  // Appended, not chained with +: GCC 12 at -O1 (the TSan build) warns falsely of a
  // temporary string's bounds (-Warray-bounds) once this is inlined into LoadState.
  std::string sql = "SELECT unnest(enum_range(NULL::";
  sql += type;
  sql += "))::text";
  for (const auto& row : tx.exec(sql)) {
    labels.insert(row[0].as<std::string>());
  }
  for (int k = static_cast<int>(first); k <= static_cast<int>(last); ++k) {
    std::string_view n = name(static_cast<Kind>(k));
    if (!n.empty() && !labels.contains(n)) {
      std::string message = type;
      message += " has no label '";
      message += n;
      message += "': the database lacks a migration";
      throw BadValue(message);
    }
  }
}

}  // namespace

Result<RecoveredState> LoadState(DbSession& session) {
  pqxx::connection& conn = Pq(session);
  try {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn, "recovery");
    // Recovery's queries are plain scans that JIT compilation cannot speed up, but their plan
    // costs pass jit_above_cost with a million open orders: the assignments' query then spent
    // 45-155 ms compiling in a fresh backend, against 0.4 ms run without
    // (loadtest/REPORT_RESTART.md).
    tx.exec("SET LOCAL jit = off");
    RecoveredState out;
    pqxx::result ids = tx.exec(
        "SELECT next_order, next_offer, next_assignment, external_net, last_seq, next_tree "
        "FROM engine_state");
    if (ids.size() != 1) return Status(StatusCode::kInternal, "recovery: engine_state row missing");
    out.snapshot.ids.next_order = ids[0][0].as<int64_t>();
    out.snapshot.ids.next_offer = ids[0][1].as<int64_t>();
    out.snapshot.ids.next_assignment = ids[0][2].as<int64_t>();
    out.snapshot.ids.external_net = ids[0][3].as<int64_t>();
    out.next_seq = ids[0][4].as<uint64_t>() + 1;
    out.snapshot.ids.next_tree = ids[0][5].as<int64_t>();
    // The last committed event's time: nothing that ran after it committed anything.
    // (journal_batches; before migration 0018, engine_events_archive).
    for (const auto& row : tx.exec(
             "SELECT at_ms FROM ((SELECT last_seq AS seq, last_at_ms AS at_ms FROM journal_batches "
             "ORDER BY first_seq DESC LIMIT 1) UNION ALL (SELECT seq, at_ms FROM "
             "engine_events_archive ORDER BY seq DESC LIMIT 1)) e ORDER BY seq DESC LIMIT 1")) {
      out.last_event_at = row[0].as<int64_t>();
    }

    // The first and last enumerators of each kind (matching/event.h, command.h, types.h);
    // Reason::kNone is written as NULL.
    CheckNames(tx, "event_kind", matching::EventKind::kAccepted, matching::EventKind::kTreeFailed,
               &matching::EventKindName);
    CheckNames(tx, "command_kind", matching::CommandKind::kCreateAccount,
               matching::CommandKind::kPlaceTree, &matching::CommandKindName);
    CheckNames(tx, "engine_reason", matching::Reason::kInvalidArgument,
               matching::Reason::kVerifierFailed, &matching::ReasonName);
    SecondReader keys{.url = conn.options(),
                      .snapshot = tx.exec("SELECT pg_export_snapshot()")[0][0].as<std::string>(),
                      .out = &out.client_orders,
                      .loaded = false,
                      .error = nullptr};
    std::jthread keys_reader([&keys] { keys.Run(); });  // joined on every way out
    LoadAccounts(tx, out.snapshot);
    LoadMarkets(tx, out.snapshot);
    LoadTrees(tx, out.snapshot);
    LoadOrders(tx, out.snapshot);
    LoadOffers(tx, out.snapshot);
    for (const auto& row :
         tx.exec("SELECT p.assignment_id, p.prover_id, length(p.data), "
                 "(extract(epoch FROM p.received_at) * 1000)::bigint FROM proofs p "
                 "JOIN assignments a ON a.id = p.assignment_id "
                 "WHERE a.status IN ('assigned', 'late') ORDER BY p.assignment_id")) {
      out.stored_proofs.push_back(matching::ProofDelivered{
          .account = row[1].as<int64_t>(),
          .assignment = row[0].as<int64_t>(),
          .proof_bytes = row[2].as<int64_t>(),
          .received_at = row[3].as<int64_t>(),
      });
    }
    for (const auto& row :
         tx.exec("SELECT reference, account_id, amount FROM deposit_references ORDER BY seq")) {
      out.deposit_references.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>(),
                                          row[2].as<int64_t>());
    }
    keys_reader.join();
    if (keys.error) std::rethrow_exception(keys.error);
    if (!keys.loaded) LoadClientOrders(tx, out.client_orders);
    tx.commit();
    return out;
  } catch (const BadValue& e) {
    return Status(StatusCode::kInternal, std::string("recovery: ") + e.what());
  } catch (const pqxx::broken_connection& e) {
    return Status(StatusCode::kUnavailable, std::string("recovery: connection lost: ") + e.what());
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string("recovery: ") + e.what());
  }
}

}  // namespace proofbook::server
