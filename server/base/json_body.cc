#include "server/base/json_body.h"

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
                                 std::initializer_list<std::string_view> allowed,
                                 std::initializer_list<std::string_view> envelope) {
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
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end() &&
        std::find(envelope.begin(), envelope.end(), key) == envelope.end()) {
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
    return Invalid(field,
                   std::string(field) + " must be an integer (JSON number without fraction)");
  }
  if (n < min || n > max) {
    return Invalid(field, std::string(field) + " must be between " + std::to_string(min) + " and " +
                              std::to_string(max));
  }
  return n;
}

Result<bool> JsonBody::Bool(std::string_view field, std::optional<bool> fallback) const {
  simdjson::dom::element value;
  if (object_.at_key(field).get(value) || value.is_null()) {
    if (fallback) return *fallback;
    return Invalid(field, std::string(field) + " is required");
  }
  bool b = false;
  if (value.get_bool().get(b)) return Invalid(field, std::string(field) + " must be true or false");
  return b;
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
    return Invalid(field,
                   std::string(field) + " must be 1 to " + std::to_string(max_length) + " bytes");
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

// What Raw refuses in a value, found in one walk: how deep it nests arrays and objects (itself
// included: a scalar is 0, `[[1]]` 2), and whether a string or key holds \u0000 (jsonb refuses
// it, and it would fail the journal's whole batch). Past `limit` levels it stops looking: the
// value is too deep whatever else it holds.
struct Findings {
  std::size_t depth = 0;
  bool nul = false;
};

Findings Inspect(simdjson::dom::element value, std::size_t limit) {
  Findings f;
  if (std::string_view text; !value.get_string().get(text)) {
    f.nul = text.find('\0') != std::string_view::npos;
    return f;
  }
  if (limit == 0) {
    f.depth = 1;
    return f;
  }
  auto take = [&f](const Findings& child) {
    f.depth = std::max(f.depth, child.depth);
    f.nul = f.nul || child.nul;
  };
  if (simdjson::dom::array array; !value.get_array().get(array)) {
    for (simdjson::dom::element item : array) take(Inspect(item, limit - 1));
    ++f.depth;
  } else if (simdjson::dom::object object; !value.get_object().get(object)) {
    for (simdjson::dom::key_value_pair kv : object) {
      f.nul = f.nul || kv.key.find('\0') != std::string_view::npos;
      take(Inspect(kv.value, limit - 1));
    }
    ++f.depth;
  }
  return f;
}

}  // namespace

Result<std::string> JsonBody::Raw(std::string_view field, std::size_t max_bytes,
                                  std::size_t max_depth) const {
  simdjson::dom::element value;
  if (object_.at_key(field).get(value)) return std::string("null");
  const Findings found = Inspect(value, max_depth + 1);
  if (found.depth > max_depth) {
    return Invalid(field, std::string(field) + " nests arrays and objects more than " +
                              std::to_string(max_depth) + " levels deep");
  }
  if (found.nul) {
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

Result<std::vector<std::string>> JsonBody::RawArray(std::string_view field, std::size_t max_items,
                                                    std::size_t max_bytes,
                                                    std::size_t max_depth) const {
  simdjson::dom::element value;
  if (object_.at_key(field).get(value)) return Invalid(field, std::string(field) + " is required");
  simdjson::dom::array items;
  if (value.get_array().get(items) || items.size() == 0 || items.size() > max_items) {
    return Invalid(field, std::string(field) + " must be an array of 1 to " +
                              std::to_string(max_items) + " values");
  }
  std::vector<std::string> out;
  out.reserve(items.size());
  for (simdjson::dom::element item : items) {
    const std::string at = std::string(field) + "[" + std::to_string(out.size()) + "]";
    const Findings found = Inspect(item, max_depth + 1);
    if (found.depth > max_depth) {
      return Invalid(field, at + " nests arrays and objects more than " +
                                std::to_string(max_depth) + " levels deep");
    }
    if (found.nul) return Invalid(field, at + " must not contain \\u0000");
    std::string text = simdjson::minify(item);
    if (text.size() > max_bytes) {
      return Status(StatusCode::kPayloadTooLarge,
                    at + " exceeds " + std::to_string(max_bytes) + " bytes", std::string(field));
    }
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace proofbook::server
