#include "server/core/client_order_index.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "server/base/crypto.h"

namespace proofbook::server {
namespace {

void AgreesWithAMap(ClientOrderIndex& index, int n) {
  std::mt19937_64 rng(3);
  std::map<std::pair<int64_t, std::string>, std::pair<int64_t, std::optional<Sha256Digest>>> ref;
  for (int i = 0; i < n; ++i) {
    const int64_t account = static_cast<int64_t>(rng() % 5);
    const std::string id = "c-" + std::to_string(rng() % static_cast<uint64_t>(n / 2 + 1));
    // Some pairs without a hash (orders placed before migration 0008 recorded one).
    const std::optional<Sha256Digest> sha =
        i % 7 == 0 ? std::nullopt : std::optional(Sha256(std::to_string(i)));
    index.Insert(account, id, i + 1, sha);  // a second use of a pair overwrites
    ref[{account, id}] = {i + 1, sha};
  }
  EXPECT_EQ(index.size(), ref.size());
  for (const auto& [key, value] : ref) {
    const ClientOrderIndex::Entry* e = index.Find(key.first, key.second);
    ASSERT_NE(e, nullptr) << key.first << ":" << key.second;
    EXPECT_EQ(e->order, value.first);
    EXPECT_EQ(e->request_sha256, value.second);
  }
  // The same client id under another account, or another id, is not found.
  EXPECT_EQ(index.Find(99, "c-1"), nullptr);
  EXPECT_EQ(index.Find(0, "c-nope"), nullptr);
  index.Clear();
  EXPECT_EQ(index.Find(ref.begin()->first.first, ref.begin()->first.second), nullptr);
  EXPECT_EQ(index.size(), 0u);
}

TEST(ClientOrderIndex, FindsTheLatestOrderOfEachPair) {
  ClientOrderIndex index;
  AgreesWithAMap(index, 100'000);  // grows through many table sizes
}

TEST(ClientOrderIndex, PairsWhoseHashesCollideAreKeptApart) {
  ClientOrderIndex index([](matching::AccountId, std::string_view) -> int64_t { return 7; });
  AgreesWithAMap(index, 600);
}

}  // namespace
}  // namespace proofbook::server
