// SpscRing<T>: bounded lock-free single-producer single-consumer queue (engine -> journal).
//
// Thread rules: exactly one thread calls try_push, exactly one (other) thread calls try_pop;
// capacity()/size_approx() from anywhere. try_push returns false when full: the caller decides
// (the engine stops taking commands, the front end answers 503) instead of growing without
// bound. Lock-free, wait-free per call, no allocation after construction.
// Invariants: 0 <= tail - head <= capacity; slots [head, tail) hold values. head_ and tail_
// sit on their own cache lines, each side caching the other's index to avoid sharing the line
// on every call (as rigtorp's SPSCQueue does).
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <memory>
#include <utility>

namespace proofbook::matching {

inline constexpr size_t kCacheLine = 64;

template <typename T>
class SpscRing {
 public:
  // capacity: a power of two >= 2.
  explicit SpscRing(size_t capacity)
      : mask_(capacity - 1), slots_(std::make_unique<T[]>(capacity)) {
    assert(capacity >= 2 && (capacity & (capacity - 1)) == 0);
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  [[nodiscard]] bool try_push(T&& value) { return Push(std::move(value)); }
  [[nodiscard]] bool try_push(const T& value) { return Push(value); }

  // Moves the oldest value into `out`; false when empty.
  [[nodiscard]] bool try_pop(T& out) {
    size_t head = head_.load(std::memory_order_relaxed);
    if (head == cached_tail_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head == cached_tail_) return false;
    }
    out = std::move(slots_[head & mask_]);
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  size_t capacity() const { return mask_ + 1; }
  size_t size_approx() const {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }

 private:
  template <typename U>
  bool Push(U&& value) {
    size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - cached_head_ > mask_) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (tail - cached_head_ > mask_) return false;  // full
    }
    slots_[tail & mask_] = std::forward<U>(value);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Constant after construction.
  const size_t mask_;
  const std::unique_ptr<T[]> slots_;
  // Consumer side.
  alignas(kCacheLine) std::atomic<size_t> head_{0};
  size_t cached_tail_ = 0;  // consumer's last view of tail_
  // Producer side.
  alignas(kCacheLine) std::atomic<size_t> tail_{0};
  size_t cached_head_ = 0;  // producer's last view of head_
  char pad_[kCacheLine - sizeof(std::atomic<size_t>) - sizeof(size_t)];  // keep neighbours off
};

}  // namespace proofbook::matching
