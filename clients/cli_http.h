// One HTTP/1.1 request to a proofbook server, blocking, with a time limit on every step
// (connect, write, read). The only part of the `proofbook` command line that knows Beast, so
// the rest compiles quickly. Plain HTTP only: the server speaks nothing else.
//
// Thread rules: none shared; each call uses its own io_context and connection.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace proofbook::cli {

// Where the server is: http://host[:port][/base]. `url` is as the user gave it (for messages).
struct HttpEndpoint {
  std::string url;
  std::string host;       // without the [] of an IPv6 literal
  std::string port;       // "80" when the URL names none
  std::string base_path;  // "" or "/prefix" (no trailing '/'), put before every path
};

struct HttpResult {
  enum class Failure {
    kNone,     // an answer came: status, body, retry_after
    kResolve,  // the host name did not resolve
    kConnect,  // no connection (refused, unreachable, timed out)
    kTimeout,  // connected, but no complete answer in time
    kIo,       // the connection broke while writing or reading
  };
  Failure failure = Failure::kNone;
  std::string error;  // why, for people (the system's message), when failure != kNone
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, if any
};

// Sends `method` `endpoint.base_path + target` with `body` (JSON, may be empty) and
// `Authorization: Bearer <api_key>` when the key is not empty; waits at most `timeout` for
// the whole exchange. Never throws for network failures; they are in the result.
HttpResult HttpExchange(const HttpEndpoint& endpoint, std::string_view method,
                        const std::string& target, const std::string& body,
                        const std::string& api_key, std::chrono::milliseconds timeout);

}  // namespace proofbook::cli
