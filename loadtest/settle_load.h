// SettleLoad: proofbook-load --kind settle, settlement end to end (issue #19): sequencers place
// Groth16 orders over HTTP, provers answer every assignment at once with a pre-made proof over
// their WebSockets, and the server verifies, pays or slashes. What it measures is the server's
// side (placement, delivery, verification, settlement), not proving.
//
//   - S sequencer connections (`POST /v1/orders`), each with a key of its own (cycled when fewer
//     keys than connections). --rate R > 0: open loop, order i scheduled at start + i/R and sent
//     by the first free connection (latencies from the schedule, as the other kinds). --rate 0:
//     closed loop on settlement: each connection places an order, waits until it is paid (or
//     --timeout passes), then places the next, so S orders are in flight.
//   - P prover WebSockets (/v1/prover/ws), one per prover account (staked beforehand): each posts
//     one offer, then answers each `assignment` as soon as it arrives with the fixtures' valid
//     proof or, for a chosen share of all proofs sent, an invalid one (the fixtures' tampered
//     proof, which only the pairing check refuses, so it costs a full verification). An order
//     whose proof was refused goes to another prover, which always answers it with the valid
//     proof: a "retry".
//   - Latencies per proof, from the moment it is queued on its socket: to `proof_received` (the
//     delivery committed), to `proof_result` (the verdict applied), to `settlement` (kind
//     `payment`, the payment committed); per order, from its scheduled placement to its payment
//     (including a refused first proof and its retry).
//   - The run: set-up (connections, offers) unmeasured; --duration seconds of placing; then the
//     drain: until every order placed is paid or --drain seconds pass. At the end each prover
//     cancels its offer, so the next run on the same server starts from an empty book.
//
// Thread rules: everything (the sequencer coroutines, the prover connections' callbacks) runs on
// one io_context, on the thread calling Setup() and Run(); nothing is locked. Not thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "clients/common/ws_client.h"
#include "loadtest/histogram.h"

namespace proofbook::loadtest {

struct SettleOptions {
  std::string host = "127.0.0.1";  // for Host headers; the target is resolved by the caller
  uint16_t port = 8080;
  std::string market = "groth16";
  std::vector<std::string> sequencer_keys;  // connection i uses key i % size
  std::vector<std::string> prover_keys;     // one WebSocket (one prover) each
  int sequencers = 8;                       // HTTP connections placing orders
  double rate = 0;                          // orders/s over all connections; 0: closed loop
  double duration_s = 20;
  double drain_s = 15;    // after --duration, how long placed orders may still be paid
  double timeout_s = 30;  // per HTTP request; closed loop: also the wait for a payment
  int64_t max_price = 1;
  int64_t deadline_ms = 600000;
  boost::json::value inputs;  // every order's inputs (the fixtures' public signals)
  std::string valid_proof, invalid_proof;
  double invalid_share = 0;  // of all proofs sent; retries are always valid
  // Each prover's offer.
  int64_t offer_price = 1;
  int64_t offer_est_ms = 10000;
  int offer_capacity = 64;
  std::string label;
};

class SettleLoad {
 public:
  SettleLoad(SettleOptions options, boost::asio::ip::tcp::endpoint target);
  ~SettleLoad();
  SettleLoad(const SettleLoad&) = delete;
  SettleLoad& operator=(const SettleLoad&) = delete;

  // Opens the sequencer connections and the provers' WebSockets and places every offer. False,
  // with `why`, if a connection or an offer failed within 15 s.
  bool Setup(std::string* why);
  // Places orders for --duration, then drains; returns when done.
  void Run();

  boost::json::object ReportJson() const;
  void PrintText() const;
  // (non-2xx placements + transport failures + orders placed and never paid) / scheduled.
  double ErrorRate() const;

 private:
  using Clock = std::chrono::steady_clock;

  struct Prover {
    int index = 0;
    std::unique_ptr<clients::WsClient> ws;
    std::vector<int64_t> offers;  // ids from offer_placed
    int offers_cancelled = 0;
    uint64_t proofs_sent = 0;  // first deliveries, not resends
  };
  // An order, from its placement answer or its first assignment, whichever comes first.
  struct OrderTrack {
    bool placed = false;  // its 201 seen: an order of this run
    Clock::time_point scheduled{};
    int proofs = 0;  // proofs sent for it
    bool paid = false;
    Clock::time_point paid_at{};
    boost::asio::steady_timer* waiter = nullptr;  // closed loop: the connection waiting on it
  };
  // A proof sent, by assignment.
  struct ProofTrack {
    Clock::time_point sent_at{};
    int64_t order = 0;
    bool invalid = false;
    bool received = false;
    bool judged = false;
  };

  // Prover side (callbacks on the io_context).
  void ConnectProver(Prover& p);
  void ReadLoop(Prover& p);
  void OnMessage(Prover& p, const std::string& text);
  void OnAssignment(Prover& p, const boost::json::object& m);
  void OnProofReceived(const boost::json::object& m);
  void OnProofResult(const boost::json::object& m);
  void OnSettlement(const boost::json::object& m);
  void OnError(Prover& p, const boost::json::object& m);
  void SendProof(Prover& p, int64_t assignment, bool invalid);
  void RetryProofLater(Prover& p, int64_t assignment);

  // Sequencer side.
  boost::asio::awaitable<void> Sequencer(std::size_t index);
  boost::asio::awaitable<void> Supervise();
  boost::asio::awaitable<void> Shutdown();
  bool NextTicket(Clock::time_point* scheduled);
  uint64_t Unpaid() const;  // orders placed by this run and not yet paid
  void Wait(std::chrono::milliseconds ms, const std::function<void()>& then);

  // Constant after construction.
  const SettleOptions opts_;
  const boost::asio::ip::tcp::endpoint target_;
  const std::string run_id_;
  const std::string valid_sha256_, invalid_sha256_;

  // Owned by the io_context's thread.
  boost::asio::io_context io_{1};
  std::vector<std::unique_ptr<boost::beast::tcp_stream>> streams_;
  std::vector<std::unique_ptr<Prover>> provers_;
  std::unordered_map<int64_t, OrderTrack> orders_;
  std::unordered_map<int64_t, ProofTrack> proofs_;
  Clock::time_point start_{}, end_{}, hard_stop_{};
  std::chrono::nanoseconds interval_{0};  // 0: closed loop
  uint64_t next_ticket_ = 0;
  uint64_t order_seq_ = 0;
  int sequencers_running_ = 0;
  bool stopping_ = false;  // the drain is over: no new work, connections closing
  bool setup_failed_ = false;
  std::string setup_why_;

  // Counters.
  uint64_t scheduled_ = 0, sent_ = 0, placed_ = 0, connects_ = 0;
  std::map<int, uint64_t> statuses_;
  std::map<std::string, uint64_t> failures_;  // HTTP transport failures by step
  uint64_t proofs_sent_ = 0, invalid_sent_ = 0, retries_ = 0, resent_assignments_ = 0;
  uint64_t received_ = 0, duplicates_ = 0, accepted_ = 0, paid_ = 0, paid_elsewhere_ = 0;
  uint64_t closed_loop_timeouts_ = 0, proof_retries_later_ = 0, ws_disconnects_ = 0;
  std::map<std::string, uint64_t> rejected_;           // proof_result rejected, by reason
  std::map<std::string, uint64_t> released_;           // released, by reason
  std::map<std::string, uint64_t> slashed_;            // slashed, by reason
  std::map<std::string, uint64_t> other_settlements_;  // settlements not of kind payment
  std::map<std::string, uint64_t> ws_errors_;          // error messages, by code
  std::map<std::string, uint64_t> messages_;           // every message from the server, by type
  int64_t slashed_amount_ = 0;
  Histogram place_latency_;  // POST /v1/orders, from the schedule
  Histogram to_received_;    // proof sent -> proof_received
  Histogram to_result_;      // proof sent -> proof_result accepted
  Histogram to_rejected_;    // proof sent -> proof_result rejected
  Histogram to_settlement_;  // proof sent -> settlement (payment)
  Histogram order_to_paid_;  // order scheduled -> paid
  // The slowest delivery (sent -> proof_received): which, and when in the run it was sent.
  int64_t slowest_received_assignment_ = 0;
  double slowest_received_sent_s_ = 0;
  Clock::time_point last_paid_{};
  std::vector<uint64_t> paid_per_second_;  // payments by second of the run
};

}  // namespace proofbook::loadtest
