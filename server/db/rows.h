// Rows of the orders / assignments / markets tables as engine state, by column name: for recovery
// (journal/) and the read models (db/). pqxx inside: db/ and journal/ only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <pqxx/field>
#include <pqxx/row>
#include <pqxx/stream_from>
#include <pqxx/transaction_base>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "matching/state.h"

namespace proofbook::server {

// A stored value the engine does not know (thrown by the functions below); recovery turns it
// into a Status at its edge.
struct BadValue : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One field of a row that `COPY ... TO STDOUT (FORMAT binary)` sent (CopyRows below), read
// as pqxx::field is: as<T>() for the integer widths, bool, text and bytea the engine's tables
// use, is_null(). A value of another width or type than asked for is a BadValue, never a guess.
class CopyField {
 public:
  CopyField(std::string_view bytes, bool null) : bytes_(bytes), null_(null) {}
  bool is_null() const { return null_; }
  std::string_view bytes() const { return bytes_; }  // text: its UTF-8; bytea: its bytes
  template <typename T>
  T as() const;

 private:
  int64_t Integer() const;  // int2, int4 or int8 by its length
  std::string_view bytes_;
  bool null_;
};

// One row of CopyRows: fields by position, as in the query's select list.
class CopyRow {
 public:
  CopyField operator[](size_t i) const { return fields_.at(i); }
  size_t size() const { return fields_.size(); }
  // Splits one CopyData message (the file header in front of the first); false at the trailer.
  bool Parse(std::string_view message, bool first);

 private:
  std::vector<CopyField> fields_;
};

// Runs `COPY (query) TO STDOUT (FORMAT binary)` in tx and calls fn(const CopyRow&) for each
// row, in order, as PostgreSQL sends it. For recovery's big reads: a plain exec makes libpq hold
// every row in one result before the first is looked at (~0.5 GB and 6 s of a 9 s restart with a
// million open orders on the loadtest VM, loadtest/REPORT_RESTART.md); streamed, PostgreSQL
// produces rows on one core while the server turns them into engine state on the other, and
// the binary form spares both sides printing and parsing numbers. libpqxx 6.4's stream_from puts
// its "table name" into `COPY <name> TO STDOUT` as given, so a parenthesised query passes (7.x
// names this stream_from::query); the format option rides in the same string.
template <typename Fn>
void CopyRows(pqxx::transaction_base& tx, const std::string& query, size_t columns, Fn&& fn) {
  pqxx::stream_from stream(tx, "(" + query + ") TO STDOUT (FORMAT binary) --");
  std::string message;
  CopyRow row;
  bool first = true, ended = false;
  while (stream.get_raw_line(message)) {
    if (ended) throw BadValue("COPY: data after the trailer");
    if (!row.Parse(message, first)) {
      ended = true;
    } else if (row.size() != columns) {
      throw BadValue("COPY: " + std::to_string(row.size()) + " fields, expected " +
                     std::to_string(columns));
    } else {
      fn(static_cast<const CopyRow&>(row));
    }
    first = false;
  }
  stream.complete();
  if (!ended) throw BadValue("COPY: no trailer");
}

// The enum value named `text` (by `name`, over 0..last); BadValue if none is.
template <typename Enum, typename NameFn>
inline Enum FromName(std::string_view text, Enum last, NameFn name, const char* what) {
  for (int i = 0; i <= static_cast<int>(last); ++i) {
    if (name(static_cast<Enum>(i)) == text) return static_cast<Enum>(i);
  }
  throw BadValue(std::string("unknown ") + what + " '" + std::string(text) + "'");
}
template <typename Enum, typename NameFn>
inline Enum FromName(const pqxx::field& f, Enum last, NameFn name, const char* what) {
  return FromName(std::string_view(f.c_str(), f.size()), last, name, what);
}
template <typename Enum, typename NameFn>
inline Enum FromName(const CopyField& f, Enum last, NameFn name, const char* what) {
  return FromName(f.bytes(), last, name, what);
}

// The orders columns OrderFromRow reads, in this order, for a select list or a COPY.
inline constexpr const char* kOrderColumnList =
    "id, account_id, market_idx, max_price, deadline_ms, placed_at_ms, priority, "
    "min_reputation_bps, redundancy, selection, direct_prover, exclusive_until_ms, "
    "exclusive_ended, vrf_draws, status, failure, verified, escrow_left, needed, tree_id, "
    "tree_node, takeover_prover";
inline constexpr size_t kOrderColumnCount = 22;

// The orders columns OrderFromRow reads, found once per result: a lookup by name per field
// was a third of recovery's time with a million open orders (loadtest/REPORT_RESTART.md).
struct OrderColumns {
  explicit OrderColumns(const pqxx::row& r);  // any row of the result
  OrderColumns();                             // kOrderColumnList's positions (a CopyRow)
  pqxx::row::size_type id, account, market, max_price, deadline, placed_at, priority,
      min_reputation, redundancy, selection, direct_prover, exclusive_until, exclusive_ended,
      vrf_draws, status, failure, verified, escrow_left, needed, tree, tree_node, takeover;
};
// Row: pqxx::row or CopyRow.
template <typename Row>
matching::OrderState OrderFromRow(const Row& row, const OrderColumns& c);
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
