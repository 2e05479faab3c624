#include "server/db/rows.h"

#include <cstring>
#include <limits>

#include "matching/rules.h"
#include "server/base/resources.h"

namespace proofbook::server {
namespace {

using matching::AssignmentStatus;
using matching::OrderStatus;

// The binary COPY file's signature, then its flags and header-extension length (int32 each):
// PostgreSQL's "COPY" page, "Binary Format".
constexpr char kCopySignature[] = "PGCOPY\n\377\r\n";
constexpr size_t kCopySignatureSize = 11;

// Network-order integer of `n` bytes at p.
uint64_t BigEndian(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// A field's value, for pqxx::field and CopyField alike.
template <typename T, typename Field>
T As(const Field& f) {
  return f.template as<T>();
}

}  // namespace

bool CopyRow::Parse(std::string_view m, bool first) {
  if (first) {
    if (m.size() < kCopySignatureSize + 8 ||
        std::memcmp(m.data(), kCopySignature, kCopySignatureSize) != 0) {
      throw BadValue("COPY: not a binary COPY header");
    }
    const uint64_t extension = BigEndian(m.data() + kCopySignatureSize + 4, 4);
    if (extension > m.size() - kCopySignatureSize - 8) throw BadValue("COPY: bad header");
    m.remove_prefix(kCopySignatureSize + 8 + extension);
  }
  if (m.size() < 2) throw BadValue("COPY: short row");
  const auto count = static_cast<int16_t>(BigEndian(m.data(), 2));
  m.remove_prefix(2);
  fields_.clear();
  if (count == -1) {
    if (!m.empty()) throw BadValue("COPY: bytes after the trailer");
    return false;
  }
  if (count < 0) throw BadValue("COPY: bad field count");
  for (int16_t i = 0; i < count; ++i) {
    if (m.size() < 4) throw BadValue("COPY: short field");
    const auto length = static_cast<int32_t>(BigEndian(m.data(), 4));
    m.remove_prefix(4);
    if (length == -1) {
      fields_.emplace_back(std::string_view(), true);
      continue;
    }
    if (length < 0 || static_cast<size_t>(length) > m.size()) throw BadValue("COPY: bad field");
    fields_.emplace_back(m.substr(0, static_cast<size_t>(length)), false);
    m.remove_prefix(static_cast<size_t>(length));
  }
  if (!m.empty()) throw BadValue("COPY: bytes after the last field");
  return true;
}

int64_t CopyField::Integer() const {
  if (null_) throw BadValue("COPY: NULL where a number was expected");
  switch (bytes_.size()) {
    case 2:
      return static_cast<int16_t>(BigEndian(bytes_.data(), 2));
    case 4:
      return static_cast<int32_t>(BigEndian(bytes_.data(), 4));
    case 8:
      return static_cast<int64_t>(BigEndian(bytes_.data(), 8));
    default:
      throw BadValue("COPY: a number of " + std::to_string(bytes_.size()) + " bytes");
  }
}

template <>
int64_t CopyField::as<int64_t>() const {
  return Integer();
}
template <>
int32_t CopyField::as<int32_t>() const {
  const int64_t v = Integer();
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    throw BadValue("COPY: " + std::to_string(v) + " is out of int32 range");
  }
  return static_cast<int32_t>(v);
}
template <>
uint32_t CopyField::as<uint32_t>() const {
  const int64_t v = Integer();
  if (v < 0 || v > std::numeric_limits<uint32_t>::max()) {
    throw BadValue("COPY: " + std::to_string(v) + " is out of uint32 range");
  }
  return static_cast<uint32_t>(v);
}
template <>
bool CopyField::as<bool>() const {
  if (null_ || bytes_.size() != 1 || static_cast<unsigned char>(bytes_[0]) > 1) {
    throw BadValue("COPY: not a boolean");
  }
  return bytes_[0] == 1;
}
template <>
std::string CopyField::as<std::string>() const {
  if (null_) throw BadValue("COPY: NULL where text was expected");
  return std::string(bytes_);
}

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

OrderColumns::OrderColumns()
    : id(0),
      account(1),
      market(2),
      max_price(3),
      deadline(4),
      placed_at(5),
      priority(6),
      min_reputation(7),
      redundancy(8),
      selection(9),
      direct_prover(10),
      exclusive_until(11),
      exclusive_ended(12),
      vrf_draws(13),
      status(14),
      failure(15),
      verified(16),
      escrow_left(17),
      needed(18),
      tree(19),
      tree_node(20),
      takeover(21) {}

template <typename Row>
matching::OrderState OrderFromRow(const Row& row, const OrderColumns& c) {
  matching::OrderState o;
  o.id = As<int64_t>(row[c.id]);
  o.account = As<int64_t>(row[c.account]);
  o.market = As<uint32_t>(row[c.market]);
  o.max_price = As<int64_t>(row[c.max_price]);
  o.deadline = As<int64_t>(row[c.deadline]);
  o.placed_at = As<int64_t>(row[c.placed_at]);
  o.priority = FromName(row[c.priority], matching::Priority::kTime, PriorityName, "priority");
  o.min_reputation = As<int32_t>(row[c.min_reputation]);
  o.redundancy = As<int32_t>(row[c.redundancy]);
  o.selection = FromName(row[c.selection], matching::Selection::kVrf, SelectionName, "selection");
  o.direct_prover = As<int64_t>(row[c.direct_prover]);
  o.exclusive_until = As<int64_t>(row[c.exclusive_until]);
  o.exclusive_ended = As<bool>(row[c.exclusive_ended]);
  o.vrf_draws = As<uint32_t>(row[c.vrf_draws]);
  o.status = FromName(row[c.status], OrderStatus::kFailed, matching::OrderStatusName, "status");
  if (!row[c.failure].is_null()) {
    o.failure = FromName(row[c.failure], matching::Reason::kVerifierFailed, matching::ReasonName,
                         "failure");
  }
  o.verified = As<int32_t>(row[c.verified]);
  o.escrow_left = As<int64_t>(row[c.escrow_left]);
  o.needed = As<int32_t>(row[c.needed]);
  if (!row[c.tree].is_null()) {
    o.tree = As<int64_t>(row[c.tree]);
    o.tree_node = As<int32_t>(row[c.tree_node]);
    if (!row[c.takeover].is_null()) o.takeover = As<int64_t>(row[c.takeover]);
  }
  return o;
}

template matching::OrderState OrderFromRow(const pqxx::row&, const OrderColumns&);
template matching::OrderState OrderFromRow(const CopyRow&, const OrderColumns&);

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
