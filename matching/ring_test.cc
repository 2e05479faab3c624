// SpscRing and MpscRing: full/empty semantics, FIFO, and concurrent producers/consumer
// (meant to run under ThreadSanitizer too: build/matching-tsan).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "matching/command.h"
#include "matching/mpsc_ring.h"
#include "matching/spsc_ring.h"

namespace proofbook::matching {
namespace {

template <typename Ring>
void ExpectBoundedFifo() {
  Ring ring(4);
  EXPECT_EQ(ring.capacity(), 4u);
  uint64_t v = 0;
  EXPECT_FALSE(ring.try_pop(v));
  for (uint64_t i = 1; i <= 4; ++i) EXPECT_TRUE(ring.try_push(uint64_t{i}));
  EXPECT_FALSE(ring.try_push(uint64_t{5}));  // full says so, never blocks
  for (uint64_t i = 1; i <= 4; ++i) {
    ASSERT_TRUE(ring.try_pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(ring.try_pop(v));
  // Wrap around many laps.
  for (uint64_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(ring.try_push(uint64_t{i}));
    ASSERT_TRUE(ring.try_pop(v));
    EXPECT_EQ(v, i);
  }
}

TEST(SpscRing, IsBoundedFifoAndTryPushReportsFull) { ExpectBoundedFifo<SpscRing<uint64_t>>(); }
TEST(MpscRing, IsBoundedFifoAndTryPushReportsFull) { ExpectBoundedFifo<MpscRing<uint64_t>>(); }

TEST(SpscRing, CarriesCommandsByValue) {
  SpscRing<Command> ring(8);
  ASSERT_TRUE(ring.try_push(Command{7, 99, Deposit{1, 5}}));
  Command out;
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out.ref, 7u);
  EXPECT_EQ(std::get<Deposit>(out.body).amount, 5);
}

TEST(SpscRing, ConcurrentProducerAndConsumerDeliverEverythingInOrder) {
  constexpr uint64_t kCount = 200'000;
  SpscRing<uint64_t> ring(64);
  std::thread producer([&] {
    for (uint64_t i = 0; i < kCount; ++i) {
      while (!ring.try_push(uint64_t{i})) std::this_thread::yield();
    }
  });
  uint64_t expected = 0, v = 0;
  while (expected < kCount) {
    if (ring.try_pop(v)) {
      ASSERT_EQ(v, expected);
      ++expected;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  EXPECT_FALSE(ring.try_pop(v));
}

TEST(MpscRing, ConcurrentProducersDeliverEverythingInPerProducerOrder) {
  constexpr int kProducers = 3;
  constexpr uint64_t kPerProducer = 100'000;
  MpscRing<uint64_t> ring(64);
  std::atomic<uint64_t> full_seen{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (uint64_t i = 0; i < kPerProducer; ++i) {
        uint64_t msg = (static_cast<uint64_t>(p) << 32) | i;
        while (!ring.try_push(uint64_t{msg})) {
          full_seen.fetch_add(1, std::memory_order_relaxed);
          std::this_thread::yield();
        }
      }
    });
  }
  std::vector<uint64_t> next(kProducers, 0);
  uint64_t received = 0, v = 0;
  while (received < kProducers * kPerProducer) {
    if (!ring.try_pop(v)) {
      std::this_thread::yield();
      continue;
    }
    int p = static_cast<int>(v >> 32);
    ASSERT_EQ(v & 0xffffffffu, next[p]) << "producer " << p << " out of order";
    ++next[p];
    ++received;
  }
  for (auto& t : producers) t.join();
  EXPECT_FALSE(ring.try_pop(v));
}

}  // namespace
}  // namespace proofbook::matching
