// WsClient: one WebSocket client connection (RFC 6455 over TCP, or TLS for wss://) for the prover
// worker and the tests of the prover protocol (/v1/prover/ws). Text and binary messages, the
// server's close code, time limits, and a bounded queue of outgoing messages.
//
// It is driven one of two ways, never both on one object:
//   - Blocking (WsClient()): it owns its io_context; each call runs it until its own
//     operation ends or its time is up. Connect, SendText/SendBinary, Read, Close.
//   - Asynchronous (WsClient(io_context&)): on the caller's io_context, which the caller runs;
//     AsyncConnect, AsyncRead, Send (queued), AsyncClose; callbacks run on that thread.
//     A callback is never called after the WsClient is destroyed.
// Once a read or a write fails, or a blocking read times out, the connection is over: ok() is
// false, error() says why and close_code() holds the server's close code if it sent one.
//
// Thread rules: one thread at a time (in asynchronous use, the thread running the io_context).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace proofbook::clients {

// The close code of a normal end (RFC 6455, 7.4.1).
inline constexpr uint16_t kWsCloseNormal = 1000;

struct WsConnectOptions {
  std::string host = "127.0.0.1";
  std::string port;
  std::string path = "/";
  std::string bearer;   // "Authorization: Bearer <bearer>" on the upgrade, when not empty
  bool tls = false;     // wss: the server's certificate verified, its name checked against host
  std::string ca_file;  // with tls: PEM CA certificates to trust; empty: the system's
  // > 0: the socket's receive buffer, fixed before connecting (shrinking it later drops data,
  // and a fixed size turns autotuning off).
  int receive_buffer_bytes = 0;
  std::size_t max_message_bytes = std::size_t{64} << 20;  // larger incoming messages fail
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};  // TCP and upgrade
};

struct WsMessage {
  bool binary = false;
  std::string data;
};

class WsClient {
 public:
  // Outgoing messages queued and not yet written, in bytes: enough for a few of the largest
  // proofs (64 MiB) in flight; Send refuses more ("full").
  static constexpr std::size_t kSendQueueLimitBytes = std::size_t{512} << 20;

  WsClient();                                       // blocking use
  explicit WsClient(boost::asio::io_context& ioc);  // asynchronous use
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // ---- Blocking
  // Connects and upgrades. On a refused upgrade, status() is the HTTP status answered.
  bool Connect(const WsConnectOptions& options);
  // Each waits until the message is written (at most `timeout`).
  bool SendText(std::string_view text,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));
  bool SendBinary(std::string_view bytes,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // The next message, or nullopt after `timeout` or when the connection ended.
  std::optional<WsMessage> Read(std::chrono::milliseconds timeout);
  // Sends a close frame with `code` and waits at most `timeout` for the server's.
  void Close(uint16_t code = kWsCloseNormal,
             std::chrono::milliseconds timeout = std::chrono::seconds(1));

  // ---- Asynchronous
  // `done(true)` once upgraded; `done(false)` if not (see error(), status()). Any earlier
  // connection of this client is dropped first, with its queued messages and callbacks.
  void AsyncConnect(const WsConnectOptions& options, std::function<void(bool)> done);
  // `done` with the next message, or with nullopt once the connection has ended.
  void AsyncRead(std::function<void(std::optional<WsMessage>)> done);
  // Queues a message; false when not connected or the queue is full. A failed write ends the
  // connection (the pending read ends with it).
  [[nodiscard]] bool Send(std::string data, bool binary);
  // Sends a close frame with `code` (after the queued messages) and waits for the server's.
  void AsyncClose(uint16_t code, std::function<void()> done);

  // ---- State
  bool ok() const;                   // connected, and nothing has failed
  int status() const;                // HTTP status of the upgrade answer; 101 when upgraded
  const std::string& error() const;  // why ok() is false
  uint16_t close_code() const;       // the server's close code, once it closed (0 if none)
  int native_handle() const;         // the socket, for tests that misbehave on purpose

 private:
  struct Impl;

  // Blocking use: runs the io_context until `done` or `timeout`; false on timeout.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  // Blocking use, after a timeout: the operation cancelled, the connection over.
  void GiveUp(const char* step);
  // Blocking use: Send, then wait until written.
  bool SendAndWait(std::string data, bool binary, std::chrono::milliseconds timeout);

  std::unique_ptr<boost::asio::io_context> owned_ioc_;  // blocking use only; before impl_
  std::shared_ptr<Impl> impl_;  // shared with the pending operations, which may outlive us
};

}  // namespace proofbook::clients
