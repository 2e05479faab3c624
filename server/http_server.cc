#include "server/http_server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "server/crypto.h"
#include "server/log.h"

namespace proofbook::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// A handler that never answers must not pin a connection forever.
constexpr std::chrono::seconds kHandlerTimeout{60};
constexpr std::chrono::seconds kWriteTimeout{30};
constexpr std::size_t kMaxRequestIdLength = 64;

bool IsSafeRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

struct HttpServer::Impl {
  Impl(Options o, const Router& r) : options(std::move(o)), router(r), acceptor(ioc) {
    uint8_t seed[4];
    SecureRandom(seed, sizeof seed);
    request_id_prefix = HexEncode(seed, sizeof seed);
  }

  std::string NextRequestId() {
    return fmt::format("{}{:08x}", request_id_prefix,
                       next_request_id.fetch_add(1, std::memory_order_relaxed));
  }

  void DoAccept();

  // Constant after construction.
  const Options options;
  const Router& router;
  std::string request_id_prefix;

  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry{ioc};
  std::vector<std::thread> threads;
  std::atomic<uint32_t> next_request_id{0};
  uint16_t bound_port = 0;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& server)
      : stream_(std::move(socket)), server_(server) {}

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(server_.options.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.header_limit));
    stream_.expires_after(server_.options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    start_ = Clock::now();
    if (ec == http::error::end_of_stream) return DoClose();
    if (ec == beast::error::timeout || ec == net::error::operation_aborted) return;
    if (ec == http::error::body_limit) {
      return Reject(Status(StatusCode::kPayloadTooLarge,
                           "request body exceeds " +
                               std::to_string(server_.options.body_limit) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      HttpResponse r = ErrorResponse(Status(StatusCode::kPayloadTooLarge,
                                            "request headers exceed " +
                                                std::to_string(server_.options.header_limit) +
                                                " bytes"));
      r.status = 431;
      return Reply(std::move(r), /*close=*/true);
    }
    if (ec.category() == beast::error_code(http::error::bad_target).category()) {  // other parse errors
      return Reject(Status(StatusCode::kInvalidArgument, "malformed HTTP request: " + ec.message()));
    }
    if (ec) return;  // reset by peer and the like: nothing to answer

    auto& req = parser_->get();
    HttpRequest request;
    request.method = std::string(req.method_string());
    std::string_view target = req.target();
    auto q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.body = std::move(req.body());
    request.authorization = std::string(req[http::field::authorization]);
    request.content_type = std::string(req[http::field::content_type]);
    std::string_view given_id = req["X-Request-Id"];
    request.request_id = IsSafeRequestId(given_id) ? std::string(given_id) : server_.NextRequestId();
    method_ = request.method;
    path_ = request.path;
    request_id_ = request.request_id;
    keep_alive_ = req.keep_alive();

    stream_.expires_after(kHandlerTimeout);
    auto self = shared_from_this();
    server_.router.Dispatch(request, [self](HttpResponse response) {
      net::post(self->stream_.get_executor(), [self, r = std::move(response)]() mutable {
        self->Reply(std::move(r), /*close=*/false);
      });
    });
  }

  // Answers a request we could not read whole, then closes: the rest of it is still on the wire.
  void Reject(const Status& status) {
    if (parser_ && parser_->is_header_done()) {
      method_ = std::string(parser_->get().method_string());
      path_ = std::string(parser_->get().target());
    }
    Reply(ErrorResponse(status), /*close=*/true);
  }

  void Reply(HttpResponse r, bool close) {
    if (request_id_.empty()) request_id_ = server_.NextRequestId();
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(r.status));
    res_.set(http::field::server, "proofbook");
    res_.set(http::field::content_type, r.content_type);
    res_.set("X-Request-Id", request_id_);
    for (auto& [name, value] : r.headers) res_.set(name, value);
    res_.body() = std::move(r.body);
    res_.keep_alive(keep_alive_ && !close);
    res_.prepare_payload();
    if (method_ == "HEAD") res_.body().clear();  // Content-Length stays that of the GET

    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_);
    spdlog::info("msg=request id={} method={} path={} status={} latency_us={}", request_id_,
                 LogValue(method_), LogValue(path_), r.status, latency.count());

    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec) return;
    if (!res_.keep_alive()) return DoClose();
    method_.clear();
    path_.clear();
    request_id_.clear();
    DoRead();
  }

  void DoClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // not an error if already gone
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  HttpServer::Impl& server_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;

  // The request being served, for the reply and its log line.
  Clock::time_point start_ = Clock::now();
  std::string method_;
  std::string path_;
  std::string request_id_;
  bool keep_alive_ = false;
};

}  // namespace

void HttpServer::Impl::DoAccept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // Stop()
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning on the error.
      spdlog::warn("msg=accept_failed error={}", LogValue(ec.message()));
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) DoAccept();
      });
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<Session>(std::move(socket), *this)->Run();
    DoAccept();
  });
}

HttpServer::HttpServer(Options options, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(options), router)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  Impl& s = *impl_;
  beast::error_code ec;
  tcp::resolver resolver(s.ioc);
  auto endpoints = resolver.resolve(s.options.host, std::to_string(s.options.port),
                                    tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot resolve listen host " + s.options.host + ": " + ec.message(), "listen");
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  "cannot listen on " + s.options.host + ":" + std::to_string(s.options.port) +
                      ": " + ec.message(),
                  "listen");
  }
  s.bound_port = s.acceptor.local_endpoint().port();
  s.DoAccept();
  for (int i = 0; i < s.options.io_threads; ++i) {
    s.threads.emplace_back([&s] { s.ioc.run(); });
  }
  return Status::Ok();
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (s.threads.empty()) return;
  net::post(s.ioc, [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
    s.accept_retry.cancel();
  });
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
}

}  // namespace proofbook::server
