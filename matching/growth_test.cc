// The engine's containers that grow without copying (issue #18): ChunkedVector, the ObjectPool
// built on it, and TimerQueue's heap, against the standard library's.
#include <gtest/gtest.h>

#include <functional>
#include <queue>
#include <random>
#include <vector>

#include "matching/chunked_vector.h"
#include "matching/object_pool.h"
#include "matching/timer_queue.h"

namespace proofbook::matching {
namespace {

TEST(ChunkedVector, ElementsStayWhereTheyAreAsItGrows) {
  ChunkedVector<int64_t> v;
  v.emplace_back() = 42;
  const int64_t* first = &v[0];
  for (int64_t i = 1; i < 5 * static_cast<int64_t>(ChunkedVector<int64_t>::kChunk) + 3; ++i) {
    v.push_back(i * 3);
  }
  EXPECT_EQ(first, &v[0]);  // never moved
  EXPECT_EQ(v[0], 42);
  for (size_t i = 1; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<int64_t>(i) * 3);
  v.pop_back();
  EXPECT_EQ(v.back(), static_cast<int64_t>(v.size() - 1) * 3);
  EXPECT_EQ(v.emplace_back(), 0);  // a reused slot comes back value-initialised
  v.clear();
  EXPECT_TRUE(v.empty());
}

TEST(ObjectPool, HandlesAndValuesSurviveGrowthAndReuse) {
  struct Rec {
    int64_t id = 0;
    Link link;
  };
  ObjectPool<Rec> pool;
  std::vector<uint32_t> handles;
  for (int64_t i = 0; i < 20'000; ++i) {
    uint32_t h = pool.Allocate();
    pool[h].id = i;
    handles.push_back(h);
  }
  for (size_t i = 0; i < handles.size(); i += 2) pool.Free(handles[i]);
  EXPECT_EQ(pool.size(), 10'000u);
  for (size_t i = 1; i < handles.size(); i += 2) {
    ASSERT_TRUE(pool.live(handles[i]));
    ASSERT_EQ(pool[handles[i]].id, static_cast<int64_t>(i));
  }
  uint32_t again = pool.Allocate();  // a freed slot, reset
  EXPECT_FALSE(pool.live(handles[1] + 1'000'000));
  EXPECT_EQ(pool[again].id, 0);
  EXPECT_LT(again, 20'000u);
}

// The heap pops in the same (time, kind, id) order as std::priority_queue, duplicates too.
TEST(TimerQueue, PopsInTheSameOrderAsAPriorityQueue) {
  std::mt19937_64 rng(5);
  TimerQueue q;
  std::priority_queue<Timer, std::vector<Timer>, std::function<bool(const Timer&, const Timer&)>>
      ref([](const Timer& a, const Timer& b) { return b < a; });
  for (int i = 0; i < 60'000; ++i) {
    if (rng() % 3 != 0 || ref.empty()) {
      Timer t{static_cast<Timestamp>(rng() % 5'000), static_cast<TimerKind>(rng() % 4),
              static_cast<int64_t>(rng() % 1'000)};
      q.Push(t);
      ref.push(t);
    } else {
      ASSERT_FALSE(q.empty());
      const Timer& a = q.top();
      const Timer& b = ref.top();
      ASSERT_TRUE(!(a < b) && !(b < a)) << i;
      q.Pop();
      ref.pop();
    }
    ASSERT_EQ(q.size(), ref.size());
  }
  while (!ref.empty()) {
    ASSERT_TRUE(!(q.top() < ref.top()) && !(ref.top() < q.top()));
    q.Pop();
    ref.pop();
  }
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace proofbook::matching
