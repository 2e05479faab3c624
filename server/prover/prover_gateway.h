// ProverGateway: the prover side of the market over WebSocket (/v1/prover/ws; messages in
// schema/prover-ws.yaml). Provers authenticate with their API key on the upgrade, post and
// cancel offers, receive assignments, stream proofs back, and are told of results, payments
// and slashes.
//
// Offers and cancellations are parsed by the same typed requests as REST (core/requests.h) and
// call the same operations (core/operations.h), under the same rate limit, so validation,
// error codes and field names are the REST ones.
//
// A proof: a `proof` header (assignment, size, sha256) then binary frames totalling `size`.
// The header is checked before any byte is taken: the connection's reads are held while the
// database says whether the assignment is this prover's and takes a proof, and whether `size`
// is within the market's max_proof_bytes; and the announced bytes must fit the in-flight
// budgets (per prover and in total, Options). A refused header's bytes are dropped as they
// come, never buffered. Accepted bytes are checked against the header, stored in `proofs` with
// their receipt time, delivered to the engine (ProofDelivered, judged at that time), and, once
// that commits, verified by the market's VerifierPool off every server thread.
//
// A proof and its delivery are one fact: if the server dies after storing the bytes and
// before the delivery is journaled, recovery delivers the stored proof (RecoveredState::
// stored_proofs). A second delivery of the same bytes (same sha256) is accepted idempotently:
// `proof_received` with `duplicate: true` once the delivery is journaled, else the delivery is
// submitted again. Other bytes for an assignment that has a proof are refused (409). The verdict
// goes back to the engine as ProofVerified / ProofRejected; the prover is told after it
// commits. A verdict the engine cannot take now (503: recovering, overloaded) is retried every
// second for a minute. A verifier that cannot give a verdict (kFailed) blames no one: the
// assignment stays delivered, is logged, and is verified again at the next start.
//
// Pushes come from OnCommit (journal thread, after COMMIT): new assignments to one live
// connection of their prover (round robin), settlements, slashes, reassignments away. A prover
// with no live connection misses the push and gets its open assignments when it connects.
// When a prover's last connection goes, its offers leave the book after `offline_grace`
// unless it is back by then.
//
// Thread rules: Accept on io threads; connection callbacks on their strands; OnCommit on the
// journal thread; verdicts on verifier threads. Shared state is under mu_.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "server/base/rate_limiter.h"
#include "server/core/auth.h"
#include "server/core/market_directory.h"
#include "server/core/operations.h"
#include "server/core/proof_receipts.h"
#include "server/db/database.h"
#include "server/db/proofs.h"
#include "server/http/ws.h"
#include "server/journal/journal_batch.h"
#include "server/prover/verifier_pool.h"

namespace proofbook::server {

class ProverGateway : public WsEndpoint {
 public:
  struct Options {
    std::chrono::milliseconds offline_grace{10000};
    int max_errors = 20;  // protocol errors a connection may make before it is closed (1008)
    // Proof bytes announced by accepted headers and not yet stored; a header beyond either is
    // refused with 503 overloaded (Config::proof_inflight_*).
    std::size_t proof_inflight_per_prover = std::size_t{64} << 20;
    std::size_t proof_inflight_total = std::size_t{256} << 20;
    // An accepted proof's bytes must all arrive within this plus 1 ms per KB, else the
    // connection is closed (1008): announced bytes hold budget (Config::proof_receive_ms).
    std::chrono::milliseconds proof_receive_floor{10000};
  };

  // Bytes reserved against the in-flight budgets; given back by Release() (from any thread)
  // or when the last copy goes, whichever comes first.
  class ProofReservation {
   public:
    ProofReservation(ProverGateway& gateway, matching::AccountId prover, std::size_t bytes)
        : gateway_(gateway), prover_(prover), bytes_(bytes) {}
    ~ProofReservation() { Release(); }
    ProofReservation(const ProofReservation&) = delete;
    ProofReservation& operator=(const ProofReservation&) = delete;
    void Release();

   private:
    ProverGateway& gateway_;
    const matching::AccountId prover_;
    const std::size_t bytes_;
    std::atomic<bool> released_{false};
  };
  using ProofBudget = std::shared_ptr<ProofReservation>;
  // What the database says of a proof header.
  struct HeaderCheck {
    Status status = Status::Ok();  // not ok: refuse the header, drop its bytes
    bool duplicate = false;        // the same bytes are stored and their delivery journaled
  };

  // What the gateway works with; all must outlive it.
  struct Services {
    Operations& ops;
    Database& db;
    Authenticator& auth;
    const MarketDirectory& markets;
    RateLimiter& limiter;
    // Marked from a proof's last byte until the engine has its delivery. Null: none.
    ProofReceipts* receipts = nullptr;
  };
  // `pools`: verifier kind ("sha256-preimage", ...) -> pool; they must outlive the gateway.
  ProverGateway(Options options, Services services, std::map<std::string, VerifierPool*> pools);
  ~ProverGateway() override;  // Stop()s

  Result<std::unique_ptr<WsHandler>> Accept(const HttpRequest& request) override;

  // After each COMMIT, on the journal thread; never blocks.
  void OnCommit(const JournalBatch& batch);
  // At start-up: verify again every delivered proof that has no verdict yet.
  void ResumeVerifications();
  // ResumeVerifications a second from now, once however often asked meanwhile: a proof the
  // verifier's full queue refused is verified once there is room (it stays stored, delivered).
  void ResumeVerificationsLater();
  // Closes every prover connection with `code` (they reconnect, to the writer if there is
  // another): for a server that lost the write lease, whose assignments nobody would tell.
  void DisconnectAll(WsCloseCode code, const std::string& reason);
  // Closes (1008) every connection opened with the key whose SHA-256 is `digest` (revoked).
  void DisconnectKey(const std::string& digest);
  void Stop();

  // Used by the connections (prover_gateway.cc).
  struct Connection;
  void Register(matching::AccountId prover, const std::string& key_digest,
                const std::shared_ptr<WsPeer>& peer);
  // Runs `fn` on the gateway's timer thread after `delay` (not at all once stopping).
  void Later(std::chrono::milliseconds delay, std::function<void()> fn);
  void Unregister(matching::AccountId prover, uint64_t peer_id);
  void SendOpenAssignments(matching::AccountId prover, std::weak_ptr<WsPeer> peer);
  // Null when `bytes` would exceed a budget.
  ProofBudget ReserveProofBytes(matching::AccountId prover, std::size_t bytes);
  // Calls `done` once, on a database thread (or at once if none can take the job).
  void CheckProofHeader(matching::AccountId prover, int64_t assignment, int64_t size,
                        const std::string& sha256_hex, std::function<void(HeaderCheck)> done);
  // `received_at`: when the last byte arrived (the engine's clock, ms since the epoch).
  void Deliver(matching::AccountId prover, std::weak_ptr<WsPeer> peer, std::string client_id,
               int64_t assignment, std::string proof, int64_t received_at, ProofBudget budget,
               std::shared_ptr<void> receipt);
  const Services& services() const { return services_; }
  const Options& options() const { return options_; }

 private:
  // Sends to one live connection of `prover` (round robin); false if it has none.
  bool SendToProver(matching::AccountId prover, const std::string& text);
  // A stored proof goes to the engine, then (delivered) to its verifier.
  void Delivered(matching::AccountId prover, std::weak_ptr<WsPeer> peer, boost::json::value id,
                 int64_t assignment, std::shared_ptr<std::string> proof, StoredProof stored,
                 std::shared_ptr<void> receipt = nullptr);
  void Verify(int64_t assignment, matching::AccountId prover, const std::string& verifier,
              std::string vk, std::string inputs, std::string proof, std::weak_ptr<WsPeer> peer);
  void PushAssignments(std::vector<matching::AssignmentState> assigned);
  void TellReassignedAway(const matching::Event& slashed);
  void ApplyVerdict(int64_t assignment, matching::AccountId prover, VerdictKind verdict,
                    std::string reason, std::weak_ptr<WsPeer> peer, int attempt);
  void TimerLoop();

  const Options options_;
  const Services services_;
  const std::map<std::string, VerifierPool*> pools_;

  std::mutex mu_;
  struct Peers {
    std::vector<std::weak_ptr<WsPeer>> peers;
    std::size_t next = 0;  // round robin
  };
  std::unordered_map<matching::AccountId, Peers> provers_;
  std::unordered_map<uint64_t, std::string> peer_keys_;  // peer id -> its API key's digest
  std::unordered_map<matching::AccountId, std::size_t> inflight_;  // proof bytes per prover
  std::size_t inflight_total_ = 0;
  std::unordered_set<int64_t> verifying_;  // assignments whose proof is with a verifier
  bool resume_scheduled_ = false;          // ResumeVerificationsLater is pending
  // Provers whose last connection went, with when their offers go.
  std::multimap<std::chrono::steady_clock::time_point, matching::AccountId> offline_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> later_;
  std::condition_variable grace_cv_;
  bool stopping_ = false;
  std::thread grace_thread_;
};

}  // namespace proofbook::server
