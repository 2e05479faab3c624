// Thin wrappers over OpenSSL for what the server needs: SHA-256 and secure random bytes.
// Stateless and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proofbook::server {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
std::string HexEncode(const uint8_t* data, std::size_t size);
// The bytes of hex text (either case, even length); nullopt if it is not that.
std::optional<std::vector<uint8_t>> HexDecode(std::string_view hex);
// Decodes hex text of even length (either case) into `out`, which has room for hex.size() / 2
// bytes; false at the first character that is not a hex digit (`out` then holds a prefix).
bool HexDecodeInto(std::string_view hex, uint8_t* out);
// Whether `s` is only lower-case hex digits (as HexEncode and Sha256Hex write them).
bool IsLowerHex(std::string_view s);

// Fills `out` from the operating system's CSPRNG (RAND_bytes). Throws std::runtime_error if
// the generator fails, which is a start-up class fault, not an input error.
void SecureRandom(uint8_t* out, std::size_t size);

}  // namespace proofbook::server
