// MpscRing<T>: bounded lock-free multi-producer single-consumer queue (front ends -> engine).
//
// Dmitry Vyukov's bounded MPMC queue: each cell carries a sequence number saying whose turn
// it is, producers claim a position with one CAS, and the single consumer needs no CAS.
// Thread rules: any number of threads call try_push; exactly one thread calls try_pop.
// try_push returns false when full (answer 503 + Retry-After) — it never blocks or grows.
// Lock-free (a producer stalled between claiming and publishing a cell delays the consumer at
// that cell only); no allocation after construction.
// Invariants: cell i holds a value for position p iff its sequence is p + 1; it is free for
// position p iff its sequence is p. Each cell is cache-line aligned so producers writing
// neighbouring cells do not share a line.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "matching/spsc_ring.h"  // kCacheLine

namespace proofbook::matching {

template <typename T>
class MpscRing {
 public:
  // capacity: a power of two >= 2.
  explicit MpscRing(size_t capacity)
      : mask_(capacity - 1), cells_(std::make_unique<Cell[]>(capacity)) {
    assert(capacity >= 2 && (capacity & (capacity - 1)) == 0);
    for (size_t i = 0; i < capacity; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }
  MpscRing(const MpscRing&) = delete;
  MpscRing& operator=(const MpscRing&) = delete;

  [[nodiscard]] bool try_push(T&& value) { return Push(std::move(value)); }
  [[nodiscard]] bool try_push(const T& value) { return Push(value); }

  // Consumer only. Moves the oldest published value into `out`; false when empty.
  [[nodiscard]] bool try_pop(T& out) {
    Cell& cell = cells_[dequeue_pos_ & mask_];
    size_t seq = cell.seq.load(std::memory_order_acquire);
    if (seq != dequeue_pos_ + 1) return false;  // empty, or the producer is mid-write
    out = std::move(cell.value);
    cell.seq.store(dequeue_pos_ + mask_ + 1, std::memory_order_release);
    ++dequeue_pos_;
    return true;
  }

  // Consumer only: true when nothing is ready to pop (a producer mid-write counts as empty).
  bool empty() const {
    return cells_[dequeue_pos_ & mask_].seq.load(std::memory_order_acquire) != dequeue_pos_ + 1;
  }

  size_t capacity() const { return mask_ + 1; }

 private:
  struct alignas(kCacheLine) Cell {
    std::atomic<size_t> seq{0};
    T value{};
  };

  template <typename U>
  bool Push(U&& value) {
    size_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    Cell* cell;
    for (;;) {
      cell = &cells_[pos & mask_];
      size_t seq = cell->seq.load(std::memory_order_acquire);
      intptr_t diff = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
      if (diff == 0) {
        if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (diff < 0) {
        return false;  // full: the cell still holds the value from one lap ago
      } else {
        pos = enqueue_pos_.load(std::memory_order_relaxed);
      }
    }
    cell->value = std::forward<U>(value);
    cell->seq.store(pos + 1, std::memory_order_release);
    return true;
  }

  // Constant after construction.
  const size_t mask_;
  const std::unique_ptr<Cell[]> cells_;
  alignas(kCacheLine) std::atomic<size_t> enqueue_pos_{0};  // shared by producers
  alignas(kCacheLine) size_t dequeue_pos_ = 0;              // consumer only
  char pad_[kCacheLine - sizeof(size_t)];
};

}  // namespace proofbook::matching
