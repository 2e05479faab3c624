#include "server/core/api_keys.h"

#include <gtest/gtest.h>

namespace proofbook::server {
namespace {

TEST(ApiKeys, GeneratedKeysAreWellFormedAndDistinct) {
  std::string a = GenerateApiKey();
  std::string b = GenerateApiKey();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 4u + 64u);
  EXPECT_TRUE(HashApiKey(a).has_value());
}

TEST(ApiKeys, HashIsSha256OfTheKey) {
  std::string key = GenerateApiKey();
  auto hash = HashApiKey(key);
  ASSERT_TRUE(hash.has_value());
  EXPECT_EQ(*hash, Sha256(key));
}

TEST(ApiKeys, MalformedKeysAreUnauthenticated) {
  std::string key = GenerateApiKey();
  for (std::string bad : {std::string(""), std::string("pbk_"), key.substr(0, key.size() - 1),
                          key + "0", "xyz_" + key.substr(4), "pbk_" + std::string(64, 'G')}) {
    auto hash = HashApiKey(bad);
    ASSERT_FALSE(hash.has_value()) << bad;
    EXPECT_EQ(hash.error().code(), StatusCode::kUnauthenticated);
  }
}

TEST(ApiKeys, BearerTokenParsesScheme) {
  EXPECT_EQ(BearerToken("Bearer abc").value(), "abc");
  EXPECT_EQ(BearerToken("bearer abc").value(), "abc");
  EXPECT_FALSE(BearerToken("").has_value());
  EXPECT_FALSE(BearerToken("Basic abc").has_value());
  EXPECT_FALSE(BearerToken("Bearer ").has_value());
}

TEST(Crypto, Sha256OfKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace proofbook::server
