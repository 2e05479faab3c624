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

// `,"key":`: a member after the object's first.
void Key(std::string& out, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
}
void Member(std::string& out, std::string_view key, int64_t value) {
  Key(out, key);
  AppendInt(out, value);
}
// Text escaped by Boost.JSON's own serializer, as OrderJson's is.
void Member(std::string& out, std::string_view key, std::string_view value) {
  Key(out, key);
  out += json::serialize(value);
}

}  // namespace

void AppendOrderJson(std::string& out, const matching::OrderState& o, const std::string& market,
                     std::span<const matching::AssignmentState> assignments,
                     const std::string& client_order_id) {
  out += "{\"id\":";
  AppendInt(out, o.id);
  Member(out, "market", market);
  Member(out, "sequencer", o.account);
  Member(out, "status", matching::OrderStatusName(o.status));
  Member(out, "max_price", o.max_price);
  Member(out, "deadline_ms", o.deadline);
  Member(out, "placed_at_ms", o.placed_at);
  Member(out, "priority", PriorityName(o.priority));
  Member(out, "min_reputation", o.min_reputation);
  Member(out, "redundancy", o.redundancy);
  Member(out, "selection", SelectionName(o.selection));
  Member(out, "verified", o.verified);
  Member(out, "escrow_left", o.escrow_left);
  out += ",\"assignments\":[";
  for (size_t i = 0; i < assignments.size(); ++i) {
    const matching::AssignmentState& a = assignments[i];
    out += i == 0 ? "{\"id\":" : ",{\"id\":";
    AppendInt(out, a.id);
    Member(out, "prover", a.prover);
    Member(out, "offer", a.offer);
    Member(out, "price", a.price);
    Member(out, "assigned_at_ms", a.assigned_at);
    Member(out, "due_at_ms", a.due_at);
    Member(out, "status", matching::AssignmentStatusName(a.status));
    out += '}';
  }
  out += ']';
  if (o.selection == matching::Selection::kDirect) Member(out, "prover", o.direct_prover);
  if (o.status == matching::OrderStatus::kFailed) {
    Member(out, "failure", matching::ReasonName(o.failure));
  }
  if (!client_order_id.empty()) Member(out, "client_order_id", client_order_id);
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
