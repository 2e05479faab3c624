// RandomCommands: a seeded generator of plausible command streams, for property tests and
// benchmarks. Test-only.
//
// It sets up a few markets, sequencers and provers, then mixes orders, offers, cancels,
// deliveries, verifier verdicts, ticks and money commands, with time moving forward. It learns
// the ids the engine hands out from the events fed back through Observe(), so most commands
// hit live objects, and a few deliberately do not (unknown ids, wrong owner, bad input) to
// exercise rejections. Deterministic for a given seed. Not thread-safe.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "matching/command.h"
#include "matching/event.h"

namespace proofbook::matching {

class RandomCommands {
 public:
  struct Shape {
    int markets = 3;
    int sequencers = 3;
    int provers = 6;
    int max_redundancy = 3;
  };

  RandomCommands(uint64_t seed, Shape shape) : rng_(seed), shape_(shape) { BuildSetup(); }

  Command Next() {
    Command c;
    c.ref = ++ref_;
    if (setup_pos_ < setup_.size()) {
      c.now = now_;
      c.body = setup_[setup_pos_++];
      return c;
    }
    now_ += Uniform(0, 4) == 0 ? Uniform(0, 2000) : Uniform(0, 200);
    c.now = now_;
    c.body = RandomBody();
    return c;
  }

  // Feed back the events of the last command so later commands can use the new ids.
  void Observe(std::span<const Event> events) {
    for (const Event& e : events) {
      if (e.kind == EventKind::kAccepted && e.command == CommandKind::kPlaceOrder) {
        Remember(orders_, {e.order, e.account});
      } else if (e.kind == EventKind::kAccepted && e.command == CommandKind::kPlaceOffer) {
        Remember(offers_, {e.offer, e.account});
      } else if (e.kind == EventKind::kAssigned || e.kind == EventKind::kReassigned) {
        Remember(assignments_, {e.assignment, e.account});
      } else if (e.kind == EventKind::kProofDelivered) {
        Remember(delivered_, {e.assignment, e.account});
      }
    }
  }

  Timestamp now() const { return now_; }

 private:
  struct Known {
    int64_t id;
    AccountId owner;
  };

  int64_t Uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Chance(int percent) { return Uniform(0, 99) < percent; }

  static void Remember(std::vector<Known>& v, Known k) {
    constexpr size_t kWindow = 24;  // recent objects are the interesting ones
    if (v.size() == kWindow) v.erase(v.begin());
    v.push_back(k);
  }

  AccountId Sequencer() { return 100 + Uniform(0, shape_.sequencers - 1); }
  AccountId Prover() { return 200 + Uniform(0, shape_.provers - 1); }
  MarketId AnyMarket() {
    return static_cast<MarketId>(Chance(2) ? 99 : Uniform(0, shape_.markets - 1));
  }

  void BuildSetup() {
    for (int m = 0; m < shape_.markets; ++m) {
      MarketParams p;
      p.min_stake = Uniform(0, 4) * 1000;
      p.min_slash = Uniform(0, 3) * 100;
      p.slash_multiplier_bps = static_cast<int32_t>(Uniform(0, 40000));
      p.repeat_window_ms = Chance(50) ? 0 : Uniform(1, 2000);
      p.compensation_bps = static_cast<int32_t>(Uniform(0, 10000));
      p.fee_bps = static_cast<int32_t>(Uniform(0, 500));
      p.min_prover_time_ms = Uniform(0, 300);
      p.grace_bps = static_cast<int32_t>(Uniform(0, 10000));
      p.uncle_reward_bps = static_cast<int32_t>(Uniform(0, 5000));
      p.max_proof_bytes = 1000;
      p.decline_window_ms = Uniform(0, 1500);
      p.unprovable_quorum = static_cast<int32_t>(Uniform(1, 3));
      p.unprovable_fee_bps = static_cast<int32_t>(Uniform(0, 5000));
      p.griefing_bps = static_cast<int32_t>(Uniform(0, 10000));
      p.reputation_weight_bps = Chance(50) ? 0 : static_cast<int32_t>(Uniform(1, 10000));
      p.vrf_turns = Chance(30);
      setup_.push_back(CreateMarket{static_cast<MarketId>(m), p});
    }
    for (int s = 0; s < shape_.sequencers; ++s) {
      setup_.push_back(CreateAccount{100 + s, Role::kSequencer});
      setup_.push_back(Deposit{100 + s, Uniform(500, 20000)});
    }
    for (int p = 0; p < shape_.provers; ++p) {
      setup_.push_back(CreateAccount{200 + p, Role::kProver});
      setup_.push_back(Deposit{200 + p, 10000});
      setup_.push_back(Stake{200 + p, Uniform(0, 10000)});
    }
  }

  template <typename V>
  const Known* Pick(const V& v) {
    if (v.empty()) return nullptr;
    return &v[static_cast<size_t>(Uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }

  CommandBody RandomBody() {
    int64_t roll = Uniform(0, 99);
    if (roll < 20) {
      PlaceOffer o;
      o.account = Chance(3) ? Sequencer() : Prover();
      o.market = AnyMarket();
      // Coarse prices and times, so offers share levels and ties are broken by
      // reputation and arrival.
      o.price = Chance(2) ? 0 : 10 * Uniform(1, 12);
      static constexpr int64_t kEst[] = {0, 100, 400, 1000, 2500};
      o.est_ms = kEst[Uniform(0, 4)];
      o.capacity = static_cast<int32_t>(Uniform(1, 3));
      o.expires_at = Chance(30) ? now_ + Uniform(1, 5000) : 0;
      return o;
    }
    if (roll < 42) {
      PlaceOrder o;
      o.account = Chance(3) ? Prover() : Sequencer();
      o.market = AnyMarket();
      o.max_price = 10 * Uniform(1, 15);
      o.deadline = now_ + Uniform(50, 8000);
      o.priority = Chance(50) ? Priority::kPrice : Priority::kTime;
      static constexpr int32_t kReps[] = {0, 0, 0, 4000, 4600, 5000, 5100};
      o.min_reputation = kReps[Uniform(0, 6)];
      o.redundancy = static_cast<int32_t>(Uniform(1, shape_.max_redundancy));
      int64_t sel = Uniform(0, 99);
      if (sel < 15) {
        o.selection = Selection::kDirect;
        o.direct_prover = Prover();
        o.exclusive_ms = Uniform(1, 2000);
      } else if (sel < 30) {
        o.selection = Selection::kVrf;
      }
      return o;
    }
    if (roll < 47) {
      const Known* k = Pick(orders_);
      if (!k) return Tick{};
      return CancelOrder{Chance(90) ? k->owner : Sequencer(), k->id};
    }
    if (roll < 52) {
      const Known* k = Pick(offers_);
      if (!k) return Tick{};
      return CancelOffer{Chance(90) ? k->owner : Prover(), k->id};
    }
    if (roll < 67) {
      // Mostly the newest assignments, which are still due.
      const Known* k = Chance(70) && assignments_.size() > 4
                           ? &assignments_[assignments_.size() - 1 - Uniform(0, 3)]
                           : Pick(assignments_);
      if (!k) return Tick{};
      return ProofDelivered{Chance(95) ? k->owner : Prover(), k->id,
                            Chance(3) ? 5000 : Uniform(1, 1000)};
    }
    if (roll < 77) {
      const Known* k = Chance(85) ? Pick(delivered_) : Pick(assignments_);
      if (!k) return Tick{};
      return ProofVerified{k->id};
    }
    if (roll < 81) {
      const Known* k = Chance(85) ? Pick(delivered_) : Pick(assignments_);
      if (!k) return Tick{};
      return ProofRejected{k->id};
    }
    if (roll < 84) {
      const Known* k = Chance(85) ? Pick(delivered_) : Pick(assignments_);
      if (!k) return Tick{};
      if (Chance(50)) return InputsRejected{k->id};
      return VerificationFailed{k->id};
    }
    if (roll < 88) {
      const Known* k = Chance(70) && assignments_.size() > 4
                           ? &assignments_[assignments_.size() - 1 - Uniform(0, 3)]
                           : Pick(assignments_);
      if (!k) return Tick{};
      static constexpr Reason kWhy[] = {Reason::kBusy, Reason::kUnprovable, Reason::kUnprovable,
                                        Reason::kNone};
      return DeclineAssignment{Chance(95) ? k->owner : Prover(), k->id,
                               kWhy[Chance(95) ? Uniform(0, 2) : 3]};
    }
    if (roll < 92) {
      // Now and then the first tick after an outage (a restart), which hands time back.
      if (Chance(5)) return Tick{.outage_since = std::max<Timestamp>(1, now_ - Uniform(1, 3000))};
      return Tick{};
    }
    int64_t money = Uniform(0, 3);
    AccountId who = Chance(50) ? Prover() : Sequencer();
    Amount amount = Uniform(1, 3000);
    if (money == 0) return Deposit{who, amount};
    if (money == 1) return Withdraw{who, amount};
    if (money == 2) return Stake{who, amount};
    return Unstake{who, amount};
  }

  std::mt19937_64 rng_;
  Shape shape_;
  std::vector<CommandBody> setup_;
  size_t setup_pos_ = 0;
  uint64_t ref_ = 0;
  Timestamp now_ = 1'000'000;
  std::vector<Known> orders_;
  std::vector<Known> offers_;
  std::vector<Known> assignments_;
  std::vector<Known> delivered_;
};

}  // namespace proofbook::matching
