// verifier_pool_benchmark: verifications per second of the VerifierPool with 1 and 2 real worker
// processes (node server/prover/verifiers/verifier_worker.js), for sha256-preimage and for Groth16
// (BN254, the fixtures of tests/fixtures/groth16.sh), by the pool's batch size (jobs sent to a
// worker at once; a Groth16 worker checks them together). Each iteration submits a window of
// jobs and waits for all their verdicts, so the workers are never idle for want of work.
// BM_Groth16/W/B: W workers, batches of up to B (B = 1: each proof checked alone).
//
//   cmake --build --preset release --target verifier_pool_benchmark
//   build/release/server/prover/verifier_pool_benchmark
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>

#include "server/base/crypto.h"
#include "server/prover/verifier_pool.h"

namespace {

using proofbook::server::Verdict;
using proofbook::server::VerifierPool;
using proofbook::server::VerifyJob;

const std::string kRoot = PROOFBOOK_SOURCE_DIR;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Each iteration submits `window` jobs, cycling through `jobs`; `valid[i]` says whether jobs[i]
// must verify. Items/s counts every verdict, `honest/s` those of the valid proofs.
void Run(benchmark::State& state, const std::string& kind, const std::vector<VerifyJob>& protos,
         const std::vector<bool>& valid) {
  const int workers = static_cast<int>(state.range(0));
  const int batch = static_cast<int>(state.range(1));
  VerifierPool pool(VerifierPool::Options{
      .kind = kind,
      .argv = {"node", kRoot + "/server/prover/verifiers/verifier_worker.js", "--kind", kind,
               "--max-batch", std::to_string(std::min(batch, 128))},
      .env = {"NODE_PATH=" + kRoot + "/var/node/node_modules"},
      .workers = workers,
      .max_batch = batch});
  if (!pool.Start().ok()) {
    state.SkipWithError("the pool did not start");
    return;
  }
  // Enough jobs that each worker has a full batch waiting while it checks the one before.
  const int window = std::max(8, 2 * batch) * workers;
  std::mutex mu;
  std::condition_variable cv;
  int64_t jobs = 0;
  int64_t honest = 0;
  std::size_t next = 0;
  bool wrong = false;
  // Untimed warm-up: every worker starts node, loads the key and builds the curve once.
  auto round = [&] {
    int left = window;
    for (int i = 0; i < window; ++i, next = (next + 1) % protos.size()) {
      VerifyJob job = protos[next];
      honest += valid[next] ? 1 : 0;
      job.done = [&, expect = valid[next]](const Verdict& v) {
        std::lock_guard lock(mu);
        wrong |= (v.kind == Verdict::kValid) != expect;
        if (--left == 0) cv.notify_one();
      };
      pool.Submit(std::move(job));
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return left == 0; });
  };
  round();
  honest = 0;
  for (auto _ : state) {
    round();
    jobs += window;
  }
  if (wrong) state.SkipWithError("a verdict was wrong");
  state.SetItemsProcessed(jobs);
  state.counters["honest/s"] =
      benchmark::Counter(static_cast<double>(honest), benchmark::Counter::kIsRate);
  state.counters["batch"] = static_cast<double>(pool.verified()) /
                            static_cast<double>(std::max<uint64_t>(1, pool.rounds()));
}

void BM_Sha256Preimage(benchmark::State& state) {
  VerifyJob job;
  job.id = 1;
  job.public_json = R"({"sha256":")" + proofbook::server::Sha256Hex("bench") + "\"}";
  job.proof = "bench";
  Run(state, "sha256-preimage", {job}, {true});
}

// A Groth16 job for fixture case `c` (valid, tampered) from prover `source`.
VerifyJob Groth16Job(const std::string& c, uint64_t source) {
  const std::string dir = kRoot + "/var/fixtures/groth16";
  VerifyJob job;
  job.id = 1;
  job.source = source;
  job.vk_json = ReadFile(dir + "/verification_key.json");
  job.public_json = ReadFile(dir + "/" + c + "/public.json");
  job.proof = ReadFile(dir + "/" + c + "/proof.json");
  return job;
}

void BM_Groth16(benchmark::State& state) {
  VerifyJob job = Groth16Job("valid", 1);
  if (job.vk_json.empty()) {
    state.SkipWithError("no fixtures: run tests/fixtures/groth16.sh");
    return;
  }
  Run(state, "snarkjs-groth16", {job}, {true});
}

// BM_Groth16Flood/W/B/P/I: one prover floods the pool with bad proofs (the tampered fixture),
// P % of all jobs, among 8 honest provers' valid ones; I = 1: the pool names each job's prover
// (the server does), so the worker checks the flooder's proofs apart once one has failed; I = 0:
// it does not, and the flooder's proofs fail honest batches. `honest/s` is what is left for the
// honest provers.
void BM_Groth16Flood(benchmark::State& state) {
  const int64_t percent = state.range(2);
  const bool isolate = state.range(3) != 0;
  std::vector<VerifyJob> jobs;
  std::vector<bool> valid;
  for (int64_t i = 0; i < 100; ++i) {
    const bool bad = i % 100 < percent;
    jobs.push_back(Groth16Job(bad ? "tampered" : "valid",
                              bad ? (isolate ? 99 : 0) : static_cast<uint64_t>(1 + i % 8)));
    valid.push_back(!bad);
  }
  // Bad ones spread through the cycle rather than in one block.
  std::vector<std::size_t> order(jobs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = (i * 37) % order.size();
  std::vector<VerifyJob> spread;
  std::vector<bool> spread_valid;
  for (std::size_t i : order) {
    spread.push_back(jobs[i]);
    spread_valid.push_back(valid[i]);
  }
  if (spread[0].vk_json.empty()) {
    state.SkipWithError("no fixtures: run tests/fixtures/groth16.sh");
    return;
  }
  Run(state, "snarkjs-groth16", spread, spread_valid);
}

BENCHMARK(BM_Sha256Preimage)
    ->Args({1, 1})
    ->Args({1, 32})
    ->Args({2, 32})
    ->UseRealTime()
    ->MinTime(2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Groth16)
    ->Args({1, 1})
    ->Args({1, 8})
    ->Args({1, 32})
    ->Args({1, 128})
    ->Args({2, 1})
    ->Args({2, 32})
    ->UseRealTime()
    ->MinTime(5)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Groth16Flood)
    ->Args({1, 32, 0, 1})
    ->Args({1, 32, 3, 0})
    ->Args({1, 32, 3, 1})
    ->Args({1, 32, 10, 0})
    ->Args({1, 32, 10, 1})
    ->Args({1, 32, 50, 0})
    ->Args({1, 32, 50, 1})
    ->UseRealTime()
    ->MinTime(5)
    ->Unit(benchmark::kMillisecond);

}  // namespace
