// A small blocking HTTP/1.1 client over a real loopback socket, for tests. Keeps one
// connection open across requests (keep-alive) until the server closes it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace proofbook::testing {

struct HttpResult {
  int status = 0;  // 0: no answer (connection failed or closed)
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string error;                          // why status is 0
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port, std::string host = "127.0.0.1");
  ~HttpClient();

  HttpResult Get(const std::string& target, const std::string& bearer = "") {
    return Request("GET", target, "", bearer);
  }
  HttpResult Request(const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& bearer = "");

  // How many TCP connections this client has opened so far (1 = keep-alive held).
  int connections_opened() const { return connections_opened_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int connections_opened_ = 0;
};

// Sends raw bytes on a new connection and returns everything the server sends back until it
// closes the connection or `timeout_ms` passes.
std::string RawExchange(uint16_t port, const std::string& bytes, int timeout_ms = 5000);

}  // namespace proofbook::testing
