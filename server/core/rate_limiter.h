// RateLimiter: a token bucket per account. Each account may make `rate` requests a second on
// average and `burst` at once; beyond that Allow() is false and the request is answered 429
// with Retry-After. rate 0 turns limiting off. Time comes in as an argument so the rule can be
// tested without a clock. Thread-safe (one mutex; the critical section is a few adds).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace proofbook::server {

class RateLimiter {
 public:
  RateLimiter(int64_t rate_per_s, int64_t burst) : rate_(rate_per_s), burst_(burst) {}
  // `rate` requests per `period` (e.g. busy declines: a few a minute).
  RateLimiter(int64_t rate, int64_t burst, std::chrono::microseconds period)
      : rate_(rate), burst_(burst), period_us_(period.count()) {}

  bool Allow(int64_t account, std::chrono::steady_clock::time_point now);
  bool Allow(int64_t account) { return Allow(account, std::chrono::steady_clock::now()); }

 private:
  // Tokens are counted in millionths so a refill of less than one whole request still counts.
  static constexpr int64_t kScale = 1'000'000;
  struct Bucket {
    int64_t tokens = 0;  // in millionths
    std::chrono::steady_clock::time_point at;
  };

  const int64_t rate_;
  const int64_t burst_;
  const int64_t period_us_ = 1'000'000;
  std::mutex mu_;
  std::unordered_map<int64_t, Bucket> buckets_;  // bounded by the number of accounts
};

}  // namespace proofbook::server
