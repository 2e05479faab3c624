// The tests' WebSocket client for the prover protocol (/v1/prover/ws): clients/common's
// blocking WsClient on a loopback port, connected on construction, plus what only the tests
// need (messages parsed as JSON, waiting for a message type, hand-made proof frames). Reads
// wait at most the given time; a read that times out or fails leaves the client closed (ok()
// false).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "clients/common/ws_client.h"

namespace proofbook::testing {

struct WsMessage : clients::WsMessage {
  boost::json::object json() const;  // the text message parsed; empty object if not JSON
  std::string type() const;          // its "type", or empty
};

class WsClient : public clients::WsClient {
 public:
  // Connects and upgrades with `Authorization: Bearer <key>`. On a refused upgrade,
  // ok() is false and status() is the HTTP status the server answered with.
  // `receive_buffer_bytes` > 0 fixes the socket's receive buffer (no autotuning).
  WsClient(uint16_t port, const std::string& api_key, std::string path = "/v1/prover/ws",
           int receive_buffer_bytes = 0);

  bool SendJson(const boost::json::object& msg) { return SendText(boost::json::serialize(msg)); }

  // The next message, or nullopt after `timeout_ms` or when the connection ended.
  std::optional<WsMessage> Read(int timeout_ms = 5000);
  // Reads until a text message of `type` arrives (others are dropped); nullopt on timeout.
  // A message of type "error" ends the wait only when `type` is "error".
  std::optional<boost::json::object> ReadType(const std::string& type, int timeout_ms = 5000);

  // Sends only a proof's header (its bytes, if any, with SendBinary).
  bool SendProofHeader(int64_t assignment, std::size_t size, const std::string& sha256,
                       const std::string& id = "");
  // Sends a proof: the header then the bytes in frames of at most `chunk` bytes.
  bool SendProof(int64_t assignment, const std::string& bytes, const std::string& id = "",
                 std::size_t chunk = 16 << 10);
};

}  // namespace proofbook::testing
