#include "vrf/draw_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace proofbook::vrf {
namespace {

std::string Hex(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t x : b) {
    out += kDigits[x >> 4];
    out += kDigits[x & 15];
  }
  return out;
}

// Known answers computed outside this code (Python's hashlib), pinning the published format.
TEST(DrawProtocol, EpochSeedIsTheTaggedHashOfEpochAndBeacon) {
  const std::string beacon = "beacon";
  EXPECT_EQ(
      Hex(SeedForEpoch(12345, {reinterpret_cast<const uint8_t*>(beacon.data()), beacon.size()})),
      "4423a58c504bfb7ffb6c44ee3d23f9e7db9b82c6b201674c8826e44e4b3eaf4d");
  EXPECT_EQ(Hex(SeedForEpoch(0, {})),
            "3820220f23c5b061a782c130ccb268387545161f07980a31f7de4cb76e9cafb5");
}

TEST(DrawProtocol, AlphaLaysOutTagMarketSeedOrderAttempt) {
  EpochSeed seed{};
  seed[0] = 0xaa;
  seed[31] = 0xbb;
  std::vector<uint8_t> alpha = DrawAlpha(0x01020304, seed, 0x0a0b0c0d0e0f1011ULL, 7);
  const std::string tag = "proofbook/vrf/draw/v1";
  ASSERT_EQ(alpha.size(), tag.size() + 4 + 32 + 8 + 4);
  EXPECT_EQ(std::string(alpha.begin(), alpha.begin() + static_cast<long>(tag.size())), tag);
  EXPECT_EQ(Hex({alpha.data() + tag.size(), 4}), "01020304");
  EXPECT_EQ(alpha[tag.size() + 4], 0xaa);
  EXPECT_EQ(alpha[tag.size() + 35], 0xbb);
  EXPECT_EQ(Hex({alpha.data() + tag.size() + 36, 8}), "0a0b0c0d0e0f1011");
  EXPECT_EQ(Hex({alpha.data() + tag.size() + 44, 4}), "00000007");
}

TEST(DrawProtocol, WordIsTheFirstEightBytesBigEndian) {
  std::array<uint8_t, 64> beta{};
  for (int i = 0; i < 64; ++i) beta[i] = static_cast<uint8_t>(i + 1);
  EXPECT_EQ(DrawWord(beta), 0x0102030405060708ULL);
}

TEST(DrawProtocol, EpochsAreHoursOfTheEngineClock) {
  EXPECT_EQ(EpochOf(0), 0);
  EXPECT_EQ(EpochOf(kEpochMs - 1), 0);
  EXPECT_EQ(EpochOf(kEpochMs), 1);
  EXPECT_EQ(EpochOf(1'764'460'800'000), 1'764'460'800'000 / 3'600'000);
}

}  // namespace
}  // namespace proofbook::vrf
