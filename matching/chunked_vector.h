// ChunkedVector<T>: a growable array in fixed-size chunks that never move.
//
// std::vector doubles by copying every element: with millions of open orders that copy is one
// stall of tens of milliseconds on the engine thread, which every order queued behind it pays
// (loadtest/REPORT.md, issue #18). Here growing adds one chunk of kChunk elements; nothing is
// copied, and references stay valid until the element is popped. Indexing is a shift and a
// mask. Elements are value-initialised when their chunk is made; pop_back does not destroy.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace proofbook::matching {

template <typename T>
class ChunkedVector {
 public:
  static constexpr size_t kChunkBits = 12;
  static constexpr size_t kChunk = size_t{1} << kChunkBits;  // elements a chunk

  T& operator[](size_t i) { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  const T& operator[](size_t i) const { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  T& back() { return (*this)[size_ - 1]; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Appends a value-initialised element (or the one a pop left there, reset) and returns it.
  T& emplace_back() {
    if (size_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<T[]>(kChunk));
    T& slot = (*this)[size_++];
    slot = T{};
    return slot;
  }
  void push_back(const T& v) { emplace_back() = v; }
  void pop_back() { --size_; }
  void clear() { size_ = 0; }  // keeps the chunks

  // Room in the chunk index for n elements. The chunks themselves are made as elements come
  // (one allocation per kChunk of them), so memory that is reserved but never used is never
  // touched (a made chunk is written whole: its elements are value-initialised).
  void reserve(size_t n) { chunks_.reserve((n + kChunk - 1) / kChunk); }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;  // one pointer per kChunk elements: small to copy
  size_t size_ = 0;
};

}  // namespace proofbook::matching
