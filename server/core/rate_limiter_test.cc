#include "server/core/rate_limiter.h"

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

}  // namespace
}  // namespace proofbook::server
