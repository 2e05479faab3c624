// What every fuzz target checks (fuzz/README.md): the code under test never crashes, and a
// refusal is a Status a client can act on. A violated contract prints what was expected and
// aborts, so libFuzzer reports the input as a crash and saves it.
//
// A refusal must be: not ok; a stable snake_case wire code; a message for people; a 4xx (the
// input is the client's fault: a parser that answers 5xx blames the server for bad input); and
// its wire rendering, {"error": ErrorJson(status)} as REST and the prover WebSocket send it,
// must parse back as JSON with the same code.
//
// Known open finding (fuzz/README.md, "Findings"): a refusal may echo client bytes that are not
// UTF-8 (a percent-decoded query name, a raw path), making the error body invalid JSON for a
// strict client. The UTF-8 part of the wire check is on only with PROOFBOOK_FUZZ_WIRE_UTF8=1
// until the server escapes them; everything else about the rendering is always checked.
//
// Single-threaded, as libFuzzer calls a target.
#pragma once

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "matching/status.h"
#include "server/http/http_types.h"

namespace proofbook::fuzz {

[[noreturn]] inline void Violated(const char* file, int line, const char* what,
                                  std::string_view detail) {
  std::fprintf(stderr, "%s:%d: fuzz contract violated: %s\n", file, line, what);
  if (!detail.empty()) {
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size()), detail.data());
  }
  std::abort();
}

// FUZZ_CHECK(cond) or FUZZ_CHECK(cond, detail): aborts with the condition's text (and `detail`,
// anything convertible to std::string_view) when `cond` is false.
#define FUZZ_CHECK(cond, ...)                                      \
  ((cond) ? void(0)                                                \
          : ::proofbook::fuzz::Violated(__FILE__, __LINE__, #cond, \
                                        ::proofbook::fuzz::Detail(__VA_OPT__(__VA_ARGS__))))

inline std::string_view Detail() { return {}; }
inline std::string_view Detail(std::string_view s) { return s; }

// Whether the UTF-8 part of the wire check is on (see the header comment).
inline bool StrictWireUtf8() {
  static const bool on = [] {
    // On since ErrorJson replaces bytes that are not UTF-8 (server/http/http_types.cc);
    // PROOFBOOK_FUZZ_WIRE_UTF8=0 turns it off.
    const char* v = std::getenv("PROOFBOOK_FUZZ_WIRE_UTF8");
    return v == nullptr || std::string_view(v) != "0";
  }();
  return on;
}

// `text` (a message as sent) parses as a JSON object; with `strict_utf8` false, bytes that are
// not UTF-8 inside strings are let through (the known finding above).
inline std::optional<boost::json::object> ParseWire(std::string_view text, bool strict_utf8) {
  boost::json::parse_options options;
  options.allow_invalid_utf8 = !strict_utf8;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

// The error object inside a parsed wire message has the refusal's code.
inline void CheckErrorObject(const boost::json::object& message, const Status& status,
                             const std::string& text) {
  const boost::json::value* error = message.if_contains("error");
  FUZZ_CHECK(error != nullptr && error->is_object(), text);
  const boost::json::value* code = error->as_object().if_contains("code");
  FUZZ_CHECK(code != nullptr && code->is_string(), text);
  FUZZ_CHECK(code->as_string() == status.wire_code(), text);
  const boost::json::value* message_text = error->as_object().if_contains("message");
  FUZZ_CHECK(message_text != nullptr && message_text->is_string(), text);
}

// A refusal as a client sees it (the header comment's contract), over REST.
inline void CheckRefusal(const Status& status) {
  FUZZ_CHECK(!status.ok());
  const std::string_view code = status.wire_code();
  FUZZ_CHECK(!code.empty(), status.ToString());
  for (char c : code) FUZZ_CHECK((c >= 'a' && c <= 'z') || c == '_', status.ToString());
  FUZZ_CHECK(!status.message().empty(), status.ToString());
  const int http = server::HttpStatusFor(status.code());
  FUZZ_CHECK(http >= 400 && http < 500, status.ToString());
  const server::HttpResponse response = server::ErrorResponse(status);
  FUZZ_CHECK(response.status == http, status.ToString());
  auto parsed = ParseWire(response.body, StrictWireUtf8());
  FUZZ_CHECK(parsed.has_value(), response.body);
  CheckErrorObject(*parsed, status, response.body);
}

// Ok, or a refusal that keeps the contract.
template <typename T>
void CheckResult(const Result<T>& result) {
  if (!result) CheckRefusal(result.error());
}

}  // namespace proofbook::fuzz
