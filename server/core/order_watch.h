// OrderWatch: long polls on orders. A request waiting for an order to become final registers a
// callback with a deadline; the journal thread calls Notify() with the orders a commit made
// final, and the watch's own timer thread fires whatever reached its deadline. Each callback
// fires exactly once, on one of those two threads, and must not block (it hands off to the
// database pool). Bounded: at most `limit` waiters; Watch() refuses beyond (the caller answers
// at once instead of waiting). Thread-safe.
//
// Keys: an order's id; a proof tree's is TreeWatchKey(id), its id negated (ids are > 0), so
// GET /v1/trees/{id}?wait_ms shares the watch and its timer thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_map>

namespace proofbook::server {

inline int64_t TreeWatchKey(int64_t tree) { return -tree; }

class OrderWatch {
 public:
  using Clock = std::chrono::steady_clock;
  using Callback = std::function<void()>;

  explicit OrderWatch(std::size_t limit = 10000);
  ~OrderWatch();  // Stop()s
  void Stop();    // fires every pending callback, then joins; idempotent
  OrderWatch(const OrderWatch&) = delete;
  OrderWatch& operator=(const OrderWatch&) = delete;

  // Calls `fire` when `order` is notified or at `deadline`, whichever is first. False (and
  // `fire` dropped) when too many are waiting.
  [[nodiscard]] bool Watch(int64_t order, Clock::time_point deadline, Callback fire);
  void Notify(std::span<const int64_t> orders);

 private:
  struct Waiter {
    int64_t order;
    Callback fire;
  };
  void TimerLoop();

  const std::size_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t next_id_ = 0;
  std::multimap<Clock::time_point, uint64_t> by_deadline_;  // guarded by mu_
  std::unordered_map<uint64_t, Waiter> waiters_;            // guarded by mu_
  std::unordered_multimap<int64_t, uint64_t> by_order_;     // guarded by mu_
  std::thread timer_;
};

}  // namespace proofbook::server
