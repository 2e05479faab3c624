// TimerQueue: a binary min-heap of (time, kind, id) deadlines over a reserved vector.
//
// Entries are never removed early; the engine checks on pop whether the object still needs
// the timer (lazy deletion), which keeps cancel O(1). Ordering by (time, kind, id) makes a
// Tick that passes several deadlines process them in one deterministic order.
// Not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "matching/types.h"

namespace proofbook::matching {

// Processing order among timers with the same time: misses before the order's own deadline.
enum class TimerKind : uint8_t { kAssignmentDue, kOfferExpiry, kExclusiveEnd, kOrderDeadline };

struct Timer {
  Timestamp time = 0;  // fires on the first Tick with now > time
  TimerKind kind = TimerKind::kAssignmentDue;
  int64_t id = 0;

  bool operator<(const Timer& o) const {
    if (time != o.time) return time < o.time;
    if (kind != o.kind) return kind < o.kind;
    return id < o.id;
  }
};

class TimerQueue {
 public:
  void Reserve(size_t n) { heap_.reserve(n); }
  void Push(const Timer& t) {
    heap_.push_back(t);
    std::push_heap(heap_.begin(), heap_.end(), Later);
  }
  bool empty() const { return heap_.empty(); }
  const Timer& top() const { return heap_.front(); }
  void Pop() {
    std::pop_heap(heap_.begin(), heap_.end(), Later);
    heap_.pop_back();
  }
  size_t size() const { return heap_.size(); }
  void Clear() { heap_.clear(); }

 private:
  static bool Later(const Timer& a, const Timer& b) { return b < a; }
  std::vector<Timer> heap_;
};

}  // namespace proofbook::matching
