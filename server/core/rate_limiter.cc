#include "server/core/rate_limiter.h"

#include <algorithm>

namespace proofbook::server {

bool RateLimiter::Allow(int64_t account, std::chrono::steady_clock::time_point now) {
  if (rate_ <= 0) return true;
  std::lock_guard lock(mu_);
  auto [it, fresh] = buckets_.try_emplace(account, Bucket{burst_ * kScale, now});
  Bucket& b = it->second;
  if (!fresh && now > b.at) {
    int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(now - b.at).count();
    // rate_ tokens a period = rate_ * kScale millionths per period_us_ us.
    int64_t refill = us > burst_ * period_us_ / rate_
                         ? burst_ * kScale
                         : us * rate_ * (kScale / 1000) / (period_us_ / 1000);
    b.tokens = std::min(burst_ * kScale, b.tokens + refill);
    b.at = now;
  }
  if (b.tokens < kScale) return false;
  b.tokens -= kScale;
  return true;
}

}  // namespace proofbook::server
