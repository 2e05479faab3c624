#include "clients/common/http_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <functional>
#include <optional>

#include "clients/common/http_message.h"
#include "clients/common/tls_stream.h"

namespace proofbook::clients {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

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

std::string Describe(const beast::error_code& ec) {
  return ec == beast::error::timeout ? "timed out" : ec.message();
}

HttpResponse Failed(HttpFailure failure, const beast::error_code& ec) {
  HttpResponse r;
  r.failure = failure;
  r.error = Describe(ec);
  return r;
}

HttpFailure ExchangeFailure(const beast::error_code& ec) {
  return ec == beast::error::timeout ? HttpFailure::kTimeout : HttpFailure::kIo;
}

}  // namespace

bool ParseEndpoint(const std::string& url, HttpEndpoint* endpoint, std::string* error) {
  auto bad = [&](const std::string& why) {
    *error = "bad server URL '" + url + "': " + why;
    return false;
  };
  HttpEndpoint e;
  std::string rest = url;
  if (auto scheme = rest.find("://"); scheme != std::string::npos) {
    std::string name = rest.substr(0, scheme);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "https") {
      e.tls = true;
    } else if (name != "http") {
      return bad("the scheme must be http:// or https://");
    }
    rest = rest.substr(scheme + 3);
  }
  auto path_at = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path_at);
  std::string path = path_at == std::string::npos ? "" : rest.substr(path_at);
  if (path.find_first_of("?#") != std::string::npos) return bad("no query or fragment, please");
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.find('@') != std::string::npos) return bad("no user name in the URL");

  e.url = url;
  e.base_path = path;
  e.port = e.tls ? "443" : "80";
  std::string port;
  if (!authority.empty() && authority[0] == '[') {  // [v6 address]:port
    auto close = authority.find(']');
    if (close == std::string::npos) return bad("unclosed '['");
    e.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("expected ':port' after ']'");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    e.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (e.host.empty()) return bad("no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return bad("the port must be 1..65535");
    }
    e.port = port;
  }
  *endpoint = std::move(e);
  return true;
}

std::string HostHeader(const std::string& host, const std::string& port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

BeastRequest BuildRequest(const HttpRequest& request, std::string_view target_prefix,
                          std::string_view host_header, std::string_view user_agent,
                          bool keep_alive) {
  BeastRequest req;
  req.version(11);
  if (const http::verb verb = http::string_to_verb(request.method); verb != http::verb::unknown) {
    req.method(verb);
  } else {
    req.method_string(request.method);
  }
  if (target_prefix.empty()) {
    req.target(request.target);
  } else {
    req.target(std::string(target_prefix) + request.target);
  }
  req.set(http::field::host, host_header);
  if (!user_agent.empty()) req.set(http::field::user_agent, user_agent);
  if (!request.bearer.empty()) req.set(http::field::authorization, "Bearer " + request.bearer);
  if (!request.content_type.empty()) req.set(http::field::content_type, request.content_type);
  bool framed = false;  // the caller set the body's framing itself (tests, on purpose)
  for (const auto& [name, value] : request.headers) {
    req.insert(name, value);
    const http::field field = http::string_to_field(name);
    framed |= field == http::field::content_length || field == http::field::transfer_encoding;
  }
  req.keep_alive(keep_alive);
  if (!request.body.empty()) req.body() = request.body;
  // Content-Length from the body (none for an empty GET); nothing to do for an empty body of a
  // method that takes none, which is most requests of the load generator.
  const bool takes_body = req.method() == http::verb::post || req.method() == http::verb::put ||
                          req.method() == http::verb::options;
  if (!framed && (!request.body.empty() || takes_body)) req.prepare_payload();
  return req;
}

struct HttpClient::Impl {
  // Constant after construction.
  HttpEndpoint endpoint;
  HttpClientOptions options;
  std::string host_header;

  net::io_context ioc;
  TlsClientContext tls;                  // https: made once, with the endpoint's CAs
  std::string tls_error;                 // why `tls` could not be made
  std::optional<MaybeTlsStream> stream;  // the open connection, if any
  beast::flat_buffer buffer;             // bytes read past the last answer on `stream`
  bool reused = false;                   // `stream` has carried an answer already
  int connections_opened = 0;

  void Drop() {
    if (!stream) return;
    beast::error_code ignored;
    beast::get_lowest_layer(*stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.reset();
  }

  // Opens `stream`; nullopt on success, else the failure.
  std::optional<HttpResponse> Connect(std::chrono::milliseconds timeout) {
    if (endpoint.tls && !tls) {
      HttpResponse r;
      r.failure = HttpFailure::kConnect;
      r.error = tls_error;
      return r;
    }
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto addresses = resolver.resolve(endpoint.host, endpoint.port, ec);
    if (ec) return Failed(HttpFailure::kResolve, ec);
    stream.emplace(ioc, tls);
    beast::tcp_stream& lowest = beast::get_lowest_layer(*stream);
    lowest.expires_after(std::min(options.connect_timeout, timeout));
    ec = RunStep(ioc, [&](beast::error_code& out) {
      lowest.async_connect(addresses,
                           [&out](beast::error_code e, const tcp::endpoint&) { out = e; });
    });
    if (!ec && stream->tls()) {
      if (!stream->ConfigureHost(endpoint.host)) ec = net::error::invalid_argument;
      if (!ec) {
        ec = RunStep(ioc, [&](beast::error_code& out) {
          stream->ssl().async_handshake(net::ssl::stream_base::client,
                                        [&out](beast::error_code e) { out = e; });
        });
      }
      if (ec) {
        stream.reset();
        HttpResponse r = Failed(HttpFailure::kConnect, ec);
        r.error = "TLS handshake with " + HostHeader(endpoint.host, endpoint.port) +
                  " failed: " + r.error;
        return r;
      }
    }
    if (ec) {
      stream.reset();
      return Failed(HttpFailure::kConnect, ec);
    }
    ++connections_opened;
    buffer.clear();
    reused = false;
    return std::nullopt;
  }

  // One request and its answer on `stream`, within `timeout`.
  HttpResponse Exchange(const HttpRequest& request, std::chrono::milliseconds timeout) {
    BeastRequest req = BuildRequest(request, endpoint.base_path, host_header, options.user_agent,
                                    options.keep_alive);
    beast::get_lowest_layer(*stream).expires_after(timeout);
    beast::error_code ec = RunStep(ioc, [&](beast::error_code& out) {
      http::async_write(*stream, req, [&out](beast::error_code e, std::size_t) { out = e; });
    });
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.body_limit);
    if (req.method() == http::verb::head) parser.skip(true);
    if (!ec) {
      ec = RunStep(ioc, [&](beast::error_code& out) {
        http::async_read(*stream, buffer, parser,
                         [&out](beast::error_code e, std::size_t) { out = e; });
      });
    }
    if (ec) {
      stream.reset();
      return Failed(ExchangeFailure(ec), ec);
    }
    auto& res = parser.get();
    HttpResponse r;
    r.status = static_cast<int>(res.result_int());
    r.body = std::move(res.body());
    for (const auto& field : res) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      r.headers[name] = std::string(field.value());
    }
    reused = true;
    if (!options.keep_alive || !res.keep_alive()) Drop();
    return r;
  }
};

HttpClient::HttpClient(HttpEndpoint endpoint, HttpClientOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->host_header = HostHeader(endpoint.host, endpoint.port);
  if (endpoint.tls) impl_->tls = MakeClientTlsContext(endpoint.ca_file, &impl_->tls_error);
  impl_->endpoint = std::move(endpoint);
  impl_->options = std::move(options);
}

HttpClient::~HttpClient() {
  if (impl_) impl_->Drop();
}

HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

HttpResponse HttpClient::Send(const HttpRequest& request) {
  return Send(request, impl_->options.request_timeout);
}

HttpResponse HttpClient::Send(const HttpRequest& request, std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  for (int attempt = 0;; ++attempt) {
    if (!s.stream) {
      if (auto failed = s.Connect(timeout)) return *failed;
    }
    const bool was_reused = s.reused;
    HttpResponse r = s.Exchange(request, timeout);
    // A kept-alive connection the server has since closed: once more on a new one.
    if (r.failure == HttpFailure::kIo && was_reused && attempt == 0) continue;
    return r;
  }
}

void HttpClient::Close() { impl_->Drop(); }

int HttpClient::connections_opened() const { return impl_->connections_opened; }

const HttpEndpoint& HttpClient::endpoint() const { return impl_->endpoint; }

std::string RawExchange(const std::string& host, const std::string& port, const std::string& bytes,
                        std::chrono::milliseconds timeout) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto addresses = resolver.resolve(host, port, ec);
  if (ec) return {};
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);  // one deadline for everything below
  ec = RunStep(ioc, [&](beast::error_code& out) {
    stream.async_connect(addresses, [&out](beast::error_code e, const tcp::endpoint&) { out = e; });
  });
  if (ec) return {};
  RunStep(ioc, [&](beast::error_code& out) {
    net::async_write(stream, net::buffer(bytes),
                     [&out](beast::error_code e, std::size_t) { out = e; });
  });
  // Even if the server closed early (a refused body), read what it answered.
  std::string out;
  char buf[4096];
  for (;;) {
    std::size_t n = 0;
    ec = RunStep(ioc, [&](beast::error_code& result) {
      stream.async_read_some(net::buffer(buf), [&](beast::error_code e, std::size_t got) {
        result = e;
        n = got;
      });
    });
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

}  // namespace proofbook::clients
