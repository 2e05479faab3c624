// Status and Result<T>: expected failures as values, shared by matching/ and server/.
//
// A Status is a stable snake_case code (what the client should do next), a message for
// people, and optionally the input field at fault. It maps onto the wire error object
// {"error":{"code":...,"message":...,"field":...}} and an HTTP status in server/.
// Result<T> is shaped like C++23 std::expected: has_value(), value(), error().
// Value types; no thread rules beyond those of std::string.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace proofbook {

enum class StatusCode {
  kOk,
  kInvalidArgument,   // 400: the request itself is malformed
  kUnauthenticated,   // 401
  kForbidden,         // 403
  kNotFound,          // 404
  kMethodNotAllowed,  // 405
  kConflict,          // 409: a state clash, e.g. cancelling an assigned order
  kPayloadTooLarge,   // 413
  kUnprocessable,     // 422: a business rule refused it; the reason is in `reason`
  kRateLimited,       // 429
  kInternal,          // 500
  kUnavailable,       // 503: database down, not ready
  kOverloaded,        // 503: a ring or journal is full; retry later
};

// The stable wire name of a code ("invalid_argument", ...).
constexpr std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    case StatusCode::kForbidden:
      return "forbidden";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kMethodNotAllowed:
      return "method_not_allowed";
    case StatusCode::kConflict:
      return "conflict";
    case StatusCode::kPayloadTooLarge:
      return "payload_too_large";
    case StatusCode::kUnprocessable:
      return "unprocessable";
    case StatusCode::kRateLimited:
      return "rate_limited";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kOverloaded:
      return "overloaded";
  }
  return "internal";
}

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message, std::string field = {})
      : code_(code), message_(std::move(message)), field_(std::move(field)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // The stable wire code. For kUnprocessable a rule-specific reason may replace the generic
  // name ("insufficient_balance", "unknown_market", ...).
  std::string_view wire_code() const {
    return reason_.empty() ? StatusCodeName(code_) : std::string_view(reason_);
  }
  const std::string& message() const { return message_; }
  const std::string& field() const { return field_; }

  // A more specific stable code, e.g. Status(kUnprocessable, ...).WithReason("unknown_market").
  Status WithReason(std::string reason) && {
    reason_ = std::move(reason);
    return std::move(*this);
  }

  std::string ToString() const {
    std::string s(wire_code());
    if (!message_.empty()) s += ": " + message_;
    if (!field_.empty()) s += " (field " + field_ + ")";
    return s;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string field_;
  std::string reason_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}        // NOLINT: implicit
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT: implicit
    assert(!std::get<1>(v_).ok() && "Result needs a value or a failed Status");
  }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Status& error() const& { return std::get<1>(v_); }
  Status&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace proofbook
