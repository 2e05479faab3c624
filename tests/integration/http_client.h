// The tests' HTTP client: clients/common's HttpClient (blocking, keep-alive, a stale kept-alive
// connection retried once on a new one) on a loopback port, with the call shapes the tests use.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "clients/common/http_client.h"

namespace proofbook::testing {

// status 0: no answer (error says why).
using HttpResult = clients::HttpResponse;

class HttpClient {
 public:
  explicit HttpClient(uint16_t port, std::string host = "127.0.0.1")
      : client_(clients::HttpEndpoint{.url = "",
                                      .host = std::move(host),
                                      .port = std::to_string(port),
                                      .base_path = "",
                                      .tls = false,
                                      .ca_file = ""}) {}
  // Any endpoint: https with a CA file, ...
  explicit HttpClient(clients::HttpEndpoint endpoint) : client_(std::move(endpoint)) {}

  HttpResult Get(const std::string& target, const std::string& bearer = "") {
    return Request("GET", target, "", bearer);
  }
  // A JSON body (Content-Type: application/json on every POST, and whenever there is a body).
  HttpResult Request(const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& bearer = "") {
    clients::HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.bearer = bearer;
    if (!body.empty() || method == "POST") request.content_type = "application/json";
    return client_.Send(request);
  }

  // How many TCP connections this client has opened so far (1 = keep-alive held).
  int connections_opened() const { return client_.connections_opened(); }

 private:
  clients::HttpClient client_;
};

// Sends raw bytes on a new connection and returns everything the server sends back until it
// closes the connection or `timeout_ms` passes.
inline std::string RawExchange(uint16_t port, const std::string& bytes, int timeout_ms = 5000) {
  return clients::RawExchange("127.0.0.1", std::to_string(port), bytes,
                              std::chrono::milliseconds(timeout_ms));
}

}  // namespace proofbook::testing
