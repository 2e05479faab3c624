#include "clients/common/hex.h"

#include <gtest/gtest.h>

#include <string>

namespace proofbook::clients {
namespace {

TEST(Hex, EncodesEveryByteAsTwoLowerCaseDigits) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x0f\xa0\xff", 4)), "000fa0ff");
}

TEST(Hex, DecodesEitherCaseAndRefusesWhatIsNotHex) {
  EXPECT_EQ(HexDecode("000fA0ff"), (std::vector<uint8_t>{0x00, 0x0f, 0xa0, 0xff}));
  EXPECT_EQ(HexDecode(""), std::vector<uint8_t>{});
  EXPECT_FALSE(HexDecode("abc").has_value());  // odd length
  EXPECT_FALSE(HexDecode("zz").has_value());
  EXPECT_FALSE(HexDecode("0x").has_value());
}

TEST(Hex, Sha256HexMatchesTheStandardTestVectors) {
  // FIPS 180-2, appendix B.1, and the digest of nothing.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex(std::string(1 << 20, '\0')).size(), 64u);
}

}  // namespace
}  // namespace proofbook::clients
