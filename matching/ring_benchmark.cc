// Ring throughput (Google Benchmark): messages/s through SpscRing and MpscRing with 1 and 2
// producer threads and one consumer, 64-byte messages (about a small Command), capacity 4096.
// A full ring makes the producer spin (counted), as a front end would answer 503 instead.
// Run: build/matching-bench/matching/ring_benchmark
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "matching/mpsc_ring.h"
#include "matching/spsc_ring.h"

namespace proofbook::matching {
namespace {

struct Msg {
  std::array<uint64_t, 8> words{};  // 64 bytes
};

constexpr uint64_t kMessages = 2'000'000;

template <typename Ring>
void RunRing(benchmark::State& state, int producers) {
  uint64_t full = 0;
  for (auto _ : state) {
    Ring ring(4096);
    std::atomic<uint64_t> full_count{0};
    uint64_t per_producer = kMessages / static_cast<uint64_t>(producers);
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&ring, &full_count, per_producer] {
        Msg m;
        uint64_t spins = 0;
        for (uint64_t i = 0; i < per_producer; ++i) {
          m.words[0] = i;
          while (!ring.try_push(Msg(m))) ++spins;
        }
        full_count.fetch_add(spins, std::memory_order_relaxed);
      });
    }
    Msg out;
    uint64_t received = 0, sum = 0;
    uint64_t total = per_producer * static_cast<uint64_t>(producers);
    while (received < total) {
      if (ring.try_pop(out)) {
        sum += out.words[0];
        ++received;
      }
    }
    benchmark::DoNotOptimize(sum);
    for (auto& t : threads) t.join();
    full += full_count.load();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kMessages));
  state.counters["full_spins_per_msg"] =
      static_cast<double>(full) / static_cast<double>(state.iterations() * kMessages);
}

void BM_SpscRing(benchmark::State& state) { RunRing<SpscRing<Msg>>(state, 1); }
BENCHMARK(BM_SpscRing)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_MpscRing(benchmark::State& state) {
  RunRing<MpscRing<Msg>>(state, static_cast<int>(state.range(0)));
}
BENCHMARK(BM_MpscRing)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

}  // namespace
}  // namespace proofbook::matching
