// JsonBody: a request body parsed with simdjson (DOM, error codes, no exceptions) and read
// field by field with type and range checks. Unknown fields are refused, so a client's typo
// ("max_prize") is a 400 naming the field instead of a silently ignored setting.
//
// Every failure is a kInvalidArgument Status naming the field. A JsonBody refers into a
// thread-local parser: read it on the thread that parsed it, before that thread parses again.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "matching/status.h"

namespace proofbook::server {

class JsonBody {
 public:
  // Parses `body`, which must be a JSON object whose keys are all in `allowed` or in
  // `envelope` (fields of the message around the request, e.g. a WebSocket message's "type"
  // and "id", which the caller reads itself).
  static Result<JsonBody> Parse(std::string_view body,
                                std::initializer_list<std::string_view> allowed,
                                std::initializer_list<std::string_view> envelope = {});

  bool Has(std::string_view field) const;

  // An integer in [min, max]; absent: `fallback`, or an error naming the field if none.
  Result<int64_t> Int(std::string_view field, int64_t min, int64_t max,
                      std::optional<int64_t> fallback = std::nullopt) const;
  // true or false; absent: `fallback`, or an error naming the field if none.
  Result<bool> Bool(std::string_view field, std::optional<bool> fallback = std::nullopt) const;
  // A string of 1..max_length bytes; absent: `fallback`, or an error if none.
  Result<std::string> String(std::string_view field, std::size_t max_length,
                             std::optional<std::string> fallback = std::nullopt) const;
  // One of `choices`; absent: `fallback`, or an error if none.
  Result<std::string> Enum(std::string_view field, std::initializer_list<std::string_view> choices,
                           std::optional<std::string> fallback = std::nullopt) const;
  // Any JSON value, re-serialised minified, at most max_bytes and nested at most max_depth
  // arrays/objects deep (server/base/json_limits.h counts depth); absent: "null".
  Result<std::string> Raw(std::string_view field, std::size_t max_bytes,
                          std::size_t max_depth) const;

  // A non-empty array of at most max_items values, each as Raw reads one (minified, at most
  // max_bytes, nested at most max_depth deep; the error names the field and the index).
  Result<std::vector<std::string>> RawArray(std::string_view field, std::size_t max_items,
                                            std::size_t max_bytes, std::size_t max_depth) const;

 private:
  explicit JsonBody(simdjson::dom::object object) : object_(object) {}
  simdjson::dom::object object_;
};

}  // namespace proofbook::server
