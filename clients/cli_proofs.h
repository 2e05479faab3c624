// Verified proofs from GET /v1/orders/{id}/proofs to files: each proof's bytes base64-decoded,
// checked against its size and SHA-256, and written whole (a temporary file renamed into
// place, so a file that exists is never half a proof).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "clients/cli_api.h"

namespace proofbook::cli {

struct SavedProof {
  std::string path;
  int64_t assignment = 0, prover = 0, size = 0;
  std::string sha256;
};

// `proofs`: the answer's "proofs" array. One proof goes to `out`; several to `out`.1 ..
// `out`.N in the order listed (by assignment). Nothing is written unless every proof checks.
Expected<std::vector<SavedProof>> SaveProofs(const boost::json::array& proofs,
                                             const std::string& out);

// Standard base64 (with padding) decoded, or an error (kExitFailure).
Expected<std::string> DecodeBase64(const std::string& text);

}  // namespace proofbook::cli
