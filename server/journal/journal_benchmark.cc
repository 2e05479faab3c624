// journal_benchmark: what one durable order costs the journal, measured against a real PostgreSQL
// (DATABASE_URL, as for the integration tests; a fresh database per run). Each iteration
// writes one batch of `orders` PlaceOrder commands (accepted, escrow transfer, rested: three
// events, a ledger row, an order row) with Journal::WriteBatch, as the journal thread does
// under load. Building the batch is not timed.
//
// Counters: orders/s over the timed part, and pg_cpu_us/order, the PostgreSQL backend's own
// CPU time (utime + stime from /proc, so only when PostgreSQL runs on this machine; -1
// otherwise). The backend's CPU is the figure that bounds durable throughput
// (loadtest/REPORT.md): compare it between changes, not the wall time, which depends on fsync
// and on whatever else the machine is doing.
//
//   cmake --build --preset release --target journal_benchmark
//   DATABASE_URL=... build/release/server/journal/journal_benchmark
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <fstream>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>
#include <sstream>
#include <string>

#include "matching/engine.h"
#include "server/journal/journal.h"
#include "server/journal/journal_batch.h"
#include "tests/integration/test_database.h"

namespace {

using proofbook::server::AccountExtra;
using proofbook::server::AppendToBatch;
using proofbook::server::Journal;
using proofbook::server::JournalBatch;
using proofbook::server::MarketExtra;
using proofbook::server::OrderExtra;
namespace m = proofbook::matching;

constexpr m::AccountId kSequencer = 1;
constexpr m::Timestamp kStart = 1'700'000'000'000;

// utime + stime of a local process, in microseconds; -1 when unreadable.
double ProcessCpuUs(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return -1;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void Apply(m::Engine& engine, JournalBatch& batch, uint64_t& next_seq, const m::Command& c) {
  auto events = engine.Apply(c);
  if (batch.empty()) batch.first_seq = next_seq;
  if (!AppendToBatch(engine, events, &batch).ok()) std::abort();
  next_seq += events.size();
}

void BM_JournalOrders(benchmark::State& state) {
  const int per_batch = static_cast<int>(state.range(0));
  proofbook::testing::TestDatabase db;
  db.Migrate();
  pqxx::connection conn(db.url());
  const int backend = [&] {
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
  }();

  m::Engine engine;
  Journal journal;
  JournalBatch batch;
  uint64_t next_seq = 1;
  uint64_t ref = 1;
  m::Timestamp now = kStart;
  Apply(engine, batch, next_seq, m::Command{ref++, now, m::CreateAccount{kSequencer}});
  m::MarketParams params;
  params.max_proof_bytes = 1;
  Apply(engine, batch, next_seq, m::Command{ref++, now, m::CreateMarket{0, params}});
  // The rows the journal makes for them.
  batch.account_extras.push_back(AccountExtra{kSequencer, "bench", {}});
  batch.market_extras.push_back(MarketExtra{0, "bench", "sha256", "sha256-preimage", ""});
  Apply(engine, batch, next_seq, m::Command{ref++, now, m::Deposit{kSequencer, int64_t{1} << 60}});
  if (!journal.WriteBatch(*::proofbook::server::BorrowSession(conn), batch).ok()) {
    state.SkipWithError("set-up batch failed");
    return;
  }
  batch.Clear();

  int64_t orders = 0;
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < per_batch; ++i) {
      m::PlaceOrder p;
      p.account = kSequencer;
      p.market = 0;
      p.max_price = 1000;
      p.deadline = now + 60'000;
      m::Command c{ref++, ++now, p};
      Apply(engine, batch, next_seq, c);
      batch.order_extras.push_back(OrderExtra{engine.GetIds().next_order - 1,
                                              "bench-" + std::to_string(c.ref), "", std::nullopt});
    }
    double cpu0 = ProcessCpuUs(backend);
    state.ResumeTiming();
    proofbook::Status s = journal.WriteBatch(*::proofbook::server::BorrowSession(conn), batch);
    state.PauseTiming();
    double cpu1 = ProcessCpuUs(backend);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    cpu = cpu0 < 0 ? -1 : cpu + (cpu1 - cpu0);
    orders += per_batch;
    batch.Clear();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(orders);
  state.counters["pg_cpu_us/order"] =
      cpu < 0 || orders == 0 ? -1 : cpu / static_cast<double>(orders);
}
BENCHMARK(BM_JournalOrders)
    ->Arg(1)
    ->Arg(16)
    ->Arg(128)
    ->Arg(256)
    ->Arg(512)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(3)
    ->UseRealTime();

}  // namespace
