// Hex encoding and SHA-256 for the clients: a proof's "sha256" field is the lower-case hex
// SHA-256 of its bytes, and the prover, the command line and the tests all compute it.
// Stateless and thread-safe (OpenSSL's EVP digests need no set-up since 1.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proofbook::clients {

// Two lower-case hex digits per byte.
std::string HexEncode(std::string_view bytes);

// The bytes of hex text (either case, even length); nullopt if it is not that.
std::optional<std::vector<uint8_t>> HexDecode(std::string_view hex);

// The lower-case hex SHA-256 of `bytes` (64 characters).
std::string Sha256Hex(std::string_view bytes);

}  // namespace proofbook::clients
