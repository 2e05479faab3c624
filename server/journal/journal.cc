#include "server/journal/journal.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "matching/tree_shape.h"
#include "server/base/resources.h"
#include "server/db/pq.h"
#include "server/journal/event_log.h"

namespace proofbook::server {
namespace {

using matching::Event;
using matching::EventKind;

// Two lowercase hex digits a byte.
void AppendHex(std::string& out, std::span<const uint8_t> v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  size_t at = out.size();
  out.resize(at + 2 * v.size());
  char* p = out.data() + at;
  for (uint8_t b : v) {
    *p++ = kDigits[b >> 4];
    *p++ = kDigits[b & 15];
  }
}

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
  // bytea in hex form: '\x' and two digits a byte (standard_conforming_strings is on).
  SqlText& Bytea(std::span<const uint8_t> v) {
    s_ += "'\\x";
    AppendHex(s_, v);
    s_ += "'::bytea";
    return *this;
  }
  // Row separator: "(" for the first row of a VALUES list, ",(" after.
  SqlText& Row(size_t i) { return *this << (i == 0 ? "(" : ",("); }
  std::string& out() { return s_; }

 private:
  std::string& s_;
  pqxx::connection& conn_;
};

// One column of a table: `name` is the column journal_write's array parameter fills, `type`
// the element type of that array.
struct Column {
  const char* name;
  const char* type;
};

// Rows as one array per column, filled a row at a time: each column becomes a parameter of the
// prepared journal_write() call (migrations/0019_journal_write.sql), an array in PostgreSQL's
// binary form (array_send: dimensions, element type, then each element as its length and its
// binary value). Its receive functions copy integers and bytes, where the text form cost
// array_in a scan of every element and an input call (~10 % of the journal backend,
// loadtest/REPORT.md), and the server the escaping of every text and the printing of every
// number. A value that does not fit its column (an integer out of an `integer`'s range) makes
// ok() false: the batch is refused before it is sent.
class ArrayRows {
 public:
  ArrayRows(std::span<const Column> columns, std::vector<std::string>& storage,
            const JournalEnumOids& enums)
      : cols_(storage) {
    cols_.resize(columns.size());
    for (std::string& c : cols_) c.clear();
    types_.reserve(columns.size());
    for (const Column& c : columns) types_.push_back(ElementOf(c.type, enums));
    has_null_.assign(columns.size(), false);
  }

  ArrayRows& Int(int64_t v) {
    const Element e = types_[col_];
    std::string& c = Next();
    if (e.kind == kInt4) {
      // Out of an integer column's range: refused, as PostgreSQL refuses the text form.
      if (v < INT32_MIN || v > INT32_MAX) ok_ = false;
      PutBe32(c, 4);
      PutBe32(c, static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {
      PutBe32(c, 8);
      PutBe32(c, static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32));
      PutBe32(c, static_cast<uint32_t>(v));
    }
    return *this;
  }
  ArrayRows& Null() {
    has_null_[col_] = true;
    PutBe32(Next(), 0xffffffffu);  // length -1
    return *this;
  }
  ArrayRows& IdOrNull(int64_t id) { return id == 0 ? Null() : Int(id); }
  ArrayRows& Bool(bool b) {
    std::string& c = Next();
    PutBe32(c, 1);
    c += b ? '\1' : '\0';
    return *this;
  }
  // An engine enum name (lowercase snake_case) into a text or enum column.
  ArrayRows& Name(std::string_view name) { return Raw(name); }
  ArrayRows& Text(std::string_view text) {
    if (types_[col_].kind != kJsonb) return Raw(text);
    std::string& c = Next();  // jsonb's binary form: version 1, then the JSON text
    PutBe32(c, static_cast<uint32_t>(text.size() + 1));
    c += '\1';
    c += text;
    return *this;
  }
  ArrayRows& TextOrNull(std::string_view text) { return text.empty() ? Null() : Text(text); }
  ArrayRows& Bytes(std::span<const uint8_t> v) {
    return Raw(std::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
  }
  void EndRow() {
    col_ = 0;
    ++rows_;
  }
  size_t rows() const { return rows_; }
  bool ok() const { return ok_; }

  // Appends each column's array to `params`, in column order.
  void AppendParameters(std::vector<std::string>& params) const {
    for (size_t i = 0; i < cols_.size(); ++i) {
      std::string& p = params.emplace_back();
      p.reserve(cols_[i].size() + 20);
      PutBe32(p, rows_ > 0 ? 1 : 0);  // dimensions
      PutBe32(p, has_null_[i] ? 1 : 0);
      PutBe32(p, types_[i].oid);
      if (rows_ > 0) {
        PutBe32(p, static_cast<uint32_t>(rows_));
        PutBe32(p, 1);  // lower bound
      }
      p += cols_[i];
    }
  }

 private:
  enum Kind : uint8_t { kInt8, kInt4, kBytesLike, kJsonb };
  struct Element {
    Kind kind;
    uint32_t oid;
  };
  // PostgreSQL's OIDs of the built-in types (src/include/catalog/pg_type.dat); an unknown
  // type gets 0, which PostgreSQL refuses ("wrong element type"): nothing is written. Derived
  // each batch: a few string compares a column, well under a microsecond a batch.
  static Element ElementOf(std::string_view type, const JournalEnumOids& enums) {
    if (type == "bigint") return {kInt8, 20};
    if (type == "integer") return {kInt4, 23};
    if (type == "boolean") return {kBytesLike, 16};
    if (type == "bytea") return {kBytesLike, 17};
    if (type == "text") return {kBytesLike, 25};
    if (type == "jsonb") return {kJsonb, 3802};
    if (type == "ledger_bucket") return {kBytesLike, enums.ledger_bucket};
    if (type == "transfer_reason") return {kBytesLike, enums.transfer_reason};
    return {kBytesLike, 0};
  }
  static void PutBe32(std::string& s, uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
    s.append(b, 4);
  }
  // An element that is its bytes: text, an enum label, bytea.
  ArrayRows& Raw(std::string_view bytes) {
    std::string& c = Next();
    PutBe32(c, static_cast<uint32_t>(bytes.size()));
    c += bytes;
    return *this;
  }
  std::string& Next() { return cols_[col_++]; }

  std::vector<std::string>& cols_;
  std::vector<Element> types_;  // each column's element type
  std::vector<bool> has_null_;  // whether the column has a NULL
  size_t col_ = 0;
  size_t rows_ = 0;
  bool ok_ = true;
};

constexpr Column kLedgerColumns[] = {{"seq", "bigint"},
                                     {"from_account", "bigint"},
                                     {"from_bucket", "ledger_bucket"},
                                     {"to_account", "bigint"},
                                     {"to_bucket", "ledger_bucket"},
                                     {"amount", "bigint"},
                                     {"reason", "transfer_reason"},
                                     {"order_id", "bigint"},
                                     {"assignment_id", "bigint"},
                                     {"at_ms", "bigint"},
                                     {"tree_id", "bigint"}};
constexpr Column kOrderColumns[] = {{"id", "bigint"},
                                    {"account_id", "bigint"},
                                    {"market_idx", "integer"},
                                    {"client_order_id", "text"},
                                    {"inputs", "jsonb"},
                                    {"max_price", "bigint"},
                                    {"deadline_ms", "bigint"},
                                    {"placed_at_ms", "bigint"},
                                    {"priority", "text"},
                                    {"min_reputation_bps", "integer"},
                                    {"redundancy", "integer"},
                                    {"selection", "text"},
                                    {"direct_prover", "bigint"},
                                    {"exclusive_until_ms", "bigint"},
                                    {"exclusive_ended", "boolean"},
                                    {"vrf_draws", "integer"},
                                    {"status", "text"},
                                    {"failure", "text"},
                                    {"verified", "integer"},
                                    {"escrow_left", "bigint"},
                                    {"needed", "integer"},
                                    {"request_sha256", "bytea"},
                                    {"tree_id", "bigint"},
                                    {"tree_node", "integer"},
                                    {"takeover_prover", "bigint"}};
void WriteDraws(SqlText& q, const JournalBatch& b) {
  if (b.draws.empty()) return;
  q << "INSERT INTO vrf_draws (order_id, attempt, market_idx, key_id, epoch, alpha, pi, beta) "
       "VALUES ";
  for (size_t i = 0; i < b.draws.size(); ++i) {
    const VrfDrawRecord& d = b.draws[i];
    q.Row(i).Int(d.order) << ",";
    q.Int(d.attempt) << ",";
    q.Int(d.market) << ",";
    q.Int(d.key_id) << ",";
    q.Int(d.epoch) << ",";
    q.Bytea(d.alpha) << ",";
    q.Bytea(d.pi) << ",";
    q.Bytea(d.beta) << ")";
  }
  q << ";\n";
}

// One ledger_entries row per kTransfer.
void WriteLedger(ArrayRows& c, const JournalBatch& b) {
  for (size_t i = 0; i < b.events.size(); ++i) {
    const Event& e = b.events[i];
    if (e.kind != EventKind::kTransfer) continue;
    c.Int(static_cast<int64_t>(b.first_seq + i));
    c.Int(e.account).Name(matching::BucketName(e.from_bucket));
    c.Int(e.to_account).Name(matching::BucketName(e.to_bucket));
    c.Int(e.amount).Name(matching::TransferReasonName(e.transfer_reason));
    c.IdOrNull(e.order).IdOrNull(e.assignment).Int(e.now);
    c.IdOrNull(e.tree);
    c.EndRow();
  }
}

// settlements and slashings: rows derived from single events.
// One multi-row INSERT of `insert` (table and columns, up to VALUES) with a row per event that
// `is` picks: its seq, then what `row` appends. Nothing when no event is picked.
template <typename Is, typename Row>
void WriteRowPerEvent(SqlText& q, const JournalBatch& b, std::string_view insert, Is is, Row row) {
  size_t n = 0;
  for (size_t i = 0; i < b.events.size(); ++i) {
    const Event& e = b.events[i];
    if (!is(e)) continue;
    if (n == 0) q << insert;
    q.Row(n++).Int(static_cast<int64_t>(b.first_seq + i)) << ",";
    row(e);
    q << ")";
  }
  if (n > 0) q << ";\n";
}

void WriteEventRows(SqlText& q, const JournalBatch& b) {
  WriteRowPerEvent(
      q, b,
      "INSERT INTO settlements (seq, assignment_id, order_id, prover_id, amount, kind, at_ms) "
      "VALUES ",
      [](const Event& e) {
        return e.kind == EventKind::kSettled || e.kind == EventKind::kUncleRewarded;
      },
      [&q](const Event& e) {
        q.Int(e.assignment) << ",";
        q.Int(e.order) << ",";
        q.Int(e.account) << ",";
        q.Int(e.amount) << ",";
        q.Name(e.kind == EventKind::kSettled ? "settled" : "uncle") << ",";
        q.Int(e.now);
      });
  WriteRowPerEvent(
      q, b,
      "INSERT INTO slashings (seq, assignment_id, order_id, prover_id, market_idx, amount, "
      "reason, at_ms) VALUES ",
      [](const Event& e) { return e.kind == EventKind::kSlashed; },
      [&q](const Event& e) {
        q.Int(e.assignment) << ",";
        q.Int(e.order) << ",";
        q.Int(e.account) << ",";
        q.Int(e.market) << ",";
        q.Int(e.amount) << ",";
        q.Name(matching::ReasonName(e.reason)) << ",";
        q.Int(e.now);
      });
  // VRF candidates: GET /v1/orders/{id}/draws reads them by order.
  WriteRowPerEvent(
      q, b,
      "INSERT INTO vrf_candidates (seq, order_id, first_attempt, offer_id, prover_id, weight) "
      "VALUES ",
      [](const Event& e) { return e.kind == EventKind::kVrfCandidate; },
      [&q](const Event& e) {
        q.Int(e.order) << ",";
        q.Int(e.amount) << ",";
        q.Int(e.offer) << ",";
        q.Int(e.account) << ",";
        q.Int(e.value);
      });
}

// An UPDATE ... FROM (VALUES ...) that must hit exactly `rows` rows, else the batch fails.
void ExpectRows(SqlText& q, std::string_view what, size_t rows) {
  q << ") SELECT journal_expect_rows(";
  q.Name(what) << ", (SELECT count(*) FROM u), ";
  q.Int(static_cast<int64_t>(rows)) << ");\n";
}

// The seq of the batch's kAccepted event that `is` picks (its command's subject); 0 if none.
template <typename Pred>
int64_t AcceptanceSeq(const JournalBatch& b, Pred is) {
  for (size_t j = 0; j < b.events.size(); ++j) {
    const Event& e = b.events[j];
    if (e.kind == EventKind::kAccepted && is(e)) return static_cast<int64_t>(b.first_seq + j);
  }
  return 0;
}

// Every account and market the batch's events create has its row fields (an extra), and every
// extra is for one of them: else kInternal, and nothing is written.
Status CheckCreated(const JournalBatch& b) {
  std::vector<int64_t> accounts, markets, account_extras, market_extras;
  for (const Event& e : b.events) {
    if (e.kind != EventKind::kAccepted) continue;
    if (e.command == matching::CommandKind::kCreateAccount) accounts.push_back(e.account);
    if (e.command == matching::CommandKind::kCreateMarket) markets.push_back(e.market);
  }
  for (const AccountExtra& x : b.account_extras) account_extras.push_back(x.id);
  for (const MarketExtra& x : b.market_extras) market_extras.push_back(x.idx);
  for (auto* v : {&accounts, &markets, &account_extras, &market_extras}) {
    std::sort(v->begin(), v->end());
  }
  if (accounts != account_extras) {
    return Status(StatusCode::kInternal,
                  "journal: the accounts created in the batch and its account_extras differ");
  }
  if (markets != market_extras) {
    return Status(StatusCode::kInternal,
                  "journal: the markets created in the batch and its market_extras differ");
  }
  return Status::Ok();
}

// The rows of the accounts created in this batch, and their first API keys; WriteAccounts then
// sets their balances like every other touched account's. Must precede anything that refers to
// them (ledger entries, orders).
Status WriteNewAccounts(SqlText& q, const JournalBatch& b) {
  if (b.account_extras.empty()) return Status::Ok();
  q << "INSERT INTO accounts (id, role, name) VALUES ";
  for (size_t i = 0; i < b.account_extras.size(); ++i) {
    const AccountExtra& x = b.account_extras[i];
    auto image = std::find_if(b.accounts.begin(), b.accounts.end(),
                              [&](const matching::AccountState& a) { return a.id == x.id; });
    if (image == b.accounts.end()) {
      return Status(StatusCode::kInternal, "journal: a created account has no image in the batch");
    }
    q.Row(i).Int(x.id) << ",";
    q.Name(matching::RoleName(image->role)) << ",";
    q.Text(x.name) << ")";  // client text: escaped
  }
  q << ";\nINSERT INTO api_keys (key_hash, account_id) VALUES ";
  for (size_t i = 0; i < b.account_extras.size(); ++i) {
    const AccountExtra& x = b.account_extras[i];
    q.Row(i).Bytea(x.key_hash) << ",";
    q.Int(x.id) << ")";
  }
  q << ";\n";
  return Status::Ok();
}

constexpr Column kAccountColumns[] = {{"id", "bigint"},
                                      {"role", "text"},
                                      {"available", "bigint"},
                                      {"escrowed", "bigint"},
                                      {"staked", "bigint"},
                                      {"reputation_bps", "integer"},
                                      {"last_slashed_at_ms", "bigint"}};

// The balances of every touched account. The row (and its role) exists: inserted by an earlier
// batch, or by WriteNewAccounts in this one; journal_write checks that every one matched.
void WriteAccounts(ArrayRows& c, const JournalBatch& b) {
  for (const matching::AccountState& a : b.accounts) {
    c.Int(a.id).Name(matching::RoleName(a.role));
    c.Int(a.available).Int(a.escrowed).Int(a.staked).Int(a.reputation).Int(a.last_slashed_at);
    c.EndRow();
  }
}

// The rows of the markets created in this batch: the admin's fields (MarketExtra) and the
// engine's params, column by column. Must precede anything that refers to them (orders).
Status WriteMarkets(SqlText& q, const JournalBatch& b) {
  if (b.markets.empty()) return Status::Ok();
  using P = matching::MarketParams;
  static constexpr std::pair<const char*, int64_t (*)(const P&)> kColumns[] = {
      {"min_stake", [](const P& p) -> int64_t { return p.min_stake; }},
      {"min_slash", [](const P& p) -> int64_t { return p.min_slash; }},
      {"slash_multiplier_bps", [](const P& p) -> int64_t { return p.slash_multiplier_bps; }},
      {"repeat_window_ms", [](const P& p) -> int64_t { return p.repeat_window_ms; }},
      {"compensation_bps", [](const P& p) -> int64_t { return p.compensation_bps; }},
      {"fee_bps", [](const P& p) -> int64_t { return p.fee_bps; }},
      {"min_prover_time_ms", [](const P& p) -> int64_t { return p.min_prover_time_ms; }},
      {"grace_bps", [](const P& p) -> int64_t { return p.grace_bps; }},
      {"uncle_reward_bps", [](const P& p) -> int64_t { return p.uncle_reward_bps; }},
      {"max_proof_bytes", [](const P& p) -> int64_t { return p.max_proof_bytes; }},
      {"decline_window_ms", [](const P& p) -> int64_t { return p.decline_window_ms; }},
      {"unprovable_quorum", [](const P& p) -> int64_t { return p.unprovable_quorum; }},
      {"unprovable_fee_bps", [](const P& p) -> int64_t { return p.unprovable_fee_bps; }},
      {"griefing_bps", [](const P& p) -> int64_t { return p.griefing_bps; }},
      {"reputation_weight_bps", [](const P& p) -> int64_t { return p.reputation_weight_bps; }},
  };
  q << "INSERT INTO markets (idx, id, proof_system, verifier, verification_key";
  for (const auto& [name, get] : kColumns) q << ", " << name;
  q << ", vrf_turns, created_seq) VALUES ";
  for (size_t i = 0; i < b.markets.size(); ++i) {
    const matching::MarketState& m = b.markets[i];
    auto x = std::find_if(b.market_extras.begin(), b.market_extras.end(),
                          [&](const MarketExtra& e) { return e.idx == m.id; });
    if (x == b.market_extras.end()) {
      return Status(StatusCode::kInternal, "journal: a created market has no market_extras entry");
    }
    // The seq of the CreateMarket acceptance, for markets.created_seq.
    const int64_t seq = AcceptanceSeq(b, [&m](const Event& e) {
      return e.command == matching::CommandKind::kCreateMarket && e.market == m.id;
    });
    q.Row(i).Int(m.id) << ",";
    q.Text(x->slug) << ",";  // admin text: escaped
    q.Text(x->proof_system) << ",";
    q.Text(x->verifier) << ",";
    q.TextOrNull(x->verification_key) << "::jsonb,";
    for (const auto& [name, get] : kColumns) q.Int(get(m.params)) << ",";
    q.Bool(m.params.vrf_turns) << ",";
    q.IdOrNull(seq) << ")";
  }
  q << ";\n";
  return Status::Ok();
}

// The rows of the trees placed in this batch. Must precede their node orders.
void WriteNewTrees(SqlText& q, const JournalBatch& b) {
  if (b.new_trees.empty()) return;
  q << "INSERT INTO trees (id, account_id, leaf_market_idx, merge_market_idx, leaves, "
       "leaf_price, merge_price, placed_at_ms, deadline_ms, priority, min_reputation_bps, "
       "leaf_selection, leaf_share_bps, reserve, created_seq) VALUES ";
  for (size_t i = 0; i < b.new_trees.size(); ++i) {
    const matching::TreeState& t = b.new_trees[i];
    q.Row(i).Int(t.id) << ",";
    q.Int(t.account) << ",";
    q.Int(t.leaf_market) << ",";
    q.Int(t.merge_market) << ",";
    q.Int(t.leaves) << ",";
    q.Int(t.leaf_price) << ",";
    q.Int(t.merge_price) << ",";
    q.Int(t.placed_at) << ",";
    q.Int(t.deadline) << ",";
    q.Name(PriorityName(t.priority)) << ",";
    q.Int(t.min_reputation) << ",";
    q.Name(SelectionName(t.leaf_selection)) << ",";
    q.Int(t.leaf_share_bps) << ",";
    q.Int(t.reserve) << ",";
    q.Int(AcceptanceSeq(b, [&t](const Event& e) {
      return e.command == matching::CommandKind::kPlaceTree && e.tree == t.id;
    })) << ")";
  }
  q << ";\n";
}

// What the batch's tree events say (migrations/0016, 0017): every node of a tree placed here gets
// its row (a merge or promotion naming its children); nodes placed and proven; a proven node's
// output; a merge's inputs, its children's outputs, written into its order as it is placed; each
// touched open tree's reserve (the merge price of every merge not placed yet); trees ended.
// After the node orders' rows.
void WriteTreeEvents(SqlText& q, const JournalBatch& b) {
  size_t rows = 0;
  for (const matching::TreeState& t : b.new_trees) {
    const matching::TreeShape shape(t.leaves);
    for (int32_t n = t.leaves; n < shape.nodes(); ++n) {
      const int32_t left = shape.Node(shape.LevelOf(n) - 1, 2 * shape.PosOf(n));
      q << (rows++ == 0 ? "INSERT INTO tree_nodes (tree_id, node, left_child, right_child) "
                          "VALUES ("
                        : ",(");
      q.Int(t.id) << ",";
      q.Int(n) << ",";
      q.Int(left) << ",";
      if (shape.IsMerge(n)) {
        q.Int(left + 1) << ")";
      } else {
        q << "NULL)";
      }
    }
  }
  if (rows > 0) q << ";\n";
  std::vector<int64_t> touched;
  size_t placed = 0;
  for (const Event& e : b.events) {
    if (e.kind != EventKind::kTreeNodePlaced) continue;
    q << (placed++ == 0 ? "INSERT INTO tree_nodes (tree_id, node, order_id) VALUES (" : ",(");
    q.Int(e.tree) << ",";
    q.Int(e.value) << ",";
    q.Int(e.order) << ")";
    touched.push_back(e.tree);
  }
  if (placed > 0) q << " ON CONFLICT (tree_id, node) DO UPDATE SET order_id = excluded.order_id;\n";
  // In event order: a merge's children are proven (a promotion after its child) before it is
  // placed, possibly by the same command.
  for (const Event& e : b.events) {
    if (e.kind == EventKind::kTreeNodeProven) {
      q << "INSERT INTO tree_nodes (tree_id, node, order_id, prover_id, done, output) VALUES (";
      q.Int(e.tree) << ",";
      q.Int(e.value) << ",";
      q.IdOrNull(e.order) << "::bigint,";
      q.Int(e.account) << ",true,";
      if (e.order != 0) {
        q << "(SELECT tree_node_output(m.verifier, o.inputs) FROM orders o JOIN markets m ON "
             "m.idx = o.market_idx WHERE o.id = ";
        q.Int(e.order) << ")";
      } else {  // a promotion: its child's
        q << "(SELECT c.output FROM tree_nodes p JOIN tree_nodes c ON c.tree_id = p.tree_id AND "
             "c.node = p.left_child WHERE p.tree_id = ";
        q.Int(e.tree) << " AND p.node = ";
        q.Int(e.value) << ")";
      }
      q << ") ON CONFLICT (tree_id, node) DO UPDATE SET prover_id = excluded.prover_id, "
           "done = true, output = excluded.output;\n";
      continue;
    }
    if (e.kind != EventKind::kTreeNodePlaced) continue;
    // A tree's leaves are placed with it; every later placement is a merge.
    auto tree = std::find_if(b.new_trees.begin(), b.new_trees.end(),
                             [&e](const matching::TreeState& t) { return t.id == e.tree; });
    if (tree != b.new_trees.end() && e.value < tree->leaves) continue;
    q << "UPDATE orders SET inputs = (SELECT jsonb_build_object('left', l.output, 'right', "
         "r.output) FROM tree_nodes p JOIN tree_nodes l ON l.tree_id = p.tree_id AND l.node = "
         "p.left_child JOIN tree_nodes r ON r.tree_id = p.tree_id AND r.node = p.right_child "
         "WHERE p.tree_id = ";
    q.Int(e.tree) << " AND p.node = ";
    q.Int(e.value) << " AND l.output IS NOT NULL AND r.output IS NOT NULL) WHERE id = ";
    q.Int(e.order) << ";\n";
  }
  if (!touched.empty()) {
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    q << "UPDATE trees t SET reserve = t.merge_price * (t.leaves - 1 - (SELECT count(*) FROM "
         "tree_nodes n WHERE n.tree_id = t.id AND n.node >= t.leaves AND n.order_id IS NOT "
         "NULL)) WHERE t.status = 'open' AND t.id IN (";
    for (size_t i = 0; i < touched.size(); ++i) {
      if (i > 0) q << ",";
      q.Int(touched[i]);
    }
    q << ");\n";
  }
  for (size_t j = 0; j < b.events.size(); ++j) {
    const Event& e = b.events[j];
    if (e.kind != EventKind::kTreeCompleted && e.kind != EventKind::kTreeFailed) continue;
    q << "UPDATE trees SET reserve = 0, ended_seq = ";
    q.Int(static_cast<int64_t>(b.first_seq + j));
    if (e.kind == EventKind::kTreeCompleted) {
      q << ", status = 'completed'";
    } else {
      q << ", status = 'failed', failure = ";
      q.Name(matching::ReasonName(e.reason)) << ", failed_order = ";
      q.Int(e.order);
    }
    q << " WHERE id = ";
    q.Int(e.tree) << ";\n";
  }
}

// The fields of an order that change after its placement.
constexpr Column kOrderUpdateColumns[] = {{"id", "bigint"},
                                          {"exclusive_ended", "boolean"},
                                          {"vrf_draws", "integer"},
                                          {"status", "text"},
                                          {"failure", "text"},
                                          {"verified", "integer"},
                                          {"escrow_left", "bigint"},
                                          {"needed", "integer"},
                                          {"direct_prover", "bigint"},
                                          {"exclusive_until", "bigint"},
                                          {"takeover", "bigint"}};

// Orders placed in this batch (those with an OrderExtra) are new rows. Orders placed earlier
// exist: only their changing fields are updated (journal_write checks that every one matched).
void WriteOrders(ArrayRows& c, ArrayRows& changed, const JournalBatch& b,
                 const std::vector<const OrderExtra*>& extras, size_t* extras_used) {
  for (const matching::OrderState& o : b.orders) {
    auto it = std::lower_bound(extras.begin(), extras.end(), o.id,
                               [](const OrderExtra* x, int64_t id) { return x->id < id; });
    if (it == extras.end() || (*it)->id != o.id) {
      changed.Int(o.id).Bool(o.exclusive_ended).Int(o.vrf_draws);
      changed.Name(matching::OrderStatusName(o.status));
      if (o.failure == matching::Reason::kNone) {
        changed.Null();
      } else {
        changed.Name(matching::ReasonName(o.failure));
      }
      changed.Int(o.verified).Int(o.escrow_left).Int(o.needed);
      changed.Int(o.direct_prover);  // a tree's merge changes hands (takeover)
      changed.Int(o.exclusive_until).Int(o.takeover);
      changed.EndRow();
      continue;
    }
    const OrderExtra& extra = **it;
    ++*extras_used;
    c.Int(o.id).Int(o.account).Int(o.market);
    c.TextOrNull(extra.client_order_id).TextOrNull(extra.inputs_json);
    c.Int(o.max_price).Int(o.deadline).Int(o.placed_at);
    c.Name(PriorityName(o.priority));
    c.Int(o.min_reputation).Int(o.redundancy);
    c.Name(SelectionName(o.selection));
    c.Int(o.direct_prover).Int(o.exclusive_until).Bool(o.exclusive_ended);
    c.Int(o.vrf_draws).Name(matching::OrderStatusName(o.status));
    if (o.failure == matching::Reason::kNone) {
      c.Null();
    } else {
      c.Name(matching::ReasonName(o.failure));
    }
    c.Int(o.verified).Int(o.escrow_left).Int(o.needed);
    if (extra.request_sha256) {
      c.Bytes(*extra.request_sha256);
    } else {
      c.Null();
    }
    c.IdOrNull(o.tree);
    if (o.tree == 0) {
      c.Null();
    } else {
      c.Int(o.tree_node);
    }
    c.IdOrNull(o.takeover);
    c.EndRow();
  }
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
  // A busy decline shrinks an offer's capacity (matching/command.h DeclineAssignment).
  q << " ON CONFLICT (id) DO UPDATE SET capacity = EXCLUDED.capacity, "
       "capacity_left = EXCLUDED.capacity_left;\n";
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
    q << "WITH v (id, status, failure, settled, exclusive_ended) AS (VALUES ";
    for (size_t i = 0; i < b.closed_orders.size(); ++i) {
      const ClosedOrder& c = b.closed_orders[i];
      q.Row(i).Int(c.id) << ",";
      if (c.has_status) {
        q.Name(matching::OrderStatusName(c.status)) << ",";
      } else {
        q << "NULL,";
      }
      if (c.failure == matching::Reason::kNone) {
        q << "NULL::text,";
      } else {
        q.Name(matching::ReasonName(c.failure)) << ",";
      }
      q.Int(c.settled) << ",";
      q.Bool(c.exclusive_ended) << ")";
    }
    // Forgotten means closed with nothing pending, so no escrow is left and nothing needed.
    q << "), u AS (UPDATE orders o SET status = coalesce(v.status, o.status), "
         "failure = coalesce(v.failure, o.failure), "
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

// The prepared call (migrations/0019_journal_write.sql): 12 scalars, then the array columns of
// ledger_entries, new orders, changed orders and accounts, in the order of kLedgerColumns,
// kOrderColumns, kOrderUpdateColumns and kAccountColumns.
constexpr char kWriteStatement[] = "journal_write";
constexpr int kScalarParameters = 12;
constexpr int kArrayParameters = std::size(kLedgerColumns) + std::size(kOrderColumns) +
                                 std::size(kOrderUpdateColumns) + std::size(kAccountColumns);
static_assert(kScalarParameters + kArrayParameters == 66, "journal_write takes 66 parameters");

const std::string& WriteDefinition() {
  static const std::string definition = [] {
    std::string d = "SELECT journal_write(";
    for (int i = 1; i <= kScalarParameters + kArrayParameters; ++i) {
      if (i > 1) d += ',';
      d += '$';
      d += std::to_string(i);
    }
    d += ')';
    return d;
  }();
  return definition;
}

}  // namespace

Status Journal::BuildSql(DbSession& session, const JournalBatch& batch) {
  pqxx::connection& conn = Pq(session);
  pre_.clear();
  post_.clear();
  arrays_.clear();

  std::vector<const OrderExtra*> extras;
  extras.reserve(batch.order_extras.size());
  for (const OrderExtra& x : batch.order_extras) extras.push_back(&x);
  std::sort(extras.begin(), extras.end(),
            [](const OrderExtra* a, const OrderExtra* b) { return a->id < b->id; });

  if (Status s = CheckCreated(batch); !s.ok()) return s;
  // Parents before children: new markets, accounts and trees first (pre), events before
  // settlements, orders and offers before assignments (post).
  SqlText pre(pre_, conn);
  if (Status s = WriteMarkets(pre, batch); !s.ok()) return s;
  if (Status s = WriteNewAccounts(pre, batch); !s.ok()) return s;
  WriteNewTrees(pre, batch);  // before their node orders

  event_log_.Encode(batch.events, event_blob_);
  ArrayRows ledger(kLedgerColumns, ledger_columns_, enums_);
  WriteLedger(ledger, batch);
  ledger.AppendParameters(arrays_);
  ArrayRows orders(kOrderColumns, order_columns_, enums_);
  ArrayRows changed(kOrderUpdateColumns, order_update_columns_, enums_);
  size_t extras_used = 0;
  WriteOrders(orders, changed, batch, extras, &extras_used);
  if (extras_used != extras.size()) {
    return Status(StatusCode::kInternal,
                  "journal: an order_extras entry has no order image in the batch");
  }
  orders.AppendParameters(arrays_);
  changed.AppendParameters(arrays_);
  ArrayRows accounts(kAccountColumns, account_columns_, enums_);
  WriteAccounts(accounts, batch);
  accounts.AppendParameters(arrays_);
  for (const ArrayRows* rows : {&ledger, &orders, &changed, &accounts}) {
    if (!rows->ok()) {
      return Status(StatusCode::kInternal,
                    "journal: a value does not fit its column (an integer out of range)");
    }
  }

  SqlText post(post_, conn);
  WriteTreeEvents(post, batch);
  WriteDraws(post, batch);
  WriteOffers(post, batch);
  WriteAssignments(post, batch);
  WriteClosed(post, batch);
  WriteEventRows(post, batch);
  WriteDepositReferences(post, batch);
  return Status::Ok();
}

namespace {

// What journal_write answered, as a Status ("ok" and "done" are ok: a "done" batch was committed
// by an earlier attempt whose answer was lost).
Status FromAnswer(const std::string& answer, const JournalBatch& batch) {
  if (answer == "ok" || answer == "done") return Status::Ok();
  if (answer.starts_with("fenced ")) {
    // Another writer took the lease since this engine was built: its seqs are not ours.
    return Status(StatusCode::kUnavailable, "journal: fenced: the database's writer epoch is " +
                                                answer.substr(7) + ", this batch's " +
                                                std::to_string(batch.writer_epoch) +
                                                " (another server took the write lease)")
        .WithReason("write_lease_lost");
  }
  if (answer.starts_with("gap ")) {
    return Status(StatusCode::kInternal, "journal: batch starts at seq " +
                                             std::to_string(batch.first_seq) +
                                             " but the journal ends at " + answer.substr(4));
  }
  return Status(StatusCode::kInternal, "journal: journal_write answered '" + answer + "'");
}

}  // namespace

Status Journal::WriteBatch(DbSession& session, const JournalBatch& batch) {
  pqxx::connection& conn = Pq(session);
  if (batch.empty()) return Status::Ok();
  if (batch.first_seq == 0) {
    return Status(StatusCode::kInternal, "journal: batch has no first_seq (seqs start at 1)");
  }
  if (Status s = LookUpTypes(session); !s.ok()) return s;
  // Built before anything of it is sent: a malformed batch never reaches PostgreSQL.
  if (Status s = BuildSql(session, batch); !s.ok()) return s;
  bool open = false;
  try {
    conn.prepare(kWriteStatement, WriteDefinition());  // once per connection; then a lookup
    // Sent in binary form: libpqxx 6.4 marks a binarystring parameter so (a copy each).
    std::vector<pqxx::binarystring> binary;
    binary.reserve(arrays_.size());
    for (const std::string& a : arrays_) binary.emplace_back(a.data(), a.size());
    pqxx::nontransaction tx(conn, "journal");
    auto call = [&] {
      const matching::EngineIds& ids = batch.ids;
      return tx
          .exec_prepared1(kWriteStatement, static_cast<int64_t>(batch.writer_epoch),
                          static_cast<int64_t>(batch.first_seq),
                          static_cast<int64_t>(batch.last_seq()), batch.events.back().now,
                          pqxx::binarystring(event_blob_), pre_, post_, ids.next_order,
                          ids.next_offer, ids.next_assignment, ids.external_net, ids.next_tree,
                          pqxx::prepare::make_dynamic_params(binary))[0]
          .as<std::string>();
    };
    // One round trip: the call is its own transaction. It takes the row lock on engine_state
    // if free, checks the fence and the seqs, and writes everything or (saying why) nothing.
    std::string answer = call();
    if (answer != "busy") return FromAnswer(answer, batch);
    // The lock is held (a take-over bumping the epoch, a stuck database): wait for it in a
    // transaction of our own, then call inside it and COMMIT apart. Should this server die
    // while it waits, nothing of the batch was sent, so nothing commits on its own later.
    open = true;
    pqxx::result r = tx.exec("BEGIN; SELECT 1 FROM engine_state FOR UPDATE");
    if (r.size() != 1) {
      tx.exec("ROLLBACK");
      return Status(StatusCode::kInternal, "journal: engine_state row missing");
    }
    answer = call();
    tx.exec(answer == "ok" ? "COMMIT" : "ROLLBACK");
    return FromAnswer(answer, batch);
  } catch (const pqxx::broken_connection& e) {
    // Lost before, during or after the commit: the retry's seq check sorts it out.
    return Status(StatusCode::kUnavailable, std::string("journal: connection lost: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    // Nothing was committed: the call's own transaction rolled back, or ours is ended here.
    Status s(StatusCode::kInternal,
             "journal: batch refused (SQLSTATE " + e.sqlstate() + "): " + e.what());
    RollBack(session, open);
    return s;
  } catch (const std::exception& e) {
    Status s(StatusCode::kInternal, std::string("journal: ") + e.what());
    RollBack(session, open);
    return s;
  }
}

// The journal's enum types' OIDs, read once a connection (a new connection may be to a
// database whose types were made again).
Status Journal::LookUpTypes(DbSession& session) {
  pqxx::connection& conn = Pq(session);
  try {
    const int backend = conn.backendpid();
    if (backend != 0 && backend == types_backend_) return Status::Ok();
    pqxx::nontransaction tx(conn, "journal_types");
    pqxx::row r = tx.exec1("SELECT 'ledger_bucket'::regtype::oid, 'transfer_reason'::regtype::oid");
    enums_.ledger_bucket = r[0].as<uint32_t>();
    enums_.transfer_reason = r[1].as<uint32_t>();
    types_backend_ = conn.backendpid();
    return Status::Ok();
  } catch (const pqxx::broken_connection& e) {
    return Status(StatusCode::kUnavailable, std::string("journal: connection lost: ") + e.what());
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, std::string("journal: the enum types: ") + e.what());
  }
}

// After an error inside the transaction block the session is in a failed transaction: end it,
// so the connection can take the next batch. A failure here surfaces on the next use.
void Journal::RollBack(DbSession& session, bool open) {
  if (!open) return;
  try {
    pqxx::nontransaction tx(Pq(session), "journal_rollback");
    tx.exec("ROLLBACK");
  } catch (const std::exception&) {
  }
}

}  // namespace proofbook::server
