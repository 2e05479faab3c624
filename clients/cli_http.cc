#include "clients/cli_http.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <functional>

namespace proofbook::cli {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// A verified proof may be up to 64 MiB (max_proof_bytes), 4/3 of that in base64: allow a
// little more than that in one answer.
constexpr std::uint64_t kBodyLimit = 128ull << 20;
constexpr auto kConnectTimeout = std::chrono::seconds(10);

// Beast's stream timeouts apply to asynchronous operations only; each step below is started
// asynchronously and the io_context run until it finishes, which keeps the call blocking.
beast::error_code RunStep(net::io_context& ioc,
                          const std::function<void(beast::error_code&)>& start) {
  beast::error_code ec = net::error::would_block;
  start(ec);
  ioc.restart();
  ioc.run();
  return ec;
}

HttpResult Failed(HttpResult::Failure failure, const beast::error_code& ec) {
  HttpResult r;
  r.failure = failure;
  r.error = ec == beast::error::timeout ? "timed out" : ec.message();
  return r;
}

}  // namespace

HttpResult HttpExchange(const HttpEndpoint& endpoint, std::string_view method,
                        const std::string& target, const std::string& body,
                        const std::string& api_key, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto addresses = resolver.resolve(endpoint.host, endpoint.port, ec);
  if (ec) return Failed(HttpResult::Failure::kResolve, ec);

  beast::tcp_stream stream(ioc);
  stream.expires_after(std::min<std::chrono::milliseconds>(kConnectTimeout, timeout));
  ec = RunStep(ioc, [&](beast::error_code& out) {
    stream.async_connect(addresses, [&out](beast::error_code e, const tcp::endpoint&) { out = e; });
  });
  if (ec) return Failed(HttpResult::Failure::kConnect, ec);

  http::request<http::string_body> req{http::string_to_verb(method), endpoint.base_path + target,
                                       11};
  std::string host =
      endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host;
  req.set(http::field::host, host + ":" + endpoint.port);
  req.set(http::field::user_agent, "proofbook-cli");
  req.set(http::field::accept, "application/json");
  if (!api_key.empty()) req.set(http::field::authorization, "Bearer " + api_key);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.keep_alive(false);
  req.prepare_payload();

  // One deadline for writing the request and reading the whole answer.
  stream.expires_after(timeout);
  ec = RunStep(ioc, [&](beast::error_code& out) {
    http::async_write(stream, req, [&out](beast::error_code e, std::size_t) { out = e; });
  });
  if (ec) {
    return Failed(
        ec == beast::error::timeout ? HttpResult::Failure::kTimeout : HttpResult::Failure::kIo, ec);
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  ec = RunStep(ioc, [&](beast::error_code& out) {
    http::async_read(stream, buffer, parser, [&out](beast::error_code e, std::size_t) { out = e; });
  });
  if (ec) {
    return Failed(
        ec == beast::error::timeout ? HttpResult::Failure::kTimeout : HttpResult::Failure::kIo, ec);
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  auto res = parser.release();
  HttpResult r;
  r.status = static_cast<int>(res.result_int());
  r.body = std::move(res.body());
  if (auto it = res.find(http::field::retry_after); it != res.end()) {
    r.retry_after = std::string(it->value());
  }
  return r;
}

}  // namespace proofbook::cli
