// JournalBatch: what one PostgreSQL transaction of the journal writes — the events of a run of
// commands, in apply order, plus the latest image of every engine record they touched — and
// AppendToBatch(), which the engine thread calls after each Apply to fill it.
//
// Thread rules: a JournalBatch is a plain value owned by one thread at a time. The engine
// thread fills it (AppendToBatch reads the engine, so it must run on the engine thread, right
// after the Apply whose events it is given), then hands it to the journal thread, which only
// reads it; Clear() it before reuse. Clear() keeps capacity, so a reused batch does not
// allocate in steady state (the extras' strings aside).
//
// Invariants after AppendToBatch:
//  - events[i] has seq first_seq + i (the caller sets first_seq while the batch is empty);
//  - accounts/markets/orders/offers/assignments hold at most one image per id, the one read
//    after the last command that touched it (last wins);
//  - a record the engine forgot during a command (a closed order with nothing pending, and
//    its assignments) cannot be read any more: it is described by closed_orders /
//    closed_assignments instead, which say what that command changed. An order may have both
//    an image (from an earlier command of the batch) and a closed entry; the journal applies
//    the image first, then the closed entry;
//  - offers removed by the engine (kOfferCancelled / kOfferExpired) have no closed entry: the
//    journal takes their status from those events.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "matching/engine.h"
#include "matching/event.h"
#include "matching/flat_id_map.h"
#include "matching/state.h"
#include "matching/status.h"
#include "server/base/crypto.h"

namespace proofbook::server {

// Server-side fields of a newly placed order, which the engine does not hold.
struct OrderExtra {
  matching::OrderId id = 0;
  std::string client_order_id;  // empty: none
  std::string inputs_json;      // valid JSON text; empty: none
  // SHA-256 of the request's parameters, to tell a replay of client_order_id from a reuse of
  // it with other parameters; none when the order has no client_order_id.
  std::optional<Sha256Digest> request_sha256;
};

// A deposit made with an idempotency reference: `event` indexes its kAccepted event in the
// batch's events (so its seq is first_seq + event).
struct DepositExtra {
  std::string reference;
  matching::AccountId account = 0;
  matching::Amount amount = 0;
  std::size_t event = 0;
};

// A new account's row fields the engine does not hold, for an accepted CreateAccount: the
// journal inserts the account and its first API key in the transaction that holds the
// acceptance, never before (so no row exists that the engine never saw).
struct AccountExtra {
  matching::AccountId id = 0;
  std::string name;
  std::array<uint8_t, 32> key_hash{};  // SHA-256 of the account's first API key
};

// A new market's row fields the engine does not hold, for an accepted CreateMarket (written
// like AccountExtra). Its params are the engine's, from the batch's market image.
struct MarketExtra {
  matching::MarketId idx = 0;
  std::string slug;
  std::string proof_system;
  std::string verifier;
  std::string verification_key;  // JSON text; empty: none
};

// An order the engine forgot in the command that last touched it (closed, nothing pending).
// Its escrow_left and needed are then 0.
struct ClosedOrder {
  matching::OrderId id = 0;
  bool has_status = false;  // the command closed it (else it was closed earlier)
  matching::OrderStatus status = matching::OrderStatus::kOpen;
  matching::Reason failure = matching::Reason::kNone;  // status kFailed: why
  int32_t settled = 0;           // kSettled events for it in that command: verified += settled
  bool exclusive_ended = false;  // kExclusiveEnded in that command
};

// An assignment forgotten with its order; `status` is its last state in that command.
struct ClosedAssignment {
  matching::AssignmentId id = 0;
  matching::AssignmentStatus status = matching::AssignmentStatus::kAssigned;
};

// One ECVRF draw a vrf order's matching consumed (server/core/vrf_keyring.h made it during
// the batch's commands): the row of vrf_draws written with the events that used it.
struct VrfDrawRecord {
  matching::OrderId order = 0;
  uint32_t attempt = 0;
  matching::MarketId market = 0;
  int64_t key_id = 0;
  int64_t epoch = 0;
  std::vector<uint8_t> alpha;
  std::array<uint8_t, 80> pi{};
  std::array<uint8_t, 64> beta{};
};

struct JournalBatch {
  uint64_t first_seq = 0;  // seq of events[0]
  // The fencing epoch (server/journal/writer_lease.h) of the engine incarnation that produced the
  // batch: it commits only while engine_state.writer_epoch is still this.
  uint64_t writer_epoch = 0;
  std::vector<matching::Event> events;           // in apply order
  std::vector<matching::AccountState> accounts;  // latest image per touched id
  std::vector<matching::MarketState> markets;    // created in this batch
  std::vector<matching::OrderState> orders;
  std::vector<matching::OfferState> offers;
  std::vector<matching::AssignmentState> assignments;
  std::vector<OrderExtra> order_extras;  // for orders placed in this batch
  // Trees placed in this batch, as placed (nodes left empty: tree_nodes rows come from the
  // kTreeNodePlaced / kTreeNodeProven events). A tree's node orders get an OrderExtra each
  // (no client id, no inputs) from AppendToBatch.
  std::vector<matching::TreeState> new_trees;
  std::vector<DepositExtra> deposit_extras;  // deposits with a reference, in this batch
  std::vector<AccountExtra> account_extras;  // one per CreateAccount accepted in this batch
  std::vector<MarketExtra> market_extras;    // one per CreateMarket accepted in this batch
  std::vector<ClosedOrder> closed_orders;
  std::vector<ClosedAssignment> closed_assignments;
  std::vector<VrfDrawRecord> draws;  // in draw order
  matching::EngineIds ids;           // after the batch

  bool empty() const { return events.empty(); }
  // seq of the last event; first_seq - 1 when empty.
  uint64_t last_seq() const { return first_seq + events.size() - 1; }
  void Clear();  // keeps capacity

  // Scratch for AppendToBatch; not part of the batch's meaning.
  struct Touch {
    int64_t id = 0;
    uint32_t pos = 0;    // index of the event within the command, to keep "last" last
    int8_t status = -1;  // order / assignment status the event implies; -1: none
    matching::Reason failure = matching::Reason::kNone;  // kOrderFailed's reason
    bool transfer = false;  // a kTransfer event: money moved, the record's state did not
    bool settled = false;
    bool exclusive_ended = false;
    bool operator<(const Touch& o) const { return id != o.id ? id < o.id : pos < o.pos; }
  };
  struct Scratch {
    matching::FlatIdMap account_pos, order_pos, offer_pos, assignment_pos;  // id -> index
    std::vector<int64_t> accounts, markets, offers;
    std::vector<Touch> orders, assignments;
  };
  Scratch scratch;
};

// Appends one command's events (the span Engine::Apply returned, before the next Apply) and
// the images of every record they touched, read from `engine`; sets batch->ids. Fails
// (kInternal) only if the engine and its events disagree, e.g. an account an event names does
// not exist: a bug, after which the batch must not be written.
Status AppendToBatch(const matching::Engine& engine, std::span<const matching::Event> events,
                     JournalBatch* batch);

}  // namespace proofbook::server
