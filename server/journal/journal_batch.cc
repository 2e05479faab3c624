#include "server/journal/journal_batch.h"

#include <algorithm>
#include <optional>
#include <string>

namespace proofbook::server {
namespace {

using matching::AssignmentStatus;
using matching::CommandKind;
using matching::Event;
using matching::EventKind;
using matching::FlatIdMap;
using matching::kNil;
using matching::OrderStatus;

template <typename T>
void EraseIds(const std::vector<T>& v, FlatIdMap& index) {
  for (const T& x : v) index.Erase(x.id);
}

// Inserts `image` or overwrites the earlier image of the same id (last wins).
template <typename T>
void Put(std::vector<T>& v, FlatIdMap& index, const T& image) {
  uint32_t i = index.Find(image.id);
  if (i != kNil) {
    v[i] = image;
    return;
  }
  index.Insert(image.id, static_cast<uint32_t>(v.size()));
  v.push_back(image);
}

void SortUnique(std::vector<int64_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

int8_t OrderStatusOf(const Event& e) {
  switch (e.kind) {
    case EventKind::kOrderCompleted:
      return static_cast<int8_t>(OrderStatus::kCompleted);
    case EventKind::kOrderExpired:
      return static_cast<int8_t>(OrderStatus::kExpired);
    case EventKind::kOrderCancelled:
      return static_cast<int8_t>(OrderStatus::kCancelled);
    case EventKind::kOrderFailed:
      return static_cast<int8_t>(OrderStatus::kFailed);
    default:
      return -1;
  }
}

// The state an event leaves its assignment in (matching/engine.cc), or -1.
int8_t AssignmentStatusOf(const Event& e) {
  auto s = [](AssignmentStatus status) { return static_cast<int8_t>(status); };
  switch (e.kind) {
    case EventKind::kAssigned:
    case EventKind::kReassigned:
    case EventKind::kDueExtended:
      return s(AssignmentStatus::kAssigned);
    case EventKind::kProofDelivered:
      return s(e.value != 0 ? AssignmentStatus::kLateDelivered : AssignmentStatus::kDelivered);
    case EventKind::kSettled:
      return s(AssignmentStatus::kSettled);
    case EventKind::kUncleRewarded:
      return s(AssignmentStatus::kUncled);
    case EventKind::kProofRejected:
      return s(AssignmentStatus::kInvalid);
    case EventKind::kSlashed:
      return s(e.reason == matching::Reason::kMissedDeadline ? AssignmentStatus::kLate
                                                             : AssignmentStatus::kInvalid);
    case EventKind::kAssignmentLapsed:
      return s(AssignmentStatus::kLapsed);
    case EventKind::kDeclined:
      return s(e.reason == matching::Reason::kBusy ? AssignmentStatus::kDeclinedBusy
                                                   : AssignmentStatus::kDeclinedUnprovable);
    case EventKind::kReleased:
      return s(AssignmentStatus::kReleased);
    default:
      return -1;
  }
}

bool IsAccountCommand(CommandKind c) {
  return c == CommandKind::kCreateAccount || c == CommandKind::kDeposit ||
         c == CommandKind::kWithdraw || c == CommandKind::kStake || c == CommandKind::kUnstake;
}

// Which records an event names whose state it may have changed.
void CollectTouches(const Event& e, uint32_t pos, JournalBatch::Scratch& s) {
  switch (e.kind) {
    case EventKind::kRejected:
      return;  // nothing changed
    case EventKind::kAccepted:
      if (IsAccountCommand(e.command)) s.accounts.push_back(e.account);
      if (e.command == CommandKind::kCreateMarket) s.markets.push_back(e.market);
      break;
    case EventKind::kTransfer:
      s.accounts.push_back(e.account);
      s.accounts.push_back(e.to_account);
      break;
    case EventKind::kReputationChanged:
    case EventKind::kJailed:
    case EventKind::kSlashed:  // last_slashed_at moves even when nothing is left to take
      s.accounts.push_back(e.account);
      break;
    default:
      break;
  }
  if (e.order != 0) {
    JournalBatch::Touch t;
    t.id = e.order;
    t.pos = pos;
    t.status = OrderStatusOf(e);
    if (e.kind == EventKind::kOrderFailed) t.failure = e.reason;
    t.settled = e.kind == EventKind::kSettled;
    t.exclusive_ended = e.kind == EventKind::kExclusiveEnded;
    s.orders.push_back(t);
  }
  if (e.offer != 0) s.offers.push_back(e.offer);
  if (e.assignment != 0) {
    JournalBatch::Touch t;
    t.id = e.assignment;
    t.pos = pos;
    t.status = AssignmentStatusOf(e);
    t.transfer = e.kind == EventKind::kTransfer;
    s.assignments.push_back(t);
  }
}

Status Bug(const char* what, int64_t id) {
  return Status(StatusCode::kInternal, std::string("journal batch: ") + what + " " +
                                           std::to_string(id) +
                                           " named by an event is not in the engine");
}

}  // namespace

void JournalBatch::Clear() {
  EraseIds(accounts, scratch.account_pos);
  EraseIds(orders, scratch.order_pos);
  EraseIds(offers, scratch.offer_pos);
  EraseIds(assignments, scratch.assignment_pos);
  first_seq = 0;
  writer_epoch = 0;
  events.clear();
  accounts.clear();
  markets.clear();
  orders.clear();
  offers.clear();
  assignments.clear();
  order_extras.clear();
  new_trees.clear();
  deposit_extras.clear();
  account_extras.clear();
  market_extras.clear();
  closed_orders.clear();
  closed_assignments.clear();
  draws.clear();
  ids = {};
}

Status AppendToBatch(const matching::Engine& engine, std::span<const Event> events,
                     JournalBatch* batch) {
  JournalBatch::Scratch& s = batch->scratch;
  s.accounts.clear();
  s.markets.clear();
  s.offers.clear();
  s.orders.clear();
  s.assignments.clear();
  batch->events.insert(batch->events.end(), events.begin(), events.end());
  for (uint32_t i = 0; i < events.size(); ++i) CollectTouches(events[i], i, s);
  for (const Event& e : events) {
    if (e.kind == EventKind::kTreeNodePlaced) {
      // No client id. Inputs: a leaf's are the tree request's (the runner sets them), a merge's
      // its children's outputs (the journal writes them, migrations/0017_tree_outputs.sql).
      OrderExtra node;
      node.id = e.order;
      batch->order_extras.push_back(std::move(node));
    }
    if (e.kind == EventKind::kAccepted && e.command == CommandKind::kPlaceTree) {
      std::optional<matching::TreeState> tree = engine.GetTree(e.tree);
      if (!tree) return Bug("tree", e.tree);
      tree->nodes.clear();
      batch->new_trees.push_back(std::move(*tree));
    }
  }

  // Assignments first: a settled or failed assignment frees capacity on its offer without an
  // event naming the offer, so every assignment read also touches its offer.
  std::sort(s.assignments.begin(), s.assignments.end());
  for (size_t i = 0; i < s.assignments.size();) {
    size_t end = i;
    int8_t status = -1;
    bool only_transfers = true;
    for (; end < s.assignments.size() && s.assignments[end].id == s.assignments[i].id; ++end) {
      if (s.assignments[end].status >= 0) status = s.assignments[end].status;
      only_transfers &= s.assignments[end].transfer;
    }
    int64_t id = s.assignments[i].id;
    i = end;
    if (auto a = engine.GetAssignment(id)) {
      s.offers.push_back(a->offer);
      Put(batch->assignments, s.assignment_pos, *a);
      continue;
    }
    // Forgotten with its order. Only money moved for it here (an unprovable order's fee to a
    // prover that declined it earlier): its row is final already.
    if (status < 0 && only_transfers) continue;
    // Else it was made terminal here, and the event that did so is in this command.
    if (status < 0) return Bug("assignment", id);
    batch->closed_assignments.push_back({id, static_cast<AssignmentStatus>(status)});
  }

  std::sort(s.orders.begin(), s.orders.end());
  for (size_t i = 0; i < s.orders.size();) {
    ClosedOrder closed;
    closed.id = s.orders[i].id;
    for (; i < s.orders.size() && s.orders[i].id == closed.id; ++i) {
      const JournalBatch::Touch& t = s.orders[i];
      if (t.status >= 0) {
        closed.has_status = true;
        closed.status = static_cast<OrderStatus>(t.status);
        closed.failure = t.failure;
      }
      closed.settled += t.settled ? 1 : 0;
      closed.exclusive_ended |= t.exclusive_ended;
    }
    if (auto o = engine.GetOrder(closed.id)) {
      Put(batch->orders, s.order_pos, *o);
    } else {
      batch->closed_orders.push_back(closed);
    }
  }

  SortUnique(s.offers);
  for (int64_t id : s.offers) {
    // A removed offer has no image; its kOfferCancelled / kOfferExpired event closes its row.
    if (auto f = engine.GetOffer(id)) Put(batch->offers, s.offer_pos, *f);
  }

  SortUnique(s.accounts);
  for (int64_t id : s.accounts) {
    auto a = engine.GetAccount(id);
    if (!a) return Bug("account", id);
    Put(batch->accounts, s.account_pos, *a);
  }

  for (int64_t id : s.markets) {
    auto m = engine.GetMarket(static_cast<matching::MarketId>(id));
    if (!m) return Bug("market", id);
    batch->markets.push_back(*m);  // created once, so never a duplicate
  }

  batch->ids = engine.GetIds();
  return Status::Ok();
}

}  // namespace proofbook::server
