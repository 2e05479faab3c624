#include "server/core/order_watch.h"

#include <vector>

namespace proofbook::server {

OrderWatch::OrderWatch(std::size_t limit) : limit_(limit), timer_([this] { TimerLoop(); }) {}

OrderWatch::~OrderWatch() { Stop(); }

void OrderWatch::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

bool OrderWatch::Watch(int64_t order, Clock::time_point deadline, Callback fire) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || waiters_.size() >= limit_) return false;
    uint64_t id = next_id_++;
    waiters_.emplace(id, Waiter{order, std::move(fire)});
    by_order_.emplace(order, id);
    by_deadline_.emplace(deadline, id);
  }
  cv_.notify_one();  // the new deadline may be the earliest
  return true;
}

void OrderWatch::Notify(std::span<const int64_t> orders) {
  std::vector<Callback> due;
  {
    std::lock_guard lock(mu_);
    for (int64_t order : orders) {
      auto [first, last] = by_order_.equal_range(order);
      for (auto it = first; it != last; ++it) {
        auto w = waiters_.find(it->second);
        if (w == waiters_.end()) continue;
        due.push_back(std::move(w->second.fire));
        waiters_.erase(w);  // its by_deadline_ entry is skipped when it comes up
      }
      by_order_.erase(first, last);
    }
  }
  for (auto& fire : due) fire();
}

void OrderWatch::TimerLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) break;
    if (by_deadline_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto next = by_deadline_.begin()->first;
    if (Clock::now() < next) {
      cv_.wait_until(lock, next);
      continue;
    }
    std::vector<Callback> due;
    auto now = Clock::now();
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
      uint64_t id = by_deadline_.begin()->second;
      by_deadline_.erase(by_deadline_.begin());
      auto w = waiters_.find(id);
      if (w == waiters_.end()) continue;  // already notified
      auto [first, last] = by_order_.equal_range(w->second.order);
      for (auto it = first; it != last; ++it) {
        if (it->second == id) {
          by_order_.erase(it);
          break;
        }
      }
      due.push_back(std::move(w->second.fire));
      waiters_.erase(w);
    }
    lock.unlock();
    for (auto& fire : due) fire();
    lock.lock();
  }
  // Stopping: answer everyone still waiting rather than leaving them hanging.
  std::vector<Callback> rest;
  for (auto& [id, w] : waiters_) rest.push_back(std::move(w.fire));
  waiters_.clear();
  by_order_.clear();
  by_deadline_.clear();
  lock.unlock();
  for (auto& fire : rest) fire();
}

}  // namespace proofbook::server
