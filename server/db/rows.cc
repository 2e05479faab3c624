#include "server/db/rows.h"

#include "matching/rules.h"
#include "server/base/resources.h"

namespace proofbook::server {
namespace {

using matching::AssignmentStatus;
using matching::OrderStatus;

}  // namespace

OrderColumns::OrderColumns(const pqxx::row& r)
    : id(r.column_number("id")),
      account(r.column_number("account_id")),
      market(r.column_number("market_idx")),
      max_price(r.column_number("max_price")),
      deadline(r.column_number("deadline_ms")),
      placed_at(r.column_number("placed_at_ms")),
      priority(r.column_number("priority")),
      min_reputation(r.column_number("min_reputation_bps")),
      redundancy(r.column_number("redundancy")),
      selection(r.column_number("selection")),
      direct_prover(r.column_number("direct_prover")),
      exclusive_until(r.column_number("exclusive_until_ms")),
      exclusive_ended(r.column_number("exclusive_ended")),
      vrf_draws(r.column_number("vrf_draws")),
      status(r.column_number("status")),
      failure(r.column_number("failure")),
      verified(r.column_number("verified")),
      escrow_left(r.column_number("escrow_left")),
      needed(r.column_number("needed")),
      tree(r.column_number("tree_id")),
      tree_node(r.column_number("tree_node")),
      takeover(r.column_number("takeover_prover")) {}

matching::OrderState OrderFromRow(const pqxx::row& row, const OrderColumns& c) {
  matching::OrderState o;
  o.id = row[c.id].as<int64_t>();
  o.account = row[c.account].as<int64_t>();
  o.market = row[c.market].as<uint32_t>();
  o.max_price = row[c.max_price].as<int64_t>();
  o.deadline = row[c.deadline].as<int64_t>();
  o.placed_at = row[c.placed_at].as<int64_t>();
  o.priority = FromName(row[c.priority], matching::Priority::kTime, PriorityName, "priority");
  o.min_reputation = row[c.min_reputation].as<int32_t>();
  o.redundancy = row[c.redundancy].as<int32_t>();
  o.selection = FromName(row[c.selection], matching::Selection::kVrf, SelectionName, "selection");
  o.direct_prover = row[c.direct_prover].as<int64_t>();
  o.exclusive_until = row[c.exclusive_until].as<int64_t>();
  o.exclusive_ended = row[c.exclusive_ended].as<bool>();
  o.vrf_draws = row[c.vrf_draws].as<uint32_t>();
  o.status = FromName(row[c.status], OrderStatus::kFailed, matching::OrderStatusName, "status");
  if (!row[c.failure].is_null()) {
    o.failure = FromName(row[c.failure], matching::Reason::kVerifierFailed, matching::ReasonName,
                         "failure");
  }
  o.verified = row[c.verified].as<int32_t>();
  o.escrow_left = row[c.escrow_left].as<int64_t>();
  o.needed = row[c.needed].as<int32_t>();
  if (!row[c.tree].is_null()) {
    o.tree = row[c.tree].as<int64_t>();
    o.tree_node = row[c.tree_node].as<int32_t>();
    if (!row[c.takeover].is_null()) o.takeover = row[c.takeover].as<int64_t>();
  }
  return o;
}

matching::OrderState OrderFromRow(const pqxx::row& row) {
  return OrderFromRow(row, OrderColumns(row));
}

matching::AssignmentState AssignmentFromRow(const pqxx::row& row) {
  matching::AssignmentState a;
  a.id = row["id"].as<int64_t>();
  a.order = row["order_id"].as<int64_t>();
  a.offer = row["offer_id"].as<int64_t>();
  a.prover = row["prover_id"].as<int64_t>();
  a.market = row["market_idx"].as<uint32_t>();
  a.price = row["price"].as<int64_t>();
  a.assigned_at = row["assigned_at_ms"].as<int64_t>();
  a.due_at = row["due_at_ms"].as<int64_t>();
  a.status = FromName(row["status"], AssignmentStatus::kReleased, matching::AssignmentStatusName,
                      "assignment status");
  return a;
}

matching::MarketParams MarketParamsFromRow(const pqxx::row& row) {
  matching::MarketParams p;
  p.min_stake = row["min_stake"].as<int64_t>();
  p.min_slash = row["min_slash"].as<int64_t>();
  p.slash_multiplier_bps = row["slash_multiplier_bps"].as<int32_t>();
  p.repeat_window_ms = row["repeat_window_ms"].as<int64_t>();
  p.compensation_bps = row["compensation_bps"].as<int32_t>();
  p.fee_bps = row["fee_bps"].as<int32_t>();
  p.min_prover_time_ms = row["min_prover_time_ms"].as<int64_t>();
  p.grace_bps = row["grace_bps"].as<int32_t>();
  p.uncle_reward_bps = row["uncle_reward_bps"].as<int32_t>();
  p.max_proof_bytes = row["max_proof_bytes"].as<int64_t>();
  p.decline_window_ms = row["decline_window_ms"].as<int64_t>();
  p.unprovable_quorum = row["unprovable_quorum"].as<int32_t>();
  p.unprovable_fee_bps = row["unprovable_fee_bps"].as<int32_t>();
  p.griefing_bps = row["griefing_bps"].as<int32_t>();
  p.reputation_weight_bps = row["reputation_weight_bps"].as<int32_t>();
  p.vrf_turns = row["vrf_turns"].as<bool>();
  std::string_view bad = matching::InvalidMarketParamField(p);
  if (!bad.empty()) {
    throw BadValue("market " + row["id"].as<std::string>() + " has an invalid " + std::string(bad));
  }
  return p;
}

int64_t FirstKeyAt(pqxx::transaction_base& tx, const std::string& table, const std::string& key,
                   const std::string& time, int64_t ms) {
  const std::string probe = "SELECT " + key + ", " + time + " FROM " + table + " WHERE " + key +
                            " >= $1 ORDER BY " + key + " LIMIT 1";
  auto bounds = tx.exec("SELECT coalesce(min(" + key + "), 0), coalesce(max(" + key +
                        "), -1) + 1 FROM " + table);
  int64_t lo = bounds[0][0].as<int64_t>(), hi = bounds[0][1].as<int64_t>();
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    auto row = tx.exec_params(probe, mid);
    if (row.empty() || row[0][1].as<int64_t>() >= ms) {
      hi = mid;
    } else {
      lo = row[0][0].as<int64_t>() + 1;
    }
  }
  return lo;
}

}  // namespace proofbook::server
