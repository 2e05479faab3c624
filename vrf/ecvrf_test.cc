#include "vrf/ecvrf.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <string>
#include <vector>

namespace proofbook::vrf {
namespace {

std::vector<uint8_t> Hex(std::string_view h) {
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

template <std::size_t N>
std::array<uint8_t, N> Fixed(std::string_view h) {
  std::vector<uint8_t> v = Hex(h);
  std::array<uint8_t, N> out{};
  EXPECT_EQ(v.size(), N);
  std::copy_n(v.begin(), std::min(N, v.size()), out.begin());
  return out;
}

// RFC 9381, Appendix B.3, Examples 16-18 (ECVRF-EDWARDS25519-SHA512-TAI), with the
// intermediate H the appendix prints.
struct Vector {
  const char* sk;
  const char* pk;
  const char* alpha;
  const char* h;
  const char* pi;
  const char* beta;
};
constexpr Vector kRfcVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318",
     "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f"
     "479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
     "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451a"
     "f026798e8f81cd2e333de5cdf4f3e140fdd8ae"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "5b659fc3d4e9263fd9a4ed1d022d75eaacc20df5e09f9ea937502396598dc551",
     "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c"
     "92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
     "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c"
     "70a848a0bef4553a41befc57663b56373a5031"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "bf4339376f5542811de615e3313d2b36f6f53c0acfebb482159711201192576a",
     "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f"
     "9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
     "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6"
     "373241578be7217ba85a2687f7a0310b2df19f"},
};

// The encodings of the eight points of small order, canonical and not (the list libsodium
// refuses in crypto_sign: ed25519_ref10.c, has_small_order), and y = p + 1 (identity, padded).
constexpr const char* kSmallOrderEncodings[] = {
    "0100000000000000000000000000000000000000000000000000000000000000",  // identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  // order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  // order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  // order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  // order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  // order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  // order 8
    "0100000000000000000000000000000000000000000000000000000000000080",  // x = 0, sign set
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  // x = 0, sign set
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p + 1
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  // y = p
};

class EcvrfTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(Init()); }

  static SecretKey Key(const Vector& v) { return SecretKey(Fixed<32>(v.sk)); }
  static std::vector<uint8_t> Alpha(const Vector& v) { return Hex(v.alpha); }
  static Proof ValidProof(const Vector& v) { return Fixed<kProofBytes>(v.pi); }
};

TEST_F(EcvrfTest, RfcVectorsProveToHashAndVerify) {
  for (const Vector& v : kRfcVectors) {
    SCOPED_TRACE(v.pk);
    SecretKey sk = Key(v);
    PublicKey pk = DerivePublicKey(sk);
    EXPECT_EQ(pk, Fixed<32>(v.pk));
    auto h = detail::EncodeToCurve(pk, Alpha(v));
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(*h, Fixed<32>(v.h));
    std::optional<Proof> pi = Prove(sk, Alpha(v));
    ASSERT_TRUE(pi.has_value());
    EXPECT_EQ(*pi, Fixed<kProofBytes>(v.pi));
    std::optional<Output> beta = ProofToHash(*pi);
    ASSERT_TRUE(beta.has_value());
    EXPECT_EQ(*beta, Fixed<kOutputBytes>(v.beta));
    Verified checked = Verify(pk, Alpha(v), *pi);
    EXPECT_TRUE(checked.ok()) << VerifyErrorName(checked.error);
    EXPECT_EQ(checked.beta, Fixed<kOutputBytes>(v.beta));
  }
}

TEST_F(EcvrfTest, ProveIsDeterministicAndRoundTripsForRandomKeys) {
  for (int i = 0; i < 50; ++i) {
    SecretKey sk = SecretKey::Generate();
    PublicKey pk = DerivePublicKey(sk);
    std::vector<uint8_t> alpha(static_cast<std::size_t>(i));
    if (!alpha.empty()) randombytes_buf(alpha.data(), alpha.size());
    std::optional<Proof> pi = Prove(sk, alpha);
    ASSERT_TRUE(pi.has_value());
    EXPECT_EQ(Prove(sk, alpha), pi);
    Verified checked = Verify(pk, alpha, *pi);
    ASSERT_TRUE(checked.ok()) << VerifyErrorName(checked.error);
    EXPECT_EQ(checked.beta, ProofToHash(*pi));
  }
}

TEST_F(EcvrfTest, EveryFlippedBitOfAProofIsRefused) {
  const Vector& v = kRfcVectors[2];
  PublicKey pk = Fixed<32>(v.pk);
  for (std::size_t byte = 0; byte < kProofBytes; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Proof bad = ValidProof(v);
      bad[byte] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE(Verify(pk, Alpha(v), bad).ok()) << "byte " << byte << " bit " << bit;
    }
  }
}

TEST_F(EcvrfTest, WrongKeyOrWrongAlphaIsAMismatch) {
  const Vector& v = kRfcVectors[1];
  PublicKey other = Fixed<32>(kRfcVectors[0].pk);
  EXPECT_EQ(Verify(other, Alpha(v), ValidProof(v)).error, VerifyError::kMismatch);
  std::vector<uint8_t> alpha = Alpha(v);
  alpha.push_back(0);
  EXPECT_EQ(Verify(Fixed<32>(v.pk), alpha, ValidProof(v)).error, VerifyError::kMismatch);
  EXPECT_EQ(Verify(Fixed<32>(v.pk), {}, ValidProof(v)).error, VerifyError::kMismatch);
}

TEST_F(EcvrfTest, SmallOrderAndNonCanonicalKeysAreRefused) {
  const Vector& v = kRfcVectors[0];
  for (const char* enc : kSmallOrderEncodings) {
    EXPECT_EQ(Verify(Fixed<32>(enc), Alpha(v), ValidProof(v)).error, VerifyError::kBadPublicKey)
        << enc;
  }
}

TEST_F(EcvrfTest, SmallOrderOrNonCanonicalGammaIsRefused) {
  const Vector& v = kRfcVectors[0];
  for (std::size_t i = 0; i < std::size(kSmallOrderEncodings); ++i) {
    Proof bad = ValidProof(v);
    std::array<uint8_t, 32> gamma = Fixed<32>(kSmallOrderEncodings[i]);
    std::copy(gamma.begin(), gamma.end(), bad.begin());
    Verified checked = Verify(Fixed<32>(v.pk), Alpha(v), bad);
    // A small-order Gamma decodes (the RFC asks no more of it) and fails the challenge; the
    // last four encodings do not decode at all.
    EXPECT_EQ(checked.error, i < 8 ? VerifyError::kMismatch : VerifyError::kBadGamma)
        << kSmallOrderEncodings[i];
    EXPECT_FALSE(detail::VerifyWithLibsodium(Fixed<32>(v.pk), Alpha(v), bad).ok());
  }
}

// A y whose x^2 is not a square: no point has it. Found by search, checked by libsodium.
std::array<uint8_t, 32> NotOnCurve() {
  for (uint8_t y = 2;; ++y) {
    std::array<uint8_t, 32> p{y};
    std::array<uint8_t, 32> sum{};
    if (crypto_core_ed25519_add(sum.data(), p.data(), p.data()) != 0) return p;
  }
}

TEST_F(EcvrfTest, PointsOffTheCurveAreRefused) {
  const Vector& v = kRfcVectors[0];
  std::array<uint8_t, 32> off = NotOnCurve();
  EXPECT_EQ(Verify(off, Alpha(v), ValidProof(v)).error, VerifyError::kBadPublicKey);
  Proof bad = ValidProof(v);
  std::copy(off.begin(), off.end(), bad.begin());
  EXPECT_EQ(Verify(Fixed<32>(v.pk), Alpha(v), bad).error, VerifyError::kBadGamma);
  EXPECT_FALSE(ProofToHash(bad).has_value());
}

// RFC 8032 decoding refuses y >= p and x = 0 with the sign bit set, so proof_to_hash does
// too, though libsodium's addition would decode them.
TEST_F(EcvrfTest, ProofToHashRefusesNonCanonicalGamma) {
  for (const char* enc : {kSmallOrderEncodings[8], kSmallOrderEncodings[9],
                          kSmallOrderEncodings[10], kSmallOrderEncodings[11]}) {
    Proof bad = ValidProof(kRfcVectors[0]);
    std::array<uint8_t, 32> gamma = Fixed<32>(enc);
    std::copy(gamma.begin(), gamma.end(), bad.begin());
    EXPECT_FALSE(ProofToHash(bad).has_value()) << enc;
  }
  EXPECT_TRUE(ProofToHash(ValidProof(kRfcVectors[0])).has_value());
}

// s + L encodes the same scalar mod L; the RFC requires s < L (malleability).
TEST_F(EcvrfTest, UnreducedScalarIsRefused) {
  const Vector& v = kRfcVectors[2];
  const std::array<uint8_t, 32> order =
      Fixed<32>("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  Proof bad = ValidProof(v);
  unsigned carry = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    unsigned sum = bad[48 + i] + order[i] + carry;
    bad[48 + i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);
  EXPECT_EQ(Verify(Fixed<32>(v.pk), Alpha(v), bad).error, VerifyError::kScalarNotReduced);
}

// A key with a torsion component (Y + T, T of order 8) is not of small order, so the RFC
// validates it; another key's proof still fails under it. The reference refuses the key itself.
TEST_F(EcvrfTest, KeyWithATorsionComponentDoesNotTakeAnotherKeysProof) {
  const Vector& v = kRfcVectors[0];
  std::array<uint8_t, 32> mixed{};
  std::array<uint8_t, 32> torsion = Fixed<32>(kSmallOrderEncodings[4]);
  ASSERT_EQ(crypto_core_ed25519_add(mixed.data(), Fixed<32>(v.pk).data(), torsion.data()), 0);
  EXPECT_EQ(Verify(mixed, Alpha(v), ValidProof(v)).error, VerifyError::kMismatch);
  EXPECT_EQ(detail::VerifyWithLibsodium(mixed, Alpha(v), ValidProof(v)).error,
            VerifyError::kBadPublicKey);
}

// The variable-time verifier against libsodium's: the same verdict and beta on honest proofs
// under random keys and inputs, and both refuse every proof with a random byte changed.
TEST_F(EcvrfTest, VariableTimeVerifyAgreesWithTheLibsodiumReference) {
  for (int i = 0; i < 200; ++i) {
    SecretKey sk = SecretKey::Generate();
    PublicKey pk = DerivePublicKey(sk);
    std::vector<uint8_t> alpha(1 + static_cast<std::size_t>(i % 70));
    randombytes_buf(alpha.data(), alpha.size());
    Proof pi = *Prove(sk, alpha);
    Verified fast = Verify(pk, alpha, pi);
    Verified reference = detail::VerifyWithLibsodium(pk, alpha, pi);
    ASSERT_TRUE(fast.ok()) << VerifyErrorName(fast.error);
    ASSERT_TRUE(reference.ok()) << VerifyErrorName(reference.error);
    EXPECT_EQ(fast.beta, reference.beta);
    Proof bad = pi;
    bad[randombytes_uniform(kProofBytes)] ^= static_cast<uint8_t>(1 + randombytes_uniform(255));
    EXPECT_FALSE(Verify(pk, alpha, bad).ok());
    EXPECT_FALSE(detail::VerifyWithLibsodium(pk, alpha, bad).ok());
  }
}

TEST_F(EcvrfTest, ErrorNamesAreStable) {
  EXPECT_STREQ(VerifyErrorName(VerifyError::kNone), "valid");
  EXPECT_STREQ(VerifyErrorName(VerifyError::kMismatch), "mismatch");
  EXPECT_STREQ(VerifyErrorName(VerifyError::kBadPublicKey), "bad_public_key");
}

}  // namespace
}  // namespace proofbook::vrf
