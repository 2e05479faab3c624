#include "tests/integration/http_client.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace proofbook::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpClient::Impl {
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::string host;
  uint16_t port = 0;
};

HttpClient::HttpClient(uint16_t port, std::string host) : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
}

HttpClient::~HttpClient() = default;

HttpResult HttpClient::Request(const std::string& method, const std::string& target,
                               const std::string& body, const std::string& bearer) {
  HttpResult result;
  Impl& s = *impl_;
  beast::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!s.stream) {
      s.stream.emplace(s.ioc);
      s.stream->expires_after(std::chrono::seconds(30));
      s.stream->connect(tcp::endpoint(net::ip::make_address(s.host), s.port), ec);
      if (ec) {
        s.stream.reset();
        result.error = "connect: " + ec.message();
        return result;
      }
      ++connections_opened_;
      s.buffer.clear();
    }
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, s.host);
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    if (!body.empty() || method == "POST") {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    s.stream->expires_after(std::chrono::seconds(60));
    http::write(*s.stream, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    if (method == "HEAD") parser.skip(true);
    if (!ec) http::read(*s.stream, s.buffer, parser, ec);
    if (ec) {
      // A kept-alive connection the server has since closed: retry once on a new one.
      s.stream.reset();
      result.error = ec.message();
      continue;
    }
    auto& res = parser.get();
    result.status = res.result_int();
    result.body = res.body();
    for (const auto& field : res) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      result.headers[name] = std::string(field.value());
    }
    result.error.clear();
    if (!res.keep_alive()) s.stream.reset();
    return result;
  }
  return result;
}

std::string RawExchange(uint16_t port, const std::string& bytes, int timeout_ms) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return {};
  net::write(stream, net::buffer(bytes), ec);
  // Even if the server closed early (a refused body), read what it answered.
  std::string out;
  char buf[4096];
  for (;;) {
    std::size_t n = stream.read_some(net::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

}  // namespace proofbook::testing
