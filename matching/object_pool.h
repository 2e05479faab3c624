// ObjectPool<T>: a free-list pool of T addressed by uint32 handles, plus intrusive
// doubly-linked lists threaded through T by member pointer.
//
// Handles stay valid until Free(). The storage grows a chunk at a time and never moves
// (matching/chunked_vector.h: no stall copying millions of records), but code still keeps
// handles, not references, across calls that can allocate. Once the pool has grown to the
// working-set size, Allocate/Free never touch the heap. Not thread-safe.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "matching/chunked_vector.h"

namespace proofbook::matching {

inline constexpr uint32_t kNil = 0xffffffffu;

struct Link {
  uint32_t prev = kNil;
  uint32_t next = kNil;
};

struct ListHead {
  uint32_t head = kNil;
  uint32_t tail = kNil;
  uint32_t size = 0;
};

template <typename T>
class ObjectPool {
 public:
  void Reserve(size_t n) {
    items_.reserve(n);
    live_.reserve(n);
    free_.reserve(n);
  }

  uint32_t Allocate() {
    uint32_t h;
    if (!free_.empty()) {
      h = free_.back();
      free_.pop_back();
      items_[h] = T{};
      live_[h] = 1;
    } else {
      h = static_cast<uint32_t>(items_.size());
      items_.emplace_back();
      live_.push_back(1);
    }
    ++live_count_;
    return h;
  }

  void Free(uint32_t h) {
    assert(live_[h]);
    live_[h] = 0;
    free_.push_back(h);
    --live_count_;
  }

  T& operator[](uint32_t h) { return items_[h]; }
  const T& operator[](uint32_t h) const { return items_[h]; }
  bool live(uint32_t h) const { return h < live_.size() && live_[h]; }
  size_t slots() const { return items_.size(); }  // handles are < slots()
  size_t size() const { return live_count_; }

 private:
  ChunkedVector<T> items_;
  ChunkedVector<uint8_t> live_;
  ChunkedVector<uint32_t> free_;
  size_t live_count_ = 0;
};

// Intrusive FIFO list operations; `L` names the Link member of T the list threads through.
template <typename T, Link T::*L>
void ListPushBack(ObjectPool<T>& pool, ListHead& list, uint32_t h) {
  Link& link = pool[h].*L;
  link.prev = list.tail;
  link.next = kNil;
  if (list.tail != kNil) {
    (pool[list.tail].*L).next = h;
  } else {
    list.head = h;
  }
  list.tail = h;
  ++list.size;
}

template <typename T, Link T::*L>
void ListRemove(ObjectPool<T>& pool, ListHead& list, uint32_t h) {
  Link& link = pool[h].*L;
  if (link.prev != kNil) {
    (pool[link.prev].*L).next = link.next;
  } else {
    list.head = link.next;
  }
  if (link.next != kNil) {
    (pool[link.next].*L).prev = link.prev;
  } else {
    list.tail = link.prev;
  }
  link = Link{};
  --list.size;
}

}  // namespace proofbook::matching
