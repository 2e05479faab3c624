// Rows of the orders / assignments / markets tables as engine state, by column name: for recovery
// (journal/) and the read models (db/). pqxx inside: db/ and journal/ only.
#pragma once

#include <pqxx/field>
#include <pqxx/row>
#include <pqxx/transaction_base>
#include <stdexcept>
#include <string>
#include <string_view>

#include "matching/state.h"

namespace proofbook::server {

// A stored value the engine does not know (thrown by the functions below); recovery turns it
// into a Status at its edge.
struct BadValue : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The enum value named `f` (by `name`, over 0..last); BadValue if none is.
template <typename Enum, typename NameFn>
inline Enum FromName(const pqxx::field& f, Enum last, NameFn name, const char* what) {
  std::string_view text(f.c_str(), f.size());
  for (int i = 0; i <= static_cast<int>(last); ++i) {
    if (name(static_cast<Enum>(i)) == text) return static_cast<Enum>(i);
  }
  throw BadValue(std::string("unknown ") + what + " '" + std::string(text) + "'");
}

// The orders columns OrderFromRow reads, found once per result: a lookup by name per field
// was a third of recovery's time with a million open orders (loadtest/REPORT_RESTART.md).
struct OrderColumns {
  explicit OrderColumns(const pqxx::row& r);  // any row of the result
  pqxx::row::size_type id, account, market, max_price, deadline, placed_at, priority,
      min_reputation, redundancy, selection, direct_prover, exclusive_until, exclusive_ended,
      vrf_draws, status, failure, verified, escrow_left, needed, tree, tree_node, takeover;
};
matching::OrderState OrderFromRow(const pqxx::row& row, const OrderColumns& c);
matching::OrderState OrderFromRow(const pqxx::row& row);
// A markets row's engine parameters (by column name); BadValue if one is out of range.
matching::MarketParams MarketParamsFromRow(const pqxx::row& row);
matching::AssignmentState AssignmentFromRow(const pqxx::row& row);

// The smallest `key` of `table` ("settlements s", with `key` and `time` naming its columns
// through the alias) whose `time` is at or after `ms`; one past the largest key if none is.
// The journal's tables grow in time order (the engine's clock never goes back, and the journal
// writes in its order), so a binary search over the key's index finds it in ~log2(rows) index
// probes: a time window becomes a key range, an index range on every path.
int64_t FirstKeyAt(pqxx::transaction_base& tx, const std::string& table, const std::string& key,
                   const std::string& time, int64_t ms);

}  // namespace proofbook::server
