// The proofbook REST API as the command line sees it: requests with the caller's key, answers
// parsed as JSON, and every failure turned into one line for people and an exit code scripts
// can trust (ExitCode). Failures are values (Expected), never exceptions.
//
// Thread rules: an ApiClient is used by one thread at a time.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <utility>
#include <variant>

#include "clients/common/http_client.h"

namespace proofbook::cli {

// The exit codes of `proofbook`, documented in --help and the README.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // anything else (a 500, a bad answer, a file we could not write)
  kExitUsage = 2,        // bad command line or configuration (CLI11's own errors included)
  kExitRefused = 3,      // the server refused the request (4xx)
  kExitUnavailable = 4,  // server unreachable, 502/503/504, or no answer in time
  kExitNoProof = 5,      // --wait ended without a proof (expired, cancelled, --wait-timeout)
};

struct CliError {
  int exit_code = kExitFailure;
  std::string message;  // one line, without the "proofbook: " prefix
};

// A value or a CliError; shaped like std::expected (C++23).
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}         // NOLINT: implicit, as std::expected
  Expected(CliError error) : v_(std::move(error)) {}  // NOLINT
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const CliError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, CliError> v_;
};

// What a command returns: nothing on success, else the error main reports.
struct Done {};
using Outcome = Expected<Done>;

struct ApiReply {
  int status = 0;
  std::string body;         // exactly as the server sent it (what --json prints)
  boost::json::value json;  // the body parsed
};

class ApiClient {
 public:
  // `timeout`: the longest any one request may take (a long poll adds its own wait to it).
  ApiClient(clients::HttpEndpoint endpoint, std::string api_key, std::chrono::milliseconds timeout)
      : endpoint_(std::move(endpoint)), api_key_(std::move(api_key)), timeout_(timeout) {}

  // `extra_wait`: how long the server may hold this request (GET ...?wait_ms=).
  Expected<ApiReply> Get(const std::string& path,
                         std::chrono::milliseconds extra_wait = std::chrono::milliseconds(0));
  Expected<ApiReply> Post(const std::string& path, const boost::json::value& body);
  Expected<ApiReply> Delete(const std::string& path);

  const clients::HttpEndpoint& endpoint() const { return endpoint_; }

 private:
  Expected<ApiReply> Call(std::string_view method, const std::string& path, const std::string& body,
                          std::chrono::milliseconds timeout);

  // Constant after construction.
  clients::HttpEndpoint endpoint_;
  std::string api_key_;  // never printed
  std::chrono::milliseconds timeout_;
};

// "a/b c" -> "a%2Fb%20c", for query values and path segments.
std::string UrlEncode(std::string_view text);

}  // namespace proofbook::cli
