// HttpServer: HTTP/1.1 with keep-alive over Boost.Beast, on `io_threads` threads, each running
// an io_context of its own; each connection runs on its own strand on one of them. One request at a
// time per connection (no pipelining): the request goes to the Router and the connection waits for
// its Responder, which may fire from any thread. Limits are enforced while reading: a body over
// body_limit is 413, headers over header_limit are 431, a malformed request is 400, each followed
// by close; a connection idle past idle_timeout is closed. Every response is logged with its
// request id, method, path, status and latency.
//
// One path may be a WebSocket endpoint (server/http/ws.h): its upgrade requests become WsSessions
// with a bounded outbound queue and ping/pong liveness.
//
// With a certificate and key the port speaks HTTPS and WSS only (TLS 1.2+, forward-secret AEAD
// suites): a client speaking plaintext HTTP to it gets a plaintext 400 `tls_required`.
//
// Per remote address (IPv6: its /64), before a request is routed (so before authentication):
// at most ip_request_rate requests a second (429 `address_rate_limited`), and once an address
// has had ip_auth_failures_per_minute 401 answers, its requests are answered 429
// `too_many_auth_failures` until the bucket refills.
//
// This is the only translation unit that includes Beast. Start/Stop from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "matching/status.h"
#include "server/http/router.h"
#include "server/http/ws.h"

namespace proofbook::server {

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 8080;
    int io_threads = 2;
    std::size_t body_limit = 1 << 20;
    std::size_t header_limit = 16 << 10;
    std::chrono::seconds idle_timeout{30};
    // Open connections (HTTP and upgraded WebSocket) at once, in all and from one remote
    // address; 0: no limit. One over either is answered 503 `too_many_connections` (a
    // Connection: close reply written without reading the request) and closed, so a
    // descriptor is never held by a connection the server will not serve.
    std::size_t max_connections = 0;
    std::size_t max_connections_per_ip = 0;
    // PEM files; both or neither. Empty: plaintext HTTP and WebSocket.
    std::string tls_cert_file;
    std::string tls_key_file;
    // Requests a second from one address, on average (0: no limit), and at once (0: twice the
    // rate).
    int64_t ip_request_rate = 0;
    int64_t ip_request_burst = 0;
    // 401 answers a minute to one address before its requests are refused (0: no limit).
    int64_t ip_auth_failures_per_minute = 0;
  };

  HttpServer(Options options, const Router& router);  // router must outlive the server
  ~HttpServer();                                      // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Upgrades requests for `path` to WebSocket connections run by `endpoint` (which must
  // outlive the server). Call before Start.
  void SetWebSocket(std::string path, WsEndpoint* endpoint, WsOptions options);

  // Binds, listens and starts the io threads. Fails if the TLS files do not load.
  Status Start();
  // Loads the TLS certificate and key again (after a renewal, on SIGHUP): connections made
  // from now on use them, open ones keep theirs. On failure the old pair stays in use.
  Status ReloadTls();
  // The bound port (useful with port 0). Valid after Start.
  uint16_t port() const;
  // Stops accepting, drops open connections, joins the io threads. Idempotent.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace proofbook::server
