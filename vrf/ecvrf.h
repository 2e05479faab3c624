// ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381 (section 5, suite of section 5.5): a verifiable
// random function. Whoever holds a secret key maps any input `alpha` to a 64-byte output
// `beta` and a proof `pi`; anyone with the public key checks that `beta` is the one output
// for `alpha` under that key. The key holder cannot choose beta, only compute it.
//
// Contract
// - Bytes in, bytes out, exactly as the RFC's octet strings: SecretKey is RFC 8032's 32-byte
//   seed, PublicKey the 32-byte point encoding, Proof = Gamma (32) || c (16) || s (32),
//   Output = beta (64). Prove(sk, alpha) is deterministic: same inputs, same pi.
// - Stateless and thread-safe once Init() has returned true (it calls sodium_init).
// - Prove touches the secret only through libsodium's constant-time operations (edwards25519
//   scalar multiplication, scalar arithmetic mod L, SHA-512) and wipes its temporaries. Its
//   running time depends on alpha and the public key (try-and-increment), never on the secret.
// - Verify, proof-to-hash and hashing to the curve work on public data only, in variable time
//   (vrf/edwards25519_vartime.h: two double-scalar multiplications a verification). Verify is
//   the RFC's ECVRF_verify with validate_key = TRUE: it refuses keys and Gammas that are not
//   canonical encodings of curve points, keys of small order, and s >= L.
// - detail::VerifyWithLibsodium is the first implementation, on libsodium's checked arithmetic,
//   kept as the reference of a differential test. It is stricter than the RFC: key and Gamma
//   must lie in the prime-order subgroup, and s = 0 or c = 0 is refused (an honest proof never
//   meets either).
// - Verify with an untrusted key is sound: a valid proof fixes beta uniquely for (key, alpha).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace proofbook::vrf {

inline constexpr std::size_t kSecretKeyBytes = 32;
inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kProofBytes = 80;
inline constexpr std::size_t kOutputBytes = 64;

using PublicKey = std::array<uint8_t, kPublicKeyBytes>;
using Proof = std::array<uint8_t, kProofBytes>;
using Output = std::array<uint8_t, kOutputBytes>;

// The secret seed. Wiped when destroyed; never printed.
class SecretKey {
 public:
  SecretKey() = default;
  explicit SecretKey(std::span<const uint8_t, kSecretKeyBytes> seed);
  SecretKey(const SecretKey& other);
  SecretKey& operator=(const SecretKey& other);
  ~SecretKey();

  // A fresh key from the operating system's CSPRNG (randombytes_buf).
  static SecretKey Generate();

  std::span<const uint8_t, kSecretKeyBytes> seed() const { return seed_; }

 private:
  std::array<uint8_t, kSecretKeyBytes> seed_{};
};

// Initialises libsodium. False only if it cannot (then nothing here may be called).
[[nodiscard]] bool Init();

// Y = x * B, x the clamped first half of SHA-512(seed) (RFC 8032, section 5.1.5).
PublicKey DerivePublicKey(const SecretKey& sk);

// ECVRF_prove. nullopt only where the RFC's steps would divide by luck: no point found in 256
// tries of try-and-increment, or a zero nonce (each below 2^-250).
std::optional<Proof> Prove(const SecretKey& sk, std::span<const uint8_t> alpha);

// Why a proof was refused. Stable names (VerifyErrorName) for logs and the CLI.
enum class VerifyError {
  kNone,
  kBadPublicKey,      // not a canonical point of the prime-order subgroup, or of small order
  kBadGamma,          // the proof's point: not canonical, not on the curve, or outside it
  kScalarNotReduced,  // s >= L
  kNoHashPoint,       // try-and-increment found no point (never for real inputs)
  kMismatch,          // the challenge does not match: wrong key, alpha or proof
};
const char* VerifyErrorName(VerifyError e);

struct Verified {
  VerifyError error = VerifyError::kNone;
  Output beta{};  // set when error == kNone
  bool ok() const { return error == VerifyError::kNone; }
};

// ECVRF_verify with validate_key = TRUE, and proof_to_hash on success.
Verified Verify(const PublicKey& pk, std::span<const uint8_t> alpha, const Proof& pi);

// ECVRF_proof_to_hash: beta from a proof, with no check of the proof (RFC 9381, 5.2: call it
// only on a proof that verified, or one you made). nullopt if Gamma does not decode.
std::optional<Output> ProofToHash(const Proof& pi);

namespace detail {
// The reference verifier (see the contract above).
Verified VerifyWithLibsodium(const PublicKey& pk, std::span<const uint8_t> alpha, const Proof& pi);

// ECVRF_encode_to_curve_try_and_increment (5.4.1.1): H as a point encoding, for tests that
// check the RFC's intermediate values. nullopt if no counter in 0..255 gives a point.
std::optional<std::array<uint8_t, 32>> EncodeToCurve(const PublicKey& pk,
                                                     std::span<const uint8_t> alpha);
}  // namespace detail

}  // namespace proofbook::vrf
