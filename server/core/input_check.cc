#include "server/core/input_check.h"

#include <simdjson.h>

#include <optional>
#include <string>
#include <utility>

#include "server/base/crypto.h"
#include "server/base/limits.h"

namespace proofbook::server {
namespace {

// The BN254 (bn128) scalar field modulus r, as ffjavascript's bn128 curve has it (curve.r,
// which verifier_worker.js compares public signals against).
constexpr std::string_view kBn254R =
    "21888242871839275222246405745257275088548364400416034343698204186575808495617";

// Not the JsonBody parser of the request being read (server/base/json_body.h): its DOM must
// stay valid while this one parses.
simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

Status Bad(std::string field, std::string message) {
  return Status(StatusCode::kUnprocessable, std::move(message), std::move(field))
      .WithReason("invalid_inputs");
}

bool IsSha256Hex(std::string_view s) { return s.size() == 64 && IsLowerHex(s); }

// A canonical decimal (digits only, no leading zero but "0") of a value below r.
bool IsFieldElement(std::string_view s) {
  if (s.empty() || s.size() > kBn254R.size()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  if (s.size() > 1 && s.front() == '0') return false;
  // Same length, no leading zeros: the string order is the numeric order.
  return s.size() < kBn254R.size() || s < kBn254R;
}

Status CheckSha256(simdjson::dom::element inputs) {
  simdjson::dom::object object;
  if (inputs.get_object().get(object)) {
    return Bad("inputs", R"(inputs must be an object {"sha256": "<64 lower-case hex digits>"})");
  }
  std::optional<simdjson::dom::element> sha256, preimage;
  for (auto [key, value] : object) {
    if (key == "sha256") {
      sha256 = value;
    } else if (key == "preimage") {
      preimage = value;
    } else {
      return Bad("inputs." + std::string(key),
                 "unknown key '" + std::string(key) + "': inputs take only sha256 and preimage");
    }
  }
  std::string_view digest;
  if (!sha256 || sha256->get_string().get(digest) || !IsSha256Hex(digest)) {
    return Bad("inputs.sha256",
               "inputs.sha256 must be 64 lower-case hex digits (a SHA-256 digest)");
  }
  if (!preimage) return Status::Ok();
  std::string_view text;
  if (preimage->get_string().get(text)) {
    return Bad("inputs.preimage", "inputs.preimage must be a string");
  }
  if (Sha256Hex(text) != digest) {
    return Bad("inputs.preimage", "SHA-256 of inputs.preimage is not inputs.sha256");
  }
  return Status::Ok();
}

Status CheckSha256Merge(simdjson::dom::element inputs) {
  simdjson::dom::object object;
  if (inputs.get_object().get(object)) {
    return Bad("inputs", R"(inputs must be an object {"left": "<digest>", "right": "<digest>"})");
  }
  std::optional<simdjson::dom::element> left, right;
  for (auto [key, value] : object) {
    if (key == "left") {
      left = value;
    } else if (key == "right") {
      right = value;
    } else {
      return Bad("inputs." + std::string(key),
                 "unknown key '" + std::string(key) + "': inputs take only left and right");
    }
  }
  for (auto [child, name] : {std::pair{left, "left"}, std::pair{right, "right"}}) {
    std::string_view digest;
    if (!child || child->get_string().get(digest) || !IsSha256Hex(digest)) {
      return Bad(std::string("inputs.") + name, std::string("inputs.") + name +
                                                    " must be 64 lower-case hex digits (a "
                                                    "child's SHA-256 digest)");
    }
  }
  return Status::Ok();
}

Status CheckGroth16(simdjson::dom::element inputs, std::optional<int64_t> n_public) {
  // The signals alone, or {"public": [...], "witness": {...}}: the verifier reads "public"
  // when it is an array, the prover "witness".
  std::string path = "inputs";
  simdjson::dom::array signals;
  if (simdjson::dom::object object; !inputs.get_object().get(object)) {
    std::optional<simdjson::dom::element> pub, witness;
    for (auto [key, value] : object) {
      if (key == "public") pub = value;
      if (key == "witness") witness = value;
    }
    if (!pub || pub->get_array().get(signals)) {
      return Bad("inputs.public",
                 "inputs.public must be the array of public signals (decimal strings)");
    }
    if (witness && !witness->is_object()) {
      return Bad("inputs.witness", "inputs.witness must be an object (the prover's witness)");
    }
    path = "inputs.public";
  } else if (inputs.get_array().get(signals)) {
    return Bad("inputs", R"(inputs must be the array of public signals, or {"public": [...]})");
  }
  if (n_public && static_cast<int64_t>(signals.size()) != *n_public) {
    return Bad(path, path + " must hold the verification key's " + std::to_string(*n_public) +
                         " public signals, not " + std::to_string(signals.size()));
  }
  std::size_t i = 0;
  for (simdjson::dom::element signal : signals) {
    std::string_view s;
    if (signal.get_string().get(s) || !IsFieldElement(s)) {
      const std::string field = path + '[' + std::to_string(i) + ']';
      return Bad(field, field +
                            " must be a canonical decimal string (digits only, no sign or leading "
                            "zero) below the BN254 scalar field modulus");
    }
    ++i;
  }
  return Status::Ok();
}

}  // namespace

InputCheck InputCheckFor(std::string_view verifier, std::optional<int64_t> n_public) {
  InputCheck check;
  if (verifier == kVerifierSha256Preimage) {
    check.kind = InputCheck::Kind::kSha256Preimage;
  } else if (verifier == kVerifierSha256Merge) {
    check.kind = InputCheck::Kind::kSha256Merge;
  } else if (verifier == kVerifierGroth16) {
    check.kind = InputCheck::Kind::kGroth16;
    if (n_public && *n_public >= 0 && *n_public <= kMaxNPublic) check.n_public = n_public;
  }
  return check;
}

std::optional<int64_t> VerificationKeyNPublic(std::string_view verification_key) {
  // Once per market created, and a key may be 1 MiB: a parser of its own, not kept.
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object object;
  if (parser.parse(verification_key.data(), verification_key.size()).get(root) ||
      root.get_object().get(object)) {
    return std::nullopt;
  }
  std::optional<int64_t> n_public;
  for (auto [key, value] : object) {  // the last one counts, as in JSON.parse and jsonb
    if (key != "nPublic") continue;
    int64_t n = 0;
    n_public = value.get_int64().get(n) ? std::nullopt : std::optional<int64_t>(n);
  }
  return n_public;
}

Status CheckInputs(const InputCheck& check, std::string_view inputs) {
  if (!check.checked()) return Status::Ok();
  simdjson::dom::element root;
  if (ThreadParser().parse(inputs.data(), inputs.size()).get(root)) {
    return Bad("inputs", "inputs are not valid JSON");
  }
  switch (check.kind) {
    case InputCheck::Kind::kSha256Preimage:
      return CheckSha256(root);
    case InputCheck::Kind::kSha256Merge:
      return CheckSha256Merge(root);
    case InputCheck::Kind::kGroth16:
    case InputCheck::Kind::kUnchecked:
      break;
  }
  return CheckGroth16(root, check.n_public);
}

}  // namespace proofbook::server
