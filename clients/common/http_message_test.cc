#include "clients/common/http_message.h"

#include <gtest/gtest.h>

#include <boost/beast/http/write.hpp>
#include <sstream>
#include <string>

namespace proofbook::clients {
namespace {

// The request as it goes on the wire.
std::string Wire(const BeastRequest& req) {
  std::ostringstream out;
  out << req;
  return out.str();
}

TEST(BuildRequest, EmptyGetHasNoBodyFraming) {
  HttpRequest get;
  get.target = "/healthz";
  EXPECT_EQ(Wire(BuildRequest(get, "", "127.0.0.1", "proofbook-load", true)),
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: proofbook-load\r\n\r\n");
}

TEST(BuildRequest, PostCarriesItsBodyKeyAndTypeUnderTheBasePath) {
  HttpRequest post;
  post.method = "POST";
  post.target = "/v1/orders";
  post.body = R"({"market":"m"})";
  post.bearer = "pbk_key";
  post.content_type = "application/json";
  post.headers = {{"Accept", "application/json"}};
  EXPECT_EQ(Wire(BuildRequest(post, "/api", "[::1]:8080", "", false)),
            "POST /api/v1/orders HTTP/1.1\r\nHost: [::1]:8080\r\nAuthorization: Bearer "
            "pbk_key\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
            "Connection: close\r\nContent-Length: 14\r\n\r\n{\"market\":\"m\"}");
}

TEST(BuildRequest, EmptyPostSaysContentLengthZero) {
  HttpRequest post;
  post.method = "POST";
  post.target = "/v1/stake";
  EXPECT_NE(Wire(BuildRequest(post, "", "h", "", true)).find("Content-Length: 0\r\n"),
            std::string::npos);
}

TEST(BuildRequest, FramingTheCallerSetsIsSentAsGiven) {
  HttpRequest bad;
  bad.method = "POST";
  bad.target = "/v1/orders";
  bad.body = "5\r\nhello\r\n0\r\n\r\n";
  bad.headers = {{"Content-Length", "3"}, {"Transfer-Encoding", "chunked"}};
  const std::string wire = Wire(BuildRequest(bad, "", "h", "", true));
  EXPECT_NE(wire.find("Content-Length: 3\r\n"), std::string::npos) << wire;
  EXPECT_NE(wire.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << wire;
}

TEST(BuildRequest, UnknownMethodsAreSentAsGiven) {
  HttpRequest odd;
  odd.method = "BREW";
  odd.target = "/pot";
  EXPECT_EQ(Wire(BuildRequest(odd, "", "h", "", true)).rfind("BREW /pot HTTP/1.1\r\n", 0), 0u);
}

TEST(HostHeader, BracketsIpv6Literals) {
  EXPECT_EQ(HostHeader("127.0.0.1", "80"), "127.0.0.1:80");
  EXPECT_EQ(HostHeader("::1", "8080"), "[::1]:8080");
}

}  // namespace
}  // namespace proofbook::clients
