#include "tests/integration/ws_client.h"

#include <chrono>

#include "clients/common/hex.h"

namespace proofbook::testing {

namespace json = boost::json;

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

WsClient::WsClient(uint16_t port, const std::string& api_key, std::string path,
                   int receive_buffer_bytes) {
  clients::WsConnectOptions options;
  options.port = std::to_string(port);
  options.path = std::move(path);
  options.bearer = api_key;
  options.receive_buffer_bytes = receive_buffer_bytes;
  Connect(options);
}

std::optional<WsMessage> WsClient::Read(int timeout_ms) {
  auto m = clients::WsClient::Read(std::chrono::milliseconds(timeout_ms));
  if (!m) return std::nullopt;
  return WsMessage{std::move(*m)};
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
  if (!SendProofHeader(assignment, bytes.size(), clients::Sha256Hex(bytes), id)) return false;
  for (std::size_t off = 0; off < bytes.size(); off += chunk) {
    if (!SendBinary(bytes.substr(off, chunk))) return false;
  }
  return true;
}

}  // namespace proofbook::testing
