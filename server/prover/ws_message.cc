#include "server/prover/ws_message.h"

#include <algorithm>
#include <string>

namespace proofbook::server {

namespace json = boost::json;

json::value ClientId(const json::object& msg) {
  const json::value* id = msg.if_contains("id");
  return id != nullptr && (id->is_string() || id->is_int64()) ? *id : json::value(nullptr);
}

std::optional<int64_t> PositiveInt(const json::object& msg, std::string_view name) {
  const json::value* v = msg.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64() && v->as_int64() > 0) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= uint64_t{INT64_MAX} && v->as_uint64() > 0) {
    return static_cast<int64_t>(v->as_uint64());
  }
  return std::nullopt;
}

Status OnlyFields(const json::object& msg, std::initializer_list<std::string_view> allowed) {
  for (const auto& kv : msg) {
    if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
      return Status(StatusCode::kInvalidArgument, "unknown field '" + std::string(kv.key()) + "'",
                    std::string(kv.key()));
    }
  }
  return Status::Ok();
}

}  // namespace proofbook::server
