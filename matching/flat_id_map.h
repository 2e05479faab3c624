// FlatIdMap: int64 id -> uint32 handle, open addressing with linear probing and
// backward-shift deletion (no tombstones), power-of-two capacity, load <= 1/2.
//
// O(1) expected find/insert/erase; allocates only when it grows past its high-water mark, so
// steady-state commands do not touch the heap. Keys must not be INT64_MIN (the empty marker).
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "matching/object_pool.h"

namespace proofbook::matching {

class FlatIdMap {
 public:
  explicit FlatIdMap(size_t initial_capacity = 64) { Rehash(RoundUp(initial_capacity * 2)); }

  // kNil when absent.
  uint32_t Find(int64_t key) const {
    for (size_t i = Slot(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return slots_[i].value;
      if (slots_[i].key == kEmpty) return kNil;
    }
  }

  // Inserts or overwrites.
  void Insert(int64_t key, uint32_t value) {
    if ((size_ + 1) * 2 > slots_.size()) Rehash(slots_.size() * 2);
    for (size_t i = Slot(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) {
        slots_[i].value = value;
        return;
      }
      if (slots_[i].key == kEmpty) {
        slots_[i] = {key, value};
        ++size_;
        return;
      }
    }
  }

  bool Erase(int64_t key) {
    size_t i = Slot(key);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) break;
      if (slots_[i].key == kEmpty) return false;
    }
    // Backward shift: pull later members of the probe run into the hole.
    size_t hole = i;
    for (size_t j = (hole + 1) & mask_; slots_[j].key != kEmpty; j = (j + 1) & mask_) {
      size_t home = Slot(slots_[j].key);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      bool home_after_hole = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!home_after_hole) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole].key = kEmpty;
    --size_;
    return true;
  }

  size_t size() const { return size_; }

 private:
  static constexpr int64_t kEmpty = std::numeric_limits<int64_t>::min();
  struct Entry {
    int64_t key = kEmpty;
    uint32_t value = kNil;
  };

  static size_t RoundUp(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
  }
  // Fibonacci hashing: the top bits of key * 2^64/phi spread sequential ids evenly.
  size_t Slot(int64_t key) const {
    uint64_t x = static_cast<uint64_t>(key) * 0x9e3779b97f4a7c15ULL;
    return static_cast<size_t>(x >> shift_);
  }
  void Rehash(size_t capacity) {
    std::vector<Entry> old = std::move(slots_);
    slots_.assign(capacity, Entry{});
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (const Entry& e : old) {
      if (e.key != kEmpty) Insert(e.key, e.value);
    }
  }

  std::vector<Entry> slots_;
  size_t mask_ = 0;
  int shift_ = 64;  // 64 - log2(capacity)
  size_t size_ = 0;
};

}  // namespace proofbook::matching
