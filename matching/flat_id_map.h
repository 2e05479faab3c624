// FlatIdMap: int64 id -> uint32 handle, open addressing with linear probing and
// backward-shift deletion (no tombstones), power-of-two capacity, load <= 1/2.
//
// Growing is incremental: every Insert or Erase after a growth moves kMoveStep slots of the old
// table into the new one, so no single command pays for rehashing millions of ids (a stall of
// tens of milliseconds on the engine thread with a million open orders: loadtest/REPORT.md,
// issue #18). While it moves, Find looks in the new table, then the old one; an id is in exactly
// one of them. The old table takes no new ids: an id found there on Insert or Erase is marked
// moved (a tombstone, which keeps its probe runs intact) and, for Insert, written to the new
// table. Moving ends before the new table is a third full, so it never has to grow while moving.
//
// The new table is zeroed ahead of time, a slice per Insert, from 3/8 load on (kZeroStep): a
// table that was only calloc'd has its pages faulted in by the first few thousand random
// inserts after the growth, all at once, and on the VM loadtest/ runs on a page fault costs
// ~23 us, so the 128 MiB table of 2^23 slots was ~0.75 s of engine thread in a few seconds (the
// soak's 1.5-3 s stalls at 2^21 open orders, two such maps: loadtest/REPORT.md, session 21).
//
// O(1) expected find/insert/erase; allocates only when it grows past its high-water mark, so
// steady-state commands do not touch the heap. Keys must not be INT64_MIN or INT64_MIN + 1
// (the empty and moved markers). Not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "matching/object_pool.h"

namespace proofbook::matching {

class FlatIdMap {
 public:
  explicit FlatIdMap(size_t initial_capacity = 64) : table_(RoundUp(initial_capacity * 2)) {}
  // A copy is the same map; a half-zeroed next table is not copied (the copy zeroes its own).
  FlatIdMap(const FlatIdMap& o)
      : table_(o.table_), old_(o.old_), cursor_(o.cursor_), size_(o.size_) {}
  FlatIdMap& operator=(const FlatIdMap& o) {
    if (this != &o) *this = FlatIdMap(o);
    return *this;
  }
  FlatIdMap(FlatIdMap&&) noexcept = default;
  FlatIdMap& operator=(FlatIdMap&&) noexcept = default;

  // kNil when absent.
  uint32_t Find(int64_t key) const {
    const uint64_t k = Stored(key);
    uint32_t v = table_.Find(k);
    if (v == kNil && moving()) v = old_.Find(k);
    return v;
  }

  // Inserts or overwrites.
  void Insert(int64_t key, uint32_t value) {
    const uint64_t k = Stored(key);
    if (!moving()) {
      if ((size_ + 1) * 2 > table_.capacity()) {
        Grow();
      } else if (size_ * 8 >= table_.capacity() * 3) {
        ZeroSomeOfNext();
      }
    }
    if (moving()) {
      if (old_.MarkMoved(k)) --size_;  // written to the new table below
      MoveSome();
    }
    if (table_.Insert(k, value)) ++size_;
  }

  bool Erase(int64_t key) {
    const uint64_t k = Stored(key);
    const bool erased = table_.Erase(k) || (moving() && old_.MarkMoved(k));
    if (erased) --size_;
    if (moving()) MoveSome();
    return erased;
  }

  size_t size() const { return size_; }

 private:
  static constexpr size_t kMoveStep = 8;  // old slots moved per Insert / Erase while growing
  // Next-table slots zeroed per Insert from 3/8 load: the 2c slots need 16 an Insert over the
  // c/8 Inserts to 1/2 load; 32 finishes at 7/16, with room for Inserts that overwrite.
  static constexpr size_t kZeroStep = 32;
  // Stored keys: the id with its top bit flipped, so a zeroed table is an empty one.
  static constexpr uint64_t kEmpty = 0;  // INT64_MIN
  static constexpr uint64_t kMoved = 1;  // INT64_MIN + 1; only in a table being moved from
  static uint64_t Stored(int64_t key) { return static_cast<uint64_t>(key) ^ (uint64_t{1} << 63); }

  struct Entry {
    uint64_t key;
    uint32_t value;
  };

  class Table {
   public:
    Table() = default;
    // Zeroed (an empty table).
    explicit Table(size_t capacity) : Table(capacity, std::calloc(capacity, sizeof(Entry))) {}
    // Not zeroed: the caller zeroes it before any other use.
    static Table Uninitialised(size_t capacity) {
      Table t(capacity, std::malloc(capacity * sizeof(Entry)));
#ifndef NDEBUG
      // Debug builds fill it with keys, so a slot used before it is zeroed shows in the tests.
      std::memset(t.slots_.get(), 0xa5, capacity * sizeof(Entry));
#endif
      return t;
    }
    Table(const Table& o) : Table(o.capacity() == 0 ? Table() : Table(o.capacity())) {
      if (o.slots_) std::memcpy(slots_.get(), o.slots_.get(), o.capacity() * sizeof(Entry));
    }
    Table& operator=(const Table& o) {
      if (this != &o) *this = Table(o);
      return *this;
    }
    Table(Table&&) noexcept = default;
    Table& operator=(Table&&) noexcept = default;

    size_t capacity() const { return slots_ ? mask_ + 1 : 0; }
    Entry& slot(size_t i) { return slots_.get()[i]; }
    const Entry& slot(size_t i) const { return slots_.get()[i]; }

    // Probes past moved markers; stops at an empty slot.
    uint32_t Find(uint64_t k) const {
      for (size_t i = Home(k);; i = (i + 1) & mask_) {
        if (slot(i).key == k) return slot(i).value;
        if (slot(i).key == kEmpty) return kNil;
      }
    }
    // True when k was new. The table must have room (load <= 1/2 is the caller's).
    bool Insert(uint64_t k, uint32_t value) {
      for (size_t i = Home(k);; i = (i + 1) & mask_) {
        if (slot(i).key == k) {
          slot(i).value = value;
          return false;
        }
        if (slot(i).key == kEmpty) {
          slot(i) = {k, value};
          return true;
        }
      }
    }
    // Backward shift: pulls later members of the probe run into the hole. Not for a table that
    // holds moved markers.
    bool Erase(uint64_t k) {
      size_t i = Home(k);
      for (;; i = (i + 1) & mask_) {
        if (slot(i).key == k) break;
        if (slot(i).key == kEmpty) return false;
      }
      size_t hole = i;
      for (size_t j = (hole + 1) & mask_; slot(j).key != kEmpty; j = (j + 1) & mask_) {
        const size_t home = Home(slot(j).key);
        // Move j into the hole unless its home lies cyclically in (hole, j].
        const bool home_after_hole =
            hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!home_after_hole) {
          slot(hole) = slot(j);
          hole = j;
        }
      }
      slot(hole).key = kEmpty;
      return true;
    }
    // Marks k moved (a tombstone) if it is here.
    bool MarkMoved(uint64_t k) {
      for (size_t i = Home(k);; i = (i + 1) & mask_) {
        if (slot(i).key == k) {
          slot(i).key = kMoved;
          return true;
        }
        if (slot(i).key == kEmpty) return false;
      }
    }

   private:
    Table(size_t capacity, void* slots) : slots_(static_cast<Entry*>(slots)), mask_(capacity - 1) {
      if (!slots_) throw std::bad_alloc();
      for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    }
    // Fibonacci hashing: the top bits of key * 2^64/phi spread sequential ids evenly.
    size_t Home(uint64_t k) const {
      return static_cast<size_t>((k * 0x9e3779b97f4a7c15ULL) >> shift_);
    }
    struct Free {
      void operator()(Entry* p) const { std::free(p); }
    };
    std::unique_ptr<Entry, Free> slots_;
    size_t mask_ = 0;
    int shift_ = 64;  // 64 - log2(capacity)
  };

  static size_t RoundUp(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
  }

  bool moving() const { return old_.capacity() != 0; }
  // Zeroes the next kZeroStep slots of the next table (allocated on the first call).
  void ZeroSomeOfNext() {
    if (next_.capacity() == 0) {
      next_ = Table::Uninitialised(table_.capacity() * 2);
      zeroed_ = 0;
    }
    const size_t n = std::min(kZeroStep, next_.capacity() - zeroed_);
    std::memset(&next_.slot(zeroed_), 0, n * sizeof(Entry));
    zeroed_ += n;
  }
  // The table moves to old_ and the next one (zeroed by now, or made zeroed here) takes its place.
  void Grow() {
    old_ = std::move(table_);
    if (next_.capacity() == 0) {
      table_ = Table(old_.capacity() * 2);
    } else {
      std::memset(&next_.slot(zeroed_), 0, (next_.capacity() - zeroed_) * sizeof(Entry));
      table_ = std::move(next_);
      next_ = Table();
    }
    cursor_ = 0;
  }
  // Moves the next kMoveStep slots of the old table; frees it after its last.
  void MoveSome() {
    const size_t end =
        cursor_ + kMoveStep < old_.capacity() ? cursor_ + kMoveStep : old_.capacity();
    for (; cursor_ < end; ++cursor_) {
      Entry& e = old_.slot(cursor_);
      if (e.key != kEmpty && e.key != kMoved) {
        table_.Insert(e.key, e.value);
        e.key = kMoved;
      }
    }
    if (cursor_ == old_.capacity()) old_ = Table();
  }

  Table table_;
  Table old_;          // while growing: the table being moved from; else empty
  size_t cursor_ = 0;  // old slots below this are moved
  Table next_;         // from 3/8 load: the next table, zeroed below zeroed_; else empty
  size_t zeroed_ = 0;
  size_t size_ = 0;
};

}  // namespace proofbook::matching
