#include "server/core/requests.h"

#include <gtest/gtest.h>

#include <string>

#include "server/base/crypto.h"
#include "server/core/market_directory.h"

namespace proofbook::server {
namespace {

constexpr std::size_t kMaxInputs = 4096;

// The request hash is journaled with the order (orders.request_sha256) and compared with a
// replay's after any restart, so its text form may never change: a replay of an order placed
// before an upgrade would otherwise be refused as a reused client_order_id. The text is the
// parameters as parsed, defaults filled in, a line each, then the inputs minified.
TEST(ParsePlaceOrder, TheRequestHashIsOfTheParametersAsParsedInTheirJournaledForm) {
  MarketDirectory markets;
  markets.Add("m", 3);
  const std::string inputs = R"({"sha256":"ab"})";
  auto r = ParsePlaceOrder(R"({ "market": "m", "max_price": 100, "deadline_ms": 600000,
                               "inputs": { "sha256" : "ab" }, "client_order_id": "blk-9" })",
                           markets, kMaxInputs);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  ASSERT_TRUE(r->request_sha256.has_value());
  EXPECT_EQ(*r->request_sha256, Sha256("m\n100\n600000\nprice\n0\n1\nbest\n0\n0\n" + inputs));

  // Every parameter counts; spelled-out defaults and field order do not.
  auto spelled = ParsePlaceOrder(
      R"({"client_order_id":"blk-9","redundancy":1,"priority":"price","selection":"best",)"
      R"("inputs":{"sha256":"ab"},"deadline_ms":600000,"max_price":100,"market":"m"})",
      markets, kMaxInputs);
  ASSERT_TRUE(spelled.has_value()) << spelled.error().ToString();
  EXPECT_EQ(spelled->request_sha256, r->request_sha256);
  auto other = ParsePlaceOrder(R"({"market":"m","max_price":100,"deadline_ms":600000,)"
                               R"("min_reputation":5000,"inputs":{"sha256":"ab"},)"
                               R"("client_order_id":"blk-9","priority":"time"})",
                               markets, kMaxInputs);
  ASSERT_TRUE(other.has_value()) << other.error().ToString();
  EXPECT_EQ(*other->request_sha256, Sha256("m\n100\n600000\ntime\n5000\n1\nbest\n0\n0\n" + inputs));

  // Without a client_order_id there is nothing to replay: no hash is made.
  auto plain = ParsePlaceOrder(R"({"market":"m","max_price":100,"deadline_ms":600000})", markets,
                               kMaxInputs);
  ASSERT_TRUE(plain.has_value()) << plain.error().ToString();
  EXPECT_FALSE(plain->request_sha256.has_value());
}

}  // namespace
}  // namespace proofbook::server
