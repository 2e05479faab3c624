// AppendOrderJson writes the object OrderJson builds: same members, same values, for orders in
// every status, selection and priority, with and without assignments and client ids, and for
// text that needs escaping (quotes, backslashes, control characters, UTF-8).
#include "server/base/resources.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace proofbook::server {
namespace {

namespace json = boost::json;
using matching::AssignmentState;
using matching::OrderState;

const std::vector<std::string> kTexts = {"",          "m",           "sha256-load",
                                         "quote\"d",  "back\\slash", "tab\there",
                                         "new\nline", "\x01\x1f",    "caf\xc3\xa9 \xe2\x82\xac",
                                         "/slash/",   "\x7f",        std::string(200, 'x')};

int64_t AnyInt(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0:
      return 0;
    case 1:
      return std::numeric_limits<int64_t>::max();
    case 2:
      return -static_cast<int64_t>(rng() % 1000000);
    default:
      return static_cast<int64_t>(rng() >> 1);
  }
}

TEST(Resources, AppendOrderJsonWritesOrderJsonsObject) {
  std::mt19937_64 rng(20261202);
  for (int round = 0; round < 2000; ++round) {
    OrderState o;
    o.id = AnyInt(rng);
    o.account = AnyInt(rng);
    o.status = static_cast<matching::OrderStatus>(rng() % 5);
    o.max_price = AnyInt(rng);
    o.deadline = AnyInt(rng);
    o.placed_at = AnyInt(rng);
    o.priority = static_cast<matching::Priority>(rng() % 2);
    o.min_reputation = static_cast<int32_t>(rng() % 10001);
    o.redundancy = static_cast<int32_t>(rng() % 16 + 1);
    o.selection = static_cast<matching::Selection>(rng() % 3);
    o.direct_prover = AnyInt(rng);
    o.verified = static_cast<int32_t>(rng() % 17);
    o.escrow_left = AnyInt(rng);
    o.failure = rng() % 2 == 0 ? matching::Reason::kBadInputs : matching::Reason::kUnprovable;
    std::vector<AssignmentState> assignments(rng() % 4);
    for (AssignmentState& a : assignments) {
      a.id = AnyInt(rng);
      a.prover = AnyInt(rng);
      a.offer = AnyInt(rng);
      a.price = AnyInt(rng);
      a.assigned_at = AnyInt(rng);
      a.due_at = AnyInt(rng);
      a.status = static_cast<matching::AssignmentStatus>(rng() % 11);
    }
    const std::string& market = kTexts[rng() % kTexts.size()];
    const std::string& client = kTexts[rng() % kTexts.size()];

    std::string text = "prefix:";
    AppendOrderJson(text, o, market, assignments, client);
    ASSERT_EQ(text.rfind("prefix:", 0), 0u);
    json::error_code ec;
    const json::value written = json::parse(std::string_view(text).substr(7), ec);
    ASSERT_FALSE(ec) << ec.message() << ": " << text;
    const json::object built = OrderJson(o, market, assignments, client);
    EXPECT_EQ(written, json::value(built)) << text << "\n" << json::serialize(built);
  }
}

}  // namespace
}  // namespace proofbook::server
