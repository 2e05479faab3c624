#include "clients/common/ws_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <iterator>
#include <utility>

#include "clients/common/http_client.h"
#include "clients/common/tls_stream.h"

namespace proofbook::clients {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// After a blocking call's time is up, how long its cancelled operation may take to end.
constexpr auto kCancelGrace = std::chrono::seconds(1);

}  // namespace

// Everything the pending operations touch; they hold it (shared_ptr) so that it outlives them.
// Each connection has a generation: a completion from an earlier one, or after the WsClient is
// gone, finds its generation stale and calls nobody.
struct WsClient::Impl : std::enable_shared_from_this<Impl> {
  explicit Impl(net::io_context& io) : ioc(io) {}

  net::io_context& ioc;
  std::optional<websocket::stream<MaybeTlsStream>> ws;
  // wss: the context, made for `tls_ca_file` on the first connection that needs it.
  TlsClientContext tls;
  std::string tls_ca_file;
  uint64_t generation = 0;
  bool ok = false;
  int status = 0;
  std::string error;
  uint16_t close_code = 0;
  websocket::response_type upgrade;
  beast::flat_buffer read_buffer;
  // Outgoing messages not yet written (text or binary), and their bytes with the one being
  // written while `writing`.
  std::deque<std::pair<std::string, bool>> queue;
  std::size_t queued_bytes = 0;
  bool writing = false;
  // AsyncClose asked: the close frame goes once the queue is empty.
  std::optional<uint16_t> close_after_queue;
  std::function<void()> on_closed;

  tcp::socket& socket() { return beast::get_lowest_layer(*ws).socket(); }

  // Ends the current connection, if any: its pending operations end soon, calling nobody.
  void Drop() {
    ++generation;
    ok = false;
    queue.clear();
    queued_bytes = 0;
    writing = false;
    close_after_queue.reset();
    on_closed = nullptr;
    if (ws) {
      beast::error_code ignored;
      socket().close(ignored);
    }
  }

  void Fail(const char* step, const beast::error_code& ec) {
    ok = false;
    error = std::string(step) + ": " + ec.message();
    if (ec == websocket::error::closed) close_code = ws->reason().code;
  }

  void ConnectTo(tcp::resolver::results_type addresses, std::size_t index,
                 const WsConnectOptions& options, std::function<void(bool)> done) {
    auto it = addresses.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(index));
    const tcp::endpoint endpoint = it->endpoint();
    beast::error_code ec;
    if (socket().is_open()) socket().close(ec);
    socket().open(endpoint.protocol(), ec);
    if (!ec && options.receive_buffer_bytes > 0) {
      socket().set_option(net::socket_base::receive_buffer_size(options.receive_buffer_bytes), ec);
    }
    if (ec) {
      Fail("connect", ec);
      return done(false);
    }
    beast::get_lowest_layer(*ws).async_connect(
        endpoint, [self = shared_from_this(), gen = generation, addresses, index, options,
                   done = std::move(done)](beast::error_code ec) mutable {
          if (gen != self->generation) return;
          if (ec && index + 1 < addresses.size()) {
            return self->ConnectTo(std::move(addresses), index + 1, options, std::move(done));
          }
          if (ec) {
            self->Fail("connect", ec);
            return done(false);
          }
          if (self->ws->next_layer().tls()) return self->Handshake(options, std::move(done));
          self->Upgrade(options, std::move(done));
        });
  }

  // wss: TLS first (the name checked against options.host), then the upgrade.
  void Handshake(const WsConnectOptions& options, std::function<void(bool)> done) {
    if (!ws->next_layer().ConfigureHost(options.host)) {
      Fail("TLS", net::error::invalid_argument);
      return done(false);
    }
    ws->next_layer().ssl().async_handshake(net::ssl::stream_base::client,
                                           [self = shared_from_this(), gen = generation, options,
                                            done = std::move(done)](beast::error_code ec) mutable {
                                             if (gen != self->generation) return;
                                             if (ec) {
                                               self->Fail("TLS handshake", ec);
                                               return done(false);
                                             }
                                             self->Upgrade(options, std::move(done));
                                           });
  }

  void Upgrade(const WsConnectOptions& options, std::function<void(bool)> done) {
    beast::error_code ignored;
    socket().set_option(tcp::no_delay(true), ignored);  // a proof is a header, then frames
    ws->set_option(
        websocket::stream_base::decorator([bearer = options.bearer](websocket::request_type& req) {
          if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
        }));
    ws->read_message_max(options.max_message_bytes);
    // The TCP deadline set before connecting covers the upgrade too.
    ws->async_handshake(upgrade, HostHeader(options.host, options.port), options.path,
                        [self = shared_from_this(), gen = generation,
                         done = std::move(done)](beast::error_code ec) {
                          if (gen != self->generation) return;
                          self->status = static_cast<int>(self->upgrade.result_int());
                          if (ec) {
                            self->error = "handshake: " + ec.message() + " (HTTP " +
                                          std::to_string(self->status) + ")";
                            return done(false);
                          }
                          beast::get_lowest_layer(*self->ws).expires_never();
                          self->ws->set_option(
                              websocket::stream_base::timeout::suggested(beast::role_type::client));
                          self->ok = true;
                          done(true);
                        });
  }

  void WriteNext() {
    if (writing || !ok) return;
    if (queue.empty()) {
      if (close_after_queue) StartClose();
      return;
    }
    writing = true;
    // Out of the queue and held by the write itself, which may outlive a Drop() of the queue.
    auto message = std::make_shared<std::string>(std::move(queue.front().first));
    ws->binary(queue.front().second);
    queue.pop_front();
    ws->async_write(net::buffer(*message), [self = shared_from_this(), gen = generation, message](
                                               beast::error_code ec, std::size_t) {
      if (gen != self->generation) return;
      self->writing = false;
      self->queued_bytes -= message->size();
      if (ec) {
        // The pending read, if any, ends with the connection.
        self->Fail("write", ec);
        self->queue.clear();
        self->queued_bytes = 0;
        return;
      }
      self->WriteNext();
    });
  }

  void StartClose() {
    const uint16_t code = *close_after_queue;
    close_after_queue.reset();
    ws->async_close(websocket::close_reason(code),
                    [self = shared_from_this(), gen = generation](beast::error_code) {
                      if (gen != self->generation) return;
                      self->ok = false;
                      if (self->error.empty()) self->error = "closed";
                      if (auto done = std::exchange(self->on_closed, nullptr)) done();
                    });
  }
};

WsClient::WsClient()
    : owned_ioc_(std::make_unique<net::io_context>(1)),
      impl_(std::make_shared<Impl>(*owned_ioc_)) {}

WsClient::WsClient(net::io_context& ioc) : impl_(std::make_shared<Impl>(ioc)) {}

WsClient::~WsClient() {
  if (owned_ioc_ && impl_->ok) Close();
  impl_->Drop();
  if (owned_ioc_) {
    // Let the dropped operations end here, so that none outlives the io_context.
    owned_ioc_->restart();
    owned_ioc_->run_for(kCancelGrace);
  }
  impl_.reset();
}

bool WsClient::ok() const { return impl_->ok; }
int WsClient::status() const { return impl_->status; }
const std::string& WsClient::error() const { return impl_->error; }
uint16_t WsClient::close_code() const { return impl_->close_code; }
int WsClient::native_handle() const { return impl_->ws ? impl_->socket().native_handle() : -1; }

// ---- Asynchronous -------------------------------------------------------------------------------

void WsClient::AsyncConnect(const WsConnectOptions& options, std::function<void(bool)> done) {
  Impl& s = *impl_;
  s.Drop();
  if (options.tls && (!s.tls || s.tls_ca_file != options.ca_file)) {
    std::string tls_error;
    s.tls = MakeClientTlsContext(options.ca_file, &tls_error);
    s.tls_ca_file = options.ca_file;
    if (!s.tls) {
      s.error = tls_error;
      net::post(s.ioc, [self = impl_, gen = s.generation, done = std::move(done)] {
        if (gen == self->generation) done(false);
      });
      return;
    }
  }
  s.ws.emplace(s.ioc, options.tls ? s.tls : nullptr);
  s.status = 0;
  s.error.clear();
  s.close_code = 0;
  s.upgrade = {};
  s.read_buffer.clear();
  tcp::resolver resolver(s.ioc);
  beast::error_code ec;
  auto addresses = resolver.resolve(options.host, options.port, ec);
  if (!ec && addresses.empty()) ec = net::error::host_not_found;
  if (ec) {
    s.error = "resolve: " + ec.message();
    net::post(s.ioc, [self = impl_, gen = s.generation, done = std::move(done)] {
      if (gen == self->generation) done(false);
    });
    return;
  }
  beast::get_lowest_layer(*s.ws).expires_after(options.connect_timeout);
  s.ConnectTo(std::move(addresses), 0, options, std::move(done));
}

void WsClient::AsyncRead(std::function<void(std::optional<WsMessage>)> done) {
  Impl& s = *impl_;
  if (!s.ok) {
    net::post(s.ioc, [self = impl_, gen = s.generation, done = std::move(done)] {
      if (gen == self->generation) done(std::nullopt);
    });
    return;
  }
  s.ws->async_read(s.read_buffer, [self = impl_, gen = s.generation, done = std::move(done)](
                                      beast::error_code ec, std::size_t) {
    if (gen != self->generation) return;
    if (ec) {
      self->Fail("read", ec);
      return done(std::nullopt);
    }
    WsMessage message{self->ws->got_binary(), beast::buffers_to_string(self->read_buffer.data())};
    self->read_buffer.consume(self->read_buffer.size());
    done(std::move(message));
  });
}

bool WsClient::Send(std::string data, bool binary) {
  Impl& s = *impl_;
  if (!s.ok || s.close_after_queue || s.queued_bytes + data.size() > kSendQueueLimitBytes) {
    return false;
  }
  s.queued_bytes += data.size();
  s.queue.emplace_back(std::move(data), binary);
  s.WriteNext();
  return true;
}

void WsClient::AsyncClose(uint16_t code, std::function<void()> done) {
  Impl& s = *impl_;
  if (!s.ok || s.close_after_queue) {
    net::post(s.ioc, [self = impl_, gen = s.generation, done = std::move(done)] {
      if (gen == self->generation) done();
    });
    return;
  }
  s.close_after_queue = code;
  s.on_closed = std::move(done);
  s.WriteNext();
}

// ---- Blocking -----------------------------------------------------------------------------------

bool WsClient::RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    owned_ioc_->restart();
    if (owned_ioc_->run_one_until(deadline) == 0) {
      if (Clock::now() >= deadline) return false;
      if (owned_ioc_->stopped()) return done();  // nothing left to wait for
    }
  }
  return true;
}

void WsClient::GiveUp(const char* step) {
  Impl& s = *impl_;
  // Cancelled, not closed: the server sees the connection open until the client goes, as
  // with a blocking socket whose read timed out.
  beast::error_code ignored;
  if (s.ws) s.socket().cancel(ignored);
  owned_ioc_->restart();
  owned_ioc_->run_for(kCancelGrace);
  ++s.generation;  // whatever did not end in time calls nobody
  s.ok = false;
  s.error = std::string(step) + ": timed out";
}

bool WsClient::Connect(const WsConnectOptions& options) {
  bool done = false, upgraded = false;
  AsyncConnect(options, [&](bool result) {
    done = true;
    upgraded = result;
  });
  // The connect timeout is enforced on the socket itself; this is a backstop.
  if (!RunUntil([&] { return done; }, options.connect_timeout + kCancelGrace)) {
    GiveUp("connect");
  }
  return done && upgraded;
}

bool WsClient::SendText(std::string_view text, std::chrono::milliseconds timeout) {
  return SendAndWait(std::string(text), /*binary=*/false, timeout);
}

bool WsClient::SendBinary(std::string_view bytes, std::chrono::milliseconds timeout) {
  return SendAndWait(std::string(bytes), /*binary=*/true, timeout);
}

bool WsClient::SendAndWait(std::string data, bool binary, std::chrono::milliseconds timeout) {
  if (!Send(std::move(data), binary)) return false;
  const Impl& s = *impl_;
  if (!RunUntil([&s] { return (s.queue.empty() && !s.writing) || !s.ok; }, timeout)) {
    GiveUp("write");
  }
  return s.ok;
}

std::optional<WsMessage> WsClient::Read(std::chrono::milliseconds timeout) {
  if (!impl_->ok) return std::nullopt;
  bool done = false;
  std::optional<WsMessage> message;
  AsyncRead([&](std::optional<WsMessage> m) {
    done = true;
    message = std::move(m);
  });
  if (!RunUntil([&] { return done; }, timeout)) {
    GiveUp("read");
    return std::nullopt;
  }
  return message;
}

void WsClient::Close(uint16_t code, std::chrono::milliseconds timeout) {
  if (!impl_->ok) return;
  bool done = false;
  AsyncClose(code, [&] { done = true; });
  if (!RunUntil([&] { return done; }, timeout)) GiveUp("close");
  impl_->ok = false;
}

}  // namespace proofbook::clients
