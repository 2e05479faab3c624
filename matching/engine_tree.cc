// Proof trees (command.h PlaceTree, tree_shape.h): a block's whole proof as one order. The
// nodes are ordinary orders (redundancy 1) the engine places itself: the leaves at once, each
// merge when both its children are proven. Everything else (matching, misses and slashes,
// reassignment, uncle rewards, declines) is the orders' own machinery; this file adds the
// tree's escrow, the merge's prover draw and takeover, and the tree's end.
#include <algorithm>
#include <limits>
#include <vector>

#include "matching/engine.h"
#include "matching/rules.h"
#include "matching/tree_shape.h"

namespace proofbook::matching {
namespace {

constexpr Amount kMaxAmount = std::numeric_limits<Amount>::max();

}  // namespace

void Engine::DoPlaceTree(const PlaceTree& c) {
  subject_.account = c.account;
  subject_.market = c.leaf_market;
  if (c.leaves < 1 || c.leaves > kMaxTreeLeaves) return Reject(Reason::kInvalidArgument, "leaves");
  if (c.leaf_price <= 0) return Reject(Reason::kInvalidArgument, "leaf_price");
  if (c.leaves > 1 && c.merge_price <= 0) return Reject(Reason::kInvalidArgument, "merge_price");
  if (c.min_reputation < kMinReputation || c.min_reputation > kMaxReputation) {
    return Reject(Reason::kInvalidArgument, "min_reputation");
  }
  if (c.leaf_selection != Selection::kBest && c.leaf_selection != Selection::kVrf) {
    return Reject(Reason::kInvalidArgument, "leaf_selection");
  }
  if (c.leaf_share_bps < 1 || c.leaf_share_bps >= kBps) {
    return Reject(Reason::kInvalidArgument, "leaf_share_bps");
  }
  if (c.deadline <= now_ || c.deadline > now_ + kMaxDurationMs) {
    return Reject(Reason::kInvalidArgument, "deadline");
  }
  const uint32_t ah = AccountHandle(c.account);
  if (ah == kNil) return Reject(Reason::kUnknownAccount, "account");
  if (accounts_[ah].role != Role::kSequencer) return Reject(Reason::kWrongRole, "account");
  const MarketRecord* leaf = Market(c.leaf_market);
  if (leaf == nullptr) return Reject(Reason::kUnknownMarket, "leaf_market");
  const MarketRecord* merge = c.leaves > 1 ? Market(c.merge_market) : leaf;
  if (merge == nullptr) return Reject(Reason::kUnknownMarket, "merge_market");
  if (c.leaf_selection == Selection::kVrf &&
      (draws_ == nullptr || !draws_->Serves(c.leaf_market))) {
    return Reject(Reason::kVrfUnavailable, "leaf_selection");
  }
  // A merge's prover is drawn among its children's provers.
  if (c.leaves > 1 && (draws_ == nullptr || !draws_->Serves(c.merge_market))) {
    return Reject(Reason::kVrfUnavailable, "merge_market");
  }
  // Cascading deadlines: every level's window must hold its market's MIN_PROVER_TIME.
  const TreeShape shape(c.leaves);
  Timestamp start = now_;
  for (int32_t l = 0; l < shape.levels(); ++l) {
    const Timestamp end =
        TreeShape::LevelDeadline(l, shape.levels(), now_, c.deadline, c.leaf_share_bps);
    const int64_t floor = (l == 0 ? leaf : merge)->params.min_prover_time_ms;
    if (end - start < std::max<int64_t>(floor, 1)) {
      return Reject(Reason::kDeadlineTooSoon, "deadline");
    }
    start = end;
  }
  const Amount merges = c.leaves - 1;
  if (c.leaf_price > kMaxAmount / c.leaves) return Reject(Reason::kOverflow, "leaf_price");
  Amount escrow = c.leaf_price * c.leaves;
  if (merges > 0 && c.merge_price > (kMaxAmount - escrow) / merges) {
    return Reject(Reason::kOverflow, "merge_price");
  }
  escrow += c.merge_price * merges;
  if (accounts_[ah].available < escrow) return Reject(Reason::kInsufficientBalance, "leaf_price");

  const uint32_t th = trees_.Allocate();
  TreeState& t = trees_[th].state;
  t.id = next_tree_++;
  t.account = c.account;
  t.leaf_market = c.leaf_market;
  t.merge_market = c.leaves > 1 ? c.merge_market : c.leaf_market;
  t.leaves = c.leaves;
  t.leaf_price = c.leaf_price;
  t.merge_price = c.leaves > 1 ? c.merge_price : 0;
  t.placed_at = now_;
  t.deadline = c.deadline;
  t.priority = c.priority;
  t.min_reputation = c.min_reputation;
  t.leaf_selection = c.leaf_selection;
  t.leaf_share_bps = c.leaf_share_bps;
  t.reserve = t.merge_price * merges;
  t.nodes.assign(static_cast<size_t>(shape.nodes()), TreeNodeState{});
  const TreeId id = t.id;
  tree_ids_.Insert(id, th);
  subject_.tree = id;
  Accept();
  Transfer(ah, Bucket::kAvailable, ah, Bucket::kEscrowed, escrow, TransferReason::kEscrow);
  events_.back().tree = id;
  const Timestamp leaf_deadline =
      TreeShape::LevelDeadline(0, shape.levels(), now_, c.deadline, c.leaf_share_bps);
  for (int32_t i = 0; i < c.leaves; ++i) {
    MatchNewOrder(
        PlaceTreeNode(th, i, c.leaf_market, c.leaf_price, leaf_deadline, c.leaf_selection));
  }
}

uint32_t Engine::PlaceTreeNode(uint32_t tree, int32_t node, MarketId market, Amount max_price,
                               Timestamp deadline, Selection selection) {
  PlaceOrder p;
  p.account = trees_[tree].state.account;
  p.market = market;
  p.max_price = max_price;
  p.deadline = deadline;
  p.priority = trees_[tree].state.priority;
  p.min_reputation = trees_[tree].state.min_reputation;
  p.selection = selection;
  const TreeId tree_id = trees_[tree].state.id;
  const uint32_t oh = NewOrder(p);
  OrderRecord& o = orders_[oh];
  o.tree = tree_id;
  o.tree_node = node;
  trees_[tree].state.nodes[static_cast<size_t>(node)].order = o.id;
  Event& e = Emit(EventKind::kTreeNodePlaced);
  e.tree = tree_id;
  e.order = o.id;
  e.account = o.sequencer;
  e.market = market;
  e.amount = max_price;
  e.value = node;
  return oh;
}

void Engine::TreeNodeProven(TreeId tree, int32_t node, AccountId prover) {
  const uint32_t th = tree_ids_.Find(tree);
  if (th == kNil) return;  // the tree failed meanwhile: nothing more is built on it
  const TreeShape shape(trees_[th].state.leaves);
  for (;;) {
    std::vector<TreeNodeState>& nodes = trees_[th].state.nodes;
    nodes[static_cast<size_t>(node)].done = true;
    nodes[static_cast<size_t>(node)].prover = prover;
    Event& proven = Emit(EventKind::kTreeNodeProven);
    proven.tree = tree;
    proven.order = nodes[static_cast<size_t>(node)].order;
    proven.account = prover;
    proven.value = node;
    if (node == shape.root()) {
      Event& e = Emit(EventKind::kTreeCompleted);
      e.tree = tree;
      e.account = trees_[th].state.account;
      return EndTree(th);
    }
    const int32_t sibling = shape.Sibling(node);
    const int32_t parent = shape.Parent(node);
    if (sibling < 0) {  // an odd last node goes up unchanged, proven by the same prover
      node = parent;
      continue;
    }
    if (!nodes[static_cast<size_t>(sibling)].done) return;
    const size_t left = static_cast<size_t>(std::min(node, sibling));
    return PlaceMerge(th, parent, nodes[left].prover, nodes[left + 1].prover);
  }
}

void Engine::PlaceMerge(uint32_t tree, int32_t node, AccountId left, AccountId right) {
  const TreeShape shape(trees_[tree].state.leaves);
  TreeState& t = trees_[tree].state;
  t.reserve -= t.merge_price;  // the merge's escrow moves to its order
  const Timestamp deadline = TreeShape::LevelDeadline(shape.LevelOf(node), shape.levels(),
                                                      t.placed_at, t.deadline, t.leaf_share_bps);
  const uint32_t oh =
      PlaceTreeNode(tree, node, t.merge_market, t.merge_price, deadline, Selection::kBest);
  // One of the children's provers proves it (the seed's rule): those with an offer that fits
  // are the candidates, the pick is a draw weighted like every vrf pick, the other child's
  // prover is next in line. Neither fits: both are tried in turn, then the open market.
  OrderRecord& o = orders_[oh];
  o.selection = Selection::kDirect;
  o.exclusive_until = o.deadline;
  candidates_.clear();
  weights_.clear();
  for (AccountId p : {left, right}) {
    if (p == right && right == left) break;
    o.direct_prover = p;
    if (uint32_t fh = FindBestOffer(oh); fh != kNil) {
      candidates_.push_back(fh);
      weights_.push_back(CandidateWeight(offers_[fh]));
    }
  }
  AccountId first = left;
  // (A restored engine whose DrawSource no longer serves the market takes the left child's.)
  if (candidates_.size() == 2 && draws_ != nullptr && draws_->Serves(o.market)) {
    for (size_t i = 0; i < 2; ++i) EmitCandidate(o, offers_[candidates_[i]], weights_[i]);
    first = offers_[candidates_[WeightedPick(NextDraw(o), weights_)]].prover;
  } else if (candidates_.size() == 1) {
    first = offers_[candidates_[0]].prover;
  }
  o.direct_prover = first;
  const AccountId second = first == left ? right : left;
  o.takeover = second == first ? 0 : second;
  candidates_.clear();
  weights_.clear();
  MatchNewOrder(oh);
}

void Engine::AdvanceTakeover(uint32_t order) {
  OrderRecord& o = orders_[order];
  if (o.takeover != 0) {
    o.direct_prover = o.takeover;  // the sibling's prover takes over
    o.takeover = 0;
  } else {
    o.exclusive_ended = true;  // both tried: the open merge market
    o.exclusive_until = 0;
  }
  Event& e = Emit(EventKind::kMergeTakeover);
  e.tree = o.tree;
  e.order = o.id;
  e.account = o.exclusive_ended ? 0 : o.direct_prover;
  e.market = o.market;
  e.value = o.tree_node;
}

void Engine::TreeNodeClosed(uint32_t order, Reason reason) {
  const OrderRecord& o = orders_[order];
  if (o.tree == 0 || o.status == OrderStatus::kOpen || o.verified > 0) return;
  for (uint32_t h = o.assignments.head; h != kNil; h = assignments_[h].order_link.next) {
    if (assignments_[h].status == AssignmentStatus::kDelivered) return;  // its verdict decides
  }
  TreeNodeFailed(o, reason);
}

void Engine::TreeNodeFailed(const OrderRecord& node, Reason reason) {
  const uint32_t th = tree_ids_.Find(node.tree);
  if (th == kNil) return;  // already ended
  Event& e = Emit(EventKind::kTreeFailed);
  e.tree = node.tree;
  e.account = node.sequencer;
  e.order = node.id;
  e.reason = reason;
  // Its other placed nodes still open expire: what no work in flight holds is refunded now;
  // work in flight runs to its end and is paid if proven. Nothing new is placed.
  std::vector<OrderId> open;
  for (const TreeNodeState& n : trees_[th].state.nodes) {
    if (n.order != 0 && !n.done && n.order != node.id) open.push_back(n.order);
  }
  EndTree(th);
  for (OrderId id : open) {
    const uint32_t oh = order_ids_.Find(id);
    if (oh == kNil || orders_[oh].status != OrderStatus::kOpen) continue;
    ExpireOrder(oh);
    MaybeForgetOrder(oh);
  }
}

void Engine::EndTree(uint32_t tree) {
  TreeState& t = trees_[tree].state;
  if (t.reserve > 0) {
    const uint32_t ah = AccountHandle(t.account);
    Transfer(ah, Bucket::kEscrowed, ah, Bucket::kAvailable, t.reserve, TransferReason::kRefund);
    events_.back().tree = t.id;
    t.reserve = 0;
  }
  tree_ids_.Erase(t.id);
  trees_.Free(tree);
}

std::optional<TreeState> Engine::GetTree(TreeId id) const {
  const uint32_t th = tree_ids_.Find(id);
  if (th == kNil) return std::nullopt;
  return trees_[th].state;
}

}  // namespace proofbook::matching
