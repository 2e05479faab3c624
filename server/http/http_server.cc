#include "server/http/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/base/crypto.h"
#include "server/base/log.h"
#include "server/base/metrics.h"
#include "server/base/rate_limiter.h"

namespace proofbook::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using TlsContext = std::shared_ptr<ssl::context>;
using Clock = std::chrono::steady_clock;
// The strand a connection's handlers run on (its socket was accepted onto it).
using Strand = decltype(net::make_strand(std::declval<net::io_context&>()));

// A handler that never answers must not pin a connection forever.
constexpr std::chrono::seconds kHandlerTimeout{60};
constexpr std::chrono::seconds kWriteTimeout{30};
// The WebSocket handshake (upgrade) must finish within this.
constexpr std::chrono::seconds kWsHandshakeTimeout{10};
// A closing WebSocket whose peer never answers the close frame is cut after this.
constexpr std::chrono::seconds kWsCloseTimeout{5};
// A TLS connection must say so (its first bytes) and finish its handshake within this.
constexpr std::chrono::seconds kTlsHandshakeTimeout{10};
// A TLS close_notify exchange at the end of a connection is given this long.
constexpr std::chrono::seconds kTlsShutdownTimeout{5};
// After a failed accept (out of file descriptors, ...), the next try waits this long.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
constexpr std::size_t kMaxRequestIdLength = 64;
// WebSocket messages are read this much at a time, so the size limit is checked as they grow.
constexpr std::size_t kWsReadChunk = 256 << 10;

bool IsSafeRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// RFC 9112 section 6.3: a request whose Transfer-Encoding is anything but exactly `chunked`
// cannot be framed reliably (Beast reads `chunked, identity` as having no body, and the body
// would be served as a second request), nor one with both Transfer-Encoding and
// Content-Length. Both get 400 and the connection closes.
template <typename Request>
Status CheckFraming(const Request& req) {
  namespace http = boost::beast::http;
  const auto encodings = req.count(http::field::transfer_encoding);
  if (encodings == 0) return Status::Ok();
  if (req.count(http::field::content_length) > 0) {
    return Status(StatusCode::kInvalidArgument,
                  "a request may not have both Transfer-Encoding and Content-Length");
  }
  std::string_view te = req[http::field::transfer_encoding];
  while (!te.empty() && (te.front() == ' ' || te.front() == '\t')) te.remove_prefix(1);
  while (!te.empty() && (te.back() == ' ' || te.back() == '\t')) te.remove_suffix(1);
  if (encodings > 1 || !boost::beast::iequals(te, "chunked")) {
    return Status(StatusCode::kInvalidArgument,
                  "Transfer-Encoding must be exactly 'chunked' (RFC 9112 section 6.3)");
  }
  return Status::Ok();
}

// The key of a remote address for the per-address limits: an IPv4 address (also one mapped
// into IPv6) as is; an IPv6 address by its /64, the block one host or customer usually holds,
// so a flood from many addresses of one network counts as one.
std::string AddressKey(const net::ip::address& address) {
  if (address.is_v6()) {
    const net::ip::address_v6 v6 = address.to_v6();
    if (v6.is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, v6).to_string();
    net::ip::address_v6::bytes_type bytes = v6.to_bytes();
    std::fill(bytes.begin() + 8, bytes.end(), 0);
    return net::ip::address_v6(bytes).to_string() + "/64";
  }
  return address.to_string();
}

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

// A server context from PEM files: TLS 1.2 and 1.3 only; for 1.2 only forward-secret AEAD
// suites (Mozilla's "intermediate" list); no compression, no renegotiation.
Result<TlsContext> MakeTlsContext(const std::string& cert_file, const std::string& key_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  ERR_clear_error();
  auto failed = [&](const std::string& what) {
    std::string detail = OpenSslErrors();
    return Status(StatusCode::kInvalidArgument, what + (detail.empty() ? "" : ": " + detail),
                  "tls");
  };
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return failed("cannot require TLS 1.2");
  }
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(native,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return failed("cannot set the TLS 1.2 cipher list");
  }
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1) {
    return failed("cannot load the TLS certificate chain " + cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return failed("cannot load the TLS private key " + key_file);
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return failed("the TLS private key does not match the certificate");
  }
  return ctx;
}

}  // namespace

struct HttpServer::Impl {
  Impl(Options o, const Router& r) : options(std::move(o)), router(r) {
    uint8_t seed[4];
    SecureRandom(seed, sizeof seed);
    request_id_prefix = HexEncode(seed, sizeof seed);
  }

  std::string NextRequestId() {
    return fmt::format("{}{:08x}", request_id_prefix,
                       next_request_id.fetch_add(1, std::memory_order_relaxed));
  }

  static std::vector<std::unique_ptr<net::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<net::io_context>> out;
    for (int i = 0; i < std::max(n, 1); ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }
  void DoAccept();
  // Starts serving an accepted connection (after its TLS detection, on a TLS server).
  void Serve(beast::tcp_stream stream, Strand strand, std::shared_ptr<void> place,
             std::string address_key);

  bool tls() const { return !options.tls_cert_file.empty(); }
  TlsContext CurrentTls() {
    std::lock_guard lock(tls_mu);
    return tls_context;
  }
  Status LoadTls() {
    auto ctx = MakeTlsContext(options.tls_cert_file, options.tls_key_file);
    if (!ctx) return ctx.error();
    std::lock_guard lock(tls_mu);
    tls_context = std::move(ctx).value();
    return Status::Ok();
  }

  // Before a request is routed: a refusal when its address is over a per-address limit.
  std::optional<Status> RefusalFor(const std::string& address_key) {
    const auto now = Clock::now();
    if (auth_failures.Empty(address_key, now)) {
      return Status(StatusCode::kRateLimited,
                    "too many failed authentications from this address; retry later")
          .WithReason("too_many_auth_failures");
    }
    if (!address_requests.Allow(address_key, now)) {
      return Status(StatusCode::kRateLimited, "too many requests from this address; retry later")
          .WithReason("address_rate_limited");
    }
    return std::nullopt;
  }
  // A place for one more connection from `ip`, held (and given back) by the returned token's
  // owner; nullptr when the server is full for it.
  std::shared_ptr<void> Admit(const std::string& ip);
  // Answers a connection that got no place and closes it.
  void Refuse(tcp::socket& socket, const std::string& ip);

  // Constant after construction.
  const Options options;
  const Router& router;
  std::string request_id_prefix;

  std::atomic<uint32_t> next_request_id{0};
  uint16_t bound_port = 0;

  // The WebSocket endpoint, if any (set before Start).
  std::string ws_path;
  WsEndpoint* ws_endpoint = nullptr;
  WsOptions ws_options;
  std::atomic<uint64_t> next_ws_id{1};

  // Open connections, in all and by remote address (Admit).
  std::mutex connections_mu;
  std::size_t connections = 0;
  std::unordered_map<std::string, std::size_t> connections_by_ip;
  std::atomic<int64_t> last_refusal_log_s{0};

  // Requests and failed authentications (401 answers) by address key (AddressKey).
  AddressRateLimiter address_requests{options.ip_request_rate, options.ip_request_burst > 0
                                                                   ? options.ip_request_burst
                                                                   : 2 * options.ip_request_rate};
  AddressRateLimiter auth_failures{options.ip_auth_failures_per_minute,
                                   options.ip_auth_failures_per_minute, std::chrono::minutes(1)};

  // The TLS context new connections take (each keeps its own until it ends); SIGHUP swaps it.
  std::mutex tls_mu;
  TlsContext tls_context;

  // One io_context a thread, each connection on one of them (round robin): one context shared
  // by the threads made every handler take its scheduler's lock and the threads wake each
  // other (2 threads on 2 cores: /healthz cost 41-45 us of server CPU against 26-28 us on one
  // thread). The first also accepts. Last of the members: destroying a context destroys the
  // handlers still queued on it, and with them sessions whose places (Admit) use the members
  // above.
  std::vector<std::unique_ptr<net::io_context>> contexts = MakeContexts(options.io_threads);
  std::vector<decltype(net::make_work_guard(std::declval<net::io_context&>()))> work;
  std::size_t next_context = 0;  // the accept handler's only
  tcp::acceptor acceptor{*contexts.front()};
  net::steady_timer accept_retry{*contexts.front()};
  std::vector<std::thread> threads;
};

std::shared_ptr<void> HttpServer::Impl::Admit(const std::string& ip) {
  std::lock_guard lock(connections_mu);
  std::size_t& mine = connections_by_ip[ip];
  if ((options.max_connections != 0 && connections >= options.max_connections) ||
      (options.max_connections_per_ip != 0 && mine >= options.max_connections_per_ip)) {
    if (mine == 0) connections_by_ip.erase(ip);
    return nullptr;
  }
  ++connections;
  ++mine;
  // The pointer is only a token (not owned; non-null so the result tests true).
  return std::shared_ptr<void>(static_cast<void*>(this), [this, ip](void*) {
    std::lock_guard lock(connections_mu);
    --connections;
    auto it = connections_by_ip.find(ip);
    if (it != connections_by_ip.end() && --it->second == 0) connections_by_ip.erase(it);
  });
}

void HttpServer::Impl::Refuse(tcp::socket& socket, const std::string& ip) {
  static constexpr std::string_view kReply =
      "HTTP/1.1 503 Service Unavailable\r\nServer: proofbook\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nRetry-After: 1\r\nContent-Length: 92\r\n\r\n"
      R"({"error":{"code":"too_many_connections","message":"too many open connections; retry later"}})";
  static_assert(kReply.size() - kReply.find("\r\n\r\n") - 4 == 92);
  // One non-blocking write into an empty socket buffer: it never waits on the client. A TLS
  // client could not read a plaintext answer, and a handshake is not spent on a refusal: it
  // sees the connection closed.
  beast::error_code ec;
  socket.non_blocking(true, ec);
  if (!tls()) socket.write_some(net::buffer(kReply.data(), kReply.size()), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  // At most one line a second: a flood must not become a flood of logs.
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
  int64_t last = last_refusal_log_s.load();
  if (now_s != last && last_refusal_log_s.compare_exchange_strong(last, now_s)) {
    std::size_t open = 0;
    {
      std::lock_guard lock(connections_mu);
      open = connections;
    }
    spdlog::warn(
        "msg=connection_refused why=too_many_connections ip={} open={} max={} "
        "max_per_ip={}",
        LogValue(ip), open, options.max_connections, options.max_connections_per_ip);
  }
}

namespace {

// One upgraded connection. Reads run back to back on the strand; writes go through a bounded
// queue, one at a time (Beast allows one pending write, and a close frame is a write).
// Stream: beast::tcp_stream, or TlsStream after its handshake.
template <typename Stream>
class WsSession : public WsPeer, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(Stream stream, Strand strand, HttpServer::Impl& server,
            std::unique_ptr<WsHandler> handler, std::shared_ptr<void> place, TlsContext tls)
      : ws_(std::move(stream)),
        strand_(std::move(strand)),
        server_(server),
        handler_(std::move(handler)),
        place_(std::move(place)),
        tls_(std::move(tls)),
        id_(server.next_ws_id.fetch_add(1)),
        hard_close_(strand_) {
    Metrics::Get().ws_connections.Increment();
  }
  ~WsSession() { Metrics::Get().ws_connections.Decrement(); }
  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  void Run(http::request<http::string_body> request) {
    beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = kWsHandshakeTimeout;
    timeout.idle_timeout = server_.ws_options.idle_timeout;
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "proofbook"); }));
    // The message limit is ours (OnRead), not Beast's read_message_max: past that, Beast fails
    // the connection itself, and its teardown closes the socket while the peer is still
    // sending, so the peer gets a reset instead of the 1009 close (a client saw 1006). Any read
    // error leaves the stream failed (a buffer limit too), so messages are read in chunks and
    // counted, and past the limit we close with 1009 on a healthy stream: the close handshake
    // drains the rest of the message, then waits for the peer's close.
    ws_.read_message_max(0);
    ws_.async_accept(request,
                     beast::bind_front_handler(&WsSession::OnAccept, this->shared_from_this()));
  }

  bool Send(std::string text) override {
    if (gone_.load()) return false;
    const std::size_t size = text.size();
    const std::size_t n = queued_.fetch_add(1) + 1;
    const std::size_t bytes = queued_bytes_.fetch_add(size) + size;
    if (n > server_.ws_options.max_queued_messages || bytes > server_.ws_options.max_queued_bytes) {
      queued_.fetch_sub(1);
      queued_bytes_.fetch_sub(size);
      if (!slow_.exchange(true)) {
        Metrics::Get().ws_slow_consumers_closed.Increment();
        spdlog::warn("msg=ws_slow_consumer conn={} queued={} queued_bytes={} max={} max_bytes={}",
                     id_, n - 1, bytes - size, server_.ws_options.max_queued_messages,
                     server_.ws_options.max_queued_bytes);
      }
      Close(kWsTryAgainLater, "slow consumer");
      return false;
    }
    net::post(strand_, [self = this->shared_from_this(), t = std::move(text)]() mutable {
      self->Enqueue(std::move(t));
    });
    return true;
  }

  void Close(WsCloseCode code, std::string reason) override {
    net::post(strand_, [self = this->shared_from_this(), code, r = std::move(reason)] {
      self->StartClose(code, r);
    });
  }

  uint64_t id() const override { return id_; }

  void Hold() override { held_ = true; }  // on the strand, inside OnMessage

  void Resume(std::function<void()> fn) override {
    net::post(strand_, [self = this->shared_from_this(), fn = std::move(fn)] {
      self->held_ = false;
      if (self->finished_) return;
      if (!self->closing_) fn();
      // Also when closing: the read fails and Finish runs, so OnClose still comes last.
      self->DoRead();
    });
  }

  void Post(std::function<void()> fn) override {
    net::post(strand_, [self = this->shared_from_this(), fn = std::move(fn)] {
      if (!self->finished_ && !self->closing_) fn();
    });
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) return Finish("handshake failed: " + ec.message());
    open_ = true;
    handler_->OnOpen(this->shared_from_this());
    DoRead();
  }

  void DoRead() {
    reading_ = true;
    ws_.async_read_some(buffer_, kWsReadChunk,
                        beast::bind_front_handler(&WsSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec && closing_) return Finish(close_reason_);  // we closed it, for this reason
    if (ec == websocket::error::closed) return Finish("closed by peer");
    if (ec == beast::error::timeout) return Finish("timeout");
    if (ec) return Finish(close_reason_.empty() ? ec.message() : close_reason_);
    if (buffer_.size() > server_.ws_options.max_message_bytes) {
      buffer_.consume(buffer_.size());
      // No read beside the close handshake: it drains the rest of the message and waits for
      // the peer's close frame; its completion calls Finish.
      return StartClose(kWsTooBig, "message too big (over " +
                                       std::to_string(server_.ws_options.max_message_bytes) +
                                       " bytes)");
    }
    if (!ws_.is_message_done()) return DoRead();  // more of the same message
    if (!AllowMessage()) {
      buffer_.consume(buffer_.size());
      return StartClose(
          kWsPolicyViolation,
          "message rate over " + std::to_string(server_.ws_options.max_messages_per_s) + "/s");
    }
    std::string data = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (!closing_) handler_->OnMessage(ws_.got_binary(), std::move(data));
    if (held_) return;  // Resume() reads again
    DoRead();
  }

  // A token bucket of max_messages_per_s, twice that at once, in millionths of a message.
  bool AllowMessage() {
    const int64_t rate = static_cast<int64_t>(server_.ws_options.max_messages_per_s);
    if (rate == 0) return true;
    constexpr int64_t kOne = 1'000'000;
    const auto now = Clock::now();
    const int64_t us = std::min<int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - messages_at_).count(),
        int64_t{10} * kOne);  // ten idle seconds refill any bucket
    messages_at_ = now;
    message_tokens_ = std::min(2 * rate * kOne, message_tokens_ + us * rate);
    if (message_tokens_ < kOne) return false;
    message_tokens_ -= kOne;
    return true;
  }

  void Enqueue(std::string text) {
    if (closing_ || finished_) {
      queued_.fetch_sub(1);
      queued_bytes_.fetch_sub(text.size());
      return;
    }
    queue_.push_back(std::move(text));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (queue_.empty()) {
      if (closing_ && !close_sent_) SendClose();
      return;
    }
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()),
                    beast::bind_front_handler(&WsSession::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    writing_ = false;
    queued_.fetch_sub(1);
    queued_bytes_.fetch_sub(queue_.front().size());
    queue_.pop_front();
    if (ec) return Finish("write failed: " + ec.message());
    WriteNext();
  }

  // A slow consumer's queue is dropped: it would never drain. Otherwise the close frame goes
  // after what is queued. Either way the socket goes within 5 s.
  void StartClose(WsCloseCode code, const std::string& reason) {
    if (closing_ || finished_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = reason;
    if (code == kWsTryAgainLater) {
      while (queue_.size() > (writing_ ? 1u : 0u)) {
        queued_.fetch_sub(1);
        queued_bytes_.fetch_sub(queue_.back().size());
        queue_.pop_back();
      }
    }
    hard_close_.expires_after(kWsCloseTimeout);
    hard_close_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);
    });
    if (!open_) return;
    if (!writing_) SendClose();
  }

  void SendClose() {
    close_sent_ = true;
    ws_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
        [self = this->shared_from_this()](beast::error_code) {
          // A pending read ends with `closed` (or an error) and calls Finish; without one
          // (a message too big, or reads held), Finish is ours to call.
          beast::error_code ignored;
          beast::get_lowest_layer(self->ws_).socket().close(ignored);
          if (!self->reading_) self->Finish(self->close_reason_);
        });
  }

  void Finish(const std::string& why) {
    if (finished_) return;
    finished_ = true;
    gone_.store(true);
    hard_close_.cancel();
    if (open_) {
      spdlog::info("msg=ws_closed conn={} why={}", id_, LogValue(why));
      handler_->OnClose(why);
    }
  }

  websocket::stream<Stream> ws_;
  Strand strand_;  // ws_'s: every handler and every call from another thread runs here
  HttpServer::Impl& server_;
  std::unique_ptr<WsHandler> handler_;
  std::shared_ptr<void> place_;  // this connection's place (Impl::Admit)
  TlsContext tls_;               // the context ws_ was made with, if TLS: it must outlive ws_
  const uint64_t id_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::atomic<std::size_t> queued_{0};  // in queue_ or posted towards it
  std::atomic<std::size_t> queued_bytes_{0};
  std::atomic<bool> gone_{false};
  std::atomic<bool> slow_{false};  // the slow-consumer decision was logged
  net::steady_timer hard_close_;
  // On the strand.
  bool open_ = false;
  bool reading_ = false;  // an async_read is pending
  bool held_ = false;     // Hold()
  bool writing_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool finished_ = false;
  // AllowMessage's bucket; "ten seconds ago" makes its first refill fill it.
  Clock::time_point messages_at_ = Clock::now() - std::chrono::seconds(10);
  int64_t message_tokens_ = 0;
  WsCloseCode close_code_ = kWsNormal;
  std::string close_reason_;
};

// One HTTP connection. Stream: beast::tcp_stream, or TlsStream (the handshake comes first,
// from the bytes TLS detection already read, in `buffer`).
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Session(beast::tcp_stream tcp, Strand strand, HttpServer::Impl& server,
          std::shared_ptr<void> place, std::string address_key, TlsContext tls,
          beast::flat_buffer buffer)
      : stream_(MakeStream(std::move(tcp), tls)),
        strand_(std::move(strand)),
        buffer_(std::move(buffer)),
        server_(server),
        place_(std::move(place)),
        address_key_(std::move(address_key)),
        tls_(std::move(tls)) {}

  void Run() {
    if constexpr (kTls) {
      net::dispatch(strand_, [self = this->shared_from_this()] {
        beast::get_lowest_layer(self->stream_).expires_after(kTlsHandshakeTimeout);
        self->stream_.async_handshake(ssl::stream_base::server, self->buffer_.data(),
                                      beast::bind_front_handler(&Session::OnHandshake, self));
      });
    } else {
      net::dispatch(strand_, beast::bind_front_handler(&Session::DoRead, this->shared_from_this()));
    }
  }

 private:
  static Stream MakeStream(beast::tcp_stream tcp, const TlsContext& tls) {
    if constexpr (kTls) {
      return Stream(std::move(tcp), *tls);
    } else {
      return tcp;
    }
  }

  void OnHandshake(beast::error_code ec, std::size_t used) {
    if (ec) {
      spdlog::debug("msg=tls_handshake_failed address={} error={}", LogValue(address_key_),
                    LogValue(ec.message()));
      return;
    }
    buffer_.consume(used);
    DoRead();
  }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(server_.options.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.header_limit));
    beast::get_lowest_layer(stream_).expires_after(server_.options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    start_ = Clock::now();
    if (ec == http::error::end_of_stream) return DoClose();
    if (ec == beast::error::timeout || ec == net::error::operation_aborted) return;
    if (ec == http::error::body_limit) {
      return Reject(
          Status(StatusCode::kPayloadTooLarge,
                 "request body exceeds " + std::to_string(server_.options.body_limit) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      HttpResponse r = ErrorResponse(Status(
          StatusCode::kPayloadTooLarge,
          "request headers exceed " + std::to_string(server_.options.header_limit) + " bytes"));
      r.status = 431;
      return Reply(std::move(r), /*close=*/true);
    }
    if (ec.category() ==
        beast::error_code(http::error::bad_target).category()) {  // other parse errors
      return Reject(
          Status(StatusCode::kInvalidArgument, "malformed HTTP request: " + ec.message()));
    }
    if (ec) return;  // reset by peer and the like: nothing to answer

    auto& req = parser_->get();
    if (Status framing = CheckFraming(req); !framing.ok()) return Reject(framing);
    HttpRequest request;
    request.method = std::string(req.method_string());
    std::string_view target = req.target();
    auto q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.body = std::move(req.body());
    request.authorization = std::string(req[http::field::authorization]);
    request.content_type = std::string(req[http::field::content_type]);
    request.accept = std::string(req[http::field::accept]);
    std::string_view given_id = req["X-Request-Id"];
    request.request_id =
        IsSafeRequestId(given_id) ? std::string(given_id) : server_.NextRequestId();
    method_ = request.method;
    path_ = request.path;
    request_id_ = request.request_id;
    keep_alive_ = req.keep_alive();

    if (std::optional<Status> refused = server_.RefusalFor(address_key_)) {
      return Reply(ErrorResponse(*refused), /*close=*/false);
    }
    if (websocket::is_upgrade(req) && server_.ws_endpoint != nullptr &&
        request.path == server_.ws_path) {
      return Upgrade(request);
    }

    beast::get_lowest_layer(stream_).expires_after(kHandlerTimeout);
    auto self = this->shared_from_this();
    server_.router.Dispatch(request, [self](HttpResponse response) {
      net::post(self->strand_, [self, r = std::move(response)]() mutable {
        self->Reply(std::move(r), /*close=*/false);
      });
    });
  }

  // The connection becomes a WebSocket if the endpoint accepts the request; else the
  // endpoint's error is the answer.
  void Upgrade(const HttpRequest& request) {
    Result<std::unique_ptr<WsHandler>> handler = server_.ws_endpoint->Accept(request);
    if (!handler) return Reply(ErrorResponse(handler.error()), /*close=*/true);
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_);
    spdlog::info("msg=request id={} method={} path={} status=101 latency_us={}", request_id_,
                 LogValue(method_), LogValue(path_), latency.count());
    std::make_shared<WsSession<Stream>>(std::move(stream_), strand_, server_, std::move(*handler),
                                        std::move(place_), std::move(tls_))
        ->Run(parser_->release());
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

    // Failed authentications count against the address (Impl::RefusalFor).
    if (r.status == 401) server_.auth_failures.Charge(address_key_, Clock::now());
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_);
    spdlog::info("msg=request id={} method={} path={} status={} latency_us={}", request_id_,
                 LogValue(method_), LogValue(path_), r.status, latency.count());

    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    if (r.stream) return WriteStreamHead(std::move(r.stream));
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&Session::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec) return;
    if (!res_.keep_alive()) return DoClose();
    method_.clear();
    path_.clear();
    request_id_.clear();
    DoRead();
  }

  // A streamed body (BodyStream): res_'s header with chunked coding, then one chunk per piece,
  // each asked for once the one before is written. HEAD gets the header alone.
  void WriteStreamHead(std::shared_ptr<BodyStream> body) {
    head_ = {};
    head_.version(11);
    head_.result(res_.result());
    for (const auto& field : res_) head_.set(field.name_string(), field.value());
    head_.erase(http::field::content_length);
    head_.chunked(true);
    head_.keep_alive(res_.keep_alive());
    if (method_ == "HEAD") body->Cancel();
    body_ = method_ == "HEAD" ? nullptr : std::move(body);
    head_serializer_.emplace(head_);
    http::async_write_header(stream_, *head_serializer_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               if (!self->body_) return self->OnWrite(ec, 0);
                               if (ec) return self->EndStream(/*cancel=*/true);
                               self->AskForPiece();
                             });
  }

  void AskForPiece() {
    beast::get_lowest_layer(stream_).expires_never();  // the producer sets the pace
    body_->Next([self = this->shared_from_this()](std::string piece, BodyStream::Then then) {
      net::post(self->strand_, [self, piece = std::move(piece), then]() mutable {
        self->OnPiece(std::move(piece), then);
      });
    });
  }

  void OnPiece(std::string piece, BodyStream::Then then) {
    if (then == BodyStream::Then::kAbort) {
      spdlog::warn("msg=stream_aborted id={} path={}", request_id_, LogValue(path_));
      return EndStream(/*cancel=*/false);  // no last chunk: the client sees a cut body
    }
    beast::get_lowest_layer(stream_).expires_after(kWriteTimeout);
    auto after = [self = this->shared_from_this(), then](beast::error_code ec, std::size_t) {
      if (ec) return self->EndStream(/*cancel=*/true);
      if (then == BodyStream::Then::kMore) return self->AskForPiece();
      self->WriteLastChunk();
    };
    if (piece.empty()) return after({}, 0);  // an empty chunk would end the body
    piece_ = std::move(piece);
    net::async_write(stream_, http::make_chunk(net::buffer(piece_)), std::move(after));
  }

  void WriteLastChunk() {
    body_.reset();
    piece_.clear();
    net::async_write(stream_, http::make_chunk_last(),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->OnWrite(ec, 0);
                     });
  }

  // The stream is over before its end: the write failed (`cancel`: tell the producer) or the
  // producer gave up. The connection closes; its next state is unknown to the client.
  void EndStream(bool cancel) {
    if (cancel && body_) body_->Cancel();
    body_.reset();
    piece_.clear();
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().close(ec);
  }

  void DoClose() {
    if constexpr (kTls) {
      // close_notify, then the socket goes with the session.
      beast::get_lowest_layer(stream_).expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // not an error if already gone
    }
  }

  Stream stream_;
  Strand strand_;  // stream_'s
  beast::flat_buffer buffer_;
  HttpServer::Impl& server_;
  std::shared_ptr<void> place_;  // this connection's place (Impl::Admit); moves on upgrade
  const std::string address_key_;
  TlsContext tls_;  // the context stream_ was made with, if TLS; moves on upgrade
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  // A streamed reply (WriteStreamHead): its header, the body's producer, the piece in flight.
  http::response<http::empty_body> head_;
  std::optional<http::response_serializer<http::empty_body>> head_serializer_;
  std::shared_ptr<BodyStream> body_;
  std::string piece_;

  // The request being served, for the reply and its log line.
  Clock::time_point start_ = Clock::now();
  std::string method_;
  std::string path_;
  std::string request_id_;
  bool keep_alive_ = false;
};

// On a TLS server, the first bytes of a connection decide: a TLS ClientHello goes on to a TLS
// Session; anything else (a client speaking plain HTTP to the TLS port) is answered, in
// plaintext it can read, 400 `tls_required`, and the connection closes.
class TlsDetector : public std::enable_shared_from_this<TlsDetector> {
 public:
  TlsDetector(beast::tcp_stream stream, Strand strand, HttpServer::Impl& server,
              std::shared_ptr<void> place, std::string address_key)
      : stream_(std::move(stream)),
        strand_(std::move(strand)),
        server_(server),
        place_(std::move(place)),
        address_key_(std::move(address_key)) {}

  void Run() {
    net::dispatch(strand_, [self = shared_from_this()] {
      self->stream_.expires_after(kTlsHandshakeTimeout);
      beast::async_detect_ssl(self->stream_, self->buffer_,
                              beast::bind_front_handler(&TlsDetector::OnDetect, self));
    });
  }

 private:
  void OnDetect(beast::error_code ec, bool tls) {
    if (ec) return;  // gone, or silent past the timeout
    if (tls) {
      std::make_shared<Session<TlsStream>>(std::move(stream_), strand_, server_, std::move(place_),
                                           std::move(address_key_), server_.CurrentTls(),
                                           std::move(buffer_))
          ->Run();
      return;
    }
    static constexpr std::string_view kReply =
        "HTTP/1.1 400 Bad Request\r\nServer: proofbook\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nContent-Length: 81\r\n\r\n"
        R"({"error":{"code":"tls_required","message":"this port speaks HTTPS and WSS only"}})";
    static_assert(kReply.size() - kReply.find("\r\n\r\n") - 4 == 81);
    spdlog::debug("msg=plaintext_on_tls_port address={}", LogValue(address_key_));
    stream_.expires_after(kWriteTimeout);
    net::async_write(stream_, net::buffer(kReply.data(), kReply.size()),
                     [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                       if (write_ec) return;
                       beast::error_code ignored;
                       self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                       self->Drain();
                     });
  }

  // Reads what the client still sends until it closes (or briefly), so that closing does not
  // reset the connection before it has read the answer.
  void Drain() {
    stream_.expires_after(kTlsShutdownTimeout);
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) self->Drain();
                            });
  }

  beast::tcp_stream stream_;
  Strand strand_;
  beast::flat_buffer buffer_;  // what detection read: the start of the TLS handshake
  HttpServer::Impl& server_;
  std::shared_ptr<void> place_;
  std::string address_key_;
};

}  // namespace

void HttpServer::Impl::DoAccept() {
  Strand strand = net::make_strand(*contexts[next_context++ % contexts.size()]);
  acceptor.async_accept(strand, [this, strand](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // Stop()
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning on the error.
      spdlog::warn("msg=accept_failed error={}", LogValue(ec.message()));
      accept_retry.expires_after(kAcceptRetryDelay);
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) DoAccept();
      });
      return;
    }
    const net::ip::address address = socket.remote_endpoint(ec).address();
    const std::string ip = address.to_string();
    std::shared_ptr<void> place = Admit(ip);
    if (!place) {
      Refuse(socket, ip);
      return DoAccept();
    }
    socket.set_option(tcp::no_delay(true), ec);
    beast::tcp_stream stream(std::move(socket));
    if (tls()) {
      std::make_shared<TlsDetector>(std::move(stream), strand, *this, std::move(place),
                                    AddressKey(address))
          ->Run();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(std::move(stream), strand, *this,
                                                   std::move(place), AddressKey(address), nullptr,
                                                   beast::flat_buffer())
          ->Run();
    }
    DoAccept();
  });
}

HttpServer::HttpServer(Options options, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(options), router)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  Impl& s = *impl_;
  if (s.options.tls_cert_file.empty() != s.options.tls_key_file.empty()) {
    return Status(StatusCode::kInvalidArgument, "TLS needs both a certificate and a key", "tls");
  }
  if (s.tls()) {
    if (Status loaded = s.LoadTls(); !loaded.ok()) return loaded;
  }
  beast::error_code ec;
  tcp::resolver resolver(*s.contexts.front());
  auto endpoints =
      resolver.resolve(s.options.host, std::to_string(s.options.port), tcp::resolver::passive, ec);
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
  for (auto& context : s.contexts) {
    s.work.push_back(net::make_work_guard(*context));  // run() until Stop, with or without work
    s.threads.emplace_back([context = context.get()] { context->run(); });
  }
  return Status::Ok();
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

Status HttpServer::ReloadTls() {
  if (!impl_->tls()) return Status::Ok();
  return impl_->LoadTls();
}

void HttpServer::SetWebSocket(std::string path, WsEndpoint* endpoint, WsOptions options) {
  impl_->ws_path = std::move(path);
  impl_->ws_endpoint = endpoint;
  impl_->ws_options = options;
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (s.threads.empty()) return;
  net::post(*s.contexts.front(), [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
    s.accept_retry.cancel();
  });
  for (auto& context : s.contexts) context->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.work.clear();
}

}  // namespace proofbook::server
