// Variable-time edwards25519 arithmetic for PUBLIC data only: ECVRF verification, hashing to
// the curve and proof-to-hash (vrf/ecvrf.cc). Never give it a secret: its running time depends
// on every input. Prove keeps libsodium's constant-time operations for the secret scalar.
//
// Why it exists: libsodium's public API re-checks subgroup membership in every variable-base
// scalar multiplication and decodes both points in every addition, which put a verification at
// ~3x the aim of issue #16. Here a verification is two multi-scalar multiplications (Straus,
// signed sliding windows, ref10's completed and cached point forms), three or so decodings and
// one batched encoding of four points.
//
// Field elements are 5 limbs of 51 bits (p = 2^255 - 19), kept weakly reduced after every
// operation; points are in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z.
// Stateless and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace proofbook::vrf::vartime {

using Bytes32 = std::array<uint8_t, 32>;

struct Fe {
  uint64_t v[5];
};

struct Point {
  Fe x, y, z, t;
};

// RFC 8032, 5.1.3: a canonical encoding (y < p, and not x = 0 with the sign bit set) of a point
// on the curve; nullopt otherwise. The point may have a small-order component.
std::optional<Point> Decode(const Bytes32& s);
// RFC 8032, 5.1.2 (always canonical).
Bytes32 Encode(const Point& p);
// Encode of each point, with one field inversion for all of them (Montgomery's trick) when
// there are at most kMaxEncodeBatch; out must be as long as in.
inline constexpr std::size_t kMaxEncodeBatch = 8;
void EncodeBatch(std::span<const Point> in, std::span<Bytes32> out);

Point Identity();
Point Add(const Point& p, const Point& q);
Point Double(const Point& p);
Point Negate(const Point& p);
Point TimesCofactor(const Point& p);  // 8P
bool IsIdentity(const Point& p);

// a*B + b*Q, B the base point; a and b little-endian, each below 2^255. Twice as fast when b is
// below 2^128 (a is split in halves against B and 2^128 B).
Point DoubleScalarMulBase(const Bytes32& a, const Bytes32& b, const Point& q);
// a*P + b*Q; a and b little-endian, each below 2^255.
Point DoubleScalarMul(const Bytes32& a, const Point& p, const Bytes32& b, const Point& q);

}  // namespace proofbook::vrf::vartime
