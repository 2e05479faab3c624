#include "server/base/rate_limiter.h"

#include <gtest/gtest.h>

namespace proofbook::server {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(RateLimiter, BurstThenRefusal) {
  RateLimiter limiter(10, 3);
  Clock::time_point t0{};
  EXPECT_TRUE(limiter.Allow(1, t0));
  EXPECT_TRUE(limiter.Allow(1, t0));
  EXPECT_TRUE(limiter.Allow(1, t0));
  EXPECT_FALSE(limiter.Allow(1, t0));
}

TEST(RateLimiter, RefillsAtTheRate) {
  RateLimiter limiter(10, 1);  // one request per 100 ms
  Clock::time_point t0{};
  EXPECT_TRUE(limiter.Allow(1, t0));
  EXPECT_FALSE(limiter.Allow(1, t0 + milliseconds(50)));
  EXPECT_TRUE(limiter.Allow(1, t0 + milliseconds(100)));
  EXPECT_FALSE(limiter.Allow(1, t0 + milliseconds(150)));
}

TEST(RateLimiter, RefillNeverExceedsBurst) {
  RateLimiter limiter(1000, 2);
  Clock::time_point t0{};
  EXPECT_TRUE(limiter.Allow(1, t0));
  auto later = t0 + std::chrono::hours(24 * 365);  // a year idle must not overflow
  EXPECT_TRUE(limiter.Allow(1, later));
  EXPECT_TRUE(limiter.Allow(1, later));
  EXPECT_FALSE(limiter.Allow(1, later));
}

TEST(RateLimiter, AccountsAreIndependent) {
  RateLimiter limiter(1, 1);
  Clock::time_point t0{};
  EXPECT_TRUE(limiter.Allow(1, t0));
  EXPECT_FALSE(limiter.Allow(1, t0));
  EXPECT_TRUE(limiter.Allow(2, t0));
}

TEST(RateLimiter, ZeroRateMeansUnlimited) {
  RateLimiter limiter(0, 0);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.Allow(1, Clock::time_point{}));
}

TEST(RateLimiter, ChargeAndEmptyCountFailuresAfterTheFact) {
  AddressRateLimiter failures(2, 2);  // two a second
  Clock::time_point t0{};
  EXPECT_FALSE(failures.Empty("10.0.0.1", t0));  // never seen: not empty
  failures.Charge("10.0.0.1", t0);
  EXPECT_FALSE(failures.Empty("10.0.0.1", t0));
  failures.Charge("10.0.0.1", t0);
  EXPECT_TRUE(failures.Empty("10.0.0.1", t0));
  failures.Charge("10.0.0.1", t0);  // never below zero
  EXPECT_FALSE(failures.Empty("10.0.0.1", t0 + milliseconds(500)));
  EXPECT_FALSE(failures.Empty("10.0.0.2", t0));
}

TEST(RateLimiter, EmptySeesFailuresAfterEveryBucketWasPruned) {
  AddressRateLimiter failures(10, 1);
  Clock::time_point t0{};
  // 4,096 keys that each refill 100 ms after their failure: the next new key prunes them all.
  for (int i = 0; i < 4096; ++i) failures.Charge("k" + std::to_string(i), t0);
  const Clock::time_point later = t0 + milliseconds(500);
  failures.Charge("late", later);
  EXPECT_EQ(failures.keys(), 1u);
  EXPECT_TRUE(failures.Empty("late", later));
  EXPECT_FALSE(failures.Empty("k1", later));
}

TEST(RateLimiter, FullBucketsArePrunedSoManyKeysCostNoMemory) {
  AddressRateLimiter limiter(10, 1);
  Clock::time_point t0{};
  for (int i = 0; i < 10000; ++i) {
    // Each key spends its one token; 100 ms later it has refilled and may be dropped.
    limiter.Allow("k" + std::to_string(i), t0 + milliseconds(200) * i);
  }
  EXPECT_LT(limiter.keys(), 4100u);
  // A key that is still empty is kept, and still refused.
  limiter.Allow("busy", t0 + milliseconds(200) * 10000);
  for (int i = 0; i < 5000; ++i)
    limiter.Allow("x" + std::to_string(i), t0 + milliseconds(200) * 10000);
  EXPECT_FALSE(limiter.Allow("busy", t0 + milliseconds(200) * 10000));
}

}  // namespace
}  // namespace proofbook::server
