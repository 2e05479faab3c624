// HttpServer: HTTP/1.1 with keep-alive over Boost.Beast, on `io_threads` threads sharing one
// io_context; each connection runs on its own strand. One request at a time per connection
// (no pipelining): the request goes to the Router and the connection waits for its Responder,
// which may fire from any thread. Limits are enforced while reading: a body over body_limit
// is 413, headers over header_limit are 431, a malformed request is 400, each followed by
// close; a connection idle past idle_timeout is closed. Every response is logged with its
// request id, method, path, status and latency.
//
// One path may be a WebSocket endpoint (server/http/ws.h): its upgrade requests become WsSessions
// with a bounded outbound queue and ping/pong liveness.
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
  };

  HttpServer(Options options, const Router& router);  // router must outlive the server
  ~HttpServer();                                      // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Upgrades requests for `path` to WebSocket connections run by `endpoint` (which must
  // outlive the server). Call before Start.
  void SetWebSocket(std::string path, WsEndpoint* endpoint, WsOptions options);

  // Binds, listens and starts the io threads.
  Status Start();
  // The bound port (useful with port 0). Valid after Start.
  uint16_t port() const;
  // Stops accepting, drops open connections, joins the io threads. Idempotent.
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace proofbook::server
