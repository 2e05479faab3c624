// ECVRF prove / verify / proof-to-hash on this machine (issue #16 aims at verify < 150 us).
// Run: cmake --build build/release --target ecvrf_benchmark && build/release/vrf/ecvrf_benchmark
#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>

#include "vrf/ecvrf.h"

namespace proofbook::vrf {
namespace {

// alpha as the server builds it is ~60 bytes (market, epoch seed, order id, attempt).
constexpr std::size_t kAlphaBytes = 60;

struct Fixture {
  Fixture() {
    if (!Init()) std::abort();
    pk = DerivePublicKey(sk);
    for (std::size_t i = 0; i < alpha.size(); ++i) alpha[i] = static_cast<uint8_t>(i);
    pi = *Prove(sk, alpha);
  }
  SecretKey sk = SecretKey::Generate();
  PublicKey pk{};
  std::array<uint8_t, kAlphaBytes> alpha{};
  Proof pi{};
};

Fixture& F() {
  static Fixture f;
  return f;
}

void BM_Prove(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) {
    ++f.alpha[0];  // a new input each time: try-and-increment's cost varies with it
    benchmark::DoNotOptimize(Prove(f.sk, f.alpha));
  }
}
BENCHMARK(BM_Prove);

void BM_Verify(benchmark::State& state) {
  Fixture& f = F();
  f.pi = *Prove(f.sk, f.alpha);
  for (auto _ : state) {
    Verified v = Verify(f.pk, f.alpha, f.pi);
    if (!v.ok()) state.SkipWithError("proof refused");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_Verify);

// The first implementation, on libsodium's checked arithmetic (the differential test's
// reference): what the variable-time path saves.
void BM_VerifyWithLibsodium(benchmark::State& state) {
  Fixture& f = F();
  f.pi = *Prove(f.sk, f.alpha);
  for (auto _ : state) {
    Verified v = detail::VerifyWithLibsodium(f.pk, f.alpha, f.pi);
    if (!v.ok()) state.SkipWithError("proof refused");
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_VerifyWithLibsodium);

void BM_ProofToHash(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) benchmark::DoNotOptimize(ProofToHash(f.pi));
}
BENCHMARK(BM_ProofToHash);

void BM_DerivePublicKey(benchmark::State& state) {
  Fixture& f = F();
  for (auto _ : state) benchmark::DoNotOptimize(DerivePublicKey(f.sk));
}
BENCHMARK(BM_DerivePublicKey);

}  // namespace
}  // namespace proofbook::vrf
