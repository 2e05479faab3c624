#include "server/base/resources.h"

#include <charconv>

#include "server/base/limits.h"

namespace proofbook::server {

namespace json = boost::json;

std::string_view PriorityName(matching::Priority p) {
  return p == matching::Priority::kTime ? "time" : "price";
}

std::string_view SelectionName(matching::Selection s) {
  switch (s) {
    case matching::Selection::kBest:
      return "best";
    case matching::Selection::kDirect:
      return "direct";
    case matching::Selection::kVrf:
      return "vrf";
  }
  return "best";
}

std::optional<matching::Priority> PriorityFromName(std::string_view name) {
  for (auto p : {matching::Priority::kPrice, matching::Priority::kTime}) {
    if (PriorityName(p) == name) return p;
  }
  return std::nullopt;
}

std::optional<matching::Selection> SelectionFromName(std::string_view name) {
  for (auto s :
       {matching::Selection::kBest, matching::Selection::kDirect, matching::Selection::kVrf}) {
    if (SelectionName(s) == name) return s;
  }
  return std::nullopt;
}

json::object AccountJson(const matching::AccountState& a) {
  return json::object{{"id", a.id},
                      {"role", matching::RoleName(a.role)},
                      {"available", a.available},
                      {"escrowed", a.escrowed},
                      {"staked", a.staked},
                      {"reputation_bps", a.reputation}};
}

json::object OfferJson(const matching::OfferState& o, const std::string& market) {
  return json::object{{"id", o.id},
                      {"market", market},
                      {"prover", o.prover},
                      {"price", o.price},
                      {"est_ms", o.est_ms},
                      {"capacity", o.capacity},
                      {"capacity_left", o.capacity_left},
                      {"expires_at_ms", o.expires_at}};
}

json::object AssignmentJson(const matching::AssignmentState& a) {
  return json::object{{"id", a.id},
                      {"prover", a.prover},
                      {"offer", a.offer},
                      {"price", a.price},
                      {"assigned_at_ms", a.assigned_at},
                      {"due_at_ms", a.due_at},
                      {"status", matching::AssignmentStatusName(a.status)}};
}

json::object OrderJson(const matching::OrderState& o, const std::string& market,
                       std::span<const matching::AssignmentState> assignments,
                       const std::string& client_order_id) {
  json::array list;
  for (const auto& a : assignments) list.push_back(AssignmentJson(a));
  json::object out{{"id", o.id},
                   {"market", market},
                   {"sequencer", o.account},
                   {"status", matching::OrderStatusName(o.status)},
                   {"max_price", o.max_price},
                   {"deadline_ms", o.deadline},
                   {"placed_at_ms", o.placed_at},
                   {"priority", PriorityName(o.priority)},
                   {"min_reputation", o.min_reputation},
                   {"redundancy", o.redundancy},
                   {"selection", SelectionName(o.selection)},
                   {"verified", o.verified},
                   {"escrow_left", o.escrow_left},
                   {"assignments", std::move(list)}};
  if (o.selection == matching::Selection::kDirect) out["prover"] = o.direct_prover;
  if (o.status == matching::OrderStatus::kFailed) out["failure"] = matching::ReasonName(o.failure);
  if (!client_order_id.empty()) out["client_order_id"] = client_order_id;
  return out;
}

namespace {

// JSON text pieces for AppendOrderJson.
void AppendInt(std::string& out, int64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, end);
}

// A JSON string: '"' and '\\' escaped, control characters as \u00XX; the rest (UTF-8
// included) as it is, which is what Boost.JSON's serializer accepts and writes too.
void AppendString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

// `"key":` after a comma unless it is the object's first member.
void AppendKey(std::string& out, std::string_view key, bool first = false) {
  if (!first) out += ',';
  out += '"';
  out += key;
  out += "\":";
}

}  // namespace

void AppendOrderJson(std::string& out, const matching::OrderState& o, const std::string& market,
                     std::span<const matching::AssignmentState> assignments,
                     const std::string& client_order_id) {
  AppendKey(out.append("{"), "id", /*first=*/true);
  AppendInt(out, o.id);
  AppendKey(out, "market");
  AppendString(out, market);
  AppendKey(out, "sequencer");
  AppendInt(out, o.account);
  AppendKey(out, "status");
  AppendString(out, matching::OrderStatusName(o.status));
  AppendKey(out, "max_price");
  AppendInt(out, o.max_price);
  AppendKey(out, "deadline_ms");
  AppendInt(out, o.deadline);
  AppendKey(out, "placed_at_ms");
  AppendInt(out, o.placed_at);
  AppendKey(out, "priority");
  AppendString(out, PriorityName(o.priority));
  AppendKey(out, "min_reputation");
  AppendInt(out, o.min_reputation);
  AppendKey(out, "redundancy");
  AppendInt(out, o.redundancy);
  AppendKey(out, "selection");
  AppendString(out, SelectionName(o.selection));
  AppendKey(out, "verified");
  AppendInt(out, o.verified);
  AppendKey(out, "escrow_left");
  AppendInt(out, o.escrow_left);
  AppendKey(out, "assignments");
  out += '[';
  for (size_t i = 0; i < assignments.size(); ++i) {
    const matching::AssignmentState& a = assignments[i];
    if (i > 0) out += ',';
    AppendKey(out.append("{"), "id", /*first=*/true);
    AppendInt(out, a.id);
    AppendKey(out, "prover");
    AppendInt(out, a.prover);
    AppendKey(out, "offer");
    AppendInt(out, a.offer);
    AppendKey(out, "price");
    AppendInt(out, a.price);
    AppendKey(out, "assigned_at_ms");
    AppendInt(out, a.assigned_at);
    AppendKey(out, "due_at_ms");
    AppendInt(out, a.due_at);
    AppendKey(out, "status");
    AppendString(out, matching::AssignmentStatusName(a.status));
    out += '}';
  }
  out += ']';
  if (o.selection == matching::Selection::kDirect) {
    AppendKey(out, "prover");
    AppendInt(out, o.direct_prover);
  }
  if (o.status == matching::OrderStatus::kFailed) {
    AppendKey(out, "failure");
    AppendString(out, matching::ReasonName(o.failure));
  }
  if (!client_order_id.empty()) {
    AppendKey(out, "client_order_id");
    AppendString(out, client_order_id);
  }
  out += '}';
}

json::object MarketJson(const std::string& id, const std::string& proof_system,
                        const std::string& verifier, const matching::MarketParams& p) {
  // Orders' inputs are checked when placed for these verifier kinds (server/core/input_check.h).
  const bool inputs_checked = verifier == kVerifierGroth16 || verifier == kVerifierSha256Preimage ||
                              verifier == kVerifierSha256Merge;
  return json::object{{"id", id},
                      {"proof_system", proof_system},
                      {"verifier", verifier},
                      {"min_stake", p.min_stake},
                      {"min_slash", p.min_slash},
                      {"slash_multiplier_bps", p.slash_multiplier_bps},
                      {"repeat_window_ms", p.repeat_window_ms},
                      {"compensation_bps", p.compensation_bps},
                      {"fee_bps", p.fee_bps},
                      {"min_prover_time_ms", p.min_prover_time_ms},
                      {"grace_bps", p.grace_bps},
                      {"uncle_reward_bps", p.uncle_reward_bps},
                      {"max_proof_bytes", p.max_proof_bytes},
                      {"decline_window_ms", p.decline_window_ms},
                      {"unprovable_quorum", p.unprovable_quorum},
                      {"unprovable_fee_bps", p.unprovable_fee_bps},
                      {"griefing_bps", p.griefing_bps},
                      {"reputation_weight_bps", p.reputation_weight_bps},
                      {"vrf_turns", p.vrf_turns},
                      {"inputs_checked", inputs_checked}};
}

}  // namespace proofbook::server
