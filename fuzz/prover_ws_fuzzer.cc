// prover_ws_fuzzer: the prover WebSocket's text-message decoder (schema/prover-ws.yaml).
//
// The real handler, ProverGateway::Connection::OnMessage (server/prover/prover_gateway.cc), is
// not reachable without a socket: Connection is private to that file and comes only from
// ProverGateway::Accept, whose Services need an Operations (an EngineRunner and a Database, so
// PostgreSQL). This target therefore runs the pure pieces it is made of, in its order, on the
// whole input as one text frame:
//   Boost.JSON parse of the frame (default options, as OnMessage), "not a JSON object";
//   the client id (a string or an int64, else null) and "type" (a string, else refused);
//   per type: ping and cancel_offer and proof check their fields (unknown field refused),
//   cancel_offer's "offer" and proof's "assignment" and "size" are positive int64s (size at
//   most kMaxProofBytes), proof's "sha256" is 64 lower-case hex digits; offer is
//   ParsePlaceOffer(frame, markets, envelope {"type","id"}); decline is
//   ParseDecline(frame, with_assignment=true, envelope {"type","id"}); any other type refused.
// The steps are a copy of the gateway's session handler (the proof header's checks among
// them) and must follow it if it changes; the pieces are the real ones: ClientId, PositiveInt
// and OnlyFields (server/prover/ws_message.h), ParsePlaceOffer, ParseDecline, IsLowerHex,
// ErrorJson and HttpStatusFor. Markets: test_markets.h TestMarkets().
//
// Checked: no crash, no sanitizer report; every refusal keeps fuzz_support.h's contract and
// renders as the gateway's `error` message ({"type":"error","id":...,"status":...,"error":
// {...}}), which parses back with the client's id echoed; every accepted message holds only
// in-range values.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.h"
#include "fuzz/test_markets.h"
#include "matching/types.h"
#include "server/base/crypto.h"
#include "server/base/limits.h"
#include "server/core/requests.h"
#include "server/prover/ws_message.h"

namespace proofbook::fuzz {
namespace {

using server::ClientId;
using server::OnlyFields;
using server::PositiveInt;

namespace json = boost::json;

// As Connection::Fail sends it (ErrorMessage): the refusal's contract, then the message as
// the prover receives it, parsed back.
void Refused(const json::value& id, const Status& status) {
  CheckRefusal(status);
  json::object fields{{"id", id},
                      {"status", server::HttpStatusFor(status.code())},
                      {"error", server::ErrorJson(status)}};
  fields.emplace("type", "error");
  const std::string text = json::serialize(fields);
  auto parsed = ParseWire(text, StrictWireUtf8());
  FUZZ_CHECK(parsed.has_value(), text);
  CheckErrorObject(*parsed, status, text);
  const json::value* echoed = parsed->if_contains("id");
  FUZZ_CHECK(echoed != nullptr && *echoed == id, text);
  const json::value* type = parsed->if_contains("type");
  FUZZ_CHECK(type != nullptr && type->is_string() && type->as_string() == "error", text);
}

void Offer(const std::string& frame, const json::value& id) {
  auto request = server::ParsePlaceOffer(frame, TestMarkets(), {"type", "id"});
  if (!request) return Refused(id, request.error());
  const matching::PlaceOffer& o = request->offer;
  FUZZ_CHECK(TestMarkets().Find(request->market) == o.market, request->market);
  FUZZ_CHECK(o.price >= 1 && o.price <= server::kMaxAmount);
  FUZZ_CHECK(o.est_ms >= 0 && o.est_ms <= matching::kMaxDurationMs);
  FUZZ_CHECK(o.capacity >= 1 && o.capacity <= server::kMaxOfferCapacity);
  FUZZ_CHECK(o.expires_at >= 0 && o.expires_at <= server::kMaxOfferLifeMs);
}

void CancelOffer(const json::object& msg, const json::value& id) {
  if (Status s = OnlyFields(msg, {"type", "id", "offer"}); !s.ok()) return Refused(id, s);
  auto offer = PositiveInt(msg, "offer");
  if (!offer) {
    return Refused(id, Status(StatusCode::kInvalidArgument, "offer must be an offer id", "offer"));
  }
  FUZZ_CHECK(*offer >= 1);
}

void Decline(const std::string& frame, const json::value& id) {
  auto request = server::ParseDecline(frame, /*with_assignment=*/true, {"type", "id"});
  if (!request) return Refused(id, request.error());
  FUZZ_CHECK(request->assignment >= 1);
  FUZZ_CHECK(request->reason == matching::Reason::kBusy ||
             request->reason == matching::Reason::kUnprovable);
}

// The header's checks before the database is asked (Connection::OnProofHeader).
void ProofHeader(const json::object& msg, const json::value& id) {
  if (Status s = OnlyFields(msg, {"type", "id", "assignment", "size", "sha256"}); !s.ok()) {
    return Refused(id, s);
  }
  auto assignment = PositiveInt(msg, "assignment");
  if (!assignment) {
    return Refused(id, Status(StatusCode::kInvalidArgument, "assignment must be an assignment id",
                              "assignment"));
  }
  auto size = PositiveInt(msg, "size");
  if (!size || *size > server::kMaxProofBytes) {
    return Refused(id,
                   Status(StatusCode::kInvalidArgument,
                          "size must be 1 to " + std::to_string(server::kMaxProofBytes), "size"));
  }
  const json::value* sha = msg.if_contains("sha256");
  if (sha == nullptr || !sha->is_string() || sha->as_string().size() != 64 ||
      !server::IsLowerHex(sha->as_string())) {
    return Refused(id, Status(StatusCode::kInvalidArgument,
                              "sha256 must be 64 lower-case hex digits", "sha256"));
  }
  FUZZ_CHECK(*assignment >= 1 && *size >= 1 && *size <= server::kMaxProofBytes);
  for (char c : sha->as_string()) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
}

void OnText(const std::string& frame) {
  boost::system::error_code ec;
  json::value v = json::parse(frame, ec);
  if (ec || !v.is_object()) {
    return Refused(nullptr, Status(StatusCode::kInvalidArgument, "message is not a JSON object"));
  }
  const json::object& msg = v.as_object();
  const json::value id = ClientId(msg);
  FUZZ_CHECK(id.is_null() || id.is_string() || id.is_int64());
  const json::value* type = msg.if_contains("type");
  if (type == nullptr || !type->is_string()) {
    return Refused(id, Status(StatusCode::kInvalidArgument, "type is required", "type"));
  }
  const std::string_view t = type->as_string();
  if (t == "ping") {
    if (Status s = OnlyFields(msg, {"type", "id"}); !s.ok()) return Refused(id, s);
    return;
  }
  if (t == "offer") return Offer(frame, id);
  if (t == "cancel_offer") return CancelOffer(msg, id);
  if (t == "decline") return Decline(frame, id);
  if (t == "proof") return ProofHeader(msg, id);
  Refused(id,
          Status(StatusCode::kInvalidArgument, "unknown message type " + std::string(t), "type"));
}

}  // namespace
}  // namespace proofbook::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  proofbook::fuzz::OnText(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
