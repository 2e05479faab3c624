// OrderBook: one market's resting offers (asks) and resting orders (bids).
//
// Offers sit in levels keyed by (price, effective_ms). Each level holds an intrusive FIFO list
// of offers (arrival order) and is indexed twice, in two sorted vectors of level handles:
// by (price, effective_ms) for `price` priority and by (effective_ms, price) for `time`
// priority. Ranking within a level is by reputation (dynamic, so not a key) then arrival, found
// by scanning the level. A level keeps `open` (offers with capacity left) and `max_rep_bound`
// (>= the reputation of every open offer in it), so levels that cannot hold an eligible offer
// are skipped in O(1).
//
// Resting orders sit in one vector of order handles sorted by (max_price desc, deadline asc,
// id asc): an arriving offer takes the first eligible one.
//
// Complexity (L levels, n offers in a level, R resting orders):
//   insert/remove offer O(log L) + O(L) memmove only when a level is created/emptied;
//   capacity change O(1); best offer O(levels visited + offers scanned in the first level with
//   an eligible offer), worst case O(L + N) when every better offer is ineligible for reasons
//   the level bounds do not capture (prover already on the order, offer expired but not yet
//   ticked, stale reputation bound); best order O(R) worst case, O(1) typical.
// Invariants: an offer is in exactly one level while it rests; every level in the vectors is
// non-empty; `resting_` is sorted.
// Not thread-safe; owned by the engine thread. Records live in the engine's pools.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "matching/object_pool.h"
#include "matching/records.h"
#include "matching/state.h"
#include "matching/types.h"

namespace proofbook::matching {

class OrderBook {
 public:
  OrderBook(ObjectPool<OfferRecord>* offers, ObjectPool<OrderRecord>* orders);

  // Offers. `reputation` is the prover's current reputation.
  void InsertOffer(uint32_t offer, int32_t reputation);
  void RemoveOffer(uint32_t offer);
  // Call after capacity_left changed from `before`.
  void OnCapacityChanged(uint32_t offer, int32_t before, int32_t reputation);
  // The prover of `offer` gained reputation: keep its level's bound an upper bound.
  void RaiseReputationBound(uint32_t offer, int32_t reputation);

  // The best-ranked offer with capacity left, price <= max_price, effective_ms <= max_eff_ms,
  // reputation >= min_reputation and eligible(offer); kNil if none.
  // RepOf: int32_t(const OfferRecord&); Eligible: bool(uint32_t offer).
  template <typename RepOf, typename Eligible>
  uint32_t BestOffer(Priority priority, Amount max_price, int64_t max_eff_ms,
                     int32_t min_reputation, RepOf rep_of, Eligible eligible);

  // Visits eligible offers in rank order until visit(offer) returns false.
  template <typename RepOf, typename Eligible, typename Visit>
  void ForEachRanked(Priority priority, Amount max_price, int64_t max_eff_ms,
                     int32_t min_reputation, RepOf rep_of, Eligible eligible, Visit visit);

  // Resting orders.
  void InsertOrder(uint32_t order);
  void RemoveOrder(uint32_t order);
  // First resting order (max_price desc, deadline asc, id asc) with max_price >= price and
  // eligible(order); kNil if none.
  template <typename Eligible>
  uint32_t BestOrder(Amount price, Eligible eligible) const;

  MarketBook View() const;
  size_t level_count() const { return by_price_.size(); }
  size_t resting_orders() const { return resting_.size(); }

 private:
  struct Level {
    Amount price = 0;
    int64_t effective_ms = 0;
    ListHead offers;  // OfferRecord::level_link
    int32_t open = 0;
    int32_t max_rep_bound = 0;
  };

  bool PriceLess(uint32_t a, Amount price, int64_t eff) const {
    const Level& l = levels_[a];
    return l.price != price ? l.price < price : l.effective_ms < eff;
  }
  bool TimeLess(uint32_t a, Amount price, int64_t eff) const {
    const Level& l = levels_[a];
    return l.effective_ms != eff ? l.effective_ms < eff : l.price < price;
  }
  bool OrderBefore(const OrderRecord& a, const OrderRecord& b) const {
    if (a.max_price != b.max_price) return a.max_price > b.max_price;
    if (a.deadline != b.deadline) return a.deadline < b.deadline;
    return a.id < b.id;
  }
  bool SkipLevel(const Level& l, int32_t min_reputation) const {
    return l.open == 0 || l.max_rep_bound < min_reputation;
  }
  template <typename RepOf, typename Eligible>
  uint32_t ScanLevel(Level& level, int32_t min_reputation, RepOf& rep_of, Eligible& eligible);
  template <typename RepOf, typename Eligible, typename Visit>
  bool VisitLevel(Level& level, int32_t min_reputation, RepOf& rep_of, Eligible& eligible,
                  Visit& visit);

  ObjectPool<OfferRecord>* offers_;  // owned by the engine
  ObjectPool<OrderRecord>* orders_;  // owned by the engine
  ObjectPool<Level> levels_;
  std::vector<uint32_t> by_price_;  // level handles by (price, effective_ms)
  std::vector<uint32_t> by_time_;   // level handles by (effective_ms, price)
  std::vector<uint32_t> resting_;   // order handles, see OrderBefore
  std::vector<uint32_t> scratch_;   // ForEachRanked's per-level buffer, reused
};

template <typename RepOf, typename Eligible>
uint32_t OrderBook::ScanLevel(Level& level, int32_t min_reputation, RepOf& rep_of,
                              Eligible& eligible) {
  uint32_t best = kNil;
  int32_t best_rep = -1;
  int32_t seen_max = -1;
  bool full_scan = true;
  for (uint32_t h = level.offers.head; h != kNil;) {
    const OfferRecord& o = (*offers_)[h];
    uint32_t next = o.level_link.next;
    if (o.capacity_left > 0) {
      int32_t rep = rep_of(o);
      seen_max = std::max(seen_max, rep);
      // Ties keep the earlier arrival, so only a strictly better reputation can win.
      if (rep >= min_reputation && rep > best_rep && eligible(h)) {
        best = h;
        best_rep = rep;
        if (rep >= level.max_rep_bound) {
          full_scan = false;  // nothing later in the level can beat it
          break;
        }
      }
    }
    h = next;
  }
  if (full_scan && seen_max >= 0) level.max_rep_bound = seen_max;  // tighten to the exact max
  return best;
}

template <typename RepOf, typename Eligible>
uint32_t OrderBook::BestOffer(Priority priority, Amount max_price, int64_t max_eff_ms,
                              int32_t min_reputation, RepOf rep_of, Eligible eligible) {
  if (priority == Priority::kPrice) {
    for (uint32_t lh : by_price_) {
      Level& l = levels_[lh];
      if (l.price > max_price) break;
      if (l.effective_ms > max_eff_ms || SkipLevel(l, min_reputation)) continue;
      uint32_t h = ScanLevel(l, min_reputation, rep_of, eligible);
      if (h != kNil) return h;
    }
  } else {
    for (uint32_t lh : by_time_) {
      Level& l = levels_[lh];
      if (l.effective_ms > max_eff_ms) break;
      if (l.price > max_price || SkipLevel(l, min_reputation)) continue;
      uint32_t h = ScanLevel(l, min_reputation, rep_of, eligible);
      if (h != kNil) return h;
    }
  }
  return kNil;
}

template <typename RepOf, typename Eligible, typename Visit>
bool OrderBook::VisitLevel(Level& level, int32_t min_reputation, RepOf& rep_of, Eligible& eligible,
                           Visit& visit) {
  scratch_.clear();
  for (uint32_t h = level.offers.head; h != kNil; h = (*offers_)[h].level_link.next) {
    const OfferRecord& o = (*offers_)[h];
    if (o.capacity_left > 0 && rep_of(o) >= min_reputation && eligible(h)) scratch_.push_back(h);
  }
  // Stable insertion sort by reputation, higher first: levels are short.
  for (size_t i = 1; i < scratch_.size(); ++i) {
    uint32_t h = scratch_[i];
    int32_t rep = rep_of((*offers_)[h]);
    size_t j = i;
    while (j > 0 && rep_of((*offers_)[scratch_[j - 1]]) < rep) {
      scratch_[j] = scratch_[j - 1];
      --j;
    }
    scratch_[j] = h;
  }
  for (uint32_t h : scratch_) {
    if (!visit(h)) return false;
  }
  return true;
}

template <typename RepOf, typename Eligible, typename Visit>
void OrderBook::ForEachRanked(Priority priority, Amount max_price, int64_t max_eff_ms,
                              int32_t min_reputation, RepOf rep_of, Eligible eligible,
                              Visit visit) {
  if (priority == Priority::kPrice) {
    for (uint32_t lh : by_price_) {
      Level& l = levels_[lh];
      if (l.price > max_price) break;
      if (l.effective_ms > max_eff_ms || SkipLevel(l, min_reputation)) continue;
      if (!VisitLevel(l, min_reputation, rep_of, eligible, visit)) return;
    }
  } else {
    for (uint32_t lh : by_time_) {
      Level& l = levels_[lh];
      if (l.effective_ms > max_eff_ms) break;
      if (l.price > max_price || SkipLevel(l, min_reputation)) continue;
      if (!VisitLevel(l, min_reputation, rep_of, eligible, visit)) return;
    }
  }
}

template <typename Eligible>
uint32_t OrderBook::BestOrder(Amount price, Eligible eligible) const {
  for (uint32_t h : resting_) {
    if ((*orders_)[h].max_price < price) break;
    if (eligible(h)) return h;
  }
  return kNil;
}

}  // namespace proofbook::matching
