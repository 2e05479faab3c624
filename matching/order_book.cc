#include "matching/order_book.h"

#include <cassert>

namespace proofbook::matching {

OrderBook::OrderBook(ObjectPool<OfferRecord>* offers, ObjectPool<OrderRecord>* orders)
    : offers_(offers), orders_(orders) {
  levels_.Reserve(64);
  by_price_.reserve(64);
  by_time_.reserve(64);
  resting_.reserve(64);
  scratch_.reserve(64);
}

void OrderBook::InsertOffer(uint32_t offer, int32_t reputation) {
  OfferRecord& o = (*offers_)[offer];
  auto pit = std::lower_bound(by_price_.begin(), by_price_.end(), 0, [&](uint32_t lh, int) {
    return PriceLess(lh, o.price, o.effective_ms);
  });
  uint32_t lh;
  if (pit != by_price_.end() && levels_[*pit].price == o.price &&
      levels_[*pit].effective_ms == o.effective_ms) {
    lh = *pit;
  } else {
    lh = levels_.Allocate();
    levels_[lh].price = o.price;
    levels_[lh].effective_ms = o.effective_ms;
    by_price_.insert(pit, lh);
    auto tit = std::lower_bound(by_time_.begin(), by_time_.end(), 0, [&](uint32_t x, int) {
      return TimeLess(x, o.price, o.effective_ms);
    });
    by_time_.insert(tit, lh);
  }
  Level& l = levels_[lh];
  o.level = lh;
  ListPushBack<OfferRecord, &OfferRecord::level_link>(*offers_, l.offers, offer);
  if (o.capacity_left > 0) {
    ++l.open;
    l.max_rep_bound = std::max(l.max_rep_bound, reputation);
  }
}

void OrderBook::RemoveOffer(uint32_t offer) {
  OfferRecord& o = (*offers_)[offer];
  uint32_t lh = o.level;
  Level& l = levels_[lh];
  if (o.capacity_left > 0) --l.open;
  ListRemove<OfferRecord, &OfferRecord::level_link>(*offers_, l.offers, offer);
  o.level = kNil;
  if (l.offers.size > 0) return;
  Amount price = l.price;
  int64_t eff = l.effective_ms;
  auto pit = std::lower_bound(by_price_.begin(), by_price_.end(), 0,
                              [&](uint32_t x, int) { return PriceLess(x, price, eff); });
  assert(pit != by_price_.end() && *pit == lh);
  by_price_.erase(pit);
  auto tit = std::lower_bound(by_time_.begin(), by_time_.end(), 0,
                              [&](uint32_t x, int) { return TimeLess(x, price, eff); });
  assert(tit != by_time_.end() && *tit == lh);
  by_time_.erase(tit);
  levels_.Free(lh);
}

void OrderBook::OnCapacityChanged(uint32_t offer, int32_t before, int32_t reputation) {
  const OfferRecord& o = (*offers_)[offer];
  if (o.level == kNil) return;
  Level& l = levels_[o.level];
  bool was_open = before > 0;
  bool is_open = o.capacity_left > 0;
  if (was_open == is_open) return;
  if (is_open) {
    ++l.open;
    l.max_rep_bound = std::max(l.max_rep_bound, reputation);
  } else {
    --l.open;
  }
}

void OrderBook::RaiseReputationBound(uint32_t offer, int32_t reputation) {
  const OfferRecord& o = (*offers_)[offer];
  if (o.level == kNil) return;
  Level& l = levels_[o.level];
  l.max_rep_bound = std::max(l.max_rep_bound, reputation);
}

void OrderBook::InsertOrder(uint32_t order) {
  const OrderRecord& o = (*orders_)[order];
  auto it = std::lower_bound(resting_.begin(), resting_.end(), 0,
                             [&](uint32_t x, int) { return OrderBefore((*orders_)[x], o); });
  resting_.insert(it, order);
}

void OrderBook::RemoveOrder(uint32_t order) {
  const OrderRecord& o = (*orders_)[order];
  auto it = std::lower_bound(resting_.begin(), resting_.end(), 0,
                             [&](uint32_t x, int) { return OrderBefore((*orders_)[x], o); });
  assert(it != resting_.end() && *it == order);
  resting_.erase(it);
}

MarketBook OrderBook::View() const {
  MarketBook book;
  for (uint32_t lh : by_price_) {
    const Level& l = levels_[lh];
    if (book.asks.empty() || book.asks.back().price != l.price) {
      book.asks.push_back({l.price, 0, 0});
    }
    for (uint32_t h = l.offers.head; h != kNil; h = (*offers_)[h].level_link.next) {
      ++book.asks.back().offers;
      book.asks.back().capacity_left += (*offers_)[h].capacity_left;
    }
  }
  for (uint32_t h : resting_) {
    const OrderRecord& o = (*orders_)[h];
    if (book.bids.empty() || book.bids.back().max_price != o.max_price) {
      book.bids.push_back({o.max_price, 0, 0});
    }
    ++book.bids.back().orders;
    book.bids.back().slots += o.needed;
  }
  return book;
}

}  // namespace proofbook::matching
