#include "tests/integration/ws_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "server/base/crypto.h"

namespace proofbook::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;

json::object WsMessage::json() const {
  boost::system::error_code ec;
  json::value v = json::parse(data, ec);
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

std::string WsMessage::type() const {
  json::object o = json();
  const json::value* t = o.if_contains("type");
  return t != nullptr && t->is_string() ? std::string(t->as_string()) : std::string();
}

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  bool ok = false;
  int status = 0;
  std::string error;
  uint16_t close_code = 0;

  void SetReadTimeout(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
};

WsClient::WsClient(uint16_t port, const std::string& api_key, std::string path,
                   int receive_buffer_bytes)
    : impl_(std::make_unique<Impl>()) {
  beast::error_code ec;
  impl_->ws.next_layer().open(tcp::v4(), ec);
  if (!ec && receive_buffer_bytes > 0) {
    // Before connecting, so the window is small from the start (shrinking it later drops data).
    impl_->ws.next_layer().set_option(net::socket_base::receive_buffer_size(receive_buffer_bytes),
                                      ec);
  }
  if (!ec) {
    impl_->ws.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  }
  if (ec) {
    impl_->error = "connect: " + ec.message();
    return;
  }
  impl_->ws.next_layer().set_option(tcp::no_delay(true), ec);  // a proof is header + frames
  impl_->ws.set_option(websocket::stream_base::decorator([api_key](websocket::request_type& req) {
    if (!api_key.empty()) req.set(http::field::authorization, "Bearer " + api_key);
  }));
  impl_->ws.read_message_max(std::size_t{64} << 20);
  websocket::response_type res;
  impl_->ws.handshake(res, "127.0.0.1:" + std::to_string(port), path, ec);
  impl_->status = static_cast<int>(res.result_int());
  if (ec) {
    impl_->error = "handshake: " + ec.message() + " (HTTP " + std::to_string(impl_->status) + ")";
    return;
  }
  impl_->ok = true;
}

WsClient::~WsClient() { Close(); }

bool WsClient::ok() const { return impl_->ok; }
int WsClient::status() const { return impl_->status; }
const std::string& WsClient::error() const { return impl_->error; }
uint16_t WsClient::close_code() const { return impl_->close_code; }
int WsClient::native_handle() const { return impl_->ws.next_layer().native_handle(); }

bool WsClient::SendText(const std::string& text) {
  if (!impl_->ok) return false;
  beast::error_code ec;
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text), ec);
  if (ec) impl_->ok = false;
  return !ec;
}

bool WsClient::SendBinary(const std::string& bytes) {
  if (!impl_->ok) return false;
  beast::error_code ec;
  impl_->ws.binary(true);
  impl_->ws.write(net::buffer(bytes), ec);
  if (ec) impl_->ok = false;
  return !ec;
}

std::optional<WsMessage> WsClient::Read(int timeout_ms) {
  if (!impl_->ok) return std::nullopt;
  impl_->SetReadTimeout(timeout_ms);
  beast::flat_buffer buffer;
  beast::error_code ec;
  impl_->ws.read(buffer, ec);
  if (ec) {
    impl_->ok = false;
    impl_->error = "read: " + ec.message();
    if (ec == websocket::error::closed) impl_->close_code = impl_->ws.reason().code;
    return std::nullopt;
  }
  return WsMessage{impl_->ws.got_binary(), beast::buffers_to_string(buffer.data())};
}

std::optional<json::object> WsClient::ReadType(const std::string& type, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return std::nullopt;
    auto m = Read(static_cast<int>(left));
    if (!m) return std::nullopt;
    if (m->type() == type) return m->json();
  }
}

bool WsClient::SendProofHeader(int64_t assignment, std::size_t size, const std::string& sha256,
                               const std::string& id) {
  json::object header{
      {"type", "proof"}, {"assignment", assignment}, {"size", size}, {"sha256", sha256}};
  if (!id.empty()) header["id"] = id;
  return SendJson(header);
}

bool WsClient::SendProof(int64_t assignment, const std::string& bytes, const std::string& id,
                         std::size_t chunk) {
  if (!SendProofHeader(assignment, bytes.size(), server::Sha256Hex(bytes), id)) return false;
  for (std::size_t off = 0; off < bytes.size(); off += chunk) {
    if (!SendBinary(bytes.substr(off, chunk))) return false;
  }
  return true;
}

void WsClient::Close() {
  if (!impl_->ok) return;
  impl_->ok = false;
  beast::error_code ec;
  impl_->SetReadTimeout(1000);
  impl_->ws.close(websocket::close_code::normal, ec);
}

}  // namespace proofbook::testing
