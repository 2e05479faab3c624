// RFC 9381 section numbers in the comments refer to ECVRF-EDWARDS25519-SHA512-TAI's steps.
#include "vrf/ecvrf.h"

#include <sodium.h>

#include <cstring>

#include "vrf/edwards25519_vartime.h"

namespace proofbook::vrf {
namespace {

using Point = std::array<uint8_t, 32>;
using Scalar = std::array<uint8_t, 32>;

constexpr uint8_t kSuite = 0x03;  // ECVRF-EDWARDS25519-SHA512-TAI
constexpr uint8_t kEncodeToCurveFront = 0x01;
constexpr uint8_t kChallengeFront = 0x02;
constexpr uint8_t kProofToHashFront = 0x03;
constexpr uint8_t kBack = 0x00;
constexpr std::size_t kChallengeBytes = 16;  // cLen
constexpr int kCofactorDoublings = 3;        // cofactor 8

// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
constexpr Scalar kOrder = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                           0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};
constexpr Point kIdentity = {1};

// Wipes a secret temporary on every path out of Prove.
template <std::size_t N>
struct Wiped {
  std::array<uint8_t, N> b{};
  ~Wiped() { sodium_memzero(b.data(), b.size()); }
  uint8_t* data() { return b.data(); }
};

class Sha512 {
 public:
  Sha512() { crypto_hash_sha512_init(&state_); }
  ~Sha512() { sodium_memzero(&state_, sizeof state_); }
  Sha512& Byte(uint8_t b) { return Bytes(std::span<const uint8_t>(&b, 1)); }
  Sha512& Bytes(std::span<const uint8_t> s) {
    crypto_hash_sha512_update(&state_, s.data(), s.size());
    return *this;
  }
  void Final(uint8_t* out) { crypto_hash_sha512_final(&state_, out); }

 private:
  crypto_hash_sha512_state state_;
};

// RFC 8032, 5.1.3 refuses a y >= p and the encodings of x = 0 with the sign bit set (y = 1
// and y = p - 1, both of small order). Whether the point is on the curve is a separate check.
bool IsCanonical(const Point& s) {
  // y >= p = 2^255 - 19 only if bytes 1..30 are 0xff, byte 31 is 0x7f (sign bit aside) and
  // byte 0 is >= 0xed.
  bool high_all_ones = (s[31] & 0x7f) == 0x7f;
  for (int i = 30; i > 0 && high_all_ones; --i) high_all_ones = s[i] == 0xff;
  if (high_all_ones && s[0] >= 0xed) return false;
  if ((s[31] & 0x80) == 0) return true;
  bool middle_zero = true;
  for (int i = 1; i < 31 && middle_zero; ++i) middle_zero = s[i] == 0;
  bool y_is_one = middle_zero && s[0] == 1 && (s[31] & 0x7f) == 0;
  bool y_is_minus_one = high_all_ones && s[0] == 0xec;
  return !y_is_one && !y_is_minus_one;
}

// cofactor * P for any point on the curve (libsodium's addition decodes any curve point;
// its scalar multiplication accepts only the prime-order subgroup). False: P is not on it.
bool TimesCofactor(const Point& p, Point& out) {
  out = p;
  for (int i = 0; i < kCofactorDoublings; ++i) {
    if (crypto_core_ed25519_add(out.data(), out.data(), out.data()) != 0) return false;
  }
  return true;
}

bool ScalarIsReduced(const uint8_t* s) {
  for (int i = 31; i >= 0; --i) {
    if (s[i] != kOrder[static_cast<std::size_t>(i)])
      return s[i] < kOrder[static_cast<std::size_t>(i)];
  }
  return false;  // s == L
}

// 5.4.3: the first cLen bytes of SHA-512(suite || 0x02 || Y || H || Gamma || U || V || 0x00).
std::array<uint8_t, kChallengeBytes> Challenge(const Point& y, const Point& h, const Point& gamma,
                                               const Point& u, const Point& v) {
  std::array<uint8_t, 64> digest;
  Sha512()
      .Byte(kSuite)
      .Byte(kChallengeFront)
      .Bytes(y)
      .Bytes(h)
      .Bytes(gamma)
      .Bytes(u)
      .Bytes(v)
      .Byte(kBack)
      .Final(digest.data());
  std::array<uint8_t, kChallengeBytes> c;
  std::memcpy(c.data(), digest.data(), c.size());
  return c;
}

Scalar Widen(std::span<const uint8_t, kChallengeBytes> c) {
  Scalar out{};
  std::memcpy(out.data(), c.data(), c.size());
  return out;
}

Output HashOfClearedGamma(const Point& cleared) {
  Output beta;
  Sha512().Byte(kSuite).Byte(kProofToHashFront).Bytes(cleared).Byte(kBack).Final(beta.data());
  return beta;
}

// With libsodium's arithmetic: the reference path (detail::VerifyWithLibsodium).
std::optional<Output> HashOfGammaSodium(const Point& gamma) {
  Point cleared;
  if (!IsCanonical(gamma) || !TimesCofactor(gamma, cleared)) return std::nullopt;
  return HashOfClearedGamma(cleared);
}

// 5.2 step 4: beta from Gamma, in variable time (Gamma is public).
std::optional<Output> HashOfGamma(const Point& gamma) {
  std::optional<vartime::Point> g = vartime::Decode(gamma);
  if (!g) return std::nullopt;
  return HashOfClearedGamma(vartime::Encode(vartime::TimesCofactor(*g)));
}

// 5.4.1.1 step 2's hash for counter `ctr`: the candidate encoding.
Point Candidate(const PublicKey& pk, std::span<const uint8_t> alpha, int ctr) {
  std::array<uint8_t, 64> digest;
  Sha512()
      .Byte(kSuite)
      .Byte(kEncodeToCurveFront)
      .Bytes(pk)
      .Bytes(alpha)
      .Byte(static_cast<uint8_t>(ctr))
      .Byte(kBack)
      .Final(digest.data());
  Point candidate;
  std::memcpy(candidate.data(), digest.data(), candidate.size());
  return candidate;
}

// ECVRF_encode_to_curve_try_and_increment in variable time (pk and alpha are public): the point
// H, not yet encoded (Verify encodes it with its other points, sharing one inversion).
std::optional<vartime::Point> HashToCurve(const PublicKey& pk, std::span<const uint8_t> alpha) {
  for (int ctr = 0; ctr < 256; ++ctr) {
    std::optional<vartime::Point> p = vartime::Decode(Candidate(pk, alpha, ctr));
    if (!p) continue;
    vartime::Point h = vartime::TimesCofactor(*p);
    if (vartime::IsIdentity(h)) continue;  // a small-order candidate
    return h;
  }
  return std::nullopt;
}

// The same with libsodium's arithmetic, for the reference path.
std::optional<Point> HashToCurveSodium(const PublicKey& pk, std::span<const uint8_t> alpha) {
  for (int ctr = 0; ctr < 256; ++ctr) {
    Point candidate = Candidate(pk, alpha, ctr);
    Point h;
    if (!IsCanonical(candidate) || !TimesCofactor(candidate, h)) continue;
    if (h == kIdentity) continue;
    return h;
  }
  return std::nullopt;
}

}  // namespace

SecretKey::SecretKey(std::span<const uint8_t, kSecretKeyBytes> seed) {
  std::memcpy(seed_.data(), seed.data(), seed_.size());
}
SecretKey::SecretKey(const SecretKey& other) : seed_(other.seed_) {}
SecretKey& SecretKey::operator=(const SecretKey& other) {
  seed_ = other.seed_;
  return *this;
}
SecretKey::~SecretKey() { sodium_memzero(seed_.data(), seed_.size()); }

SecretKey SecretKey::Generate() {
  SecretKey k;
  randombytes_buf(k.seed_.data(), k.seed_.size());
  return k;
}

bool Init() { return sodium_init() >= 0; }

namespace {
// RFC 8032, 5.1.5: the hashed seed; x is its clamped first half, the nonce key its second.
void ExpandSecret(const SecretKey& sk, uint8_t* hashed) {
  crypto_hash_sha512(hashed, sk.seed().data(), sk.seed().size());
  hashed[0] &= 248;
  hashed[31] &= 127;
  hashed[31] |= 64;
}
}  // namespace

PublicKey DerivePublicKey(const SecretKey& sk) {
  Wiped<64> hashed;
  ExpandSecret(sk, hashed.data());
  PublicKey y;
  // x has bit 254 set, so it is never zero and x*B never the identity: this cannot fail.
  crypto_scalarmult_ed25519_base_noclamp(y.data(), hashed.data());
  return y;
}

namespace detail {
std::optional<Point> EncodeToCurve(const PublicKey& pk, std::span<const uint8_t> alpha) {
  std::optional<vartime::Point> h = HashToCurve(pk, alpha);
  if (!h) return std::nullopt;
  return vartime::Encode(*h);
}
}  // namespace detail

std::optional<Proof> Prove(const SecretKey& sk, std::span<const uint8_t> alpha) {
  Wiped<64> hashed;
  ExpandSecret(sk, hashed.data());
  const uint8_t* x = hashed.data();   // clamped secret scalar (not reduced)
  const uint8_t* nonce_key = x + 32;  // 5.4.2.2: second half of SHA-512(SK)
  Point y;
  crypto_scalarmult_ed25519_base_noclamp(y.data(), x);
  std::optional<Point> h = detail::EncodeToCurve(y, alpha);
  if (!h) return std::nullopt;
  Point gamma;
  if (crypto_scalarmult_ed25519_noclamp(gamma.data(), x, h->data()) != 0) return std::nullopt;

  Wiped<64> k_string;
  Sha512().Bytes(std::span<const uint8_t>(nonce_key, 32)).Bytes(*h).Final(k_string.data());
  Wiped<32> k;
  crypto_core_ed25519_scalar_reduce(k.data(), k_string.data());
  Point u;
  Point v;
  if (crypto_scalarmult_ed25519_base_noclamp(u.data(), k.data()) != 0 ||
      crypto_scalarmult_ed25519_noclamp(v.data(), k.data(), h->data()) != 0) {
    return std::nullopt;  // k = 0
  }
  std::array<uint8_t, kChallengeBytes> c = Challenge(y, *h, gamma, u, v);

  Wiped<64> x_wide;  // x mod L for the scalar arithmetic
  std::memcpy(x_wide.data(), x, 32);
  Wiped<32> x_reduced;
  crypto_core_ed25519_scalar_reduce(x_reduced.data(), x_wide.data());
  Scalar c_wide = Widen(c);
  Wiped<32> cx;
  crypto_core_ed25519_scalar_mul(cx.data(), c_wide.data(), x_reduced.data());
  Scalar s;
  crypto_core_ed25519_scalar_add(s.data(), k.data(), cx.data());

  Proof pi;
  std::memcpy(pi.data(), gamma.data(), 32);
  std::memcpy(pi.data() + 32, c.data(), kChallengeBytes);
  std::memcpy(pi.data() + 48, s.data(), 32);
  return pi;
}

std::optional<Output> ProofToHash(const Proof& pi) {
  Point gamma;
  std::memcpy(gamma.data(), pi.data(), gamma.size());
  return HashOfGamma(gamma);
}

Verified Verify(const PublicKey& pk, std::span<const uint8_t> alpha, const Proof& pi) {
  Verified out;
  auto refuse = [&out](VerifyError e) {
    out.error = e;
    return out;
  };
  // 5.4.5 validate_key: Y decodes (canonically) and is not of small order.
  std::optional<vartime::Point> y = vartime::Decode(pk);
  if (!y || vartime::IsIdentity(vartime::TimesCofactor(*y))) {
    return refuse(VerifyError::kBadPublicKey);
  }
  // 5.4.4 decode_proof: Gamma decodes; s < L.
  Point gamma_bytes;
  std::memcpy(gamma_bytes.data(), pi.data(), gamma_bytes.size());
  std::optional<vartime::Point> gamma = vartime::Decode(gamma_bytes);
  if (!gamma) return refuse(VerifyError::kBadGamma);
  std::span<const uint8_t, kChallengeBytes> c(pi.data() + 32, kChallengeBytes);
  Scalar s;
  std::memcpy(s.data(), pi.data() + 48, s.size());
  if (!ScalarIsReduced(s.data())) return refuse(VerifyError::kScalarNotReduced);
  std::optional<vartime::Point> h = HashToCurve(pk, alpha);
  if (!h) return refuse(VerifyError::kNoHashPoint);
  // U = s*B - c*Y, V = s*H - c*Gamma: each one double-scalar multiplication. Then H, U, V and
  // the cleared Gamma (for beta) are encoded together, with one field inversion.
  const Scalar c_wide = Widen(c);
  const vartime::Point points[4] = {
      *h, vartime::DoubleScalarMulBase(s, c_wide, vartime::Negate(*y)),
      vartime::DoubleScalarMul(s, *h, c_wide, vartime::Negate(*gamma)),
      vartime::TimesCofactor(*gamma)};
  Point encoded[4];
  vartime::EncodeBatch(points, encoded);
  std::array<uint8_t, kChallengeBytes> expected =
      Challenge(pk, encoded[0], gamma_bytes, encoded[1], encoded[2]);
  if (sodium_memcmp(expected.data(), c.data(), kChallengeBytes) != 0) {
    return refuse(VerifyError::kMismatch);
  }
  out.beta = HashOfClearedGamma(encoded[3]);
  return out;
}

namespace detail {
Verified VerifyWithLibsodium(const PublicKey& pk, std::span<const uint8_t> alpha, const Proof& pi) {
  Verified out;
  auto refuse = [&out](VerifyError e) {
    out.error = e;
    return out;
  };
  Point gamma;
  std::memcpy(gamma.data(), pi.data(), gamma.size());
  std::span<const uint8_t, kChallengeBytes> c(pi.data() + 32, kChallengeBytes);
  Scalar c_wide = Widen(c);
  Scalar s;
  std::memcpy(s.data(), pi.data() + 48, s.size());
  if (!ScalarIsReduced(s.data())) return refuse(VerifyError::kScalarNotReduced);
  // libsodium refuses a zero scalar; see the contract (never an honest proof).
  if (sodium_is_zero(c_wide.data(), c_wide.size()) || sodium_is_zero(s.data(), s.size())) {
    return refuse(VerifyError::kMismatch);
  }
  // With 0 < c < L, c*P fails only if P is not a canonical point of the prime-order subgroup
  // (libsodium checks: canonical y, on the curve, not of small order, in the subgroup; x = 0
  // with the sign bit set is of small order). So these products are the key and Gamma checks.
  Point cy;
  if (crypto_scalarmult_ed25519_noclamp(cy.data(), c_wide.data(), pk.data()) != 0) {
    return refuse(VerifyError::kBadPublicKey);
  }
  Point cgamma;
  if (crypto_scalarmult_ed25519_noclamp(cgamma.data(), c_wide.data(), gamma.data()) != 0) {
    return refuse(VerifyError::kBadGamma);
  }
  std::optional<Point> h = HashToCurveSodium(pk, alpha);
  if (!h) return refuse(VerifyError::kNoHashPoint);
  Point sb;
  Point sh;
  Point u;  // s*B - c*Y
  Point v;  // s*H - c*Gamma
  // 0 < s < L and B, H of prime order: neither product is the identity, so neither fails.
  if (crypto_scalarmult_ed25519_base_noclamp(sb.data(), s.data()) != 0 ||
      crypto_scalarmult_ed25519_noclamp(sh.data(), s.data(), h->data()) != 0 ||
      crypto_core_ed25519_sub(u.data(), sb.data(), cy.data()) != 0 ||
      crypto_core_ed25519_sub(v.data(), sh.data(), cgamma.data()) != 0) {
    return refuse(VerifyError::kMismatch);
  }
  std::array<uint8_t, kChallengeBytes> expected = Challenge(pk, *h, gamma, u, v);
  if (sodium_memcmp(expected.data(), c.data(), kChallengeBytes) != 0) {
    return refuse(VerifyError::kMismatch);
  }
  std::optional<Output> beta = HashOfGammaSodium(gamma);
  if (!beta) return refuse(VerifyError::kBadGamma);  // unreachable: Gamma was checked above
  out.beta = *beta;
  return out;
}
}  // namespace detail

const char* VerifyErrorName(VerifyError e) {
  switch (e) {
    case VerifyError::kNone:
      return "valid";
    case VerifyError::kBadPublicKey:
      return "bad_public_key";
    case VerifyError::kBadGamma:
      return "bad_gamma";
    case VerifyError::kScalarNotReduced:
      return "scalar_not_reduced";
    case VerifyError::kNoHashPoint:
      return "no_hash_point";
    case VerifyError::kMismatch:
      return "mismatch";
  }
  return "unknown";
}

}  // namespace proofbook::vrf
