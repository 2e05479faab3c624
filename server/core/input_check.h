// Input checks at the door: an order's `inputs` (its public inputs) checked against its market's
// verifier kind when the order is placed, so that inputs no proof could ever satisfy are refused
// with a 422 instead of being matched, proved, verified as invalid and slashed.
//
// Contract: CheckInputs() accepts exactly what server/prover/verifiers/verifier_worker.js
// accepts as an order's public inputs (else it answers `bad_public_inputs`), plus the hints the
// prover needs being well-formed:
//  - sha256-preimage: a JSON object whose keys are only "sha256" and "preimage"; "sha256" is 64
//    lower-case hex digits; "preimage", optional, is a string whose UTF-8 bytes hash (SHA-256)
//    to "sha256" (the demo's hint for the prover; the verifier ignores it, a wrong one could
//    never be proved).
//  - snarkjs-groth16: the array of public signals, or an object whose "public" member is that
//    array (other members are the prover's: "witness", if present, must be an object; the rest
//    is ignored, as the verifier does). The array holds exactly the verification key's nPublic
//    signals, each a canonical decimal string (digits only, no sign, no leading zero but "0")
//    below the BN254 scalar field modulus r. A market whose key has no usable nPublic (not an
//    integer in 0..100000, the verifier's bound) gets every check but the count.
//  - sha256-merge: a JSON object whose keys are exactly "left" and "right", each 64 lower-case hex
//    digits (a proof tree's merge: its children's digests; the proof is SHA-256(left || right)
//    of the decoded bytes).
//  - any other verifier kind: anything is accepted.
// As in JSON.parse, a key given twice counts with its last value.
// A refusal is kUnprocessable with reason `invalid_inputs` and `field` the offending path
// ("inputs", "inputs.sha256", "inputs.left", "inputs.public[2]", "inputs[0]").
//
// Pure functions: no I/O, no clocks, thread-safe. The inputs' JSON text is parsed in a
// thread-local simdjson parser whose buffers are reused, so after a thread's first order a
// check allocates nothing but its error message; unchecked kinds are not parsed at all.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "matching/status.h"

namespace proofbook::server {

// The largest nPublic the verifier takes from a verification key.
inline constexpr int64_t kMaxNPublic = 100'000;

// What a market's orders' inputs are checked against: a small value, kept per market by the
// MarketDirectory.
struct InputCheck {
  enum class Kind { kUnchecked, kSha256Preimage, kSha256Merge, kGroth16 };
  Kind kind = Kind::kUnchecked;
  // kGroth16: the verification key's nPublic, or nullopt when it has none usable.
  std::optional<int64_t> n_public;

  bool checked() const { return kind != Kind::kUnchecked; }
};

// The check for a market of verifier kind `verifier` whose verification key's nPublic is
// `n_public` (nullopt: no key, or no integer nPublic in it).
InputCheck InputCheckFor(std::string_view verifier, std::optional<int64_t> n_public);

// The integer `nPublic` of a verification key given as JSON text; nullopt if the text is not a
// JSON object or has no integer nPublic.
std::optional<int64_t> VerificationKeyNPublic(std::string_view verification_key);

// Ok, or kUnprocessable `invalid_inputs` naming the offending field. `inputs`: the order's
// inputs as JSON text ("null" when the order has none).
[[nodiscard]] Status CheckInputs(const InputCheck& check, std::string_view inputs);

}  // namespace proofbook::server
