// Property test: random command streams over many seeds, applied to Engine and to the slow
// ReferenceEngine, must give identical events; after every command the engine's invariants
// hold (ledger == deposits - withdrawals, capacity never exceeded, no prover twice on an
// order). Seeds: PROOFBOOK_PROPERTY_SEEDS (default 2000), steps per seed 150.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "matching/engine.h"
#include "matching/random_commands.h"
#include "matching/reference_engine.h"

namespace proofbook::matching {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

std::string Dump(std::span<const Event> events) {
  std::string s;
  for (const Event& e : events) s += "    " + EventToString(e) + "\n";
  return s;
}

// Runs one seed; returns "" or a description of the first divergence.
std::string RunSeed(uint64_t seed, int steps, RandomCommands::Shape shape) {
  Engine engine(EngineOptions{.accounts = 16, .orders = 16, .offers = 16, .assignments = 16});
  ReferenceEngine reference;
  RandomCommands gen(seed, shape);
  for (int step = 0; step < steps; ++step) {
    Command c = gen.Next();
    auto got = engine.Apply(c);
    std::vector<Event> want = reference.Apply(c);
    std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step) + " (" +
                        std::string(CommandKindName(c.kind())) + ")";
    if (!std::equal(got.begin(), got.end(), want.begin(), want.end())) {
      return where + ": events differ\n  engine:\n" + Dump(got) + "  reference:\n" + Dump(want);
    }
    Status st = engine.CheckConsistency();
    if (!st.ok()) return where + ": " + st.ToString();
    if (reference.TotalBalances() != reference.external_net()) {
      return where + ": reference ledger broken";
    }
    gen.Observe(got);
  }
  return "";
}

TEST(EnginePropertyTest, MatchesReferenceAndKeepsInvariantsOnRandomStreams) {
  int seeds = EnvInt("PROOFBOOK_PROPERTY_SEEDS", 2000);
  int steps = EnvInt("PROOFBOOK_PROPERTY_STEPS", 150);
  for (int seed = 1; seed <= seeds; ++seed) {
    RandomCommands::Shape shape;
    shape.markets = 1 + seed % 4;  // 1..4 markets per stream
    shape.provers = 3 + seed % 5;
    std::string failure = RunSeed(static_cast<uint64_t>(seed), steps, shape);
    ASSERT_EQ(failure, "");
  }
}

TEST(EnginePropertyTest, MatchesReferenceOnLongStreams) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::string failure = RunSeed(1'000'000 + seed, 1500, RandomCommands::Shape{});
    ASSERT_EQ(failure, "");
  }
}

}  // namespace
}  // namespace proofbook::matching
