#include "server/json_body.h"

#include <algorithm>

namespace proofbook::server {
namespace {

Status Invalid(std::string_view field, std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message), std::string(field));
}

// simdjson's DOM parser keeps its buffers between documents: one per thread, reused.
simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

}  // namespace

Result<JsonBody> JsonBody::Parse(std::string_view body,
                                 std::initializer_list<std::string_view> allowed) {
  simdjson::dom::element root;
  // simdjson wants SIMDJSON_PADDING readable bytes past the end; a padded copy gives that.
  simdjson::padded_string padded(body);
  if (auto error = ThreadParser().parse(padded).get(root); error) {
    return Status(StatusCode::kInvalidArgument,
                  std::string("request body is not valid JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    return Status(StatusCode::kInvalidArgument, "request body must be a JSON object");
  }
  for (auto [key, value] : object) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Invalid(key, "unknown field '" + std::string(key) + "'");
    }
  }
  return JsonBody(object);
}

bool JsonBody::Has(std::string_view field) const {
  simdjson::dom::element value;
  return !object_.at_key(field).get(value) && !value.is_null();
}

Result<int64_t> JsonBody::Int(std::string_view field, int64_t min, int64_t max,
                              std::optional<int64_t> fallback) const {
  simdjson::dom::element value;
  if (object_.at_key(field).get(value) || value.is_null()) {
    if (fallback) return *fallback;
    return Invalid(field, std::string(field) + " is required");
  }
  int64_t n = 0;
  if (value.get_int64().get(n)) {
    return Invalid(field, std::string(field) + " must be an integer (JSON number without fraction)");
  }
  if (n < min || n > max) {
    return Invalid(field, std::string(field) + " must be between " + std::to_string(min) +
                              " and " + std::to_string(max));
  }
  return n;
}

Result<std::string> JsonBody::String(std::string_view field, std::size_t max_length,
                                     std::optional<std::string> fallback) const {
  simdjson::dom::element value;
  if (object_.at_key(field).get(value) || value.is_null()) {
    if (fallback) return *fallback;
    return Invalid(field, std::string(field) + " is required");
  }
  std::string_view s;
  if (value.get_string().get(s)) return Invalid(field, std::string(field) + " must be a string");
  if (s.empty() || s.size() > max_length) {
    return Invalid(field, std::string(field) + " must be 1 to " + std::to_string(max_length) +
                              " bytes");
  }
  // Names, ids and references: printable text only (PostgreSQL cannot store NUL at all).
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      return Invalid(field, std::string(field) + " must not contain control characters");
    }
  }
  return std::string(s);
}

Result<std::string> JsonBody::Enum(std::string_view field,
                                   std::initializer_list<std::string_view> choices,
                                   std::optional<std::string> fallback) const {
  auto s = String(field, 64, std::move(fallback));
  if (!s) return s;
  if (std::find(choices.begin(), choices.end(), *s) != choices.end()) return s;
  std::string list;
  for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
  return Invalid(field, std::string(field) + " must be one of: " + list);
}

namespace {

// jsonb refuses \u0000 in strings and keys, and would fail the journal's whole batch. The
// depth is bounded by simdjson's parser limit.
bool HasNul(simdjson::dom::element value) {
  if (std::string_view text; !value.get_string().get(text)) {
    return text.find('\0') != std::string_view::npos;
  }
  if (simdjson::dom::array array; !value.get_array().get(array)) {
    for (simdjson::dom::element item : array) {
      if (HasNul(item)) return true;
    }
    return false;
  }
  if (simdjson::dom::object object; !value.get_object().get(object)) {
    for (simdjson::dom::key_value_pair kv : object) {
      if (kv.key.find('\0') != std::string_view::npos || HasNul(kv.value)) return true;
    }
  }
  return false;
}

}  // namespace

// Arrays and objects nested in `value`, itself included: a scalar is 0, `[[1]]` 2. Stops
// counting past `limit` (the caller only needs to know it is too deep).
static std::size_t Depth(simdjson::dom::element value, std::size_t limit) {
  if (limit == 0) return 1;
  std::size_t deepest = 0;
  if (simdjson::dom::array array; !value.get_array().get(array)) {
    for (simdjson::dom::element item : array) deepest = std::max(deepest, Depth(item, limit - 1));
    return deepest + 1;
  }
  if (simdjson::dom::object object; !value.get_object().get(object)) {
    for (simdjson::dom::key_value_pair kv : object) {
      deepest = std::max(deepest, Depth(kv.value, limit - 1));
    }
    return deepest + 1;
  }
  return 0;
}

Result<std::string> JsonBody::Raw(std::string_view field, std::size_t max_bytes,
                                  std::size_t max_depth) const {
  simdjson::dom::element value;
  if (object_.at_key(field).get(value)) return std::string("null");
  if (Depth(value, max_depth + 1) > max_depth) {
    return Invalid(field, std::string(field) + " nests arrays and objects more than " +
                              std::to_string(max_depth) + " levels deep");
  }
  if (HasNul(value)) {
    return Invalid(field, std::string(field) + " must not contain \\u0000");
  }
  std::string text = simdjson::minify(value);
  if (text.size() > max_bytes) {
    return Status(StatusCode::kPayloadTooLarge,
                  std::string(field) + " exceeds " + std::to_string(max_bytes) + " bytes",
                  std::string(field));
  }
  return text;
}

}  // namespace proofbook::server
