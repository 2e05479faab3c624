#include "clients/cli_commands.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "clients/cli_proofs.h"
#include "clients/cli_spinner.h"
#include "clients/cli_table.h"

namespace proofbook::cli {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kMaxPollMs = 30'000;  // the server's longest wait_ms
// A long poll wakes only when the order is final; with a spinner on screen, ask more often so
// its text follows the assignments.
constexpr int64_t kSpinnerPollMs = 5'000;
constexpr auto kMaxOutage = std::chrono::seconds(60);  // --wait rides out shorter outages
constexpr auto kRetryInterval = std::chrono::seconds(1);

// ---- Reading the answers ------------------------------------------------------------------------

const json::object& EmptyObject() {
  static const json::object empty;
  return empty;
}

// The object member `name` of `v`, or an empty object: the tables show "-" for what is missing
// rather than failing on an answer shaped a little differently.
const json::object& Obj(const json::object& o, const char* name) {
  const json::value* m = o.if_contains(name);
  return m != nullptr && m->is_object() ? m->as_object() : EmptyObject();
}

const json::object& Obj(const json::value& v, const char* name) {
  return v.is_object() ? Obj(v.as_object(), name) : EmptyObject();
}

const json::array& Arr(const json::object& o, const char* name) {
  static const json::array empty;
  const json::value* m = o.if_contains(name);
  return m != nullptr && m->is_array() ? m->as_array() : empty;
}

const json::array& Arr(const json::value& v, const char* name) {
  return v.is_object() ? Arr(v.as_object(), name) : Arr(EmptyObject(), name);
}

const json::object& Root(const ApiReply& r) {
  return r.json.is_object() ? r.json.as_object() : EmptyObject();
}

// A resource that may come in an envelope ({"assignment": {...}}) or bare ({...}).
const json::object& Resource(const ApiReply& r, const char* envelope) {
  const json::value* inner = Root(r).if_contains(envelope);
  return inner != nullptr && inner->is_object() ? inner->as_object() : Root(r);
}

int64_t Int(const json::object& o, const char* name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_int64() ? v->as_int64() : 0;
}

std::string Str(const json::object& o, const char* name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
}

// ---- Printing -----------------------------------------------------------------------------------

void PrintJson(const ApiReply& r) {
  std::cout << r.body;
  if (r.body.empty() || r.body.back() != '\n') std::cout << '\n';
}

std::string Query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [name, value] : params) {
    q += (q.empty() ? "?" : "&") + name + "=" + UrlEncode(value);
  }
  return q;
}

std::vector<std::pair<std::string, std::string>> AccountFields(const json::object& a) {
  std::vector<std::pair<std::string, std::string>> fields = {{"account", Cell(a, "id")}};
  if (a.contains("name")) fields.emplace_back("name", Cell(a, "name"));
  for (const char* name : {"role", "available", "escrowed", "staked", "reputation_bps"}) {
    fields.emplace_back(name, Cell(a, name));
  }
  return fields;
}

void PrintAccount(const json::object& a) { PrintFields(std::cout, AccountFields(a)); }

void PrintMarket(const json::object& m) {
  std::vector<std::pair<std::string, std::string>> fields = {{"market", Cell(m, "id")}};
  for (const char* name :
       {"proof_system", "verifier", "min_stake", "min_slash", "slash_multiplier_bps",
        "repeat_window_ms", "compensation_bps", "fee_bps", "min_prover_time_ms", "grace_bps",
        "uncle_reward_bps", "decline_window_ms", "unprovable_quorum", "unprovable_fee_bps",
        "griefing_bps", "reputation_weight_bps", "max_proof_bytes"}) {
    fields.emplace_back(name, Cell(m, name));
  }
  PrintFields(std::cout, fields);
}

void PrintOrder(std::ostream& out, const json::object& o) {
  std::vector<std::pair<std::string, std::string>> fields = {{"order", Cell(o, "id")}};
  fields.emplace_back("market", Cell(o, "market"));
  fields.emplace_back("status", Cell(o, "status"));
  if (o.contains("failure")) fields.emplace_back("failure", Cell(o, "failure"));
  for (const char* name : {"sequencer", "max_price", "redundancy", "verified", "escrow_left",
                           "priority", "min_reputation", "selection"}) {
    fields.emplace_back(name, Cell(o, name));
  }
  for (const char* name : {"prover", "client_order_id"}) {
    if (o.contains(name)) fields.emplace_back(name, Cell(o, name));
  }
  fields.emplace_back("placed_at", TimeCell(o, "placed_at_ms"));
  fields.emplace_back("deadline", TimeCell(o, "deadline_ms"));
  if (o.contains("inputs")) fields.emplace_back("inputs", Cell(o, "inputs"));
  PrintFields(out, fields);
  const json::value* list = o.if_contains("assignments");
  if (list == nullptr || !list->is_array() || list->as_array().empty()) return;
  Table t({{"ASSIGNMENT", true},
           {"PROVER", true},
           {"OFFER", true},
           {"PRICE", true},
           {"STATUS"},
           {"ASSIGNED_AT"},
           {"DUE_AT"}});
  for (const auto& item : list->as_array()) {
    const json::object& a = item.is_object() ? item.as_object() : EmptyObject();
    t.AddRow({Cell(a, "id"), Cell(a, "prover"), Cell(a, "offer"), Cell(a, "price"),
              Cell(a, "status"), TimeCell(a, "assigned_at_ms"), TimeCell(a, "due_at_ms")});
  }
  out << '\n';
  t.Print(out);
}

// ---- Reading the user's files -------------------------------------------------------------------

// `arg` as JSON: the text itself, or the contents of @file (@- for stdin).
Expected<json::value> ReadJsonArg(const std::string& option, const std::string& arg) {
  std::string text = arg;
  std::string source = option;
  if (!arg.empty() && arg[0] == '@') {
    std::string path = arg.substr(1);
    source = option + " " + arg;
    if (path == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream f(path, std::ios::binary);
      if (!f) return CliError{kExitUsage, source + ": cannot read " + path};
      text.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return CliError{kExitUsage, source + " is not valid JSON (" + ec.message() + ")"};
  return v;
}

// ---- Waiting for an order -----------------------------------------------------------------------

std::string Progress(int64_t id, const json::object& order) {
  std::string text = "waiting for order " + std::to_string(id) + ": " + Str(order, "status");
  const json::value* list = order.if_contains("assignments");
  if (list != nullptr && list->is_array() && !list->as_array().empty()) {
    text += ", assignments:";
    for (const auto& a : list->as_array()) {
      text += " " + (a.is_object() ? Str(a.as_object(), "status") : std::string("?"));
    }
  } else {
    text += ", no prover yet";
  }
  return text;
}

std::string FormatSeconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", s);
  return text;
}

// What a --wait waits for: GET `path`?wait_ms= answers {member: {"status": ...}} until the
// status is no longer open; `progress` words the spinner from the latest answer's object.
struct FinalWait {
  std::string what;  // "order 7", "tree 3"
  std::string path;
  const char* member;
  std::function<std::string(const json::object&)> progress;
};

// Long polls until the resource is no longer open; the final answer. Outages shorter than
// kMaxOutage are ridden out (the order or tree lives on in the server).
Expected<ApiReply> WaitUntilFinal(ApiClient& api, const FinalWait& w, const json::object& placed,
                                  double timeout_s, const std::string& resume_command) {
  const auto start = Clock::now();
  std::optional<Clock::time_point> deadline;
  if (timeout_s > 0) {
    deadline = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(timeout_s));
  }
  bool in_outage = false;
  Clock::time_point outage_since{};
  Spinner spinner(placed.contains("status") ? w.progress(placed) : "waiting for " + w.what);
  for (;;) {
    int64_t wait_ms = spinner.active() ? kSpinnerPollMs : kMaxPollMs;
    if (deadline) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) {
        return CliError{kExitNoProof, w.what + " is still open after " + FormatSeconds(timeout_s) +
                                          " (--wait-timeout); it goes on: " + resume_command};
      }
      wait_ms = std::min(wait_ms, left);
    }
    auto reply = api.Get(w.path + "?wait_ms=" + std::to_string(std::max<int64_t>(wait_ms, 1)),
                         std::chrono::milliseconds(wait_ms));
    if (!reply) {
      if (reply.error().exit_code != kExitUnavailable) return reply.error();
      auto now = Clock::now();
      if (!in_outage) outage_since = now;
      in_outage = true;
      if (now - outage_since >= kMaxOutage || (deadline && now >= *deadline)) {
        return reply.error();
      }
      spinner.Update("retrying: " + reply.error().message);
      std::this_thread::sleep_for(kRetryInterval);
      continue;
    }
    in_outage = false;
    const json::object& o = Obj(reply->json, w.member);
    if (Str(o, "status") != "open") return reply;
    spinner.Update(w.progress(o));
  }
}

Outcome History(ApiClient& api, const OutputMode& mode, const HistoryArgs& args, const char* list,
                const char* detail) {
  std::vector<std::pair<std::string, std::string>> params;
  if (args.limit > 0) params.emplace_back("limit", std::to_string(args.limit));
  if (args.cursor > 0) params.emplace_back("cursor", std::to_string(args.cursor));
  if (args.order > 0) params.emplace_back("order", std::to_string(args.order));
  auto r = api.Get("/v1/" + std::string(list) + Query(params));
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  std::string title = detail;
  std::transform(title.begin(), title.end(), title.begin(), ::toupper);
  Table t({{"SEQ", true},
           {"ORDER", true},
           {"ASSIGNMENT", true},
           {"PROVER", true},
           {"MARKET"},
           {"AMOUNT", true},
           {title},
           {"AT"}});
  for (const auto& item : Arr(r->json, list)) {
    const json::object& s = item.is_object() ? item.as_object() : EmptyObject();
    t.AddRow({Cell(s, "seq"), Cell(s, "order"), Cell(s, "assignment"), Cell(s, "prover"),
              Cell(s, "market"), Cell(s, "amount"), Cell(s, detail), TimeCell(s, "at_ms")});
  }
  if (t.empty()) {
    std::cout << "no " << list << "\n";
    return Done{};
  }
  t.Print(std::cout);
  if (int64_t next = Int(Root(*r), "next_cursor"); next > 0) {
    std::cout << "more: add --cursor " << next << "\n";
  }
  return Done{};
}

}  // namespace

// ---- Admin --------------------------------------------------------------------------------------

Outcome AccountCreate(ApiClient& api, const OutputMode& mode, const AccountCreateArgs& args) {
  auto r = api.Post("/v1/admin/accounts", json::object{{"role", args.role}, {"name", args.name}});
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  auto fields = AccountFields(Obj(r->json, "account"));
  fields.emplace_back("api_key", Str(Root(*r), "api_key"));
  PrintFields(std::cout, fields);
  std::cout << "\nThe API key is shown this once: store it now. The server keeps only its "
               "SHA-256.\n";
  return Done{};
}

Outcome Deposit(ApiClient& api, const OutputMode& mode, const DepositArgs& args) {
  json::object body{{"amount", args.amount}};
  if (!args.reference.empty()) body["reference"] = args.reference;
  auto r = api.Post("/v1/admin/accounts/" + std::to_string(args.account) + "/deposits", body);
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  const json::value* replayed = Root(*r).if_contains("replayed");
  if (replayed != nullptr && replayed->is_bool() && replayed->as_bool()) {
    std::cout << "Reference '" << args.reference
              << "' was already deposited (same account and amount): nothing credited again.\n";
  } else {
    std::cout << "Deposited " << args.amount << " to account " << args.account << ".\n";
  }
  PrintAccount(Obj(r->json, "account"));
  return Done{};
}

Outcome MarketCreate(ApiClient& api, const OutputMode& mode, const MarketCreateArgs& args) {
  json::object body{
      {"id", args.id}, {"proof_system", args.proof_system}, {"verifier", args.verifier}};
  for (const auto& [name, value] : args.params) body[name] = value;
  if (args.vrf_turns) body["vrf_turns"] = true;
  if (!args.verification_key_file.empty()) {
    auto vk = ReadJsonArg("--verification-key", "@" + args.verification_key_file);
    if (!vk) return vk.error();
    body["verification_key"] = std::move(*vk);
  }
  auto r = api.Post("/v1/admin/markets", body);
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  PrintMarket(Obj(r->json, "market"));
  return Done{};
}

Outcome MarketList(ApiClient& api, const OutputMode& mode) {
  auto r = api.Get("/v1/markets");
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  Table t({{"MARKET"},
           {"PROOF_SYSTEM"},
           {"VERIFIER"},
           {"MIN_STAKE", true},
           {"MIN_SLASH", true},
           {"SLASH_MULT_BPS", true},
           {"FEE_BPS", true},
           {"MIN_PROVER_TIME_MS", true},
           {"MAX_PROOF_BYTES", true}});
  for (const auto& item : Arr(r->json, "markets")) {
    const json::object& m = item.is_object() ? item.as_object() : EmptyObject();
    t.AddRow({Cell(m, "id"), Cell(m, "proof_system"), Cell(m, "verifier"), Cell(m, "min_stake"),
              Cell(m, "min_slash"), Cell(m, "slash_multiplier_bps"), Cell(m, "fee_bps"),
              Cell(m, "min_prover_time_ms"), Cell(m, "max_proof_bytes")});
  }
  if (t.empty()) {
    std::cout << "no markets\n";
  } else {
    t.Print(std::cout);
  }
  return Done{};
}

Outcome MarketBook(ApiClient& api, const OutputMode& mode, const std::string& market,
                   int64_t offers) {
  if (market.empty() ||
      market.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
    return CliError{kExitUsage, "a market slug is a-z, 0-9 and '-': " + market};
  }
  std::vector<std::pair<std::string, std::string>> params;
  if (offers > 0) params.emplace_back("offers", std::to_string(offers));
  auto r = api.Get("/v1/markets/" + market + "/book" + Query(params));
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  // Offers ask, open orders bid: the two sides of the market at each price.
  Table asks({{"ASK_PRICE", true}, {"OFFERS", true}, {"CAPACITY", true}});
  for (const auto& item : Arr(r->json, "asks")) {
    const json::object& a = item.is_object() ? item.as_object() : EmptyObject();
    asks.AddRow({Cell(a, "price"), Cell(a, "offers"), Cell(a, "capacity")});
  }
  Table bids({{"BID_MAX_PRICE", true}, {"ORDERS", true}, {"PROOFS_WANTED", true}});
  for (const auto& item : Arr(r->json, "bids")) {
    const json::object& b = item.is_object() ? item.as_object() : EmptyObject();
    bids.AddRow({Cell(b, "max_price"), Cell(b, "orders"), Cell(b, "proofs_wanted")});
  }
  // The offers one by one, best first: who would take the next order, at what price.
  Table best({{"OFFER", true},
              {"PROVER", true},
              {"PRICE", true},
              {"EST_MS", true},
              {"CAPACITY_LEFT", true},
              {"REPUTATION_BPS", true}});
  for (const auto& item : Arr(r->json, "offers")) {
    const json::object& o = item.is_object() ? item.as_object() : EmptyObject();
    best.AddRow({Cell(o, "offer"), Cell(o, "prover"), Cell(o, "price"), Cell(o, "est_ms"),
                 Cell(o, "capacity_left"), Cell(o, "reputation_bps")});
  }
  if (asks.empty()) {
    std::cout << "no offers\n";
  } else {
    asks.Print(std::cout);
  }
  if (!best.empty()) {
    std::cout << '\n';
    best.Print(std::cout);
    std::cout << '\n';
  }
  if (bids.empty()) {
    std::cout << "no open orders\n";
  } else {
    bids.Print(std::cout);
  }
  return Done{};
}

// ---- Orders -------------------------------------------------------------------------------------

Outcome OrderPlace(ApiClient& api, const OutputMode& mode, const OrderPlaceArgs& args) {
  json::object body{
      {"market", args.market}, {"max_price", args.max_price}, {"deadline_ms", args.deadline_ms}};
  if (!args.priority.empty()) body["priority"] = args.priority;
  if (args.min_reputation) body["min_reputation"] = *args.min_reputation;
  if (args.redundancy) body["redundancy"] = *args.redundancy;
  if (!args.selection.empty()) body["selection"] = args.selection;
  if (args.prover) body["prover"] = *args.prover;
  if (args.exclusive_ms) body["exclusive_ms"] = *args.exclusive_ms;
  if (!args.inputs.empty()) {
    auto inputs = ReadJsonArg("--inputs", args.inputs);
    if (!inputs) return inputs.error();
    body["inputs"] = std::move(*inputs);
  }
  if (!args.client_order_id.empty()) body["client_order_id"] = args.client_order_id;

  auto placed = api.Post("/v1/orders", body);
  if (!placed) return placed.error();
  const int64_t id = Int(Obj(placed->json, "order"), "id");
  if (id <= 0) return CliError{kExitFailure, "the server's answer names no order id"};
  if (!args.wait) {
    if (mode.json) {
      PrintJson(*placed);
    } else {
      PrintOrder(std::cout, Obj(placed->json, "order"));
    }
    return Done{};
  }

  std::cerr << "order " << id
            << (placed->status == 200 ? " (placed before with this "
                                        "client_order_id)"
                                      : " placed")
            << "; waiting until it is final\n";
  const FinalWait w{"order " + std::to_string(id), "/v1/orders/" + std::to_string(id), "order",
                    [id](const json::object& o) { return Progress(id, o); }};
  auto final_reply = WaitUntilFinal(api, w, Obj(placed->json, "order"), args.wait_timeout_s,
                                    "proofbook order get " + std::to_string(id));
  if (!final_reply) return final_reply.error();
  const json::object& order = Obj(final_reply->json, "order");
  const std::string status = Str(order, "status");

  // Even an order that ended without all its proofs may hold some verified ones: save them.
  Expected<std::vector<SavedProof>> saved = std::vector<SavedProof>{};
  if (Int(order, "verified") > 0) {
    auto proofs = api.Get("/v1/orders/" + std::to_string(id) + "/proofs");
    if (!proofs) return proofs.error();
    const std::string out = args.out.empty() ? "order-" + std::to_string(id) + ".proof" : args.out;
    saved = SaveProofs(Arr(proofs->json, "proofs"), out);
  }
  if (mode.json) {
    PrintJson(*final_reply);
  } else {
    PrintOrder(std::cout, order);
    std::cout << '\n';
  }
  if (!saved) return saved.error();
  std::ostream& notes = mode.json ? std::cerr : std::cout;
  for (const auto& p : *saved) {
    notes << "proof of assignment " << p.assignment << " (prover " << p.prover << ", " << p.size
          << " bytes, sha256 " << p.sha256 << ") written to " << p.path << "\n";
  }
  if (status == "completed" && !saved->empty()) return Done{};
  if (status == "completed") {
    return CliError{kExitFailure,
                    "order " + std::to_string(id) + " is completed but the server listed no proof"};
  }
  std::string why = "order " + std::to_string(id) + " ended " + status;
  if (const std::string failure = Str(order, "failure"); !failure.empty()) {
    why += " (" + failure + ")";
  }
  if (saved->empty()) {
    why += " without a proof";
  } else {
    why += " with " + std::to_string(saved->size()) + " of " +
           std::to_string(Int(order, "redundancy")) + " proofs";
  }
  return CliError{kExitNoProof, why};
}

Outcome OrderGet(ApiClient& api, const OutputMode& mode, int64_t id) {
  auto r = api.Get("/v1/orders/" + std::to_string(id));
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
  } else {
    PrintOrder(std::cout, Obj(r->json, "order"));
  }
  return Done{};
}

Outcome OrderList(ApiClient& api, const OutputMode& mode, const OrderListArgs& args) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!args.status.empty()) params.emplace_back("status", args.status);
  if (!args.market.empty()) params.emplace_back("market", args.market);
  if (args.limit > 0) params.emplace_back("limit", std::to_string(args.limit));
  if (args.cursor > 0) params.emplace_back("cursor", std::to_string(args.cursor));
  auto r = api.Get("/v1/orders" + Query(params));
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  Table t({{"ORDER", true},
           {"MARKET"},
           {"STATUS"},
           {"MAX_PRICE", true},
           {"K", true},
           {"VERIFIED", true},
           {"ESCROW_LEFT", true},
           {"PLACED_AT"},
           {"DEADLINE"}});
  for (const auto& item : Arr(r->json, "orders")) {
    const json::object& o = item.is_object() ? item.as_object() : EmptyObject();
    t.AddRow({Cell(o, "id"), Cell(o, "market"), Cell(o, "status"), Cell(o, "max_price"),
              Cell(o, "redundancy"), Cell(o, "verified"), Cell(o, "escrow_left"),
              TimeCell(o, "placed_at_ms"), TimeCell(o, "deadline_ms")});
  }
  if (t.empty()) {
    std::cout << "no orders\n";
    return Done{};
  }
  t.Print(std::cout);
  if (int64_t next = Int(Root(*r), "next_cursor"); next > 0) {
    std::cout << "more: add --cursor " << next << "\n";
  }
  return Done{};
}

Outcome OrderCancel(ApiClient& api, const OutputMode& mode, int64_t id) {
  auto r = api.Delete("/v1/orders/" + std::to_string(id));
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
  } else {
    std::cout << "Order " << id << " cancelled; its escrow is back in your available balance.\n";
  }
  return Done{};
}

// ---- Proof trees --------------------------------------------------------------------------------

namespace {

int64_t ProvenNodes(const json::object& tree) {
  int64_t proven = 0;
  for (const auto& n : Arr(tree, "nodes")) {
    if (n.is_object() && Str(n.as_object(), "state") == "proven") ++proven;
  }
  return proven;
}

// A digest cut to its first 16 hex digits for a table (--json has it whole).
std::string ShortCell(const json::object& o, const char* name) {
  std::string text = Cell(o, name);
  return text.size() > 19 ? text.substr(0, 16) + "..." : text;
}

void PrintTree(std::ostream& out, const json::object& t) {
  std::vector<std::pair<std::string, std::string>> fields = {{"tree", Cell(t, "id")}};
  fields.emplace_back("status", Cell(t, "status"));
  for (const char* name : {"failure", "failed_order"}) {
    if (t.contains(name)) fields.emplace_back(name, Cell(t, name));
  }
  for (const char* name : {"leaf_market", "merge_market", "leaves", "leaf_price", "merge_price",
                           "leaf_share_bps", "reserve"}) {
    fields.emplace_back(name, Cell(t, name));
  }
  fields.emplace_back("placed_at", TimeCell(t, "placed_at_ms"));
  fields.emplace_back("deadline", TimeCell(t, "deadline_ms"));
  fields.emplace_back("nodes_proven", std::to_string(ProvenNodes(t)) + " of " +
                                          std::to_string(Arr(t, "nodes").size()));
  fields.emplace_back("root_output", Cell(t, "root_output"));
  PrintFields(out, fields);
  Table nodes({{"NODE", true},
               {"LEVEL", true},
               {"KIND"},
               {"STATE"},
               {"ORDER", true},
               {"PROVER", true},
               {"DUE_AT"},
               {"OUTPUT"}});
  for (const auto& item : Arr(t, "nodes")) {
    const json::object& n = item.is_object() ? item.as_object() : EmptyObject();
    nodes.AddRow({Cell(n, "node"), Cell(n, "level"), Cell(n, "kind"), Cell(n, "state"),
                  Cell(n, "order"), Cell(n, "prover"), TimeCell(n, "due_at_ms"),
                  ShortCell(n, "output")});
  }
  if (nodes.empty()) return;
  out << '\n';
  nodes.Print(out);
}

}  // namespace

Outcome TreePlace(ApiClient& api, const OutputMode& mode, const TreePlaceArgs& args) {
  auto leaves = ReadJsonArg("--leaves", args.leaves);
  if (!leaves) return leaves.error();
  if (!leaves->is_array()) {
    return CliError{kExitUsage, "--leaves must be a JSON array: one leaf's inputs per element"};
  }
  json::object body{{"leaf_market", args.leaf_market},
                    {"merge_market", args.merge_market},
                    {"leaves", std::move(*leaves)},
                    {"leaf_price", args.leaf_price},
                    {"deadline_ms", args.deadline_ms}};
  if (args.merge_price) body["merge_price"] = *args.merge_price;
  if (args.min_reputation) body["min_reputation"] = *args.min_reputation;
  if (args.leaf_share_bps) body["leaf_share_bps"] = *args.leaf_share_bps;
  if (!args.priority.empty()) body["priority"] = args.priority;
  if (!args.leaf_selection.empty()) body["leaf_selection"] = args.leaf_selection;
  auto placed = api.Post("/v1/trees", body);
  if (!placed) return placed.error();
  const json::object& tree = Obj(placed->json, "tree");
  const int64_t id = Int(tree, "id");
  if (id <= 0) return CliError{kExitFailure, "the server's answer names no tree id"};
  if (!args.wait) {
    if (mode.json) {
      PrintJson(*placed);
    } else {
      std::cout << "tree " << id << " placed: " << Cell(tree, "leaves") << " leaves, escrow "
                << Cell(tree, "escrow") << ", root due " << TimeCell(tree, "deadline_ms")
                << "\nfollow it: proofbook tree show " << id << "\n";
    }
    return Done{};
  }
  std::cerr << "tree " << id << " placed (" << Cell(tree, "leaves") << " leaves, escrow "
            << Cell(tree, "escrow") << "); waiting for its root\n";
  const FinalWait w{
      "tree " + std::to_string(id), "/v1/trees/" + std::to_string(id), "tree",
      [id](const json::object& t) {
        const auto nodes = Arr(t, "nodes").size();
        return "waiting for tree " + std::to_string(id) + ": " + std::to_string(ProvenNodes(t)) +
               " of " + (nodes > 0 ? std::to_string(nodes) : std::string("?")) + " nodes proven";
      }};
  auto final_reply = WaitUntilFinal(api, w, json::object{}, args.wait_timeout_s,
                                    "proofbook tree show " + std::to_string(id));
  if (!final_reply) return final_reply.error();
  const json::object& t = Obj(final_reply->json, "tree");
  if (mode.json) {
    PrintJson(*final_reply);
  } else {
    PrintTree(std::cout, t);
  }
  const std::string status = Str(t, "status");
  if (status == "completed") {
    (mode.json ? std::cerr : std::cout)
        << "\nroot of tree " << id << " proven: " << Str(t, "root_output") << "\n";
    return Done{};
  }
  std::string why = "tree " + std::to_string(id) + " ended " + status;
  if (const std::string failure = Str(t, "failure"); !failure.empty()) {
    why += " (" + failure + ", order " + Cell(t, "failed_order") + ")";
  }
  return CliError{kExitNoProof, why};
}

Outcome TreeShow(ApiClient& api, const OutputMode& mode, int64_t id) {
  auto r = api.Get("/v1/trees/" + std::to_string(id));
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
  } else {
    PrintTree(std::cout, Obj(r->json, "tree"));
  }
  return Done{};
}

// ---- Accounts and history -----------------------------------------------------------------------

Outcome AccountShow(ApiClient& api, const OutputMode& mode) {
  auto r = api.Get("/v1/accounts/me");
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
  } else {
    PrintAccount(Obj(r->json, "account"));
  }
  return Done{};
}

Outcome Settlements(ApiClient& api, const OutputMode& mode, const HistoryArgs& args) {
  return History(api, mode, args, "settlements", "kind");
}

Outcome Slashings(ApiClient& api, const OutputMode& mode, const HistoryArgs& args) {
  return History(api, mode, args, "slashings", "reason");
}

// ---- Provers -----------------------------------------------------------------------------------

Outcome AssignmentDecline(ApiClient& api, const OutputMode& mode, const DeclineArgs& args) {
  auto r = api.Post("/v1/assignments/" + std::to_string(args.assignment) + "/decline",
                    json::object{{"reason", args.reason}});
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  // The assignment object ({"id", "order", ..., "status"}), or the short answer
  // {"assignment": id, "order", "reason", "status"}: whichever members came are shown.
  const json::object& a = Resource(*r, "assignment");
  std::vector<std::pair<std::string, std::string>> fields = {
      {"assignment", a.contains("id") ? Cell(a, "id") : Cell(a, "assignment")},
      {"status", Cell(a, "status")}};
  for (const char* name : {"reason", "order", "offer", "prover", "market", "price"}) {
    if (a.contains(name)) fields.emplace_back(name, Cell(a, name));
  }
  if (a.contains("assigned_at_ms"))
    fields.emplace_back("assigned_at", TimeCell(a, "assigned_at_ms"));
  if (a.contains("due_at_ms")) fields.emplace_back("due_at", TimeCell(a, "due_at_ms"));
  PrintFields(std::cout, fields);
  return Done{};
}

Outcome ProverShow(ApiClient& api, const OutputMode& mode, int64_t id) {
  if (id <= 0) {
    auto me = api.Get("/v1/accounts/me");
    if (!me) return me.error();
    id = Int(Obj(me->json, "account"), "id");
    if (id <= 0) return CliError{kExitFailure, "the server's answer to /v1/accounts/me has no id"};
  }
  auto r = api.Get("/v1/provers/" + std::to_string(id));
  if (!r) return r.error();
  if (mode.json) {
    PrintJson(*r);
    return Done{};
  }
  const json::object& p = Resource(*r, "prover");
  std::string jailed;
  for (const auto& market : Arr(p, "jailed_in")) {
    jailed += (jailed.empty() ? "" : ", ") + Cell(&market);
  }
  const json::object& delivery = Obj(p, "delivery_ms");
  PrintFields(std::cout, {{"prover", Cell(p, "id")},
                          {"staked", Cell(p, "staked")},
                          {"reputation_bps", Cell(p, "reputation_bps")},
                          {"jailed_in", jailed.empty() ? "-" : jailed},
                          {"delivery_median_ms", Cell(delivery, "median")},
                          {"delivery_p95_ms", Cell(delivery, "p95")},
                          {"delivery_sample", Cell(delivery, "sample")}});
  // The job counts on one row: what the prover won, and how each job ended.
  const json::object& jobs = Obj(p, "jobs");
  const char* kinds[] = {"won",     "delivered", "settled", "missed",
                         "invalid", "declined",  "released"};
  std::vector<Table::Column> columns;
  std::vector<std::string> row;
  for (const char* kind : kinds) {
    std::string title = kind;
    std::transform(title.begin(), title.end(), title.begin(), ::toupper);
    columns.push_back({title, true});
    row.push_back(Cell(jobs, kind));
  }
  Table t(std::move(columns));
  t.AddRow(std::move(row));
  std::cout << "\njobs\n";
  t.Print(std::cout);
  return Done{};
}

}  // namespace proofbook::cli
