#include "server/http/router.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace proofbook::server {
namespace {

HttpResponse Call(const Router& router, std::string method, std::string path) {
  HttpRequest req;
  req.method = std::move(method);
  req.path = std::move(path);
  HttpResponse out;
  bool called = false;
  router.Dispatch(req, [&](HttpResponse r) {
    out = std::move(r);
    called = true;
  });
  EXPECT_TRUE(called);
  return out;
}

std::string Header(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

Router MakeRouter() {
  Router router;
  router.Add("GET", "/v1/orders/{id}", [](const HttpRequest&, const PathParams& p, Responder r) {
    r(JsonResponse(std::string(Param(p, "id"))));
  });
  router.Add("DELETE", "/v1/orders/{id}", [](const HttpRequest&, const PathParams&, Responder r) {
    r(JsonResponse("deleted"));
  });
  router.Add("GET", "/v1/orders",
             [](const HttpRequest&, const PathParams&, Responder r) { r(JsonResponse("list")); });
  return router;
}

TEST(Router, PlaceholderCapturesSegment) {
  auto r = Call(MakeRouter(), "GET", "/v1/orders/42");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "42");
}

TEST(Router, MethodSelectsHandler) {
  EXPECT_EQ(Call(MakeRouter(), "DELETE", "/v1/orders/42").body, "deleted");
  EXPECT_EQ(Call(MakeRouter(), "GET", "/v1/orders").body, "list");
}

TEST(Router, UnknownPathIs404WithJsonError) {
  auto r = Call(MakeRouter(), "GET", "/v1/nope");
  EXPECT_EQ(r.status, 404);
  auto body = boost::json::parse(r.body).as_object();
  EXPECT_EQ(body.at("error").at("code").as_string(), "not_found");
  EXPECT_FALSE(body.at("error").at("message").as_string().empty());
}

TEST(Router, WrongMethodIs405WithAllowHeader) {
  auto r = Call(MakeRouter(), "POST", "/v1/orders/42");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET, DELETE");
  auto body = boost::json::parse(r.body).as_object();
  EXPECT_EQ(body.at("error").at("code").as_string(), "method_not_allowed");
}

TEST(Router, HeadIsServedByGet) { EXPECT_EQ(Call(MakeRouter(), "HEAD", "/v1/orders").status, 200); }

TEST(Router, EmptyPlaceholderDoesNotMatch) {
  EXPECT_EQ(Call(MakeRouter(), "GET", "/v1/orders/").body, "list");  // trailing slash folds
  EXPECT_EQ(Call(MakeRouter(), "GET", "/v1/orders/42/x").status, 404);
}

TEST(ErrorResponse, CarriesFieldAndRetryAfterOn503) {
  auto r = ErrorResponse(Status(StatusCode::kUnavailable, "database down", "x"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Header(r, "Retry-After"), "1");
  auto body = boost::json::parse(r.body).as_object();
  EXPECT_EQ(body.at("error").at("code").as_string(), "unavailable");
  EXPECT_EQ(body.at("error").at("field").as_string(), "x");
}

TEST(ErrorResponse, ReasonIsTheWireCodeFor422) {
  auto r = ErrorResponse(Status(StatusCode::kUnprocessable, "no money", "max_price")
                             .WithReason("insufficient_balance"));
  EXPECT_EQ(r.status, 422);
  auto body = boost::json::parse(r.body).as_object();
  EXPECT_EQ(body.at("error").at("code").as_string(), "insufficient_balance");
}

TEST(ParseQuery, DecodesAndChecksNames) {
  auto q = ParseQuery("status=open&market=groth16%2Dposeidon&x=a+b", {"status", "market", "x"});
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 3u);
  EXPECT_EQ((*q)[1].second, "groth16-poseidon");
  EXPECT_EQ((*q)[2].second, "a b");
  EXPECT_FALSE(ParseQuery("colour=red", {"status"}).has_value());
  EXPECT_FALSE(ParseQuery("status=%4", {"status"}).has_value());
  EXPECT_FALSE(ParseQuery("status=%zz", {"status"}).has_value());
  EXPECT_TRUE(ParseQuery("", {"status"}).has_value());
  EXPECT_TRUE(ParseQuery("&&status=&", {"status"}).has_value());
}

}  // namespace
}  // namespace proofbook::server
