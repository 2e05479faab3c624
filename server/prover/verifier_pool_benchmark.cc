// verifier_pool_benchmark: verifications per second of the VerifierPool with 1 and 2 real worker
// processes (node server/prover/verifiers/verifier_worker.js), for sha256-preimage and for Groth16
// (BN254, the fixtures of tests/fixtures/groth16.sh). Each iteration submits a window of jobs
// and waits for all their verdicts, so the workers are never idle for want of work.
//
//   cmake --build --preset release --target verifier_pool_benchmark
//   build/release/server/prover/verifier_pool_benchmark
#include <benchmark/benchmark.h>

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

void Run(benchmark::State& state, const std::string& kind, const VerifyJob& prototype) {
  const int workers = static_cast<int>(state.range(0));
  VerifierPool pool(VerifierPool::Options{
      .kind = kind,
      .argv = {"node", kRoot + "/server/prover/verifiers/verifier_worker.js", "--kind", kind},
      .env = {"NODE_PATH=" + kRoot + "/var/node/node_modules"},
      .workers = workers});
  if (!pool.Start().ok()) {
    state.SkipWithError("the pool did not start");
    return;
  }
  const int window = 8 * workers;
  std::mutex mu;
  std::condition_variable cv;
  int64_t jobs = 0;
  bool wrong = false;
  // Untimed warm-up: every worker starts node, loads the key and builds the curve once.
  auto round = [&] {
    int left = window;
    for (int i = 0; i < window; ++i) {
      VerifyJob job = prototype;
      job.done = [&](const Verdict& v) {
        std::lock_guard lock(mu);
        wrong |= v.kind != Verdict::kValid;
        if (--left == 0) cv.notify_one();
      };
      pool.Submit(std::move(job));
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return left == 0; });
  };
  round();
  for (auto _ : state) {
    round();
    jobs += window;
  }
  if (wrong) state.SkipWithError("a valid proof did not verify");
  state.SetItemsProcessed(jobs);
}

void BM_Sha256Preimage(benchmark::State& state) {
  VerifyJob job;
  job.id = 1;
  job.public_json = R"({"sha256":")" + proofbook::server::Sha256Hex("bench") + "\"}";
  job.proof = "bench";
  Run(state, "sha256-preimage", job);
}

void BM_Groth16(benchmark::State& state) {
  const std::string dir = kRoot + "/var/fixtures/groth16";
  VerifyJob job;
  job.id = 1;
  job.vk_json = ReadFile(dir + "/verification_key.json");
  job.public_json = ReadFile(dir + "/valid/public.json");
  job.proof = ReadFile(dir + "/valid/proof.json");
  if (job.vk_json.empty()) {
    state.SkipWithError("no fixtures: run tests/fixtures/groth16.sh");
    return;
  }
  Run(state, "snarkjs-groth16", job);
}

BENCHMARK(BM_Sha256Preimage)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MinTime(2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Groth16)->Arg(1)->Arg(2)->UseRealTime()->MinTime(5)->Unit(benchmark::kMillisecond);

}  // namespace
