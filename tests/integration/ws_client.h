// A small blocking WebSocket client over a real loopback socket, for tests of the prover
// protocol (/v1/prover/ws). Reads wait at most the given time; a read that times out or fails
// leaves the client closed (ok() false).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace proofbook::testing {

struct WsMessage {
  bool binary = false;
  std::string data;
  boost::json::object json() const;  // the text message parsed; empty object if not JSON
  std::string type() const;          // its "type", or empty
};

class WsClient {
 public:
  // Connects and upgrades with `Authorization: Bearer <key>`. On a refused upgrade,
  // ok() is false and status() is the HTTP status the server answered with.
  // `receive_buffer_bytes` > 0 fixes the socket's receive buffer (no autotuning).
  WsClient(uint16_t port, const std::string& api_key, std::string path = "/v1/prover/ws",
           int receive_buffer_bytes = 0);
  ~WsClient();

  bool ok() const;
  int status() const;  // HTTP status of a refused upgrade; 101 when upgraded
  const std::string& error() const;

  bool SendText(const std::string& text);
  bool SendJson(const boost::json::object& msg) { return SendText(boost::json::serialize(msg)); }
  bool SendBinary(const std::string& bytes);

  // The next message, or nullopt after `timeout_ms` or when the connection ended.
  std::optional<WsMessage> Read(int timeout_ms = 5000);
  // Reads until a text message of `type` arrives (others are kept, see seen()); nullopt on
  // timeout. A message of type "error" ends the wait only when `type` is "error".
  std::optional<boost::json::object> ReadType(const std::string& type, int timeout_ms = 5000);
  // The close code the server sent, once the connection ended (0 when none).
  uint16_t close_code() const;
  // Stops reading from the socket (for slow-consumer tests).
  int native_handle() const;

  // Sends only a proof's header (its bytes, if any, with SendBinary).
  bool SendProofHeader(int64_t assignment, std::size_t size, const std::string& sha256,
                       const std::string& id = "");
  // Sends a proof: the header then the bytes in frames of at most `chunk` bytes.
  bool SendProof(int64_t assignment, const std::string& bytes, const std::string& id = "",
                 std::size_t chunk = 16 << 10);
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proofbook::testing
