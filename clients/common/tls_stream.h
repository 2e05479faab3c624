// MaybeTlsStream: a client's TCP stream that speaks TLS or not, chosen at run time (https://
// and wss:// or http:// and ws://), so that Beast's HTTP and WebSocket code has one stream type
// either way. Plain streams read and write the TCP stream directly; TLS ones go through
// OpenSSL after Handshake.
//
// MakeClientTlsContext: TLS 1.2 or later, the server's certificate verified against the
// system's CAs or those of `ca_file`, and its name checked against the host (ConfigureHost).
//
// Thread rules: those of the underlying Beast streams (one thread at a time).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <memory>
#include <string>
#include <utility>

namespace proofbook::clients {

using TlsClientContext = std::shared_ptr<boost::asio::ssl::context>;

// Null, with `error` set, if `ca_file` cannot be read (or the system's CAs cannot be found).
TlsClientContext MakeClientTlsContext(const std::string& ca_file, std::string* error);

class MaybeTlsStream {
 public:
  using TcpStream = boost::beast::tcp_stream;
  using SslStream = boost::beast::ssl_stream<TcpStream>;
  using executor_type = TcpStream::executor_type;
  using next_layer_type = TcpStream;

  // `tls` null: plain TCP.
  MaybeTlsStream(boost::asio::io_context& ioc, TlsClientContext tls);

  bool tls() const { return tls_; }
  executor_type get_executor() { return ssl_.get_executor(); }
  TcpStream& next_layer() { return ssl_.next_layer(); }
  const TcpStream& next_layer() const { return ssl_.next_layer(); }
  SslStream& ssl() { return ssl_; }

  // Before the handshake: the name sent (SNI) and the name (or address) the certificate must
  // carry. False if OpenSSL refuses them.
  bool ConfigureHost(const std::string& host);

  template <typename Buffers, typename Handler>
  auto async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) return ssl_.async_read_some(buffers, std::forward<Handler>(handler));
    return ssl_.next_layer().async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <typename Buffers, typename Handler>
  auto async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) return ssl_.async_write_some(buffers, std::forward<Handler>(handler));
    return ssl_.next_layer().async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  MaybeTlsStream(boost::asio::io_context& ioc, TlsClientContext context, bool tls);

  TlsClientContext context_;  // kept alive as long as ssl_ uses it
  SslStream ssl_;
  bool tls_;
};

// How a WebSocket over a MaybeTlsStream ends its connection (found by Beast through ADL).
template <typename Handler>
void async_teardown(boost::beast::role_type role, MaybeTlsStream& stream, Handler&& handler) {
  if (stream.tls()) {
    boost::beast::async_teardown(role, stream.ssl(), std::forward<Handler>(handler));
  } else {
    using boost::beast::websocket::async_teardown;
    async_teardown(role, stream.next_layer().socket(), std::forward<Handler>(handler));
  }
}
void teardown(boost::beast::role_type role, MaybeTlsStream& stream, boost::beast::error_code& ec);

}  // namespace proofbook::clients
