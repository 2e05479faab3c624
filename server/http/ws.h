// WebSocket seam between the Beast sessions (http_server.cc, the only Beast code) and what
// runs over them (the prover gateway). Beast-free.
//
// A WsEndpoint is registered for one path. On an upgrade request for that path the server
// asks Accept(): an error answers the HTTP request (401, 403, ...) and no upgrade happens;
// otherwise the handshake completes and the returned WsHandler receives the connection's
// events. Ping/pong liveness is the server's: a peer silent for `idle_timeout` (pings sent
// at half of it go unanswered) is closed, and OnClose says so.
//
// Thread rules: OnOpen, OnMessage and OnClose of one connection are called one at a time, in
// order, on that connection's strand; OnClose exactly once, last. WsPeer is thread-safe: Send
// and Close may be called from any thread, also after the connection is gone (they are then
// no-ops).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "matching/status.h"
#include "server/http/http_types.h"

namespace proofbook::server {

// RFC 6455 close codes used here.
enum WsCloseCode : uint16_t {
  kWsNormal = 1000,
  kWsGoingAway = 1001,
  kWsPolicyViolation = 1008,  // repeated abuse
  kWsTooBig = 1009,
  kWsServiceRestart = 1012,  // this server stopped being the writer: reconnect (elsewhere)
  kWsTryAgainLater = 1013,   // slow consumer: the outbound queue filled up
};

class WsPeer {
 public:
  virtual ~WsPeer() = default;
  // Queues a text frame. False when the connection is gone or its outbound queue is full; in
  // the latter case the connection is being closed with kWsTryAgainLater ("slow consumer").
  virtual bool Send(std::string text) = 0;
  // Sends a close frame after what is queued, then drops the connection.
  virtual void Close(WsCloseCode code, std::string reason) = 0;
  virtual uint64_t id() const = 0;  // unique per process
  // Holds the connection's reads once the current OnMessage returns, until Resume: the
  // peer's next frames wait in the socket (TCP backpressure), not in our memory. Call it only
  // from within OnMessage; pair it with exactly one Resume. With no read pending, nothing in
  // the server keeps the connection alive: whoever will call Resume must hold a shared_ptr
  // to the peer until then (if it never calls it, the connection goes with that pointer).
  virtual void Hold() = 0;
  // From any thread: runs `fn` on the connection's strand, in order with the handler's other
  // events (not at all if the connection is already gone), then reads again.
  virtual void Resume(std::function<void()> fn) = 0;
  // From any thread: runs `fn` on the connection's strand, in order with the handler's other
  // events; not at all once the connection is closing or gone. Reads go on meanwhile.
  virtual void Post(std::function<void()> fn) = 0;
};

class WsHandler {
 public:
  virtual ~WsHandler() = default;
  virtual void OnOpen(std::shared_ptr<WsPeer> peer) = 0;
  virtual void OnMessage(bool binary, std::string data) = 0;
  // `why`: "closed by peer", "timeout", "slow consumer", "server stopping", an I/O error...
  virtual void OnClose(const std::string& why) = 0;
};

class WsEndpoint {
 public:
  virtual ~WsEndpoint() = default;
  // On the io thread of the upgrade request; must not block (in-memory checks only).
  virtual Result<std::unique_ptr<WsHandler>> Accept(const HttpRequest& request) = 0;
};

struct WsOptions {
  std::size_t max_message_bytes = 16 << 20;  // a larger frame closes the connection (1009)
  std::size_t max_queued_messages = 1024;    // outbound, per connection
  std::size_t max_queued_bytes = 8 << 20;
  std::chrono::seconds idle_timeout{20};  // pings at half of it; no answer by then: closed
  // Messages a second from the peer, on average, and twice that at once; beyond: closed with
  // 1008 "message rate over N/s". 0: no limit.
  std::size_t max_messages_per_s = 0;
};

}  // namespace proofbook::server
