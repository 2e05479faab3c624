// VerifierPool: long-lived verifier worker processes of one kind (server/prover/verifiers/
// verifier_worker.js), each driven by a thread of its own over pipes. A request and its answer
// are each a 4-byte big-endian length and that many bytes of JSON (the framing and shapes are
// in server/prover/verifiers/README.md).
//
// Jobs go to a worker in rounds of up to `max_batch` (and about `max_batch_bytes`): all are
// written, then all answers read, in order; while the answers to one round are awaited, the
// next round is already written (two in flight), so the worker finds work when it is done. A
// Groth16 worker checks the proofs of one key that arrive together as one batch (one final
// exponentiation; README beside the worker). A verification key is sent to a worker once and then
// named by its id (the sha256 of its JSON text); a worker that has dropped it answers `unknown_vk`
// and the job is sent again with it.
//
// Each answer has a time limit (counted from when the pool starts reading the round's answers,
// after writing the next round, then from the answer before). A worker that crashes, hangs past
// the limit, or answers nonsense is killed (SIGKILL) and replaced; the jobs of the oldest round
// it had not answered are charged an attempt and go back to the front of the queue, each to be
// sent alone with nothing else in flight (so one poisonous job cannot take its batch with it);
// the next round's jobs go back uncharged. After `max_attempts` such failures on one job the
// job ends as kFailed (the caller must not blame the prover for that: the proof may be fine and
// our verifier broken). An honest job is charged at most once for another's failure. Verification
// never runs on the engine thread or an io thread: callbacks run on the pool's worker threads and
// must not block for long.
//
// Thread rules: Start/Stop from one thread; Submit from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "matching/status.h"

namespace proofbook::server {

// kFailed reasons: the pool is stopping (the job was never tried: verify again at the next
// start), or no worker could give a verdict after Options::max_attempts.
inline constexpr std::string_view kVerdictStopping = "stopping";
// kInvalid reason for inputs the verifier refuses whatever the proof (the sequencer's fault).
inline constexpr std::string_view kVerdictBadPublicInputs = "bad_public_inputs";

struct Verdict {
  enum Kind { kValid, kInvalid, kFailed };
  Kind kind = kFailed;
  std::string reason;  // kInvalid: the worker's (malformed_proof, verification_failed, ...);
                       // kFailed: why no verdict could be had
};

struct VerifyJob {
  uint64_t id = 0;          // the caller's (an assignment id); logged
  uint64_t source = 0;      // who made the proof (the prover's account), 0 for unknown: a
                            // Groth16 worker checks a source's proofs apart after one fails
  std::string vk_json;      // the market's verification key, JSON text; empty for none
  std::string public_json;  // the order's public inputs, JSON text
  std::string proof;        // the proof bytes
  std::function<void(const Verdict&)> done;  // exactly once, on a pool thread
};

class VerifierPool {
 public:
  struct Options {
    std::string kind;               // "snarkjs-groth16" | "sha256-preimage"
    std::vector<std::string> argv;  // the worker command line; argv[0] is looked up in PATH
    std::vector<std::string> env;   // extra NAME=value for the workers
    int workers = 1;
    std::chrono::milliseconds timeout{10000};  // per answer
    int max_attempts = 3;
    int max_batch = 32;                     // jobs per round to one worker (1-512)
    std::size_t max_batch_bytes = 1 << 20;  // a round stops growing past this many bytes
    std::size_t max_queue = 10000;          // jobs waiting; beyond: Submit returns false
  };

  explicit VerifierPool(Options options);
  ~VerifierPool();  // Stop()s
  VerifierPool(const VerifierPool&) = delete;
  VerifierPool& operator=(const VerifierPool&) = delete;

  // Starts the workers; fails when one cannot be started. Open() then SpawnWorkers().
  Status Start();
  // Accepts jobs (they wait in the queue) without starting the workers yet; fails when the
  // worker command cannot be found. The server opens its pools before recovery and spawns
  // their workers once the engine is rebuilt: their start (Node.js, ~0.2-0.5 s of CPU each on
  // the loadtest VM) would otherwise take the cores from the engine's restore.
  Status Open();
  // Starts the workers of an Open() pool; fails when one cannot be started.
  Status SpawnWorkers();
  // False when the queue is full or the pool is stopped; `done` is then not called.
  bool Submit(VerifyJob job);
  // Ends the workers (closing their stdin); queued jobs end as kFailed "stopping".
  void Stop();

  const std::string& kind() const { return options_.kind; }
  std::size_t queue_depth() const;  // jobs waiting for a worker
  // For tests: the live worker processes.
  std::vector<pid_t> WorkerPids() const;
  uint64_t restarts() const { return restarts_.load(); }
  uint64_t verified() const { return verified_.load(); }
  uint64_t rounds() const { return rounds_.load(); }  // rounds sent (verified / rounds: batch)

 private:
  struct Worker {
    pid_t pid = -1;
    int to_child = -1;    // its stdin
    int from_child = -1;  // its stdout
  };
  struct Slot {
    Worker worker;
    std::thread thread;
    std::unordered_set<std::string> vks_sent;  // ids of the keys this worker was sent
  };
  struct Queued {
    VerifyJob job;
    int attempts = 0;    // workers it broke (or was in flight on when one broke)
    int vk_resends = 0;  // times sent again because the worker had dropped its key
  };
  // A round written to a worker, its answers not read yet.
  struct Round {
    std::vector<Queued> jobs;
    std::vector<uint64_t> requests;  // the request id of each job
  };
  // What became of a round: one answer per job, in order, for its first answers.size() jobs.
  struct Answer {
    Verdict verdict;
    bool unknown_vk = false;  // the worker no longer holds the key: send the job again with it
  };
  struct RoundResult {
    std::vector<Answer> answers;
    bool broken = false;  // the worker must be replaced; the rest of the round is unanswered
    std::string why;      // when broken: verifier_crashed | verifier_timeout | verifier_bad_answer
  };

  Status Spawn(Worker& w) const;
  void Kill(Worker& w);
  void Run(std::size_t slot);
  // Takes the next round's jobs from the queue (waiting for some if `wait`); empty when
  // stopping, or when nothing is queued and not `wait`, or when the next job must go alone
  // (it has broken a worker) and not `wait` (another round is in flight).
  std::vector<Queued> NextRound(bool wait);
  // Writes `round` to the slot's worker; false when the worker is gone or stopped reading.
  bool Send(Slot& slot, Round& round, std::string* why);
  // Reads the answers to `round`.
  RoundResult Receive(Slot& slot, const Round& round);
  // Puts jobs back at the front of the queue, in their order; false when stopping.
  bool Requeue(std::vector<Queued>& jobs);

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  std::vector<Slot> slots_;  // fixed size after Start
  std::atomic<uint64_t> next_request_{1};
  std::atomic<uint64_t> restarts_{0};
  std::atomic<uint64_t> verified_{0};
  std::atomic<uint64_t> rounds_{0};
};

}  // namespace proofbook::server
