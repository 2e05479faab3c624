#include "server/prover/prover_gateway.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "server/base/crypto.h"
#include "server/base/failpoint.h"
#include "server/base/json_limits.h"
#include "server/base/limits.h"
#include "server/base/log.h"
#include "server/core/views.h"
#include "server/db/proofs.h"
#include "server/prover/ws_message.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::AccountId;
using Clock = std::chrono::steady_clock;

namespace {

// A verdict the engine cannot take now (503) is tried again every second, this many times.
constexpr int kVerdictAttempts = 60;
constexpr std::chrono::seconds kVerdictRetryInterval{1};
// An accepted proof's bytes must arrive within Options::proof_receive_floor plus their size at
// this rate (1 MB/s: slow for loopback or a data centre, honest for a bad link).
constexpr std::size_t kMinProofBytesPerMs = 1000;
// Small proofs whose header checks may be in flight at once on one connection; beyond, a header
// holds the reads as a large one does (one prover cannot fill the database's queue).
constexpr int kMaxUncheckedHeaders = 64;

std::string Message(std::string_view type, json::object fields) {
  fields.emplace("type", type);
  return json::serialize(fields);
}

// The REST error body's "error" object, with the request's id and the HTTP status beside it.
std::string ErrorMessage(const json::value& id, const Status& status) {
  return Message(
      "error",
      {{"id", id}, {"status", HttpStatusFor(status.code())}, {"error", ErrorJson(status)}});
}

// An `assignment` message; `inputs`: the order's inputs as stored (JSON text), if any.
std::string AssignmentMessage(int64_t assignment, int64_t order, const std::string& market,
                              int64_t price, int64_t due_at_ms, const std::string* inputs,
                              bool resent) {
  json::object m{{"assignment", assignment},
                 {"order", order},
                 {"market", market},
                 {"price", price},
                 {"due_at_ms", due_at_ms}};
  if (resent) m.emplace("resent", true);
  boost::system::error_code ec;
  m.emplace("inputs", inputs != nullptr ? json::parse(*inputs, ec, {}, StoredInputsOptions())
                                        : json::value(nullptr));
  return Message("assignment", std::move(m));
}

// Sends to one connection if it is still there.
std::function<void(std::string)> Teller(std::weak_ptr<WsPeer> peer) {
  return [peer = std::move(peer)](std::string text) {
    if (auto p = peer.lock()) p->Send(std::move(text));
  };
}

// Whether a proof of `size` bytes from `prover` fits an assignment (`found`: it exists) of
// `owner` in a market taking `max_bytes`, as the header check and the delivery both ask.
Status ProofFits(bool found, AccountId owner, int64_t max_bytes, AccountId prover, int64_t size) {
  if (!found) return Status(StatusCode::kNotFound, "no such assignment", "assignment");
  if (owner != prover) {
    return Status(StatusCode::kForbidden, "the assignment is another prover's", "assignment");
  }
  if (size > max_bytes) {
    return Status(
        StatusCode::kPayloadTooLarge,
        "the proof exceeds the market's max_proof_bytes (" + std::to_string(max_bytes) + ")",
        "size");
  }
  return Status::Ok();
}

}  // namespace

// ---- One connection ----------------------------------------------------------------------------

struct ProverGateway::Connection : WsHandler {
  Connection(ProverGateway& g, Principal p, std::string key_digest)
      : gateway(g), principal(p), digest(std::move(key_digest)) {}

  void OnOpen(std::shared_ptr<WsPeer> p) override {
    peer = p;
    gateway.Register(principal.account, digest, p);
    // A key revoked since the upgrade: DisconnectKey ran before Register could be seen.
    if (!gateway.services().auth.Has(digest)) {
      p->Close(kWsPolicyViolation, "API key revoked");
      return;
    }
    spdlog::info("msg=prover_connected prover={} conn={}", principal.account, p->id());
    p->Send(Message("welcome", {{"account", principal.account}}));
    gateway.SendOpenAssignments(principal.account, peer);
  }

  void OnClose(const std::string& why) override {
    EndProof();  // a proof cut short gives its budget back now, not when the session goes
    // Complete proofs still waiting for their header checks: stored now (the store checks the
    // same owner and size), so a prover that hung up after sending loses nothing.
    for (auto& [serial, p] : parked_) Deliver(std::move(p));
    parked_.clear();
    if (auto p = peer.lock()) gateway.Unregister(principal.account, p->id());
    spdlog::info("msg=prover_disconnected prover={} why={}", principal.account, LogValue(why));
  }

  void OnMessage(bool binary, std::string data) override {
    if (proof_.discard > 0) {
      // The bytes of a refused proof header: dropped as they come, no error for each.
      if (binary) {
        proof_.discard -= std::min(proof_.discard, data.size());
        return;
      }
      proof_.discard = 0;  // the prover moved on without sending them all
    }
    if (binary) return OnProofBytes(std::move(data));
    boost::system::error_code ec;
    json::value v = json::parse(data, ec);
    if (ec || !v.is_object()) {
      return Fail(nullptr, Status(StatusCode::kInvalidArgument, "message is not a JSON object"));
    }
    json::object& msg = v.as_object();
    const json::value id = ClientId(msg);
    const json::value* type = msg.if_contains("type");
    if (type == nullptr || !type->is_string()) {
      return Fail(id, Status(StatusCode::kInvalidArgument, "type is required", "type"));
    }
    const std::string_view t = type->as_string();
    if (proof_.active) {
      // Binary frames of the announced proof must come first.
      EndProof();
      return Fail(id, Status(StatusCode::kConflict,
                             "a text message arrived before the announced proof bytes; that "
                             "proof is dropped",
                             "type"));
    }
    if (t == "ping") {
      if (!OnlyFields(msg, {"type", "id"}, id)) return;
      return Send(Message("pong", {{"id", id}}));
    }
    if (t == "offer") return PlaceOffer(data, id);
    if (t == "cancel_offer") {
      if (!OnlyFields(msg, {"type", "id", "offer"}, id)) return;
      auto offer = PositiveInt(msg, "offer");
      if (!offer) {
        return Fail(id, Status(StatusCode::kInvalidArgument, "offer must be an offer id", "offer"));
      }
      if (!Allowed(id)) return;
      return gateway.services().ops.CancelOffer(
          principal.account, *offer,
          Reply<matching::OfferId>(id, "offer_cancelled", [](const matching::OfferId& offer) {
            return CancelledOfferJson(offer);
          }));
    }
    if (t == "decline") {
      auto request = ParseDecline(data, /*with_assignment=*/true, {"type", "id"});
      if (!request) return Fail(id, request.error());
      if (!Allowed(id)) return;
      return gateway.services().ops.Decline(
          principal.account, request->assignment, request->reason,
          Reply<Declined>(id, "declined", [](const Declined& d) { return DeclinedJson(d); }));
    }
    if (t == "proof") return OnProofHeader(msg, id);
    Fail(id,
         Status(StatusCode::kInvalidArgument, "unknown message type " + std::string(t), "type"));
  }

  bool OnlyFields(const json::object& msg, std::initializer_list<std::string_view> allowed,
                  const json::value& id) {
    const Status refused = server::OnlyFields(msg, allowed);
    if (!refused.ok()) Fail(id, refused);
    return refused.ok();
  }

  // The same request, parser and operation as POST /v1/offers; the message's "type" and "id"
  // are its envelope.
  void PlaceOffer(const std::string& text, const json::value& id) {
    auto request = ParsePlaceOffer(text, gateway.services().markets, {"type", "id"});
    if (!request) return Fail(id, request.error());
    if (!Allowed(id)) return;
    gateway.services().ops.PlaceOffer(
        principal.account, std::move(*request),
        Reply<PlacedOffer>(id, "offer_placed",
                           [](const PlacedOffer& placed) { return PlacedOfferJson(placed); }));
  }

  // The account's rate limit, as REST applies it.
  bool Allowed(const json::value& id) {
    if (gateway.services().limiter.Allow(principal.account)) return true;
    Fail(id, Status(StatusCode::kRateLimited, "too many requests for this API key; slow down"));
    return false;
  }

  // An operation's answer as a message of type `ok_type` (its body and the request's id), or
  // an error message.
  template <typename T>
  Done<T> Reply(const json::value& id, std::string_view ok_type,
                std::function<json::object(const T&)> render) {
    return [weak = peer, id, type = std::string(ok_type), render = std::move(render)](Result<T> r) {
      auto p = weak.lock();
      if (!p) return;
      if (!r) return (void)p->Send(ErrorMessage(id, r.error()));
      json::object out = render(*r);
      out.emplace("id", id);
      p->Send(Message(type, std::move(out)));
    };
  }

  void OnProofHeader(const json::object& msg, const json::value& id) {
    if (!OnlyFields(msg, {"type", "id", "assignment", "size", "sha256"}, id)) return;
    auto assignment = PositiveInt(msg, "assignment");
    if (!assignment) {
      return Fail(id, Status(StatusCode::kInvalidArgument, "assignment must be an assignment id",
                             "assignment"));
    }
    auto size = PositiveInt(msg, "size");
    if (!size || *size > kMaxProofBytes) {
      return Fail(id, Status(StatusCode::kInvalidArgument,
                             "size must be 1 to " + std::to_string(kMaxProofBytes), "size"));
    }
    const json::value* sha = msg.if_contains("sha256");
    if (sha == nullptr || !sha->is_string() || sha->as_string().size() != 64 ||
        !IsLowerHex(sha->as_string())) {
      return Fail(id, Status(StatusCode::kInvalidArgument,
                             "sha256 must be 64 lower-case hex digits", "sha256"));
    }
    const auto bytes = static_cast<std::size_t>(*size);
    if (bytes > gateway.options().proof_inflight_per_prover) {
      proof_.discard = bytes;
      return Fail(
          id, Status(StatusCode::kPayloadTooLarge,
                     "size exceeds this server's per-prover proof budget (" +
                         std::to_string(gateway.options().proof_inflight_per_prover) + " bytes)",
                     "size"));
    }
    ProofBudget budget = gateway.ReserveProofBytes(principal.account, bytes);
    if (!budget) {
      proof_.discard = bytes;
      return Fail(id,
                  Status(StatusCode::kOverloaded,
                         "too many proof bytes in flight; send this proof again later", "size"));
    }
    if (bytes <= kReadAtOnceProofBytes && unchecked_ < kMaxUncheckedHeaders) {
      // A small proof's bytes are read while its header is checked. Holding the reads for the
      // check's database round trip would hold every proof queued behind this one in the
      // socket, uncredited: a prover delivering many at once would see the last ones count as
      // late (loadtest/REPORT_TREES.md). Memory stays bounded by the budget reserved above.
      const uint64_t serial =
          StartReceiving(id, *assignment, bytes, std::string(sha->as_string()), std::move(budget),
                         /*held_ms=*/0, /*checked=*/false);
      ++unchecked_;
      gateway.CheckProofHeader(principal.account, *assignment, *size, std::string(sha->as_string()),
                               [this, weak = peer, serial](HeaderCheck check) {
                                 if (auto p = weak.lock()) {
                                   p->Post([this, serial, check] { OnCheck(serial, check); });
                                 }
                               });
      return;
    }
    // A large one: no byte is taken before the database has seen the header (a flood of large
    // proofs for assignments not the sender's costs no memory); the prover's frames wait in the
    // socket meanwhile, and the wait is credited to this proof.
    auto p = peer.lock();
    if (!p) return;
    p->Hold();
    const auto held_at = std::chrono::steady_clock::now();
    // The check's callback owns the connection until it resumes it (Hold's contract).
    gateway.CheckProofHeader(
        principal.account, *assignment, *size, std::string(sha->as_string()),
        [this, p, id, assignment = *assignment, bytes, sha = std::string(sha->as_string()),
         budget = std::move(budget), held_at](HeaderCheck check) mutable {
          p->Resume([this, id, assignment, bytes, sha, budget = std::move(budget), check,
                     held_at]() mutable {
            // The bytes waited in the socket while we checked: not the prover's time.
            const int64_t held_ms = MillisecondsSince(held_at);
            if (!Refused(id, assignment, bytes, check)) {
              StartReceiving(id, assignment, bytes, sha, std::move(budget), held_ms,
                             /*checked=*/true);
            }
          });
        });
  }

  // A header the check refuses (its bytes to drop as they come) or finds delivered already
  // (answered as a duplicate): true, and answered.
  bool Refused(const json::value& id, int64_t assignment, std::size_t size,
               const HeaderCheck& check) {
    if (check.status.ok() && !check.duplicate) return false;
    if (size > 0) proof_.discard = size;  // its budget goes with its owner, out of scope
    if (!check.status.ok()) {
      Fail(id, check.status);
    } else {
      Send(
          Message("proof_received", {{"id", id}, {"assignment", assignment}, {"duplicate", true}}));
    }
    return true;
  }

  // On the strand: the proof whose bytes come next. Its serial.
  uint64_t StartReceiving(const json::value& id, int64_t assignment, std::size_t size,
                          const std::string& sha, ProofBudget budget, int64_t held_ms,
                          bool checked) {
    proof_.active = true;
    proof_.id = id;
    proof_.assignment = assignment;
    proof_.size = size;
    proof_.sha256 = sha;
    proof_.bytes.clear();
    proof_.budget = std::move(budget);
    proof_.held_ms = held_ms;
    proof_.checked = checked;
    // Announced bytes hold budget: they must come in time (a floor, plus a slow but honest
    // rate), or the connection goes and the budget with it.
    const uint64_t serial = ++serial_;
    proof_.serial = serial;
    pending_->store(serial);
    const auto timeout = gateway.options().proof_receive_floor +
                         std::chrono::milliseconds(size / kMinProofBytesPerMs);
    gateway.Later(timeout, [weak = peer, pending = pending_, serial,
                            reservation = std::weak_ptr<ProofReservation>(proof_.budget)] {
      if (pending->load() != serial) return;
      // The budget first: free by the time the prover hears of the close.
      if (auto r = reservation.lock()) r->Release();
      if (auto p = weak.lock()) p->Close(kWsPolicyViolation, "proof bytes not received in time");
    });
    return serial;
  }

  // On the strand: the header check of a small proof, which may still be arriving, be complete
  // and waiting for it, or be gone (dropped meanwhile: nothing to do).
  void OnCheck(uint64_t serial, const HeaderCheck& check) {
    --unchecked_;
    if (proof_.active && proof_.serial == serial) {
      if (check.status.ok() && !check.duplicate) {
        proof_.checked = true;
        return;
      }
      const std::size_t left = proof_.size - proof_.bytes.size();
      const json::value id = proof_.id;
      const int64_t assignment = proof_.assignment;
      EndProof();
      Refused(id, assignment, left, check);
      return;
    }
    auto it = parked_.find(serial);
    if (it == parked_.end()) return;
    Proof p = std::move(it->second);
    parked_.erase(it);
    if (!Refused(p.id, p.assignment, 0, check)) Deliver(std::move(p));
  }

  // The proof being received (or dropped) is over.
  void EndProof() {
    proof_ = {};
    pending_->store(0);
  }

  void OnProofBytes(std::string data) {
    if (!proof_.active) {
      return Fail(nullptr,
                  Status(StatusCode::kConflict, "binary frame without a proof header before it"));
    }
    if (proof_.bytes.size() + data.size() > proof_.size) {
      json::value id = proof_.id;
      EndProof();
      return Fail(id, Status(StatusCode::kInvalidArgument,
                             "more proof bytes than the header's size", "size"));
    }
    proof_.bytes += data;
    if (proof_.bytes.size() < proof_.size) return;
    Proof p = std::move(proof_);
    EndProof();
    if (Sha256Hex(p.bytes) != p.sha256) {
      return Fail(p.id, Status(StatusCode::kInvalidArgument,
                               "the proof bytes do not match the header's sha256", "sha256"));
    }
    // Received now, less the time its header check held the reads. Until the engine has the
    // delivery, no Tick settles a miss for it (matching/receipt_source.h).
    p.received_at = EngineRunner::WallClockMs() - p.held_ms;
    if (ProofReceipts* receipts = gateway.services().receipts) {
      p.receipt = receipts->Receive(p.assignment, principal.account, p.received_at);
    }
    if (p.checked) return Deliver(std::move(p));
    const uint64_t serial = p.serial;
    parked_.emplace(serial, std::move(p));  // its header check is still out
  }

  void Send(std::string text) {
    if (auto p = peer.lock()) p->Send(std::move(text));
  }

  void Fail(const json::value& id, const Status& status) {
    Send(ErrorMessage(id, status));
    // Only the client's own faults count towards closing it: a 503 (budgets, a busy or absent
    // database) is ours, and an honest prover retrying it must not be cut off.
    if (HttpStatusFor(status.code()) >= 500) return;
    if (++errors > gateway.options().max_errors) {
      if (auto p = peer.lock()) p->Close(kWsPolicyViolation, "too many protocol errors");
    }
  }

  struct Proof {
    bool active = false;
    json::value id;
    int64_t assignment = 0;
    std::size_t size = 0;
    std::string sha256;
    std::string bytes;
    ProofBudget budget;       // held until the bytes are stored (or dropped)
    std::size_t discard = 0;  // bytes of a refused header still to drop
    int64_t held_ms = 0;      // how long its header check held the reads
    bool checked = false;     // its header check said ok
    uint64_t serial = 0;
    int64_t received_at = 0;        // once complete: when its last byte came (ms since the epoch)
    std::shared_ptr<void> receipt;  // once complete: its mark in ProofReceipts
  };

  void Deliver(Proof p) {
    gateway.Deliver(principal.account, peer, json::serialize(p.id), p.assignment,
                    std::move(p.bytes), p.received_at, std::move(p.budget), std::move(p.receipt));
  }

  ProverGateway& gateway;
  const Principal principal;
  const std::string digest;  // of the API key the connection was opened with
  std::weak_ptr<WsPeer> peer;
  Proof proof_;
  // Complete small proofs whose header check is still out, by serial.
  std::map<uint64_t, Proof> parked_;
  int unchecked_ = 0;  // small proofs' header checks in flight
  int errors = 0;
  uint64_t serial_ = 0;  // accepted proof headers
  // The serial of the proof whose bytes are awaited, 0 if none; read by the receive timer.
  std::shared_ptr<std::atomic<uint64_t>> pending_ = std::make_shared<std::atomic<uint64_t>>(0);
};

// ---- The gateway -------------------------------------------------------------------------------

ProverGateway::ProverGateway(Options options, Services services,
                             std::map<std::string, VerifierPool*> pools)
    : options_(options), services_(services), pools_(std::move(pools)) {
  grace_thread_ = std::thread([this] { TimerLoop(); });
}

ProverGateway::~ProverGateway() { Stop(); }

void ProverGateway::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  grace_cv_.notify_all();
  if (grace_thread_.joinable()) grace_thread_.join();
}

void ProverGateway::DisconnectAll(WsCloseCode code, const std::string& reason) {
  std::vector<std::shared_ptr<WsPeer>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [prover, peers] : provers_) {
      for (auto& w : peers.peers) {
        if (auto p = w.lock()) all.push_back(std::move(p));
      }
    }
  }
  spdlog::warn("msg=provers_disconnected count={} why={}", all.size(), LogValue(reason));
  for (auto& p : all) p->Close(code, reason);
}

Result<std::unique_ptr<WsHandler>> ProverGateway::Accept(const HttpRequest& request) {
  if (!services_.ops.healthy()) {
    // Recovering, or another server holds the write lease: work assigned meanwhile would go
    // to a connection nobody tells.
    return Status(StatusCode::kUnavailable,
                  "this server is not taking work now (recovering, or another server holds "
                  "the write lease); retry");
  }
  std::string digest;  // of the key: the connection closes if it is revoked
  auto principal = services_.auth.Authenticate(request.authorization, &digest);
  if (!principal) return principal.error();
  if (principal->role != matching::Role::kProver) {
    return Status(StatusCode::kForbidden, "only provers connect here");
  }
  return std::unique_ptr<WsHandler>(
      std::make_unique<Connection>(*this, *principal, std::move(digest)));
}

void ProverGateway::DisconnectKey(const std::string& digest) {
  std::vector<std::shared_ptr<WsPeer>> opened_with;
  {
    std::lock_guard lock(mu_);
    for (auto& [prover, peers] : provers_) {
      for (auto& w : peers.peers) {
        auto p = w.lock();
        if (!p) continue;
        auto key = peer_keys_.find(p->id());
        if (key != peer_keys_.end() && key->second == digest) opened_with.push_back(std::move(p));
      }
    }
  }
  if (!opened_with.empty()) {
    spdlog::info("msg=provers_disconnected count={} why=\"API key revoked\"", opened_with.size());
  }
  for (auto& p : opened_with) p->Close(kWsPolicyViolation, "API key revoked");
}

void ProverGateway::Register(AccountId prover, const std::string& digest,
                             const std::shared_ptr<WsPeer>& peer) {
  std::lock_guard lock(mu_);
  provers_[prover].peers.push_back(peer);
  peer_keys_[peer->id()] = digest;
  for (auto it = offline_.begin(); it != offline_.end();) {
    it = it->second == prover ? offline_.erase(it) : std::next(it);
  }
}

void ProverGateway::Unregister(AccountId prover, uint64_t peer_id) {
  std::lock_guard lock(mu_);
  peer_keys_.erase(peer_id);
  auto it = provers_.find(prover);
  if (it == provers_.end()) return;
  auto& peers = it->second.peers;
  std::erase_if(peers, [peer_id](const std::weak_ptr<WsPeer>& w) {
    auto p = w.lock();
    return !p || p->id() == peer_id;
  });
  if (peers.empty()) {
    provers_.erase(it);
    if (!stopping_) {
      offline_.emplace(Clock::now() + options_.offline_grace, prover);
      grace_cv_.notify_all();
    }
  }
}

bool ProverGateway::SendToProver(AccountId prover, const std::string& text) {
  std::lock_guard lock(mu_);
  auto it = provers_.find(prover);
  if (it == provers_.end()) return false;
  Peers& ps = it->second;
  for (std::size_t tries = 0; tries < ps.peers.size(); ++tries) {
    auto p = ps.peers[ps.next++ % ps.peers.size()].lock();
    if (p && p->Send(text)) return true;
  }
  return false;
}

void ProverGateway::Later(std::chrono::milliseconds delay, std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    later_.emplace(Clock::now() + delay, std::move(fn));
  }
  grace_cv_.notify_all();
}

// Delayed work: offers of provers gone longer than the grace period leave the book, and
// verdicts the engine could not take yet are tried again.
void ProverGateway::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const auto now = Clock::now();
    if (!later_.empty() && later_.begin()->first <= now) {
      auto fn = std::move(later_.begin()->second);
      later_.erase(later_.begin());
      lock.unlock();
      fn();
      lock.lock();
      continue;
    }
    if (!offline_.empty() && offline_.begin()->first <= now) {
      AccountId prover = offline_.begin()->second;
      offline_.erase(offline_.begin());
      lock.unlock();
      services_.ops.CancelOffersOf(prover);
      lock.lock();
      continue;
    }
    auto next = Clock::time_point::max();
    if (!later_.empty()) next = later_.begin()->first;
    if (!offline_.empty()) next = std::min(next, offline_.begin()->first);
    if (next == Clock::time_point::max()) {
      grace_cv_.wait(lock);
    } else {
      grace_cv_.wait_until(lock, next);
    }
  }
}

void ProverGateway::SendOpenAssignments(AccountId prover, std::weak_ptr<WsPeer> peer) {
  services_.db.Run(
      "resending assignments",
      [this, prover, peer](DbSession& session) {
        std::vector<OpenAssignment> open = OpenAssignments(session, prover);
        auto p = peer.lock();
        if (!p) return;
        for (const OpenAssignment& a : open) {
          p->Send(AssignmentMessage(a.assignment, a.order, services_.markets.Slug(a.market),
                                    a.price, a.due_at_ms, a.inputs ? &*a.inputs : nullptr,
                                    /*resent=*/true));
        }
      },
      [prover](const Status& why) {
        spdlog::warn("msg=resend_assignments_skipped prover={} why={}", prover,
                     LogValue(why.message()));
      });
}

void ProverGateway::OnCommit(const JournalBatch& batch) {
  std::vector<matching::AssignmentState> assigned;
  for (const matching::Event& e : batch.events) {
    using matching::EventKind;
    switch (e.kind) {
      case EventKind::kAssigned:
      case EventKind::kReassigned: {
        matching::AssignmentState a;
        a.id = e.assignment;
        a.order = e.order;
        a.prover = e.account;
        a.market = e.market;
        a.price = e.amount;
        a.due_at = e.value;
        assigned.push_back(a);
        break;
      }
      case EventKind::kSettled:
      case EventKind::kUncleRewarded:
        SendToProver(
            e.account,
            Message("settlement", {{"assignment", e.assignment},
                                   {"order", e.order},
                                   {"amount", e.amount},
                                   {"kind", e.kind == EventKind::kSettled ? "payment" : "uncle"}}));
        break;
      case EventKind::kSlashed:
        SendToProver(e.account, Message("slashed", {{"assignment", e.assignment},
                                                    {"order", e.order},
                                                    {"amount", e.amount},
                                                    {"reason", matching::ReasonName(e.reason)}}));
        if (e.reason == matching::Reason::kMissedDeadline) TellReassignedAway(e);
        break;
      case EventKind::kReleased:
        SendToProver(e.account, Message("released", {{"assignment", e.assignment},
                                                     {"order", e.order},
                                                     {"reason", matching::ReasonName(e.reason)}}));
        break;
      case EventKind::kTransfer:
        if (e.transfer_reason == matching::TransferReason::kGriefingCompensation ||
            e.transfer_reason == matching::TransferReason::kUnprovableFee) {
          SendToProver(
              e.to_account,
              Message("settlement", {{"assignment", e.assignment},
                                     {"order", e.order},
                                     {"amount", e.amount},
                                     {"kind", matching::TransferReasonName(e.transfer_reason)}}));
        }
        break;
      default:
        break;
    }
  }
  if (!assigned.empty()) PushAssignments(std::move(assigned));
}

// With the order's deadline and the market's uncle reward, so the prover can decide whether a
// late proof is still worth finishing (matching/README.md "Redundancy (k > 1) and uncles").
void ProverGateway::TellReassignedAway(const matching::Event& slashed) {
  auto tell = [this, prover = slashed.account, assignment = slashed.assignment,
               order = slashed.order](std::optional<UncleTerms> terms) {
    json::object m{{"assignment", assignment}, {"order", order}};
    if (terms) {
      m.emplace("deadline_ms", terms->deadline_ms);
      m.emplace("uncle_reward_bps", terms->uncle_reward_bps);
    }
    SendToProver(prover, Message("reassigned_away", std::move(m)));
  };
  services_.db.Run(
      "",
      [tell, order = slashed.order](DbSession& session) { tell(ReadUncleTerms(session, order)); },
      [tell](const Status&) { tell(std::nullopt); });
}

// Assignments carry the order's inputs, which only PostgreSQL has for older orders.
void ProverGateway::PushAssignments(std::vector<matching::AssignmentState> assigned) {
  auto push = [this, assigned](const std::unordered_map<int64_t, std::string>& inputs) {
    for (const auto& a : assigned) {
      auto it = inputs.find(a.order);
      // No live connection: it is sent again when the prover connects.
      SendToProver(a.prover,
                   AssignmentMessage(a.id, a.order, services_.markets.Slug(a.market), a.price,
                                     a.due_at, it == inputs.end() ? nullptr : &it->second,
                                     /*resent=*/false));
    }
  };
  std::vector<int64_t> orders;
  for (const auto& a : assigned) orders.push_back(a.order);
  services_.db.Run(
      "", [push, orders](DbSession& session) { push(OrderInputs(session, orders)); },
      [push, count = assigned.size()](const Status& why) {
        if (why.code() == StatusCode::kOverloaded) {
          spdlog::warn("msg=assignment_push_skipped count={}", count);
        } else {
          push({});  // the database is away: the work still goes out, without its inputs
        }
      });
}

ProverGateway::ProofBudget ProverGateway::ReserveProofBytes(AccountId prover, std::size_t bytes) {
  {
    std::lock_guard lock(mu_);
    auto it = inflight_.find(prover);
    const std::size_t mine = it == inflight_.end() ? 0 : it->second;
    if (mine + bytes > options_.proof_inflight_per_prover ||
        inflight_total_ + bytes > options_.proof_inflight_total) {
      spdlog::warn("msg=proof_budget_refused prover={} bytes={} prover_inflight={} total={}",
                   prover, bytes, mine, inflight_total_);
      return nullptr;
    }
    inflight_[prover] = mine + bytes;
    inflight_total_ += bytes;
  }
  return std::make_shared<ProofReservation>(*this, prover, bytes);
}

void ProverGateway::ProofReservation::Release() {
  if (released_.exchange(true)) return;
  std::lock_guard lock(gateway_.mu_);
  auto it = gateway_.inflight_.find(prover_);
  if (it != gateway_.inflight_.end()) {
    it->second -= std::min(it->second, bytes_);
    if (it->second == 0) gateway_.inflight_.erase(it);
  }
  gateway_.inflight_total_ -= std::min(gateway_.inflight_total_, bytes_);
}

void ProverGateway::CheckProofHeader(AccountId prover, int64_t assignment, int64_t size,
                                     const std::string& sha256_hex,
                                     std::function<void(HeaderCheck)> done) {
  auto shared_done = std::make_shared<std::function<void(HeaderCheck)>>(std::move(done));
  services_.db.Run(
      "checking the proof header",
      [prover, assignment, size, sha256_hex, shared_done](DbSession& session) {
        FailpointSleep("slow_header_check");
        std::optional<ProofSlot> slot = ReadProofSlot(session, assignment);
        HeaderCheck check;
        check.status = ProofFits(slot.has_value(), slot ? slot->prover : 0,
                                 slot ? slot->max_proof_bytes : 0, prover, size);
        if (check.status.ok()) {
          const bool takes_proof = slot->status == "assigned" || slot->status == "late";
          if (slot->stored_sha256) {
            if (*slot->stored_sha256 != sha256_hex) {
              check.status = OtherBytesDelivered();
            } else {
              // Stored, delivery journaled: say so. Stored, not journaled (we crashed in
              // between): take the bytes again and deliver them.
              check.duplicate = !takes_proof;
            }
          } else if (!takes_proof) {
            check.status =
                Status(StatusCode::kConflict,
                       "the assignment is " + slot->status + " and takes no proof", "assignment");
          }
        }
        (*shared_done)(check);
      },
      [shared_done](const Status& why) { (*shared_done)(HeaderCheck{why}); });
}

void ProverGateway::Deliver(AccountId prover, std::weak_ptr<WsPeer> peer, std::string client_id,
                            int64_t assignment, std::string proof, int64_t received_at,
                            ProofBudget budget, std::shared_ptr<void> receipt) {
  auto tell = Teller(peer);
  boost::system::error_code ec;
  json::value id = json::parse(client_id, ec);
  auto shared_proof = std::make_shared<std::string>(std::move(proof));
  auto shared_budget = std::make_shared<ProofBudget>(std::move(budget));
  services_.db.Run(
      "storing the proof",
      [this, prover, peer, id, assignment, shared_proof, tell, received_at, shared_budget,
       receipt](DbSession& session) {
        FailpointSleep("slow_proof_store");
        const auto size = static_cast<int64_t>(shared_proof->size());
        auto stored = StoreProof(session, assignment, prover, *shared_proof, received_at,
                                 [prover, size](const std::optional<ProofTarget>& t) {
                                   return ProofFits(t.has_value(), t ? t->prover : 0,
                                                    t ? t->max_proof_bytes : 0, prover, size);
                                 });
        if (!stored) return tell(ErrorMessage(id, stored.error()));
        shared_budget->reset();  // stored: no longer in flight
        Failpoint("after_proof_stored");
        Delivered(prover, peer, id, assignment, shared_proof, std::move(*stored), receipt);
      },
      [id, tell](const Status& why) { tell(ErrorMessage(id, why)); });
}

void ProverGateway::Delivered(AccountId prover, std::weak_ptr<WsPeer> peer, json::value id,
                              int64_t assignment, std::shared_ptr<std::string> proof,
                              StoredProof stored, std::shared_ptr<void> receipt) {
  auto tell = Teller(peer);
  // Stored; now the engine decides whether this delivery counts (owner, state, size, time).
  matching::ProofDelivered d{prover, assignment, static_cast<int64_t>(proof->size()),
                             stored.received_at};
  // The receipt mark lasts until the engine has answered (then it has the delivery).
  services_.ops.DeliverProof(d, [this, prover, peer, id, assignment, proof, tell, receipt,
                                 stored = std::move(stored)](Result<bool> r) mutable {
    if (!r && stored.again &&
        (r.error().code() == StatusCode::kConflict || r.error().code() == StatusCode::kNotFound)) {
      // Journaled meanwhile (recovery adopted it, or an earlier attempt went through; the
      // engine may have forgotten the assignment since, once its order closed).
      return tell(
          Message("proof_received", {{"id", id}, {"assignment", assignment}, {"duplicate", true}}));
    }
    if (!r) {
      // Refused for good (4xx): the stored bytes would never be verified; keep the table
      // honest. Not for 5xx: the engine could not take it now (recovering, full), and the
      // stored proof is delivered at the rebuild or on the prover's retry. If the database
      // cannot take the deletion the row stays: harmless (recovery adopts a stored proof only
      // while its assignment takes one, and the engine refuses it again then).
      if (HttpStatusFor(r.error().code()) < 500 && !stored.again) {
        services_.db.Run(
            "", [assignment](DbSession& session) { DeleteUndeliveredProof(session, assignment); },
            [](const Status&) {});
      }
      return tell(ErrorMessage(id, r.error()));
    }
    json::object m{{"id", id}, {"assignment", assignment}};
    if (stored.again) m.emplace("duplicate", true);
    tell(Message("proof_received", std::move(m)));
    ProofTarget& t = stored.target;
    Verify(assignment, prover, t.verifier, std::move(t.verification_key), std::move(t.inputs),
           std::move(*proof), peer);
  });
}

void ProverGateway::Verify(int64_t assignment, AccountId prover, const std::string& verifier,
                           std::string vk, std::string inputs, std::string proof,
                           std::weak_ptr<WsPeer> peer) {
  auto it = pools_.find(verifier);
  if (it == pools_.end()) {
    spdlog::error("msg=no_verifier kind={} assignment={}", LogValue(verifier), assignment);
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (!verifying_.insert(assignment).second) return;  // already with a verifier
  }
  VerifyJob job;
  job.id = static_cast<uint64_t>(assignment);
  job.source = static_cast<uint64_t>(prover);
  job.vk_json = std::move(vk);
  job.public_json = std::move(inputs);
  job.proof = std::move(proof);
  job.done = [this, assignment, prover, peer](const Verdict& v) {
    {
      std::lock_guard lock(mu_);
      verifying_.erase(assignment);
    }
    if (v.kind == Verdict::kFailed && v.reason == kVerdictStopping) {
      return;  // never tried: stays delivered, verified again at the next start
    }
    // Whose fault a failure is decides who pays (matching/command.h): an invalid proof is the
    // prover's; inputs the verifier refuses are the sequencer's; no verdict is nobody's.
    VerdictKind kind = VerdictKind::kValid;
    if (v.kind == Verdict::kFailed) {
      spdlog::error("msg=verification_failed assignment={} why={} action=release", assignment,
                    LogValue(v.reason));
      kind = VerdictKind::kNoVerdict;
    } else if (v.kind == Verdict::kInvalid) {
      kind = v.reason == kVerdictBadPublicInputs ? VerdictKind::kBadInputs
                                                 : VerdictKind::kInvalidProof;
    }
    ApplyVerdict(assignment, prover, kind, v.reason, peer, 0);
  };
  if (!it->second->Submit(std::move(job))) {
    spdlog::warn("msg=verifier_queue_full kind={} assignment={} action=verify_later", verifier,
                 assignment);
    {
      std::lock_guard lock(mu_);
      verifying_.erase(assignment);
    }
    ResumeVerificationsLater();
  }
}

void ProverGateway::ResumeVerificationsLater() {
  {
    std::lock_guard lock(mu_);
    if (resume_scheduled_) return;
    resume_scheduled_ = true;
  }
  Later(kVerdictRetryInterval, [this] {
    {
      std::lock_guard lock(mu_);
      resume_scheduled_ = false;
    }
    ResumeVerifications();
  });
}

void ProverGateway::ApplyVerdict(int64_t assignment, AccountId prover, VerdictKind verdict,
                                 std::string reason, std::weak_ptr<WsPeer> peer, int attempt) {
  services_.ops.ApplyVerdict(
      assignment, verdict,
      [this, assignment, prover, peer, verdict, reason, attempt](Result<Ack> r) {
        if (!r && HttpStatusFor(r.error().code()) == 503 && attempt < kVerdictAttempts) {
          // The engine is recovering or full: later.
          Later(kVerdictRetryInterval, [this, assignment, prover, peer, verdict, reason, attempt] {
            ApplyVerdict(assignment, prover, verdict, reason, peer, attempt + 1);
          });
          return;
        }
        if (!r) {
          spdlog::warn("msg=verdict_not_applied assignment={} status={} error={}", assignment,
                       HttpStatusFor(r.error().code()), LogValue(r.error().ToString()));
          return;
        }
        static constexpr const char* kResult[] = {"accepted", "rejected", "rejected", "released"};
        static constexpr const char* kFault[] = {"none", "prover", "sequencer", "none"};
        const auto k = static_cast<std::size_t>(verdict);
        json::object m{{"assignment", assignment}, {"result", kResult[k]}};
        if (verdict != VerdictKind::kValid) {
          m.emplace("reason", verdict == VerdictKind::kNoVerdict ? "verifier_failed" : reason);
          m.emplace("fault", kFault[k]);
        }
        std::string text = Message("proof_result", std::move(m));
        auto p = peer.lock();
        if (!(p && p->Send(text))) SendToProver(prover, text);
      });
}

void ProverGateway::ResumeVerifications() {
  services_.db.Run(
      "",
      [this](DbSession& session) {
        std::vector<UnverifiedProof> proofs = UnverifiedProofs(session);
        for (UnverifiedProof& u : proofs) {
          Verify(u.assignment, u.target.prover, u.target.verifier,
                 std::move(u.target.verification_key), std::move(u.target.inputs),
                 std::move(u.proof), {});
        }
        if (!proofs.empty()) spdlog::info("msg=verifications_resumed count={}", proofs.size());
      },
      [](const Status& why) {
        spdlog::warn("msg=verifications_not_resumed why={}", LogValue(why.message()));
      });
}

}  // namespace proofbook::server
