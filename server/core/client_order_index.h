// ClientOrderIndex: (sequencer account, client_order_id) -> the order placed with it and its
// request's SHA-256, for PlaceOrder's idempotency (server/core/engine_runner.h). One entry per
// order placed with a client id, on the engine thread.
//
// Built from the engine's own growth-friendly parts (matching/flat_id_map.h,
// matching/chunked_vector.h): a 64-bit hash of the pair maps to the first entry with that hash,
// entries with the same hash chain through `next`. It used to be a std::unordered_map keyed by
// "account:client id" strings, whose every growth rehashed all entries at once: at millions of
// orders, one stall of hundreds of milliseconds on the engine thread (loadtest/REPORT.md,
// issue #18). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "matching/chunked_vector.h"
#include "matching/flat_id_map.h"
#include "matching/types.h"
#include "server/base/crypto.h"

namespace proofbook::server {

class ClientOrderIndex {
 public:
  using HashFn = int64_t (*)(matching::AccountId, std::string_view);
  // `hash` is for tests (a constant one makes every pair collide); never INT64_MIN(+1).
  explicit ClientOrderIndex(HashFn hash = &Hash) : hash_(hash) {}

  struct Entry {
    matching::AccountId account = 0;
    std::string client_id;
    matching::OrderId order = 0;
    // none: not recorded (placed before migration 0008)
    std::optional<Sha256Digest> request_sha256;
    uint32_t next = 0;  // 1 + index of the next entry with the same hash; 0: none
  };

  // Null when the pair was never recorded.
  const Entry* Find(matching::AccountId account, std::string_view client_id) const;
  // Records the pair (overwrites an earlier record of it).
  void Insert(matching::AccountId account, std::string_view client_id, matching::OrderId order,
              const std::optional<Sha256Digest>& request_sha256);
  void Clear();
  // Sizes an empty index for n entries (recovery knows how many it loads).
  void Reserve(size_t n);
  size_t size() const { return entries_.size(); }

 private:
  static int64_t Hash(matching::AccountId account, std::string_view client_id);
  Entry* FindMutable(int64_t hash, matching::AccountId account, std::string_view client_id);

  HashFn hash_;
  matching::FlatIdMap heads_;  // hash -> index of its newest entry
  matching::ChunkedVector<Entry> entries_;
};

}  // namespace proofbook::server
