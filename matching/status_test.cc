#include "matching/status.h"

#include <gtest/gtest.h>

namespace proofbook {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.wire_code(), "ok");
}

TEST(Status, ReasonReplacesGenericWireCode) {
  Status s = Status(StatusCode::kUnprocessable, "escrow needs 5000, available 1200", "max_price")
                 .WithReason("insufficient_balance");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnprocessable);
  EXPECT_EQ(s.wire_code(), "insufficient_balance");
  EXPECT_EQ(s.field(), "max_price");
}

TEST(Result, HoldsValueOrError) {
  Result<int> good = 7;
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(good.value(), 7);
  Result<int> bad = Status(StatusCode::kNotFound, "no such order");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().wire_code(), "not_found");
}

}  // namespace
}  // namespace proofbook
