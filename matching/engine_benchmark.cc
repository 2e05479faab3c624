// Engine benchmarks (Google Benchmark). Build: cmake --build build/matching-bench --target bench
// Run:   build/matching-bench/matching/engine_benchmark
//
//  BM_RealisticMix         commands/s over a pre-generated stream (orders, offers, cancels,
//                          deliveries, verdicts, ticks) with 10k resting offers over 100
//                          markets; counters: allocations per command in steady state.
//  BM_RealisticMixLatency  the same stream, each Apply timed: p50 / p99 / p99.9 ns.
//  BM_AdversarialIneligible/L  an order whose 10k cheaper offers (spread over L levels) are all
//                          ineligible (reputation too low): level bounds make it O(L).
//  BM_AdversarialSameProver  the O(N) case the bounds cannot skip: one prover holds 10k offers
//                          on the best level and is already on the order (k = 2).
//  BM_ProofTree/N          a whole proof tree of N leaves through the engine: placed, every
//                          leaf and merge assigned (merges drawn among the children's provers),
//                          delivered, verified and paid, until the root completes; time per tree.
//
// Allocations are counted by replacing the global operator new in this binary.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "matching/alloc_counter.h"
#include "matching/draw_source.h"
#include "matching/engine.h"

namespace proofbook::matching {
namespace {

constexpr int kMarkets = 100;
constexpr int kProvers = 1000;
constexpr int kSequencers = 1000;
constexpr int kRestingOffers = 10'000;
constexpr size_t kStreamLength = 400'000;

EngineOptions BenchOptions() {
  EngineOptions o;
  o.accounts = 4096;
  o.orders = 1 << 16;
  o.offers = 1 << 15;
  o.assignments = 1 << 17;
  return o;
}

// weighted: reputation_weight_bps 2000 (README "Ranking"), the slower best-offer walk.
MarketParams BenchParams(bool weighted) {
  MarketParams p;
  p.reputation_weight_bps = weighted ? 2'000 : 0;
  p.min_stake = 1'000;
  p.slash_multiplier_bps = 20'000;
  p.compensation_bps = 5'000;
  p.fee_bps = 100;
  p.min_prover_time_ms = 50;
  p.grace_bps = 5'000;
  p.uncle_reward_bps = 1'000;
  p.max_proof_bytes = 1 << 20;
  return p;
}

// Accounts, markets and the 10k resting offers. Not timed.
std::vector<Command> SetupCommands(std::mt19937_64& rng, bool weighted) {
  std::vector<Command> out;
  uint64_t ref = 0;
  auto add = [&](CommandBody b) { out.push_back(Command{++ref, 0, b}); };
  for (int m = 0; m < kMarkets; ++m)
    add(CreateMarket{static_cast<MarketId>(m), BenchParams(weighted)});
  for (int s = 0; s < kSequencers; ++s) {
    add(CreateAccount{1'000'000 + s, Role::kSequencer});
    add(Deposit{1'000'000 + s, 1'000'000'000'000});
  }
  for (int p = 0; p < kProvers; ++p) {
    add(CreateAccount{2'000'000 + p, Role::kProver});
    add(Deposit{2'000'000 + p, 1'000'000'000});
    add(Stake{2'000'000 + p, 1'000'000'000});
  }
  std::uniform_int_distribution<int> price(50, 150), est(50, 1000);
  for (int i = 0; i < kRestingOffers; ++i) {
    add(PlaceOffer{2'000'000 + (i % kProvers), static_cast<MarketId>(i % kMarkets), price(rng),
                   est(rng), 8, 0});
  }
  return out;
}

// A closed-loop driver: decides each command from what the engine said so far, so the
// stream is realistic (proofs for real assignments, cancels of live offers). The engine is
// deterministic, so replaying the recorded stream on a fresh engine gives the same events.
struct Workload {
  std::vector<Command> setup;
  std::vector<Command> stream;
};

Workload* MakeRealisticWorkload(bool weighted) {
  {
    auto* wl = new Workload;
    std::mt19937_64 rng(42);
    wl->setup = SetupCommands(rng, weighted);
    Engine engine(BenchOptions());
    std::vector<std::pair<OfferId, AccountId>> offers;
    std::vector<std::pair<AssignmentId, AccountId>> assigned, delivered;
    size_t assigned_head = 0, delivered_head = 0;
    std::vector<std::pair<OrderId, AccountId>> resting;
    auto observe = [&](std::span<const Event> ev) {
      for (const Event& e : ev) {
        if (e.kind == EventKind::kAccepted && e.command == CommandKind::kPlaceOffer) {
          offers.push_back({e.offer, e.account});
        } else if (e.kind == EventKind::kAssigned || e.kind == EventKind::kReassigned) {
          assigned.push_back({e.assignment, e.account});
        } else if (e.kind == EventKind::kProofDelivered) {
          delivered.push_back({e.assignment, e.account});
        } else if (e.kind == EventKind::kOrderRested) {
          resting.push_back({e.order, e.account});
        }
      }
    };
    for (const Command& c : wl->setup) observe(engine.Apply(c));
    std::uniform_int_distribution<int> pct(0, 99), seq(0, kSequencers - 1), prover(0, kProvers - 1),
        market(0, kMarkets - 1), price(50, 150), est(50, 1000), max_price(100, 200),
        horizon(5'000, 20'000);
    Timestamp now = 1;
    uint64_t ref = 1'000'000;
    wl->stream.reserve(kStreamLength);
    while (wl->stream.size() < kStreamLength) {
      if (wl->stream.size() % 2 == 0) ++now;  // 2 commands per ms: 2000 commands/s of load
      int r = pct(rng);
      CommandBody body = Tick{};
      if (r < 20) {
        PlaceOrder o;
        o.account = 1'000'000 + seq(rng);
        o.market = static_cast<MarketId>(market(rng));
        o.max_price = max_price(rng);
        o.deadline = now + horizon(rng);
        o.priority = pct(rng) < 70 ? Priority::kPrice : Priority::kTime;
        o.redundancy = pct(rng) < 90 ? 1 : 2;
        body = o;
      } else if (r < 50) {
        if (assigned_head < assigned.size()) {
          auto [id, who] = assigned[assigned_head++];
          if (pct(rng) < 98) body = ProofDelivered{who, id, 4096};  // 2% never deliver
        }
      } else if (r < 80) {
        if (delivered_head < delivered.size()) {
          auto [id, who] = delivered[delivered_head++];
          if (pct(rng) < 99) {
            body = ProofVerified{id};
          } else {
            body = ProofRejected{id};
          }
        }
      } else if (r < 86) {
        body = PlaceOffer{2'000'000 + prover(rng),
                          static_cast<MarketId>(market(rng)),
                          price(rng),
                          est(rng),
                          8,
                          0};
      } else if (r < 92) {
        if (!offers.empty()) {
          size_t i = std::uniform_int_distribution<size_t>(0, offers.size() - 1)(rng);
          body = CancelOffer{offers[i].second, offers[i].first};
          offers[i] = offers.back();
          offers.pop_back();
        }
      } else if (r < 94) {
        if (!resting.empty()) {
          body = CancelOrder{resting.back().second, resting.back().first};
          resting.pop_back();
        }
      }
      Command c{++ref, now, body};
      wl->stream.push_back(c);
      observe(engine.Apply(c));
    }
    return wl;
  }
}

const Workload& RealisticWorkload(bool weighted = false) {
  static const Workload* plain = MakeRealisticWorkload(false);
  if (!weighted) return *plain;
  static const Workload* w = MakeRealisticWorkload(true);
  return *w;
}

std::unique_ptr<Engine> FreshEngine(const Workload& w) {
  auto engine = std::make_unique<Engine>(BenchOptions());
  for (const Command& c : w.setup) engine->Apply(c);
  return engine;
}

// state.range(0) == 1: every market ranks with reputation_weight_bps 2000.
void BM_RealisticMix(benchmark::State& state) {
  const Workload& w = RealisticWorkload(state.range(0) == 1);
  uint64_t steady_allocs = 0;
  size_t events = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = FreshEngine(w);
    state.ResumeTiming();
    size_t half = w.stream.size() / 2;
    for (size_t i = 0; i < half; ++i) events += engine->Apply(w.stream[i]).size();
    uint64_t before = AllocationCount();
    for (size_t i = half; i < w.stream.size(); ++i) events += engine->Apply(w.stream[i]).size();
    steady_allocs += AllocationCount() - before;
    state.PauseTiming();
    engine.reset();
    state.ResumeTiming();
  }
  double commands = static_cast<double>(state.iterations()) * w.stream.size();
  state.SetItemsProcessed(static_cast<int64_t>(commands));
  state.counters["allocs_per_cmd_steady"] = static_cast<double>(steady_allocs) / (commands / 2);
  state.counters["events_per_cmd"] = static_cast<double>(events) / commands;
}
BENCHMARK(BM_RealisticMix)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_RealisticMixLatency(benchmark::State& state) {
  const Workload& w = RealisticWorkload(state.range(0) == 1);
  std::vector<int64_t> ns(w.stream.size());
  for (auto _ : state) {
    state.PauseTiming();
    auto engine = FreshEngine(w);
    state.ResumeTiming();
    for (size_t i = 0; i < w.stream.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(engine->Apply(w.stream[i]).size());
      auto t1 = std::chrono::steady_clock::now();
      ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    }
  }
  std::vector<int64_t> steady(ns.begin() + static_cast<ptrdiff_t>(ns.size() / 2), ns.end());
  std::sort(steady.begin(), steady.end());
  auto pct = [&](double p) {
    return static_cast<double>(steady[static_cast<size_t>(p * (steady.size() - 1))]);
  };
  state.counters["p50_ns"] = pct(0.50);
  state.counters["p99_ns"] = pct(0.99);
  state.counters["p999_ns"] = pct(0.999);
  state.counters["max_ns"] = static_cast<double>(steady.back());
}
BENCHMARK(BM_RealisticMixLatency)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(1);

// One market, 10k offers from low-reputation provers spread over `levels` price levels, all
// cheaper than the single eligible offer. Each iteration: an order with min_reputation above
// them (matches the eligible offer), then its proof delivered and verified so capacity returns.
void BM_AdversarialIneligible(benchmark::State& state) {
  const int levels = static_cast<int>(state.range(0));
  Engine engine(BenchOptions());
  uint64_t ref = 0;
  Timestamp now = 1;
  auto apply = [&](CommandBody b) { return engine.Apply(Command{++ref, now, b}); };
  MarketParams p = BenchParams(false);
  p.slash_multiplier_bps = 20'000;
  p.min_stake = 1;
  apply(CreateMarket{0, p});
  apply(CreateAccount{1, Role::kSequencer});
  apply(Deposit{1, 1'000'000'000'000});
  constexpr int kBad = 100;  // provers whose reputation we push down
  for (int i = 0; i < kBad + 1; ++i) {
    apply(CreateAccount{100 + i, Role::kProver});
    apply(Deposit{100 + i, 1'000'000'000});
    apply(Stake{100 + i, 1'000'000'000});
  }
  // Lower the bad provers' reputation with misses on throwaway orders.
  for (int i = 0; i < kBad; ++i) {
    OfferId o = apply(PlaceOffer{100 + i, 0, 1, 100, 1, 0})[0].offer;
    PlaceOrder ord;
    ord.account = 1;
    ord.max_price = 1;
    ord.deadline = now + 1'000;
    ord.selection = Selection::kDirect;
    ord.direct_prover = 100 + i;
    ord.exclusive_ms = 1'000;
    apply(ord);
    apply(CancelOffer{100 + i, o});
  }
  now += 10'000;
  apply(Tick{});
  for (int i = 0; i < 10'000; ++i) {
    apply(PlaceOffer{100 + (i % kBad), 0, 10 + (i % levels), 100, 1'000, 0});
  }
  apply(PlaceOffer{100 + kBad, 0, 10'000, 100, 1'000, 0});  // the only eligible one
  PlaceOrder order;
  order.account = 1;
  order.max_price = 20'000;
  order.min_reputation = kInitialReputation;
  for (auto _ : state) {
    order.deadline = now + 100'000;
    auto ev = apply(order);
    AssignmentId a = 0;
    for (const Event& e : ev) {
      if (e.kind == EventKind::kAssigned) a = e.assignment;
    }
    if (a == 0) {
      state.SkipWithError("no match");
      return;
    }
    apply(ProofDelivered{100 + kBad, a, 10});
    apply(ProofVerified{a});
  }
  state.SetItemsProcessed(state.iterations());  // orders matched
  state.counters["levels"] = levels;
}
BENCHMARK(BM_AdversarialIneligible)->Arg(1)->Arg(100)->Arg(10'000)->Unit(benchmark::kMicrosecond);

// One prover owns 10k offers on the best level; a k = 2 order takes one of them, and the second
// slot must walk past all the others (already on this order) to reach another prover.
void BM_AdversarialSameProver(benchmark::State& state) {
  Engine engine(BenchOptions());
  uint64_t ref = 0;
  Timestamp now = 1;
  auto apply = [&](CommandBody b) { return engine.Apply(Command{++ref, now, b}); };
  apply(CreateMarket{0, BenchParams(false)});
  apply(CreateAccount{1, Role::kSequencer});
  apply(Deposit{1, 1'000'000'000'000});
  for (AccountId p : {100, 101}) {
    apply(CreateAccount{p, Role::kProver});
    apply(Deposit{p, 1'000'000'000});
    apply(Stake{p, 1'000'000'000});
  }
  for (int i = 0; i < 10'000; ++i) apply(PlaceOffer{100, 0, 10, 100, 1, 0});
  apply(PlaceOffer{101, 0, 11, 100, 1'000, 0});
  PlaceOrder order;
  order.account = 1;
  order.max_price = 100;
  order.redundancy = 2;
  for (auto _ : state) {
    order.deadline = now + 100'000;
    auto ev = apply(order);
    std::vector<std::pair<AssignmentId, AccountId>> as;
    for (const Event& e : ev) {
      if (e.kind == EventKind::kAssigned) as.push_back({e.assignment, e.account});
    }
    if (as.size() != 2) {
      state.SkipWithError("expected two assignments");
      return;
    }
    for (auto [a, who] : as) {
      apply(ProofDelivered{who, a, 10});
      apply(ProofVerified{a});
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdversarialSameProver)->Unit(benchmark::kMicrosecond);

// 64 provers, each with a leaf and a merge offer of capacity 64: every leaf is assigned at
// placement, and every merge to one of its children's provers as soon as both are proven.
void BM_ProofTree(benchmark::State& state) {
  const int32_t leaves = static_cast<int32_t>(state.range(0));
  constexpr int kTreeProvers = 64;
  int64_t commands = 0;
  for (auto _ : state) {
    state.PauseTiming();
    HashDrawSource draws(1);
    EngineOptions options = BenchOptions();
    options.draws = &draws;
    auto engine = std::make_unique<Engine>(options);
    uint64_t ref = 0;
    Timestamp now = 1;
    auto apply = [&](CommandBody b) { return engine->Apply(Command{++ref, now, b}); };
    apply(CreateMarket{0, BenchParams(false)});
    apply(CreateMarket{1, BenchParams(false)});
    apply(CreateAccount{1, Role::kSequencer});
    apply(Deposit{1, 1'000'000'000'000});
    for (int i = 0; i < kTreeProvers; ++i) {
      apply(CreateAccount{100 + i, Role::kProver});
      apply(Deposit{100 + i, 1'000'000});
      apply(Stake{100 + i, 1'000'000});
      apply(PlaceOffer{100 + i, 0, 10 + i % 7, 100, 64, 0});
      apply(PlaceOffer{100 + i, 1, 5 + i % 5, 100, 64, 0});
    }
    PlaceTree tree;
    tree.account = 1;
    tree.leaf_market = 0;
    tree.merge_market = 1;
    tree.leaves = leaves;
    tree.leaf_price = 100;
    tree.merge_price = 50;
    tree.deadline = now + 3'600'000;
    std::vector<std::pair<AssignmentId, AccountId>> work;
    bool done = false;
    auto collect = [&](std::span<const Event> ev) {
      for (const Event& e : ev) {
        if (e.kind == EventKind::kAssigned || e.kind == EventKind::kReassigned) {
          work.push_back({e.assignment, e.account});
        }
        done |= e.kind == EventKind::kTreeCompleted;
      }
    };
    state.ResumeTiming();
    collect(apply(tree));
    int64_t n = 1;
    for (size_t i = 0; i < work.size(); ++i) {
      auto [a, prover] = work[i];
      apply(ProofDelivered{prover, a, 10});
      collect(apply(ProofVerified{a}));
      n += 2;
    }
    state.PauseTiming();
    if (!done) {
      state.SkipWithError("the tree did not complete");
      return;
    }
    commands += n;
    engine.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());  // trees
  state.counters["commands"] =
      benchmark::Counter(static_cast<double>(commands) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_ProofTree)->Arg(16)->Arg(4096)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace proofbook::matching
