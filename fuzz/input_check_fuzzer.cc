// input_check_fuzzer: the verifier-input checks at the door (server/core/input_check.h).
//
// Input: the whole of it is an order's `inputs` JSON text, and also a verification key's text.
// Each input is checked under every InputCheck kind: unchecked, sha256-preimage, snarkjs-groth16
// with nPublic 2 (the demo's Poseidon circuit), with no usable nPublic (nullopt), and with the
// nPublic VerificationKeyNPublic() reads from the same text (when it has one); and
// VerificationKeyNPublic() and InputCheckFor() run on it.
//
// Checked: no crash, no sanitizer report; a refusal is kUnprocessable `invalid_inputs` with a
// field under "inputs" and keeps fuzz_support.h's contract; unchecked accepts anything;
// checking is deterministic (twice, same answer: the thread-local parser is reused); groth16
// with a count accepts only what groth16 without one accepts; sha256-preimage accepts only an
// object; InputCheckFor keeps an nPublic only in 0..kMaxNPublic.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "server/base/limits.h"
#include "server/core/input_check.h"

namespace proofbook::fuzz {
namespace {

using server::InputCheck;

Status Check(const InputCheck& check, std::string_view inputs) {
  Status s = server::CheckInputs(check, inputs);
  if (!s.ok()) {
    CheckRefusal(s);
    FUZZ_CHECK(s.code() == StatusCode::kUnprocessable, s.ToString());
    FUZZ_CHECK(s.wire_code() == "invalid_inputs", s.ToString());
    FUZZ_CHECK(s.field() == "inputs" || s.field().rfind("inputs.", 0) == 0 ||
                   s.field().rfind("inputs[", 0) == 0,
               s.ToString());
  }
  Status again = server::CheckInputs(check, inputs);
  FUZZ_CHECK(again.ok() == s.ok() && again.field() == s.field() && again.message() == s.message(),
             s.ToString());
  return s;
}

InputCheck Groth16(std::optional<int64_t> n_public) {
  InputCheck check = server::InputCheckFor(server::kVerifierGroth16, n_public);
  FUZZ_CHECK(check.kind == InputCheck::Kind::kGroth16);
  if (n_public && *n_public >= 0 && *n_public <= server::kMaxNPublic) {
    FUZZ_CHECK(check.n_public == n_public);
  } else {
    FUZZ_CHECK(!check.n_public.has_value());
  }
  return check;
}

void Run(std::string_view text) {
  FUZZ_CHECK(Check(server::InputCheckFor("none", std::nullopt), text).ok());

  const InputCheck sha = server::InputCheckFor(server::kVerifierSha256Preimage, std::nullopt);
  FUZZ_CHECK(sha.kind == InputCheck::Kind::kSha256Preimage && !sha.n_public);
  const bool sha_ok = Check(sha, text).ok();
  if (sha_ok) {
    // Only an object {"sha256": ..., "preimage"?: ...} passes; its text starts with '{'.
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    FUZZ_CHECK(first != std::string_view::npos && text[first] == '{');
  }

  const bool any_count_ok = Check(Groth16(std::nullopt), text).ok();
  if (Check(Groth16(2), text).ok()) FUZZ_CHECK(any_count_ok);

  const std::optional<int64_t> n_public = server::VerificationKeyNPublic(text);
  const InputCheck keyed = Groth16(n_public);
  if (Check(keyed, text).ok()) FUZZ_CHECK(any_count_ok);
  // Not a usable key: every check but the count.
  if (!keyed.n_public) FUZZ_CHECK(Check(keyed, text).ok() == any_count_ok);
}

}  // namespace
}  // namespace proofbook::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  proofbook::fuzz::Run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
