#include "server/base/crypto.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace proofbook::server {
namespace {

// FIPS 180-2 appendix B and the empty message (NIST's SHA-256 examples).
TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A context reused for the next message carries nothing over.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Each thread keeps its own context: threads hashing different messages at once each get
// their own message's digest.
TEST(Sha256, ThreadsEachGetTheRightDigest) {
  const std::string long_message(1000, 'x');
  const std::string abc = Sha256Hex("abc"), long_digest = Sha256Hex(long_message);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const bool even = (i + t) % 2 == 0;
        if (Sha256Hex(even ? std::string("abc") : long_message) != (even ? abc : long_digest)) {
          ++wrong[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int w : wrong) EXPECT_EQ(w, 0);
}

TEST(HexDecode, EvenLengthHexOnly) {
  EXPECT_EQ(HexDecode("00ff7Fa0"), (std::vector<uint8_t>{0x00, 0xff, 0x7f, 0xa0}));
  EXPECT_EQ(HexDecode(""), std::vector<uint8_t>{});
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("0g").has_value());
  uint8_t out[2] = {};
  EXPECT_TRUE(HexDecodeInto("beef", out));
  EXPECT_EQ(out[0], 0xbe);
  EXPECT_EQ(out[1], 0xef);
  EXPECT_FALSE(HexDecodeInto("be-f", out));
}

}  // namespace
}  // namespace proofbook::server
