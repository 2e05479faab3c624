// HttpClient: a small blocking HTTP/1.1 client for proofbook's clients and tests, over plain
// TCP or TLS (https://: the server's certificate is verified against the system's CAs or a
// given CA file, and its name against the host). One connection at a time, kept open across
// requests (keep-alive) unless the options or the server say otherwise; a request that fails on a
// connection an earlier request had already used is sent once more on a new connection (the
// server may close an idle keep-alive connection at any time). Every step has a time limit:
// connecting, and writing the request and reading the whole answer. Network failures are
// values in the answer, never exceptions.
//
// Requests are sent as given: any method, target, body and extra headers, so tests can send
// what a well-behaved client never would. RawExchange sends bytes that are not even HTTP.
//
// Thread rules: an HttpClient is used by one thread at a time; it owns its io_context and
// socket. Different HttpClients share nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace proofbook::clients {

// Where the server is: http[s]://host[:port][/base].
struct HttpEndpoint {
  std::string url;   // as the user gave it, for messages; may be empty
  std::string host;  // without the [] of an IPv6 literal
  std::string port = "80";
  std::string base_path;  // "" or "/prefix" (no trailing '/'), put before every target
  bool tls = false;       // https://
  std::string ca_file;    // with tls: PEM CA certificates to trust; empty: the system's
};

// http[s]://host[:port][/base] (no scheme: http); IPv6 hosts in brackets. False, with `error`
// set, for anything else (another scheme, a user name, a query, a bad port).
bool ParseEndpoint(const std::string& url, HttpEndpoint* endpoint, std::string* error);

struct HttpRequest {
  std::string method = "GET";  // sent as is, known to Beast or not
  std::string target;          // after the endpoint's base_path: "/v1/orders?x=1"
  std::string body;            // sent as is; Content-Length is set from it
  std::string bearer;          // "Authorization: Bearer <bearer>" when not empty
  std::string content_type;    // sent when not empty
  std::vector<std::pair<std::string, std::string>> headers;  // more fields, sent as given
};

enum class HttpFailure {
  kNone,     // an answer came: status, headers, body
  kResolve,  // the host name did not resolve
  kConnect,  // no connection (refused, unreachable, timed out, TLS handshake failed)
  kTimeout,  // connected, but no complete answer in time
  kIo,       // the connection broke while writing or reading (or the answer was not HTTP)
};

struct HttpResponse {
  HttpFailure failure = HttpFailure::kNone;
  std::string error;  // why, for people, when failure != kNone
  int status = 0;     // 0 when failure != kNone
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case; the last of repeats
  // The header's value, or "" (`name` in lower case).
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpClientOptions {
  std::string user_agent;  // sent when not empty
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // Writing one request and reading its whole answer (Send() may be given another).
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};
  // The largest answer body accepted: a verified proof may be up to 64 MiB (max_proof_bytes),
  // 4/3 of that in base64, so the command line, which downloads proofs, raises it.
  std::uint64_t body_limit = std::uint64_t{64} << 20;
  bool keep_alive = true;  // false: "Connection: close", a new connection per request
};

class HttpClient {
 public:
  explicit HttpClient(HttpEndpoint endpoint, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  // Sends `request` and waits for its answer, at most options.request_timeout (or `timeout`)
  // after the connection is up. A HEAD answer has no body.
  HttpResponse Send(const HttpRequest& request);
  HttpResponse Send(const HttpRequest& request, std::chrono::milliseconds timeout);

  // Closes the kept-alive connection, if any; the next request opens a new one.
  void Close();

  // How many TCP connections this client has opened so far (1 = keep-alive held).
  int connections_opened() const;
  const HttpEndpoint& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sends `bytes` on a new connection to host:port and returns everything the server sends back
// until it closes the connection or `timeout` passes (even after a failed write: a server that
// refuses a request early still answers). "" if no connection could be made.
std::string RawExchange(const std::string& host, const std::string& port, const std::string& bytes,
                        std::chrono::milliseconds timeout);

// "host:port" for a Host header; an IPv6 literal in brackets.
std::string HostHeader(const std::string& host, const std::string& port);

}  // namespace proofbook::clients
