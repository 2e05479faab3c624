// Histogram: latencies (or any non-negative int64) in HDR-like log buckets, for the load
// generator's reports. Fixed size; Record is O(1) and allocates nothing.
//
// Not thread-safe: one per thread, merged afterwards.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace proofbook::loadtest {

// Latency histogram with HDR-like log buckets: exact below 128 ns, then 64 sub-buckets per
// power of two, so any recorded value is reported within 1/64 (1.6 %) above its true value.
// Fixed size (~30 KiB), so a long run costs no more memory than a short one.
class Histogram {
 public:
  void Record(int64_t ns) {
    if (ns < 0) ns = 0;
    auto v = static_cast<uint64_t>(ns);
    ++counts_[Index(v)];
    ++total_;
    max_ = std::max(max_, v);
  }

  void Merge(const Histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }

  uint64_t total() const { return total_; }
  uint64_t max() const { return max_; }

  // The smallest bucket upper bound at or below which a fraction q of the values lie; the
  // exact maximum for q = 1.
  uint64_t Quantile(double q) const {
    if (total_ == 0) return 0;
    if (q >= 1) return max_;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min(UpperBound(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 7;  // 128 linear slots, then 64 per octave
  static constexpr uint64_t kLinear = uint64_t{1} << kSubBits;
  static constexpr uint64_t kHalf = kLinear / 2;
  static constexpr std::size_t kBuckets = kLinear + (64 - kSubBits) * kHalf;

  static std::size_t Index(uint64_t v) {
    if (v < kLinear) return static_cast<std::size_t>(v);
    int msb = 63 - std::countl_zero(v);  // >= kSubBits
    int shift = msb - (kSubBits - 1);    // >= 1
    uint64_t sub = v >> shift;           // in [kHalf, kLinear)
    return static_cast<std::size_t>(kLinear + (shift - 1) * kHalf + (sub - kHalf));
  }

  static uint64_t UpperBound(std::size_t index) {
    if (index < kLinear) return index;
    std::size_t k = index - kLinear;
    int shift = static_cast<int>(k / kHalf) + 1;
    uint64_t sub = kHalf + k % kHalf;
    return ((sub + 1) << shift) - 1;
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

// Nanoseconds as milliseconds, for reports.
inline double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace proofbook::loadtest
