#include "loadtest/settle_load.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <string_view>
#include <tuple>
#include <utility>

#include "clients/common/hex.h"
#include "clients/common/http_message.h"

namespace proofbook::loadtest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Nanos = std::chrono::nanoseconds;

namespace {

// A proof header the server refused for now (overloaded, unavailable, rate limited) goes again
// this much later.
constexpr auto kProofRetryDelay = std::chrono::milliseconds(200);
// A prover WebSocket that dropped is opened again this much later (the server then sends its
// open assignments again, `resent: true`).
constexpr auto kReconnectDelay = std::chrono::milliseconds(200);
// How long the set-up may take (connections and offers), and the end of a run waits for the
// offers' cancellations.
constexpr auto kSetupLimit = std::chrono::seconds(15);
constexpr auto kCancelLimit = std::chrono::seconds(3);
// How often the drain looks whether every order placed is paid.
constexpr auto kDrainPoll = std::chrono::milliseconds(20);
// Closed loop: after a placement that failed (not 201, or no answer), the connection waits this
// long before the next, so that a refusal (a bad key, an unknown market) is not repeated at
// thousands a second into the server's per-address limits.
constexpr auto kFailedPlacementPause = std::chrono::milliseconds(100);

Nanos Seconds(double s) {
  return std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(s));
}

int64_t IntOr(const json::object& m, std::string_view key, int64_t fallback) {
  const json::value* v = m.if_contains(key);
  return v != nullptr && v->is_int64() ? v->as_int64() : fallback;
}

std::string StrOr(const json::object& m, std::string_view key, std::string_view fallback) {
  const json::value* v = m.if_contains(key);
  return std::string(v != nullptr && v->is_string() ? std::string_view(v->as_string()) : fallback);
}

std::string MakeRunId() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "s%08x%04x", rd(), static_cast<unsigned>(getpid()) & 0xffff);
  return buf;
}

json::object QuantilesJson(const Histogram& h) {
  return json::object{{"count", h.total()},
                      {"p50", Ms(h.Quantile(0.50))},
                      {"p90", Ms(h.Quantile(0.90))},
                      {"p99", Ms(h.Quantile(0.99))},
                      {"max", Ms(h.max())}};
}

json::object CountsJson(const std::map<std::string, uint64_t>& counts) {
  json::object o;
  for (const auto& [k, v] : counts) o[k] = v;
  return o;
}

std::string CountsText(const std::map<std::string, uint64_t>& counts) {
  std::string s;
  for (const auto& [k, v] : counts) s += " " + k + "=" + std::to_string(v);
  return s.empty() ? " -" : s;
}

void PrintQuantiles(const char* name, const Histogram& h) {
  std::printf("  %-36s p50 %8.1f  p90 %8.1f  p99 %8.1f  max %8.1f  (n=%" PRIu64 ")\n", name,
              Ms(h.Quantile(0.5)), Ms(h.Quantile(0.9)), Ms(h.Quantile(0.99)), Ms(h.max()),
              h.total());
}

}  // namespace

SettleLoad::SettleLoad(SettleOptions options, tcp::endpoint target)
    : opts_(std::move(options)),
      target_(target),
      run_id_(MakeRunId()),
      valid_sha256_(clients::Sha256Hex(opts_.valid_proof)),
      invalid_sha256_(clients::Sha256Hex(opts_.invalid_proof)) {}

SettleLoad::~SettleLoad() {
  // The WebSockets' pending operations hold only their own state; drop them before io_.
  for (auto& p : provers_) p->ws.reset();
}

// ---- Set-up -------------------------------------------------------------------------------------

bool SettleLoad::Setup(std::string* why) {
  for (int i = 0; i < opts_.sequencers; ++i) {
    streams_.push_back(std::make_unique<beast::tcp_stream>(io_));
  }
  for (auto& s : streams_) {
    asio::co_spawn(
        io_,
        [this, &s]() -> asio::awaitable<void> {
          s->expires_after(std::chrono::seconds(10));
          auto [ec] = co_await s->async_connect(target_, asio::as_tuple(asio::use_awaitable));
          if (ec) {
            ++failures_["connect"];
            co_return;
          }
          ++connects_;
          s->socket().set_option(tcp::no_delay(true), ec);
        },
        asio::detached);
  }
  for (std::size_t i = 0; i < opts_.prover_keys.size(); ++i) {
    auto p = std::make_unique<Prover>();
    p->index = static_cast<int>(i);
    p->ws = std::make_unique<clients::WsClient>(io_);
    provers_.push_back(std::move(p));
  }
  for (auto& p : provers_) ConnectProver(*p);

  const auto limit = Clock::now() + kSetupLimit;
  auto ready = [this] {
    if (connects_ + failures_["connect"] < streams_.size()) return false;
    for (const auto& p : provers_) {
      if (p->offers.empty()) return false;
    }
    return true;
  };
  while (!ready() && !setup_failed_ && Clock::now() < limit) {
    if (io_.stopped()) io_.restart();
    io_.run_one_for(std::chrono::milliseconds(100));
  }
  if (setup_failed_) {
    *why = setup_why_;
  } else if (failures_["connect"] > 0) {
    *why = std::to_string(failures_["connect"]) + " sequencer connection(s) failed";
  } else if (!ready()) {
    *why = "not every prover connected and placed its offer within 15 s";
  } else {
    failures_.erase("connect");
    return true;
  }
  return false;
}

void SettleLoad::ConnectProver(Prover& p) {
  clients::WsConnectOptions o;
  o.host = target_.address().to_string();
  o.port = std::to_string(target_.port());
  o.path = "/v1/prover/ws";
  o.bearer = opts_.prover_keys[static_cast<std::size_t>(p.index)];
  p.ws->AsyncConnect(o, [this, &p](bool upgraded) {
    if (!upgraded) {
      if (start_ == Clock::time_point{}) {
        setup_failed_ = true;
        setup_why_ = "prover " + std::to_string(p.index) + ": " + p.ws->error();
        return;
      }
      ++failures_["prover_connect"];
      Wait(kReconnectDelay, [this, &p] {
        if (!stopping_) ConnectProver(p);
      });
      return;
    }
    // One offer per prover; after a reconnection the one placed stays (the server cancels a
    // gone prover's offers only after its grace period, longer than kReconnectDelay).
    if (p.offers.empty()) {
      const bool sent = p.ws->Send(json::serialize(json::object{
                                       {"type", "offer"},
                                       {"id", "offer"},
                                       {"market", opts_.market},
                                       {"price", opts_.offer_price},
                                       {"est_ms", opts_.offer_est_ms},
                                       {"capacity", opts_.offer_capacity},
                                   }),
                                   /*binary=*/false);
      if (!sent) ++ws_errors_["offer_not_sent"];
    }
    ReadLoop(p);
  });
}

void SettleLoad::ReadLoop(Prover& p) {
  p.ws->AsyncRead([this, &p](std::optional<clients::WsMessage> message) {
    if (!message) {
      if (stopping_) return;
      ++ws_disconnects_;
      if (start_ == Clock::time_point{}) {
        setup_failed_ = true;
        setup_why_ = "prover " + std::to_string(p.index) + " disconnected: " + p.ws->error();
        return;
      }
      Wait(kReconnectDelay, [this, &p] {
        if (!stopping_) ConnectProver(p);
      });
      return;
    }
    if (!message->binary) OnMessage(p, message->data);
    ReadLoop(p);
  });
}

void SettleLoad::Wait(std::chrono::milliseconds ms, const std::function<void()>& then) {
  auto timer = std::make_shared<asio::steady_timer>(io_, ms);
  timer->async_wait([timer, then](beast::error_code ec) {
    if (!ec) then();
  });
}

// ---- Prover messages ----------------------------------------------------------------------------

void SettleLoad::OnMessage(Prover& p, const std::string& text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    ++messages_["(not JSON)"];
    return;
  }
  const json::object& m = v.as_object();
  const std::string type = StrOr(m, "type", "(no type)");
  ++messages_[type];
  if (type == "assignment") {
    OnAssignment(p, m);
  } else if (type == "proof_received") {
    OnProofReceived(m);
  } else if (type == "proof_result") {
    OnProofResult(m);
  } else if (type == "settlement") {
    OnSettlement(m);
  } else if (type == "slashed") {
    ++slashed_[StrOr(m, "reason", "?")];
    slashed_amount_ += IntOr(m, "amount", 0);
  } else if (type == "released") {
    ++released_[StrOr(m, "reason", "?")];
  } else if (type == "offer_placed") {
    const json::value* offer = m.if_contains("offer");
    const int64_t id =
        offer != nullptr && offer->is_object() ? IntOr(offer->as_object(), "id", 0) : 0;
    p.offers.push_back(id);
  } else if (type == "offer_cancelled") {
    ++p.offers_cancelled;
  } else if (type == "error") {
    OnError(p, m);
  }
}

void SettleLoad::OnAssignment(Prover& p, const json::object& m) {
  const int64_t assignment = IntOr(m, "assignment", 0);
  const int64_t order = IntOr(m, "order", 0);
  if (assignment <= 0 || stopping_) return;
  if (auto it = proofs_.find(assignment); it != proofs_.end()) {
    // Sent again on a reconnection: the same bytes again, which the server acknowledges as a
    // duplicate; the timing stays the first delivery's.
    ++resent_assignments_;
    SendProof(p, assignment, it->second.invalid);
    return;
  }
  OrderTrack& o = orders_[order];
  // Invalid while that keeps the invalid proofs at or below the share of all proofs sent; a
  // retry (the order's earlier proof was refused) is always valid, so every order is paid.
  bool invalid = false;
  if (o.proofs > 0) {
    ++retries_;
  } else {
    invalid = static_cast<double>(invalid_sent_ + 1) <=
              opts_.invalid_share * static_cast<double>(proofs_sent_ + 1) + 1e-9;
  }
  ++o.proofs;
  ProofTrack& t = proofs_[assignment];
  t.order = order;
  t.invalid = invalid;
  t.sent_at = Clock::now();
  ++proofs_sent_;
  ++p.proofs_sent;
  if (invalid) ++invalid_sent_;
  SendProof(p, assignment, invalid);
}

void SettleLoad::SendProof(Prover& p, int64_t assignment, bool invalid) {
  const std::string& bytes = invalid ? opts_.invalid_proof : opts_.valid_proof;
  const bool sent =
      p.ws->Send(
          json::serialize(json::object{{"type", "proof"},
                                       {"id", "proof-" + std::to_string(assignment)},
                                       {"assignment", assignment},
                                       {"size", bytes.size()},
                                       {"sha256", invalid ? invalid_sha256_ : valid_sha256_}}),
          /*binary=*/false) &&
      p.ws->Send(bytes, /*binary=*/true);
  // Not connected: the server sends the assignment again once the prover is back.
  if (!sent) ++ws_errors_["proof_not_sent"];
}

void SettleLoad::RetryProofLater(Prover& p, int64_t assignment) {
  ++proof_retries_later_;
  Wait(kProofRetryDelay, [this, &p, assignment] {
    auto it = proofs_.find(assignment);
    if (stopping_ || it == proofs_.end() || it->second.received) return;
    SendProof(p, assignment, it->second.invalid);
  });
}

void SettleLoad::OnProofReceived(const json::object& m) {
  auto it = proofs_.find(IntOr(m, "assignment", 0));
  if (it == proofs_.end()) return;
  if (m.if_contains("duplicate") != nullptr) ++duplicates_;
  if (it->second.received) return;
  it->second.received = true;
  ++received_;
  const auto waited = (Clock::now() - it->second.sent_at).count();
  if (static_cast<uint64_t>(waited) > to_received_.max()) {
    slowest_received_assignment_ = it->first;
    slowest_received_sent_s_ = std::chrono::duration<double>(it->second.sent_at - start_).count();
  }
  to_received_.Record(waited);
}

void SettleLoad::OnProofResult(const json::object& m) {
  auto it = proofs_.find(IntOr(m, "assignment", 0));
  if (it == proofs_.end() || it->second.judged) return;
  it->second.judged = true;
  const auto waited = (Clock::now() - it->second.sent_at).count();
  const std::string result = StrOr(m, "result", "?");
  if (result == "accepted") {
    ++accepted_;
    to_result_.Record(waited);
  } else if (result == "rejected") {
    ++rejected_[StrOr(m, "reason", "?") + (it->second.invalid ? "" : "(valid proof!)")];
    to_rejected_.Record(waited);
  }
  // released: counted from its own `released` message.
}

void SettleLoad::OnSettlement(const json::object& m) {
  const std::string kind = StrOr(m, "kind", "?");
  if (kind != "payment") {
    ++other_settlements_[kind];
    return;
  }
  auto it = proofs_.find(IntOr(m, "assignment", 0));
  if (it == proofs_.end()) {
    ++paid_elsewhere_;  // an assignment of an earlier run, or sent before a reconnection
    return;
  }
  const auto now = Clock::now();
  ++paid_;
  last_paid_ = now;
  to_settlement_.Record((now - it->second.sent_at).count());
  const double since = std::chrono::duration<double>(now - start_).count();
  const auto second = static_cast<std::size_t>(std::max(0.0, since));
  if (paid_per_second_.size() <= second) paid_per_second_.resize(second + 1);
  ++paid_per_second_[second];
  OrderTrack& o = orders_[it->second.order];
  if (o.paid) return;
  o.paid = true;
  o.paid_at = now;
  if (o.placed) order_to_paid_.Record((now - o.scheduled).count());
  if (o.waiter != nullptr) o.waiter->cancel();
}

void SettleLoad::OnError(Prover& p, const json::object& m) {
  const json::value* e = m.if_contains("error");
  const std::string code =
      e != nullptr && e->is_object() ? StrOr(e->as_object(), "code", "?") : std::string("?");
  ++ws_errors_[code];
  const std::string id = StrOr(m, "id", "");
  if (id == "offer" && start_ == Clock::time_point{}) {
    setup_failed_ = true;
    setup_why_ = "prover " + std::to_string(p.index) + "'s offer refused: " + code;
    return;
  }
  if (id.rfind("proof-", 0) == 0 &&
      (code == "overloaded" || code == "unavailable" || code == "rate_limited")) {
    RetryProofLater(p, std::stoll(id.substr(6)));
  }
}

// ---- Sequencers ---------------------------------------------------------------------------------

bool SettleLoad::NextTicket(Clock::time_point* scheduled) {
  const auto now = Clock::now();
  if (stopping_) return false;
  if (interval_.count() == 0) {
    if (now >= end_) return false;
    *scheduled = now;
  } else {
    const auto at = start_ + interval_ * static_cast<int64_t>(next_ticket_);
    if (at >= end_) return false;
    ++next_ticket_;
    *scheduled = at;
  }
  ++scheduled_;
  return true;
}

uint64_t SettleLoad::Unpaid() const {
  uint64_t n = 0;
  for (const auto& [id, o] : orders_) n += o.placed && !o.paid ? 1 : 0;
  return n;
}

asio::awaitable<void> SettleLoad::Sequencer(std::size_t index) {
  beast::tcp_stream& stream = *streams_[index];
  beast::flat_buffer buffer;
  clients::HttpRequest request;
  request.method = "POST";
  request.target = "/v1/orders";
  request.bearer = opts_.sequencer_keys[index % opts_.sequencer_keys.size()];
  request.content_type = "application/json";
  Clock::time_point scheduled;
  bool last_failed = false;
  while (NextTicket(&scheduled)) {
    if (scheduled > Clock::now()) {
      asio::steady_timer wait(io_, scheduled);
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (stopping_) break;
    if (interval_.count() == 0 && last_failed) {
      asio::steady_timer pause(io_, kFailedPlacementPause);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopping_) break;
      scheduled = Clock::now();  // closed loop: latency from the send, not through the pause
    }
    last_failed = true;  // until this placement is answered 201
    if (!stream.socket().is_open()) {
      stream.expires_after(Seconds(opts_.timeout_s));
      auto [cec] = co_await stream.async_connect(target_, asio::as_tuple(asio::use_awaitable));
      if (cec) {
        ++failures_["reconnect"];
        beast::error_code ignored;
        stream.socket().close(ignored);
        continue;
      }
      buffer.clear();
    }
    // Unique per order across runs, so the server's idempotency check never merges two.
    request.body = json::serialize(
        json::object{{"market", opts_.market},
                     {"max_price", opts_.max_price},
                     {"deadline_ms", opts_.deadline_ms},
                     {"inputs", opts_.inputs},
                     {"client_order_id", run_id_ + "-" + std::to_string(++order_seq_)}});
    auto req = clients::BuildRequest(request, "", opts_.host, "proofbook-load", true);
    stream.expires_after(Seconds(opts_.timeout_s));
    ++sent_;
    auto [wec, written] =
        co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
    http::response<http::string_body> res;
    beast::error_code rec = wec;
    if (!wec) {
      std::tie(rec, std::ignore) =
          co_await http::async_read(stream, buffer, res, asio::as_tuple(asio::use_awaitable));
    }
    if (rec) {
      beast::error_code ignored;
      stream.socket().close(ignored);
      if (!stopping_) ++failures_[std::string(wec ? "write" : "read") + ":" + rec.message()];
      continue;
    }
    place_latency_.Record((Clock::now() - scheduled).count());
    ++statuses_[static_cast<int>(res.result_int())];
    if (!res.keep_alive()) {
      beast::error_code ignored;
      stream.socket().close(ignored);
    }
    if (res.result_int() != 201) continue;
    json::error_code jec;
    json::value body = json::parse(res.body(), jec);
    const json::value* order =
        jec || !body.is_object() ? nullptr : body.as_object().if_contains("order");
    const int64_t id =
        order != nullptr && order->is_object() ? IntOr(order->as_object(), "id", 0) : 0;
    if (id <= 0) {
      ++failures_["no_order_id"];
      continue;
    }
    ++placed_;
    last_failed = false;
    OrderTrack& o = orders_[id];  // references into an unordered_map outlive rehashing
    o.placed = true;
    o.scheduled = scheduled;
    // Paid before its placement's answer was read: the latency counts now.
    if (o.paid) order_to_paid_.Record((o.paid_at - scheduled).count());
    if (interval_.count() != 0 || o.paid) continue;
    // Closed loop: the next order once this one is paid.
    asio::steady_timer wait(io_, Seconds(opts_.timeout_s));
    o.waiter = &wait;
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
    o.waiter = nullptr;
    if (!o.paid && !stopping_) ++closed_loop_timeouts_;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
  --sequencers_running_;
}

// Ends the run: after --duration, waits until every placed order is paid (or --drain passes),
// then stops everything.
asio::awaitable<void> SettleLoad::Supervise() {
  asio::steady_timer timer(io_, end_);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  while (Clock::now() < hard_stop_ && (sequencers_running_ > 0 || Unpaid() > 0)) {
    timer.expires_after(kDrainPoll);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  stopping_ = true;
  for (auto& [id, o] : orders_) {
    if (o.waiter != nullptr) o.waiter->cancel();
  }
  for (auto& s : streams_) {
    beast::error_code ignored;
    s->socket().close(ignored);
  }
  co_await Shutdown();
}

// Cancels every offer (so the next run starts from an empty book), waits for the answers, then
// closes the WebSockets.
asio::awaitable<void> SettleLoad::Shutdown() {
  std::size_t offers = 0;
  for (auto& p : provers_) {
    for (int64_t id : p->offers) {
      ++offers;
      if (!p->ws->Send(json::serialize(json::object{{"type", "cancel_offer"}, {"offer", id}}),
                       false)) {
        ++ws_errors_["cancel_not_sent"];
      }
    }
  }
  const auto limit = Clock::now() + kCancelLimit;
  asio::steady_timer timer(io_);
  auto cancelled = [this] {
    std::size_t n = 0;
    for (const auto& p : provers_) n += static_cast<std::size_t>(p->offers_cancelled);
    return n;
  };
  while (cancelled() < offers && Clock::now() < limit) {
    timer.expires_after(kDrainPoll);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  for (auto& p : provers_) p->ws->AsyncClose(clients::kWsCloseNormal, [] {});
}

void SettleLoad::Run() {
  if (io_.stopped()) io_.restart();
  start_ = Clock::now() + std::chrono::milliseconds(20);
  end_ = start_ + Seconds(opts_.duration_s);
  hard_stop_ = end_ + Seconds(opts_.drain_s);
  if (opts_.rate > 0) {
    interval_ = Nanos(std::max<int64_t>(1, static_cast<int64_t>(1e9 / opts_.rate)));
  }
  sequencers_running_ = static_cast<int>(streams_.size());
  for (std::size_t i = 0; i < streams_.size(); ++i) {
    asio::co_spawn(io_, Sequencer(i), asio::detached);
  }
  asio::co_spawn(io_, Supervise(), asio::detached);
  io_.run();
}

// ---- Report -------------------------------------------------------------------------------------

double SettleLoad::ErrorRate() const {
  uint64_t errors = Unpaid();
  for (const auto& [code, n] : statuses_) errors += code == 201 ? 0 : n;
  for (const auto& [step, n] : failures_) errors += n;
  return scheduled_ > 0 ? static_cast<double>(errors) / static_cast<double>(scheduled_) : 0;
}

json::object SettleLoad::ReportJson() const {
  // Payments over the time they took: the placing time, or to the last payment if later (the
  // drain), so a server that falls behind cannot look faster than it was.
  const double elapsed =
      std::max(opts_.duration_s, std::chrono::duration<double>(last_paid_ - start_).count());
  json::object statuses;
  for (const auto& [code, n] : statuses_) statuses[std::to_string(code)] = n;
  json::array per_second;
  for (uint64_t n : paid_per_second_) per_second.push_back(n);
  json::array by_prover;
  for (const auto& p : provers_) by_prover.push_back(p->proofs_sent);
  return json::object{
      {"label", opts_.label},
      {"kind", "settle"},
      {"mode", opts_.rate > 0 ? "fixed-rate" : "closed-loop"},
      {"target_rate", opts_.rate},
      {"sequencers", opts_.sequencers},
      {"provers", provers_.size()},
      {"offer_capacity", opts_.offer_capacity},
      {"duration_s", opts_.duration_s},
      {"invalid_share", opts_.invalid_share},
      {"orders", json::object{{"scheduled", scheduled_},
                              {"sent", sent_},
                              {"placed", placed_},
                              {"statuses", statuses},
                              {"failures", CountsJson(failures_)},
                              {"unpaid", Unpaid()},
                              {"closed_loop_timeouts", closed_loop_timeouts_},
                              {"place_latency_ms", QuantilesJson(place_latency_)},
                              {"placed_to_paid_ms", QuantilesJson(order_to_paid_)}}},
      {"proofs",
       json::object{{"sent", proofs_sent_},
                    {"invalid_sent", invalid_sent_},
                    {"invalid_share_sent", proofs_sent_ > 0 ? static_cast<double>(invalid_sent_) /
                                                                  static_cast<double>(proofs_sent_)
                                                            : 0.0},
                    {"retries", retries_},
                    {"resent_assignments", resent_assignments_},
                    {"received", received_},
                    {"duplicates", duplicates_},
                    {"accepted", accepted_},
                    {"rejected", CountsJson(rejected_)},
                    {"released", CountsJson(released_)},
                    {"retried_later", proof_retries_later_},
                    {"sent_by_prover", by_prover},
                    {"sent_to_received_ms", QuantilesJson(to_received_)},
                    {"slowest_received", json::object{{"assignment", slowest_received_assignment_},
                                                      {"ms", Ms(to_received_.max())},
                                                      {"sent_at_s", slowest_received_sent_s_}}},
                    {"sent_to_accepted_ms", QuantilesJson(to_result_)},
                    {"sent_to_rejected_ms", QuantilesJson(to_rejected_)},
                    {"sent_to_settlement_ms", QuantilesJson(to_settlement_)}}},
      {"settled", paid_},
      {"settled_per_s", static_cast<double>(paid_) / elapsed},
      {"elapsed_s", elapsed},
      {"settled_each_second", per_second},
      {"paid_elsewhere", paid_elsewhere_},
      {"slashed", CountsJson(slashed_)},
      {"slashed_amount", slashed_amount_},
      {"other_settlements", CountsJson(other_settlements_)},
      {"ws_errors", CountsJson(ws_errors_)},
      {"ws_disconnects", ws_disconnects_},
      {"messages", CountsJson(messages_)},
  };
}

void SettleLoad::PrintText() const {
  const json::object r = ReportJson();
  std::printf(
      "proofbook-load%s%s: settle on market %s, %s, %d sequencer connection(s), %zu "
      "prover(s), %.0f%% invalid, %.1f s\n",
      opts_.label.empty() ? "" : " ", opts_.label.c_str(), opts_.market.c_str(),
      opts_.rate > 0 ? ("fixed " + std::to_string(static_cast<int64_t>(opts_.rate)) + "/s").c_str()
                     : "closed loop",
      opts_.sequencers, provers_.size(), 100 * opts_.invalid_share, opts_.duration_s);
  std::printf("  orders: scheduled %" PRIu64 "  placed %" PRIu64 "  unpaid %" PRIu64 "  statuses:",
              scheduled_, placed_, Unpaid());
  for (const auto& [code, n] : statuses_) std::printf(" %d=%" PRIu64, code, n);
  std::printf("  failures:%s\n", CountsText(failures_).c_str());
  std::printf("  proofs: sent %" PRIu64 " (invalid %" PRIu64 ", retries %" PRIu64
              ")  received %" PRIu64 "  accepted %" PRIu64 "  rejected:%s  released:%s\n",
              proofs_sent_, invalid_sent_, retries_, received_, accepted_,
              CountsText(rejected_).c_str(), CountsText(released_).c_str());
  std::printf("  proofs by prover:");
  for (const auto& p : provers_) std::printf(" %" PRIu64, p->proofs_sent);
  std::printf("\n");
  std::printf("  settled %" PRIu64 " (%.1f/s over %.2f s)  slashed:%s (amount %" PRId64
              ")  errors:%s\n",
              paid_, r.at("settled_per_s").as_double(), r.at("elapsed_s").as_double(),
              CountsText(slashed_).c_str(), slashed_amount_, CountsText(ws_errors_).c_str());
  std::printf("  latency ms:\n");
  PrintQuantiles("proof sent -> proof_received", to_received_);
  PrintQuantiles("proof sent -> proof_result accepted", to_result_);
  PrintQuantiles("proof sent -> proof_result rejected", to_rejected_);
  PrintQuantiles("proof sent -> settlement", to_settlement_);
  PrintQuantiles("POST /v1/orders (from schedule)", place_latency_);
  PrintQuantiles("order scheduled -> paid", order_to_paid_);
}

}  // namespace proofbook::loadtest
