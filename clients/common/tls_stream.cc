#include "clients/common/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

namespace proofbook::clients {

namespace ssl = boost::asio::ssl;

namespace {

// The context a plain stream's unused SSL object is made from.
const TlsClientContext& PlainContext() {
  static const TlsClientContext context = std::make_shared<ssl::context>(ssl::context::tls_client);
  return context;
}

}  // namespace

TlsClientContext MakeClientTlsContext(const std::string& ca_file, std::string* error) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  context->set_verify_mode(ssl::verify_peer, ec);
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(ca_file, ec);
  }
  if (ec) {
    *error = (ca_file.empty() ? std::string("cannot load the system's CA certificates")
                              : "cannot load CA certificates from " + ca_file) +
             ": " + ec.message();
    return nullptr;
  }
  return context;
}

MaybeTlsStream::MaybeTlsStream(boost::asio::io_context& ioc, TlsClientContext tls)
    : MaybeTlsStream(ioc, tls ? tls : PlainContext(), tls != nullptr) {}

MaybeTlsStream::MaybeTlsStream(boost::asio::io_context& ioc, TlsClientContext context, bool tls)
    : context_(std::move(context)), ssl_(ioc, *context_), tls_(tls) {}

bool MaybeTlsStream::ConfigureHost(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  const bool is_address = !ec;
  // SNI carries names only (RFC 6066, section 3).
  if (!is_address && SSL_set_tlsext_host_name(ssl_.native_handle(), host.c_str()) != 1) {
    return false;
  }
  ssl_.set_verify_callback(ssl::host_name_verification(host), ec);
  return !ec;
}

void teardown(boost::beast::role_type role, MaybeTlsStream& stream, boost::beast::error_code& ec) {
  if (stream.tls()) {
    boost::beast::teardown(role, stream.ssl(), ec);
  } else {
    using boost::beast::websocket::teardown;
    teardown(role, stream.next_layer().socket(), ec);
  }
}

}  // namespace proofbook::clients
