#include "server/recovery.h"

#include <pqxx/except>
#include <pqxx/transaction>

#include "matching/rules.h"
#include "matching/types.h"

namespace proofbook::server {
namespace {

using matching::AssignmentStatus;
using matching::OrderStatus;
using matching::Role;

// Thrown inside LoadState only, for a value the engine does not know; caught at its edge.
struct BadValue {
  std::string what;
};

template <typename Enum, typename NameFn>
Enum FromName(const pqxx::field& f, Enum last, NameFn name, const char* what) {
  std::string_view text(f.c_str(), f.size());
  for (int i = 0; i <= static_cast<int>(last); ++i) {
    if (name(static_cast<Enum>(i)) == text) return static_cast<Enum>(i);
  }
  throw BadValue{std::string("unknown ") + what + " '" + std::string(text) + "'"};
}

matching::VrfOutput VrfFromHex(const pqxx::field& f) {
  matching::VrfOutput out{};
  if (f.is_null()) return out;
  std::string_view hex(f.c_str(), f.size());
  if (hex.size() != 2 * out.size()) throw BadValue{"vrf_output is not 32 bytes"};
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw BadValue{"vrf_output is not hex"};
  };
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(digit(hex[2 * i]) * 16 + digit(hex[2 * i + 1]));
  }
  return out;
}

// Orders still in the engine: open, or with work pending.
constexpr const char* kLiveOrders =
    "SELECT id FROM orders WHERE status = 'open' "
    "UNION SELECT order_id FROM assignments "
    "WHERE status IN ('assigned', 'delivered', 'late', 'late_delivered')";

void LoadAccounts(pqxx::transaction_base& tx, matching::Snapshot& s) {
  for (const auto& row : tx.exec("SELECT id, role, available, escrowed, staked, reputation_bps "
                                 "FROM accounts ORDER BY id")) {
    matching::AccountState a;
    a.id = row[0].as<int64_t>();
    a.role = FromName(row[1], Role::kTreasury, matching::RoleName, "role");
    a.available = row[2].as<int64_t>();
    a.escrowed = row[3].as<int64_t>();
    a.staked = row[4].as<int64_t>();
    a.reputation = row[5].as<int32_t>();
    s.accounts.push_back(a);
  }
}

void LoadMarkets(pqxx::transaction_base& tx, matching::Snapshot& s) {
  for (const auto& row :
       tx.exec("SELECT idx, min_stake, slash_bps, compensation_bps, fee_bps, min_prover_time_ms, "
               "grace_bps, uncle_reward_bps, max_proof_bytes FROM markets ORDER BY idx")) {
    matching::MarketState m;
    m.id = row[0].as<uint32_t>();
    m.params.min_stake = row[1].as<int64_t>();
    m.params.slash_bps = row[2].as<int32_t>();
    m.params.compensation_bps = row[3].as<int32_t>();
    m.params.fee_bps = row[4].as<int32_t>();
    m.params.min_prover_time_ms = row[5].as<int64_t>();
    m.params.grace_bps = row[6].as<int32_t>();
    m.params.uncle_reward_bps = row[7].as<int32_t>();
    m.params.max_proof_bytes = row[8].as<int64_t>();
    std::string_view bad = matching::InvalidMarketParamField(m.params);
    if (!bad.empty()) {
      throw BadValue{"market " + std::to_string(m.id) + " has an invalid " + std::string(bad)};
    }
    s.markets.push_back(m);
  }
}

void LoadOrders(pqxx::transaction_base& tx, matching::Snapshot& s) {
  std::string sql =
      "SELECT id, account_id, market_idx, max_price, deadline_ms, placed_at_ms, priority, "
      "min_reputation_bps, redundancy, selection, direct_prover, exclusive_until_ms, "
      "exclusive_ended, has_vrf_output, encode(vrf_output, 'hex'), vrf_draws, status, verified, "
      "escrow_left, needed FROM orders WHERE id IN (";
  sql += kLiveOrders;
  sql += ") ORDER BY id";
  for (const auto& row : tx.exec(sql)) {
    matching::OrderState o;
    o.id = row[0].as<int64_t>();
    o.account = row[1].as<int64_t>();
    o.market = row[2].as<uint32_t>();
    o.max_price = row[3].as<int64_t>();
    o.deadline = row[4].as<int64_t>();
    o.placed_at = row[5].as<int64_t>();
    std::string_view priority(row[6].c_str(), row[6].size());
    if (priority != "price" && priority != "time") throw BadValue{"unknown priority"};
    o.priority = priority == "price" ? matching::Priority::kPrice : matching::Priority::kTime;
    o.min_reputation = row[7].as<int32_t>();
    o.redundancy = row[8].as<int32_t>();
    std::string_view selection(row[9].c_str(), row[9].size());
    if (selection == "best") {
      o.selection = matching::Selection::kBest;
    } else if (selection == "direct") {
      o.selection = matching::Selection::kDirect;
    } else if (selection == "vrf") {
      o.selection = matching::Selection::kVrf;
    } else {
      throw BadValue{"unknown selection '" + std::string(selection) + "'"};
    }
    o.direct_prover = row[10].as<int64_t>();
    o.exclusive_until = row[11].as<int64_t>();
    o.exclusive_ended = row[12].as<bool>();
    o.has_vrf_output = row[13].as<bool>();
    o.vrf_output = VrfFromHex(row[14]);
    o.vrf_draws = row[15].as<uint32_t>();
    o.status = FromName(row[16], OrderStatus::kCancelled, matching::OrderStatusName, "status");
    o.verified = row[17].as<int32_t>();
    o.escrow_left = row[18].as<int64_t>();
    o.needed = row[19].as<int32_t>();
    s.orders.push_back(o);
  }

  sql =
      "SELECT id, order_id, offer_id, prover_id, market_idx, price, assigned_at_ms, due_at_ms, "
      "status FROM assignments WHERE order_id IN (";
  sql += kLiveOrders;
  sql += ") ORDER BY id";
  for (const auto& row : tx.exec(sql)) {
    matching::AssignmentState a;
    a.id = row[0].as<int64_t>();
    a.order = row[1].as<int64_t>();
    a.offer = row[2].as<int64_t>();
    a.prover = row[3].as<int64_t>();
    a.market = row[4].as<uint32_t>();
    a.price = row[5].as<int64_t>();
    a.assigned_at = row[6].as<int64_t>();
    a.due_at = row[7].as<int64_t>();
    a.status = FromName(row[8], AssignmentStatus::kLapsed, matching::AssignmentStatusName,
                        "assignment status");
    s.assignments.push_back(a);
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

}  // namespace

Result<RecoveredState> LoadState(pqxx::connection& conn) {
  try {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn, "recovery");
    RecoveredState out;
    pqxx::result ids = tx.exec(
        "SELECT next_order, next_offer, next_assignment, external_net, last_seq "
        "FROM engine_state");
    if (ids.size() != 1) return Status(StatusCode::kInternal, "recovery: engine_state row missing");
    out.snapshot.ids.next_order = ids[0][0].as<int64_t>();
    out.snapshot.ids.next_offer = ids[0][1].as<int64_t>();
    out.snapshot.ids.next_assignment = ids[0][2].as<int64_t>();
    out.snapshot.ids.external_net = ids[0][3].as<int64_t>();
    out.next_seq = ids[0][4].as<uint64_t>() + 1;

    LoadAccounts(tx, out.snapshot);
    LoadMarkets(tx, out.snapshot);
    LoadOrders(tx, out.snapshot);
    LoadOffers(tx, out.snapshot);
    for (const auto& row : tx.exec("SELECT account_id, client_order_id, id FROM orders "
                                   "WHERE client_order_id IS NOT NULL ORDER BY id")) {
      out.client_orders.emplace_back(row[0].as<int64_t>(), row[1].as<std::string>(),
                                     row[2].as<int64_t>());
    }
    for (const auto& row :
         tx.exec("SELECT reference, account_id, amount FROM deposit_references ORDER BY seq")) {
      out.deposit_references.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>(),
                                          row[2].as<int64_t>());
    }
    tx.commit();
    return out;
  } catch (const BadValue& e) {
    return Status(StatusCode::kInternal, "recovery: " + e.what);
  } catch (const pqxx::broken_connection& e) {
    return Status(StatusCode::kUnavailable, std::string("recovery: connection lost: ") + e.what());
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string("recovery: ") + e.what());
  }
}

}  // namespace proofbook::server
