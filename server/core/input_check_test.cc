#include "server/core/input_check.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "server/base/crypto.h"

namespace proofbook::server {
namespace {

// BN254's scalar field modulus r (ffjavascript's bn128 curve.r) and r - 1.
const std::string kR =
    "21888242871839275222246405745257275088548364400416034343698204186575808495617";
const std::string kRMinus1 =
    "21888242871839275222246405745257275088548364400416034343698204186575808495616";

const InputCheck kSha = InputCheckFor("sha256-preimage", std::nullopt);
const InputCheck kGroth16Of2 = InputCheckFor("snarkjs-groth16", 2);

// The field of the refusal, or "ok".
std::string Check(const InputCheck& check, const std::string& inputs) {
  Status s = CheckInputs(check, inputs);
  if (s.ok()) return "ok";
  EXPECT_EQ(s.code(), StatusCode::kUnprocessable);
  EXPECT_EQ(s.wire_code(), "invalid_inputs");
  return s.field();
}

std::string ShaInputs(const std::string& digest) { return R"({"sha256":")" + digest + R"("})"; }

TEST(InputCheck, Sha256AcceptsLowerCaseDigest) {
  EXPECT_EQ(Check(kSha, ShaInputs(Sha256Hex("x"))), "ok");
  EXPECT_EQ(Check(kSha, ShaInputs(std::string(64, '0'))), "ok");
}

TEST(InputCheck, Sha256AcceptsPreimageHintThatHashesToDigest) {
  const std::string inputs =
      R"({"sha256":")" + Sha256Hex("proofbook demo") + R"(","preimage":"proofbook demo"})";
  EXPECT_EQ(Check(kSha, inputs), "ok");
  EXPECT_EQ(Check(kSha, R"({"preimage":"","sha256":")" + Sha256Hex("") + "\"}"), "ok");
}

TEST(InputCheck, Sha256RefusesUpperCaseHex) {
  std::string digest = Sha256Hex("x");
  for (char& c : digest) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Check(kSha, ShaInputs(digest)), "inputs.sha256");
}

TEST(InputCheck, Sha256RefusesWrongLength) {
  EXPECT_EQ(Check(kSha, ShaInputs(std::string(63, 'a'))), "inputs.sha256");
  EXPECT_EQ(Check(kSha, ShaInputs(std::string(65, 'a'))), "inputs.sha256");
  EXPECT_EQ(Check(kSha, ShaInputs("")), "inputs.sha256");
}

TEST(InputCheck, Sha256RefusesNonHex) {
  EXPECT_EQ(Check(kSha, ShaInputs(std::string(63, 'a') + "g")), "inputs.sha256");
  EXPECT_EQ(Check(kSha, ShaInputs(std::string(63, 'a') + " ")), "inputs.sha256");
  EXPECT_EQ(Check(kSha, R"({"sha256":12})"), "inputs.sha256");
}

TEST(InputCheck, Sha256RefusesMissingDigest) {
  EXPECT_EQ(Check(kSha, "{}"), "inputs.sha256");
  EXPECT_EQ(Check(kSha, R"({"preimage":"x"})"), "inputs.sha256");
}

TEST(InputCheck, Sha256RefusesWhatIsNotAnObject) {
  EXPECT_EQ(Check(kSha, "null"), "inputs");  // no inputs at all
  EXPECT_EQ(Check(kSha, "[1,2]"), "inputs");
  EXPECT_EQ(Check(kSha, '"' + Sha256Hex("x") + '"'), "inputs");
}

TEST(InputCheck, Sha256RefusesOtherKeysAsTheVerifierDoes) {
  EXPECT_EQ(Check(kSha, R"({"sha256":")" + Sha256Hex("x") + R"(","extra":1})"), "inputs.extra");
  EXPECT_EQ(Check(kSha, R"({"digest":"ab"})"), "inputs.digest");
}

TEST(InputCheck, Sha256RefusesWrongPreimageHint) {
  EXPECT_EQ(Check(kSha, R"({"sha256":")" + Sha256Hex("x") + R"(","preimage":"y"})"),
            "inputs.preimage");
  EXPECT_EQ(Check(kSha, R"({"sha256":")" + Sha256Hex("x") + R"(","preimage":null})"),
            "inputs.preimage");
  EXPECT_EQ(Check(kSha, R"({"sha256":")" + Sha256Hex("1") + R"(","preimage":1})"),
            "inputs.preimage");
}

TEST(InputCheck, Sha256LastDuplicateKeyCountsAsInJsonParse) {
  EXPECT_EQ(Check(kSha, R"({"sha256":"ab","sha256":")" + Sha256Hex("x") + "\"}"), "ok");
  EXPECT_EQ(Check(kSha, R"({"sha256":")" + Sha256Hex("x") + R"(","sha256":"ab"})"),
            "inputs.sha256");
}

TEST(InputCheck, Groth16AcceptsTheRightCount) {
  EXPECT_EQ(Check(kGroth16Of2, R"(["0","123"])"), "ok");
  EXPECT_EQ(Check(kGroth16Of2, R"({"public":["1","2"],"witness":{"a":"3","b":["1"]}})"), "ok");
  EXPECT_EQ(Check(kGroth16Of2, R"({"public":["1","2"]})"), "ok");
  EXPECT_EQ(Check(InputCheckFor("snarkjs-groth16", 0), "[]"), "ok");
}

TEST(InputCheck, Groth16RefusesTooFewOrTooMany) {
  EXPECT_EQ(Check(kGroth16Of2, R"(["1"])"), "inputs");
  EXPECT_EQ(Check(kGroth16Of2, R"(["1","2","3"])"), "inputs");
  EXPECT_EQ(Check(kGroth16Of2, "[]"), "inputs");
  EXPECT_EQ(Check(kGroth16Of2, R"({"public":["1","2","3"]})"), "inputs.public");
}

TEST(InputCheck, Groth16RefusesNumbersThatAreNotStrings) {
  EXPECT_EQ(Check(kGroth16Of2, R"(["1",2])"), "inputs[1]");
  EXPECT_EQ(Check(kGroth16Of2, R"({"public":[1,"2"]})"), "inputs.public[0]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["1",null])"), "inputs[1]");
}

TEST(InputCheck, Groth16RefusesLeadingZero) {
  EXPECT_EQ(Check(kGroth16Of2, R"(["1","01"])"), "inputs[1]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["00","1"])"), "inputs[0]");
}

TEST(InputCheck, Groth16RefusesTheModulusAndAcceptsOneBelow) {
  EXPECT_EQ(Check(kGroth16Of2, R"(["1",")" + kR + "\"]"), "inputs[1]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["1",")" + kRMinus1 + "\"]"), "ok");
  EXPECT_EQ(Check(kGroth16Of2, R"({"public":["1",")" + kR + "\"]}"), "inputs.public[1]");
  // One digit longer than r, and a 77-digit value above it.
  EXPECT_EQ(Check(kGroth16Of2, R"(["1",")" + kRMinus1 + "0\"]"), "inputs[1]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["1",")" + std::string(77, '9') + "\"]"), "inputs[1]");
}

TEST(InputCheck, Groth16RefusesSignsAndEmptyStrings) {
  EXPECT_EQ(Check(kGroth16Of2, R"(["1","-1"])"), "inputs[1]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["+1","1"])"), "inputs[0]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["1",""])"), "inputs[1]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["1"," 1"])"), "inputs[1]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["1","1.0"])"), "inputs[1]");
  EXPECT_EQ(Check(kGroth16Of2, R"(["1","0x1"])"), "inputs[1]");
}

TEST(InputCheck, Groth16RefusesOtherShapes) {
  EXPECT_EQ(Check(kGroth16Of2, "null"), "inputs");
  EXPECT_EQ(Check(kGroth16Of2, R"("1")"), "inputs");
  EXPECT_EQ(Check(kGroth16Of2, R"({"a":[1,2]})"), "inputs.public");
  EXPECT_EQ(Check(kGroth16Of2, R"({"public":"1"})"), "inputs.public");
  EXPECT_EQ(Check(kGroth16Of2, R"({"public":["1","2"],"witness":[1]})"), "inputs.witness");
}

TEST(InputCheck, Groth16WithoutUsableNPublicChecksAllButTheCount) {
  for (std::optional<int64_t> n : {std::optional<int64_t>(), std::optional<int64_t>(-1),
                                   std::optional<int64_t>(kMaxNPublic + 1)}) {
    const InputCheck check = InputCheckFor("snarkjs-groth16", n);
    EXPECT_FALSE(check.n_public.has_value());
    EXPECT_EQ(Check(check, R"(["1","2","3"])"), "ok");
    EXPECT_EQ(Check(check, R"(["1","02"])"), "inputs[1]");
  }
}

TEST(InputCheck, Sha256MergeTakesExactlyTwoChildDigests) {
  const InputCheck merge = InputCheckFor("sha256-merge", std::nullopt);
  const std::string l = Sha256Hex("l"), r = Sha256Hex("r");
  EXPECT_EQ(Check(merge, R"({"left":")" + l + R"(","right":")" + r + R"("})"), "ok");
  EXPECT_EQ(Check(merge, R"({"left":")" + l + R"("})"), "inputs.right");
  EXPECT_EQ(Check(merge, R"({"right":")" + r + R"("})"), "inputs.left");
  EXPECT_EQ(Check(merge, R"({"left":")" + l + R"(","right":")" + r + R"(","x":1})"), "inputs.x");
  std::string upper = r;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Check(merge, R"({"left":")" + l + R"(","right":")" + upper + R"("})"), "inputs.right");
  EXPECT_EQ(Check(merge, R"({"left":")" + l + R"(","right":")" + r.substr(1) + R"("})"),
            "inputs.right");
  EXPECT_EQ(Check(merge, R"({"left":1,"right":")" + r + R"("})"), "inputs.left");
  EXPECT_EQ(Check(merge, "[]"), "inputs");
  EXPECT_EQ(Check(merge, "null"), "inputs");
  EXPECT_EQ(Check(merge, ShaInputs(l)), "inputs.sha256");
}

TEST(InputCheck, OtherVerifierKindsAreNotChecked) {
  const InputCheck check = InputCheckFor("some-future-verifier", 2);
  EXPECT_FALSE(check.checked());
  EXPECT_EQ(Check(check, R"({"a":[1,2]})"), "ok");
  EXPECT_EQ(Check(check, "null"), "ok");
}

TEST(InputCheck, NPublicIsReadFromTheVerificationKey) {
  EXPECT_EQ(VerificationKeyNPublic(R"({"protocol":"groth16","nPublic":3,"IC":[]})"), 3);
  EXPECT_EQ(VerificationKeyNPublic(R"({"nPublic":1,"nPublic":2})"), 2);
  EXPECT_EQ(VerificationKeyNPublic(R"({"nPublic":"3"})"), std::nullopt);
  EXPECT_EQ(VerificationKeyNPublic(R"({"nPublic":2.5})"), std::nullopt);
  EXPECT_EQ(VerificationKeyNPublic(R"({"protocol":"groth16"})"), std::nullopt);
  EXPECT_EQ(VerificationKeyNPublic("[3]"), std::nullopt);
  EXPECT_EQ(VerificationKeyNPublic(""), std::nullopt);
}

}  // namespace
}  // namespace proofbook::server
