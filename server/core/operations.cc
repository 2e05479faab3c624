#include "server/core/operations.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "server/base/log.h"
#include "server/core/api_keys.h"
#include "server/db/accounts.h"
#include "server/db/markets.h"

namespace proofbook::server {

using matching::Engine;
using matching::Event;
using matching::EventKind;

namespace {

const Status kEngineOverloaded(StatusCode::kOverloaded,
                               "the engine's inbox is full or it is recovering; retry");
const Status kNoOutcome(StatusCode::kInternal, "the engine produced no outcome");

}  // namespace

namespace {

// Why a command's events say it was not applied (no events, or a rejection first); ok if it was.
Status Refusal(std::span<const Event> events) {
  if (events.empty()) return kNoOutcome;
  if (events.front().kind == EventKind::kRejected) return WireRejection(events.front());
  return Status::Ok();
}

}  // namespace

Status WireRejection(const Event& rejected) {
  Status s = matching::RejectionStatus(rejected);
  static constexpr std::pair<std::string_view, std::string_view> kWireNames[] = {
      {"deadline", "deadline_ms"}, {"direct_prover", "prover"}, {"expires_at", "expires_ms"}};
  for (auto [engine_name, wire_name] : kWireNames) {
    if (s.field() == engine_name) {
      return Status(s.code(), s.message(), std::string(wire_name))
          .WithReason(std::string(s.wire_code()));
    }
  }
  return s;
}

Operations::Operations(Options options, EngineRunner& runner, Database& db, Authenticator& auth,
                       MarketDirectory& markets, VrfKeyring& vrf)
    : options_(options), runner_(runner), db_(db), auth_(auth), markets_(markets), vrf_(vrf) {}

template <typename T>
void Operations::Submit(std::unique_ptr<Submission> s, Build<T> build, Done<T> done) {
  // The result is read on the engine thread and handed on after COMMIT; the slot is shared so
  // a refused submission (dropped by the runner) can still answer.
  struct Slot {
    std::optional<Result<T>> result;
    Done<T> done;
  };
  auto slot = std::make_shared<Slot>(Slot{std::nullopt, std::move(done)});
  s->reply = [slot, build = std::move(build)](const Engine& engine, std::span<const Event> events,
                                              matching::OrderId duplicate_of) {
    slot->result.emplace(build(engine, events, duplicate_of));
  };
  s->committed = [slot](const Status& status) {
    if (!status.ok()) return slot->done(status);
    if (!slot->result) return slot->done(kNoOutcome);
    slot->done(std::move(*slot->result));
  };
  if (!runner_.Submit(std::move(s))) slot->done(kEngineOverloaded);
}

template <typename T>
void Operations::SubmitCommand(matching::CommandBody body,
                               std::function<T(const Engine&, std::span<const Event>)> ok,
                               Done<T> done, CreatedRow created) {
  auto s = std::make_unique<Submission>();
  s->command.body = body;
  s->created = std::move(created);
  Submit<T>(
      std::move(s),
      [ok = std::move(ok)](const Engine& engine, std::span<const Event> events,
                           matching::OrderId) -> Result<T> {
        if (Status refused = Refusal(events); !refused.ok()) return refused;
        return ok(engine, events);
      },
      std::move(done));
}

void Operations::PlaceOrder(matching::AccountId sequencer, PlaceOrderRequest request,
                            Done<PlacedOrder> done) {
  auto s = std::make_unique<Submission>();
  request.order.account = sequencer;
  s->command.body = request.order;
  s->extra = OrderExtra{0, request.client_order_id, std::move(request.inputs),
                        std::move(request.request_sha256)};
  Submit<PlacedOrder>(
      std::move(s),
      [&markets = markets_, client_id = request.client_order_id](
          const Engine& engine, std::span<const Event> events,
          matching::OrderId duplicate_of) -> Result<PlacedOrder> {
        PlacedOrder out;
        if (duplicate_of != 0) {
          out.id = duplicate_of;
          out.replayed = true;
        } else {
          if (Status refused = Refusal(events); !refused.ok()) return refused;
          out.id = events.front().order;
        }
        out.client_order_id = client_id;
        out.order = engine.GetOrder(out.id);
        if (out.order) {
          out.market = markets.Slug(out.order->market);
          out.assignments = engine.GetOrderAssignments(out.id);
        }
        return out;
      },
      std::move(done));
}

void Operations::PlaceTree(matching::AccountId sequencer, PlaceTreeRequest request,
                           Done<PlacedTree> done) {
  auto s = std::make_unique<Submission>();
  request.tree.account = sequencer;
  s->command.body = request.tree;
  s->leaf_inputs = std::move(request.leaf_inputs);
  Submit<PlacedTree>(
      std::move(s),
      [leaf = request.leaf_market, merge = request.merge_market](
          const Engine& engine, std::span<const Event> events,
          matching::OrderId) -> Result<PlacedTree> {
        if (Status refused = Refusal(events); !refused.ok()) return refused;
        PlacedTree out;
        auto tree = engine.GetTree(events.front().tree);
        if (!tree) return kNoOutcome;
        out.tree = std::move(*tree);
        out.leaf_market = leaf;
        out.merge_market = merge;
        for (const Event& e : events) {
          if (e.kind == EventKind::kTransfer && e.tree != 0) out.escrow += e.amount;
          if (e.kind == EventKind::kAssigned) {
            if (auto a = engine.GetAssignment(e.assignment)) out.assignments.push_back(*a);
          }
        }
        return out;
      },
      std::move(done));
}

void Operations::CancelOrder(matching::AccountId sequencer, matching::OrderId order,
                             Done<matching::OrderId> done) {
  SubmitCommand<matching::OrderId>(
      matching::CancelOrder{sequencer, order},
      [order](const Engine&, std::span<const Event>) { return order; }, std::move(done));
}

void Operations::PlaceOffer(matching::AccountId prover, PlaceOfferRequest request,
                            Done<PlacedOffer> done) {
  request.offer.account = prover;
  SubmitCommand<PlacedOffer>(
      request.offer,
      [market = request.market](const Engine& engine, std::span<const Event> events) {
        PlacedOffer out;
        out.id = events.front().offer;
        out.market = market;
        out.offer = engine.GetOffer(out.id);
        for (const auto& e : events) {
          if (e.kind == EventKind::kAssigned && e.offer == out.id) {
            out.assigned.push_back(NewAssignment{e.assignment, e.order, e.amount, e.value});
          }
        }
        return out;
      },
      std::move(done));
}

void Operations::CancelOffer(matching::AccountId prover, matching::OfferId offer,
                             Done<matching::OfferId> done) {
  SubmitCommand<matching::OfferId>(
      matching::CancelOffer{prover, offer},
      [offer](const Engine&, std::span<const Event>) { return offer; }, std::move(done));
}

void Operations::CancelOffersOf(matching::AccountId prover) {
  db_.Run(
      "cancelling the offers of an offline prover",
      [this, prover](DbSession& session) {
        std::vector<int64_t> offers = OpenOfferIds(session, prover);
        spdlog::info("msg=prover_offline prover={} offers_cancelled={}", prover, offers.size());
        for (int64_t offer : offers) CancelOffer(prover, offer, [](Result<matching::OfferId>) {});
      },
      [prover](const Status& why) {
        // The database is away or busy: the offers stay.
        spdlog::warn("msg=prover_offline_cancel_skipped prover={} why={}", prover, why.message());
      });
}

void Operations::MoveMoney(MoneyMove move, matching::AccountId account, matching::Amount amount,
                           Done<matching::AccountState> done) {
  matching::CommandBody body;
  switch (move) {
    case MoneyMove::kWithdraw:
      body = matching::Withdraw{account, amount};
      break;
    case MoneyMove::kStake:
      body = matching::Stake{account, amount};
      break;
    case MoneyMove::kUnstake:
      body = matching::Unstake{account, amount};
      break;
  }
  SubmitCommand<matching::AccountState>(
      body,
      [account](const Engine& engine, std::span<const Event>) {
        return *engine.GetAccount(account);
      },
      std::move(done));
}

void Operations::Deposit(matching::AccountId account, DepositRequest request,
                         Done<Deposited> done) {
  auto s = std::make_unique<Submission>();
  s->command.body = matching::Deposit{account, request.amount};
  s->deposit_reference = std::move(request.reference);
  Submit<Deposited>(
      std::move(s),
      [account](const Engine& engine, std::span<const Event> events,
                matching::OrderId duplicate) -> Result<Deposited> {
        if (duplicate == 0 && !events.empty() && events.front().kind == EventKind::kRejected) {
          return WireRejection(events.front());
        }
        auto image = engine.GetAccount(account);
        if (!image) return Status(StatusCode::kNotFound, "no such account");
        return Deposited{*image, duplicate != 0};
      },
      std::move(done));
}

namespace {

// Runs `work` on a database worker; `work` answers through the Done it is handed (exactly once,
// once it cannot throw any more; or it moves the Done on, to be answered later), and a database
// that cannot run it (unreachable, too busy, or `work` threw before answering) answers with why.
template <typename T>
void RunThenAnswer(Database& db, const char* what, Done<T> done,
                   std::function<void(DbSession&, Done<T>&)> work) {
  auto shared = std::make_shared<Done<T>>(std::move(done));
  db.Run(
      what, [shared, work = std::move(work)](DbSession& session) { work(session, *shared); },
      [shared](const Status& why) {
        if (*shared) (*shared)(why);  // not moved on by `work`
      });
}

}  // namespace

void Operations::CreateAccount(CreateAccountRequest request, Done<CreatedAccount> done) {
  RunThenAnswer<CreatedAccount>(
      db_, "creating the account", std::move(done),
      [this, request](DbSession& session, Done<CreatedAccount>& answer) {
        const matching::AccountId id = NextAccountId(session);
        std::string key = GenerateApiKey();
        const Sha256Digest digest = Sha256(key);
        // Answered after COMMIT; the key opens something from then on.
        Done<CreatedAccount> committed =
            [this, id, role = request.role, digest,
             answer = std::exchange(answer, nullptr)](Result<CreatedAccount> created) {
              if (created) auth_.Add(digest, Principal{id, role});
              answer(std::move(created));
            };
        SubmitCommand<CreatedAccount>(
            matching::CreateAccount{id, request.role},
            [id, name = request.name, key](const Engine& engine, std::span<const Event>) {
              return CreatedAccount{*engine.GetAccount(id), name, key};
            },
            std::move(committed), AccountExtra{id, request.name, digest});
      });
}

void Operations::CreateApiKey(matching::AccountId account, Done<NewApiKey> done) {
  RunThenAnswer<NewApiKey>(db_, "creating the API key", std::move(done),
                           [this, account](DbSession& session, Done<NewApiKey>& answer) {
                             Result<NewApiKey> created = server::CreateApiKey(session, account);
                             if (created) {
                               auto role = ParseRole(created->row.role);
                               if (role)
                                 auth_.Add(Sha256(created->api_key), Principal{account, *role});
                               spdlog::info("msg=api_key_created key_id={} account={}",
                                            created->row.id, account);
                             }
                             answer(std::move(created));
                           });
}

void Operations::RevokeApiKey(int64_t key_id, Done<ApiKeyRow> done) {
  RunThenAnswer<ApiKeyRow>(db_, "revoking the API key", std::move(done),
                           [this, key_id](DbSession& session, Done<ApiKeyRow>& answer) {
                             Result<RevokedKey> revoked = server::RevokeApiKey(session, key_id);
                             if (!revoked) return answer(revoked.error());
                             // Committed: from here on the key opens nothing, here or on an open
                             // WebSocket.
                             if (auth_.Remove(revoked->digest)) {
                               spdlog::info("msg=api_key_revoked key_id={} account={}", key_id,
                                            revoked->row.account);
                             }
                             if (options_.on_key_revoked) options_.on_key_revoked(revoked->digest);
                             answer(std::move(revoked->row));
                           });
}

void Operations::CreateMarket(CreateMarketRequest request, Done<CreateMarketRequest> done) {
  if (!markets_.Reserve(request.slug)) {
    return done(Status(StatusCode::kConflict, "market " + request.slug + " already exists", "id"));
  }
  // Reserved from here until the market is committed (Add) or not (Release).
  auto release_on_failure = [this, slug = request.slug,
                             done = std::move(done)](Result<CreateMarketRequest> r) {
    if (!r) markets_.Release(slug);
    done(std::move(r));
  };
  RunThenAnswer<CreateMarketRequest>(
      db_, "creating the market", std::move(release_on_failure),
      [this, request](DbSession& session, Done<CreateMarketRequest>& answer) {
        Result<matching::MarketId> idx = NextMarketIdx(session, request.slug);
        if (!idx) return answer(idx.error());
        Done<CreateMarketRequest> committed = [this, idx = *idx,
                                               answer = std::exchange(answer, nullptr)](
                                                  Result<CreateMarketRequest> created) {
          if (!created) return answer(std::move(created));
          markets_.Add(
              created->slug, idx,
              InputCheckFor(created->verifier, VerificationKeyNPublic(created->verification_key)));
          if (!vrf_.enabled()) return answer(std::move(created));
          MakeVrfKey(idx, std::move(*created), answer);
        };
        SubmitCommand<CreateMarketRequest>(
            matching::CreateMarket{*idx, request.params},
            [request](const Engine&, std::span<const Event>) { return request; },
            std::move(committed),
            MarketExtra{*idx, request.slug, request.proof_system, request.verifier,
                        request.verification_key});
      });
}

void Operations::MakeVrfKey(matching::MarketId idx, CreateMarketRequest market,
                            Done<CreateMarketRequest> done) {
  // The market is committed: a key that cannot be made now is logged, and the market refuses
  // vrf orders until an admin rotates its key.
  auto failed = [slug = market.slug](std::string_view why) {
    spdlog::error("msg=vrf_key_failed market={} error={}", slug, LogValue(why));
  };
  auto shared = std::make_shared<std::pair<CreateMarketRequest, Done<CreateMarketRequest>>>(
      std::move(market), std::move(done));
  db_.Run(
      "creating a market's VRF key",
      [this, idx, shared, failed](DbSession& session) {
        try {
          if (auto key = vrf_.CreateKey(session, idx); !key) failed(key.error().ToString());
        } catch (const std::exception& e) {
          failed(e.what());
        }
        shared->second(std::move(shared->first));
      },
      [shared, failed](const Status& why) {
        failed(why.ToString());
        shared->second(std::move(shared->first));
      });
}

void Operations::RotateVrfKey(const std::string& market, Done<VrfKeyring::KeyInfo> done) {
  auto idx = markets_.Find(market);
  if (!idx) return done(Status(StatusCode::kNotFound, "no market " + market, "id"));
  RunThenAnswer<VrfKeyring::KeyInfo>(
      db_, "rotating a VRF key", std::move(done),
      [this, idx = *idx](DbSession& session, Done<VrfKeyring::KeyInfo>& answer) {
        answer(vrf_.CreateKey(session, idx));
      });
}

void Operations::SetVrfBeacon(int64_t epoch, std::vector<uint8_t> value, Done<Ack> done) {
  RunThenAnswer<Ack>(
      db_, "setting a VRF beacon", std::move(done),
      [this, epoch, value = std::move(value)](DbSession& session, Done<Ack>& answer) {
        Status s = vrf_.SetBeacon(session, epoch, value, EngineRunner::WallClockMs());
        if (!s.ok()) return answer(s);
        answer(Ack{});
      });
}

void Operations::DeliverProof(matching::ProofDelivered delivery, Done<bool> done) {
  SubmitCommand<bool>(
      delivery,
      [](const Engine&, std::span<const Event> events) {
        bool late = false;
        for (const auto& e : events) {
          if (e.kind == EventKind::kProofDelivered) late = e.value != 0;
        }
        return late;
      },
      std::move(done));
}

void Operations::ApplyVerdict(int64_t assignment, VerdictKind verdict, Done<Ack> done) {
  matching::CommandBody body;
  switch (verdict) {
    case VerdictKind::kValid:
      body = matching::ProofVerified{assignment};
      break;
    case VerdictKind::kInvalidProof:
      body = matching::ProofRejected{assignment};
      break;
    case VerdictKind::kBadInputs:
      body = matching::InputsRejected{assignment};
      break;
    case VerdictKind::kNoVerdict:
      body = matching::VerificationFailed{assignment};
      break;
  }
  SubmitCommand<Ack>(
      body, [](const Engine&, std::span<const Event>) { return Ack{}; }, std::move(done));
}

void Operations::Decline(matching::AccountId prover, matching::AssignmentId assignment,
                         matching::Reason reason, Done<Declined> done) {
  if (reason == matching::Reason::kBusy && !busy_declines_.Allow(prover)) {
    return done(Status(
        StatusCode::kRateLimited,
        "too many busy declines; at most " + std::to_string(kBusyDeclinesPerMinute) + " a minute",
        "reason"));
  }
  SubmitCommand<Declined>(
      matching::DeclineAssignment{prover, assignment, reason},
      [assignment, reason](const Engine&, std::span<const Event> events) {
        Declined d{assignment, 0, reason,
                   reason == matching::Reason::kBusy
                       ? matching::AssignmentStatus::kDeclinedBusy
                       : matching::AssignmentStatus::kDeclinedUnprovable};
        for (const Event& e : events) {
          if (e.kind == EventKind::kDeclined) d.order = e.order;
        }
        return d;
      },
      std::move(done));
}

}  // namespace proofbook::server
