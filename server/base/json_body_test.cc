#include "server/base/json_body.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace proofbook::server {
namespace {

TEST(JsonBody, ReadsTypedFieldsWithDefaults) {
  auto body = JsonBody::Parse(R"({"amount":42,"name":"rollup","kind":"b","inputs":{"a":[1, 2]}})",
                              {"amount", "name", "kind", "inputs", "absent"});
  ASSERT_TRUE(body.has_value()) << body.error().ToString();
  EXPECT_EQ(body->Int("amount", 1, 100).value(), 42);
  EXPECT_EQ(body->Int("absent", 0, 10, 7).value(), 7);
  EXPECT_EQ(body->String("name", 10).value(), "rollup");
  EXPECT_EQ(body->Enum("kind", {"a", "b"}).value(), "b");
  EXPECT_EQ(body->Raw("inputs", 100, 32).value(), R"({"a":[1,2]})");  // minified
  EXPECT_EQ(body->Raw("absent", 100, 32).value(), "null");
  EXPECT_TRUE(body->Has("amount"));
  EXPECT_FALSE(body->Has("absent"));
}

TEST(JsonBody, RawArrayReadsEachValueMinifiedWithinItsLimits) {
  auto body = JsonBody::Parse(
      R"({"leaves":[{"a": 1}, [2,  3], "x", null],"empty":[],"obj":{},"deep":[[[[1]]]]})",
      {"leaves", "empty", "obj", "deep", "absent"});
  ASSERT_TRUE(body.has_value()) << body.error().ToString();
  auto leaves = body->RawArray("leaves", 4, 100, 8);
  ASSERT_TRUE(leaves.has_value()) << leaves.error().ToString();
  EXPECT_EQ(*leaves, (std::vector<std::string>{R"({"a":1})", "[2,3]", R"("x")", "null"}));
  EXPECT_EQ(body->RawArray("leaves", 3, 100, 8).error().field(), "leaves");  // too many
  EXPECT_EQ(body->RawArray("empty", 3, 100, 8).error().field(), "empty");
  EXPECT_EQ(body->RawArray("obj", 3, 100, 8).error().field(), "obj");
  EXPECT_EQ(body->RawArray("absent", 3, 100, 8).error().field(), "absent");
  auto deep = body->RawArray("deep", 3, 100, 2);
  ASSERT_FALSE(deep.has_value());
  EXPECT_NE(deep.error().message().find("deep[0]"), std::string::npos) << deep.error().message();
  auto big = body->RawArray("leaves", 4, 6, 8);  // {"a":1} is 7 bytes
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), StatusCode::kPayloadTooLarge);
  EXPECT_NE(big.error().message().find("leaves[0]"), std::string::npos);
}

TEST(JsonBody, RefusesUnknownFieldsNamingThem) {
  auto body = JsonBody::Parse(R"({"amount":1,"amonut":2})", {"amount"});
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(body.error().field(), "amonut");
}

TEST(JsonBody, RefusesWhatIsNotAnObject) {
  for (const char* text :
       {"", "{", "[1]", "42", "\"x\"", "null", "{\"a\":1}}", "{'a':1}", "{\"a\":01}", "\xff\xfe"}) {
    auto body = JsonBody::Parse(text, {"a"});
    EXPECT_FALSE(body.has_value()) << text;
  }
}

TEST(JsonBody, TypeAndRangeErrorsNameTheField) {
  auto body = JsonBody::Parse(
      R"({"n":"5","f":1.5,"big":18446744073709551615,"neg":-1,"s":7,"long":"abcdef","e":"z"})",
      {"n", "f", "big", "neg", "s", "long", "e", "missing"});
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(body->Int("n", 0, 10).error().field(), "n");              // string, not integer
  EXPECT_EQ(body->Int("f", 0, 10).error().field(), "f");              // fraction
  EXPECT_EQ(body->Int("big", 0, INT64_MAX).error().field(), "big");   // a uint64, beyond int64
  EXPECT_EQ(body->Int("neg", 0, 10).error().field(), "neg");          // below range
  EXPECT_EQ(body->Int("missing", 0, 10).error().field(), "missing");  // required
  EXPECT_EQ(body->String("s", 10).error().field(), "s");
  EXPECT_EQ(body->String("long", 3).error().field(), "long");
  EXPECT_EQ(body->Enum("e", {"a", "b"}).error().field(), "e");
}

TEST(JsonBody, NumbersBeyondUint64AreInvalidJsonNotACrash) {
  EXPECT_FALSE(JsonBody::Parse(R"({"n":99999999999999999999})", {"n"}).has_value());
}

TEST(JsonBody, NullCountsAsAbsent) {
  auto body = JsonBody::Parse(R"({"n":null})", {"n"});
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(body->Int("n", 0, 10, 3).value(), 3);
  EXPECT_FALSE(body->Int("n", 0, 10).has_value());
}

TEST(JsonBody, OversizedRawIsPayloadTooLarge) {
  auto body = JsonBody::Parse(R"({"inputs":"0123456789"})", {"inputs"});
  ASSERT_TRUE(body.has_value());
  auto raw = body->Raw("inputs", 5, 32);
  ASSERT_FALSE(raw.has_value());
  EXPECT_EQ(raw.error().code(), StatusCode::kPayloadTooLarge);
}

TEST(JsonBody, ControlCharactersInStringsAreRefused) {
  for (const char* text :
       {R"({"s":"a\u0000b"})", R"({"s":"tab\there"})", R"({"s":"nl\n"})", R"({"s":"del\u007f"})"}) {
    auto body = JsonBody::Parse(text, {"s"});
    ASSERT_TRUE(body.has_value()) << text;
    auto s = body->String("s", 100);
    ASSERT_FALSE(s.has_value()) << text;
    EXPECT_EQ(s.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.error().field(), "s");
  }
  auto ok = JsonBody::Parse(R"({"s":"caf\u00e9 \"q\" \\ {x}"})", {"s"});
  EXPECT_EQ(ok->String("s", 100).value(), "caf\xc3\xa9 \"q\" \\ {x}");
}

// jsonb cannot store \u0000: refused here rather than failing the journal's batch.
TEST(JsonBody, NulAnywhereInRawInputsIsRefused) {
  for (const char* text : {R"({"inputs":"\u0000"})", R"({"inputs":{"a":["x","y\u0000"]}})",
                           R"({"inputs":{"k\u0000":1}})"}) {
    auto body = JsonBody::Parse(text, {"inputs"});
    ASSERT_TRUE(body.has_value()) << text;
    auto raw = body->Raw("inputs", 1000, 32);
    ASSERT_FALSE(raw.has_value()) << text;
    EXPECT_EQ(raw.error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(raw.error().field(), "inputs");
  }
  auto body =
      JsonBody::Parse(R"({"inputs":{"a":"\\u0000 is text here","b":[1,"\n"]}})", {"inputs"});
  EXPECT_TRUE(body->Raw("inputs", 1000, 32).has_value());
}

TEST(JsonBody, DeepNestingIsRefusedNotACrash) {
  std::string deep = "{\"a\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  auto body = JsonBody::Parse(deep, {"a"});
  EXPECT_FALSE(body.has_value());  // simdjson's depth limit, reported as invalid JSON
}

TEST(JsonBody, RawRefusesValuesNestedDeeperThanTheLimit) {
  auto nested = [](int depth) {
    return R"({"inputs":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  auto at_limit = JsonBody::Parse(nested(32), {"inputs"});
  ASSERT_TRUE(at_limit.has_value());
  EXPECT_TRUE(at_limit->Raw("inputs", 1000, 32).has_value());
  auto over = JsonBody::Parse(nested(33), {"inputs"});
  ASSERT_TRUE(over.has_value());
  auto raw = over->Raw("inputs", 1000, 32);
  ASSERT_FALSE(raw.has_value());
  EXPECT_EQ(raw.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(raw.error().field(), "inputs");
  // Objects count the same; a scalar is depth 0.
  auto objects = JsonBody::Parse(R"({"inputs":{"a":{"b":[1]}}})", {"inputs"});
  ASSERT_TRUE(objects.has_value());
  EXPECT_TRUE(objects->Raw("inputs", 1000, 3).has_value());
  EXPECT_FALSE(objects->Raw("inputs", 1000, 2).has_value());
  auto scalar = JsonBody::Parse(R"({"inputs":7})", {"inputs"});
  EXPECT_TRUE(scalar->Raw("inputs", 1000, 0).has_value());
}

}  // namespace
}  // namespace proofbook::server
