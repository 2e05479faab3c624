// VerifierPool: long-lived verifier worker processes of one kind (server/prover/verifiers/
// verifier_worker.js), each driven by a thread of its own over pipes. A request and its answer
// are each a 4-byte big-endian length and that many bytes of JSON (the framing and shapes are
// in server/prover/verifiers/README.md).
//
// Each verification has a time limit. A worker that crashes, hangs past the limit, or answers
// nonsense is killed (SIGKILL) and replaced, and its job goes back to the front of the queue;
// after `max_attempts` such failures on one job the job ends as kFailed (the caller must not
// blame the prover for that: the proof may be fine and our verifier broken). Verification never
// runs on the engine thread or an io thread: callbacks run on the pool's worker threads and
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
    std::chrono::milliseconds timeout{10000};  // per verification
    int max_attempts = 3;
    std::size_t max_queue = 10000;  // jobs waiting; beyond: Submit returns false
  };

  explicit VerifierPool(Options options);
  ~VerifierPool();  // Stop()s
  VerifierPool(const VerifierPool&) = delete;
  VerifierPool& operator=(const VerifierPool&) = delete;

  // Starts the workers; fails when one cannot be started.
  Status Start();
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

 private:
  struct Worker {
    pid_t pid = -1;
    int to_child = -1;    // its stdin
    int from_child = -1;  // its stdout
  };
  struct Slot {
    Worker worker;
    std::thread thread;
  };
  struct Queued {
    VerifyJob job;
    int attempts = 0;
  };

  Status Spawn(Worker& w) const;
  void Kill(Worker& w);
  void Run(std::size_t slot);
  // One attempt on `w`: a verdict, or nullopt-like kFailed with `broken` set when the worker
  // must be replaced.
  Verdict Attempt(Worker& w, const VerifyJob& job, bool* broken);

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  std::vector<Slot> slots_;  // fixed size after Start
  std::atomic<uint64_t> next_request_{1};
  std::atomic<uint64_t> restarts_{0};
  std::atomic<uint64_t> verified_{0};
};

}  // namespace proofbook::server
