// RateLimiter: a token bucket per key (an account, a remote address). Each key may make `rate`
// requests a period (a second unless given) on average and `burst` at once; beyond that
// Allow() is false and the caller refuses (429 with Retry-After). rate 0 turns limiting off.
// Charge() spends a token without asking (a failed authentication, counted after the fact)
// and Empty() asks without spending, so a key may be refused before it is served at all.
//
// Time comes in as an argument so the rule can be tested without a clock. The number of keys
// is bounded by pruning: a bucket that has refilled to `burst` is the same as no bucket, so
// once the table holds `prune_at` keys such buckets are dropped (a flood from many addresses
// costs memory for the busy ones only). Thread-safe (one mutex; the critical section is a few
// adds).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace proofbook::server {

template <typename Key>
class BasicRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  BasicRateLimiter(int64_t rate_per_s, int64_t burst) : rate_(rate_per_s), burst_(burst) {}
  // `rate` requests per `period` (e.g. busy declines: a few a minute).
  BasicRateLimiter(int64_t rate, int64_t burst, std::chrono::microseconds period)
      : rate_(rate), burst_(burst), period_us_(period.count()) {}

  bool enabled() const { return rate_ > 0; }

  bool Allow(const Key& key, Clock::time_point now) {
    if (!enabled()) return true;
    std::lock_guard lock(mu_);
    Bucket& b = Refill(key, now);
    if (b.tokens < kScale) return false;
    b.tokens -= kScale;
    return true;
  }
  bool Allow(const Key& key) { return Allow(key, Clock::now()); }

  // Spends one token if there is one (never below zero).
  void Charge(const Key& key, Clock::time_point now) { Allow(key, now); }

  // True when the key has no whole token left: its next Allow would be refused. Asked on every
  // request (failed authentications by address), so while no key has a bucket it answers
  // without the mutex.
  bool Empty(const Key& key, Clock::time_point now) {
    if (!enabled() || bucket_count_.load(std::memory_order_relaxed) == 0) return false;
    std::lock_guard lock(mu_);
    auto it = buckets_.find(key);
    if (it == buckets_.end()) return false;
    return Bring(it->second, now).tokens < kScale;
  }

  std::size_t keys() const {
    std::lock_guard lock(mu_);
    return buckets_.size();
  }

 private:
  // Tokens are counted in millionths so a refill of less than one whole request still counts.
  static constexpr int64_t kScale = 1'000'000;
  static constexpr std::size_t kMinPruneAt = 4096;
  struct Bucket {
    int64_t tokens = 0;  // in millionths
    Clock::time_point at;
  };

  // The key's bucket brought up to `now` (created full).
  Bucket& Refill(const Key& key, Clock::time_point now) {
    if (buckets_.size() >= prune_at_ && buckets_.find(key) == buckets_.end()) Prune(now);
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_ * kScale, now});
    if (fresh) bucket_count_.store(buckets_.size(), std::memory_order_relaxed);
    return fresh ? it->second : Bring(it->second, now);
  }
  // `b` refilled for the time since it was last brought up to date.
  Bucket& Bring(Bucket& b, Clock::time_point now) {
    if (now > b.at) {
      b.tokens = std::min(burst_ * kScale, b.tokens + RefillFor(now - b.at));
      b.at = now;
    }
    return b;
  }

  int64_t RefillFor(Clock::duration elapsed) const {
    const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    // rate_ tokens a period = rate_ * kScale millionths per period_us_ us.
    return us > burst_ * period_us_ / rate_ ? burst_ * kScale
                                            : us * rate_ * (kScale / 1000) / (period_us_ / 1000);
  }

  void Prune(Clock::time_point now) {
    std::erase_if(buckets_, [&](const auto& entry) {
      const Bucket& b = entry.second;
      return b.tokens + RefillFor(now - b.at) >= burst_ * kScale;
    });
    prune_at_ = std::max(kMinPruneAt, 2 * buckets_.size());
    bucket_count_.store(buckets_.size(), std::memory_order_relaxed);
  }

  const int64_t rate_;
  const int64_t burst_;
  const int64_t period_us_ = 1'000'000;
  mutable std::mutex mu_;
  std::unordered_map<Key, Bucket> buckets_;
  std::size_t prune_at_ = kMinPruneAt;
  // buckets_.size(), written under mu_, read without it by Empty: a stale 0 only means a key
  // whose first bucket is being made right now is not yet refused, as if it came a moment later.
  std::atomic<std::size_t> bucket_count_{0};
};

// By account id.
using RateLimiter = BasicRateLimiter<int64_t>;
// By remote address (server/http: requests before authentication, failed authentications).
using AddressRateLimiter = BasicRateLimiter<std::string>;

}  // namespace proofbook::server
