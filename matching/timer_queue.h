// TimerQueue: a binary min-heap of (time, kind, id) deadlines, in chunks that never move
// (matching/chunked_vector.h): a heap of millions of deadlines grows without a copy.
//
// Entries are never removed early; the engine checks on pop whether the object still needs
// the timer (lazy deletion), which keeps cancel O(1). Ordering by (time, kind, id) makes a
// Tick that passes several deadlines process them in one deterministic order.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "matching/chunked_vector.h"
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
    size_t i = heap_.size();
    heap_.emplace_back();
    while (i > 0) {  // sift up
      size_t parent = (i - 1) / 2;
      if (!(t < heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = t;
  }
  bool empty() const { return heap_.empty(); }
  const Timer& top() const { return heap_[0]; }
  void Pop() {
    const Timer last = heap_.back();
    heap_.pop_back();
    const size_t n = heap_.size();
    if (n == 0) return;
    size_t i = 0;
    for (;;) {  // sift the last element down from the root
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap_[child + 1] < heap_[child]) ++child;
      if (!(heap_[child] < last)) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = last;
  }
  size_t size() const { return heap_.size(); }
  void Clear() { heap_.clear(); }

 private:
  ChunkedVector<Timer> heap_;
};

}  // namespace proofbook::matching
