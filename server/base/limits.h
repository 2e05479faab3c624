// Limits and defaults at the edge, named once. The engine's own limits (durations, basis
// points, redundancy, reputation) are matching/types.h's and are used as they are; these are
// the server's: what a request may carry and how much a page or a wait may hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace proofbook::server {

// Far above any real balance, far from overflow.
inline constexpr int64_t kMaxAmount = int64_t{1} << 60;
// A market's id ("groth16-poseidon"); the markets table allows no longer.
inline constexpr std::size_t kMaxSlugBytes = 63;
// Account names, client_order_id, deposit references.
inline constexpr std::size_t kMaxNameBytes = 200;
inline constexpr std::size_t kMaxProofSystemBytes = 64;
// A VRF epoch beacon (POST /v1/admin/vrf/beacons, migrations/0011_vrf.sql): bytes, and the
// largest epoch number (an hour each: far beyond any clock this server will see).
inline constexpr std::size_t kMaxBeaconBytes = 256;
inline constexpr int64_t kMaxBeaconEpoch = int64_t{1} << 40;
// An offer is valid for at most a year.
inline constexpr int64_t kMaxOfferLifeMs = 365LL * 24 * 3600 * 1000;
inline constexpr int64_t kMaxOfferCapacity = 1024;
// The largest max_proof_bytes a market may set, and its default.
inline constexpr int64_t kMaxProofBytes = int64_t{64} << 20;
// A proof this small is read while its header is checked against PostgreSQL, rather than after
// (the prover gateway's OnProofHeader): Groth16 proofs (~800 bytes) and small preimages.
inline constexpr std::size_t kReadAtOnceProofBytes = std::size_t{64} << 10;
inline constexpr int64_t kDefaultMaxProofBytes = int64_t{1} << 20;
// A market's verification key (snarkjs's verification_key.json), minified.
inline constexpr std::size_t kMaxVerificationKeyBytes = std::size_t{1} << 20;
// Rows per page of a list (GET /v1/orders, /v1/settlements, ...).
inline constexpr int64_t kDefaultPageSize = 50;
inline constexpr int64_t kMaxPageSize = 200;
// GET /v1/markets/{id}/book: offers listed one by one (query `offers`).
inline constexpr int64_t kDefaultBookOffers = 20;
inline constexpr int64_t kMaxBookOffers = 200;
// A long poll holds a connection: keep it short.
inline constexpr int64_t kMaxWaitMs = 30'000;

// The verifier kinds a market may name (server/prover/verifiers/).
inline constexpr std::string_view kVerifierGroth16 = "snarkjs-groth16";
inline constexpr std::string_view kVerifierSha256Preimage = "sha256-preimage";
// A proof tree's merge: the SHA-256 of its two children's digests (README "Prove a block as a
// tree").
inline constexpr std::string_view kVerifierSha256Merge = "sha256-merge";

}  // namespace proofbook::server
