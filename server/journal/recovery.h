// Recovery: reads back what the journal (server/journal/journal.h) wrote, as the engine's restore
// API wants it (matching/README.md "Restore API"), plus what the server needs beside the engine.
//
// Loaded: every account (the treasury, id 0, included), every market (by idx), every order
// that is open or has an assignment still pending (assigned | delivered | late |
// late_delivered) with ALL its assignments, every open offer, engine_state's ids, and the
// proofs stored but not journaled as delivered. Each list
// sorted by id, so Engine::Restore(snapshot) takes it as is.
//
// A stateless function; it blocks on PostgreSQL and never throws (pqxx exceptions become
// kUnavailable for a lost connection, kInternal otherwise, e.g. a name the engine does not
// know). It reads in one REPEATABLE READ READ ONLY transaction, so it sees one committed state
// even if a writer were running; the idempotency keys come over a second connection whose
// transaction imports that one's snapshot (the same state), read meanwhile. The big reads are
// streamed (binary COPY, server/db/rows.h CopyRows).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "matching/command.h"
#include "matching/state.h"
#include "matching/status.h"
#include "server/base/crypto.h"
#include "server/db/session.h"

namespace proofbook::server {

struct RecoveredState {
  matching::Snapshot snapshot;  // ready for Engine::Restore(snapshot)
  uint64_t next_seq = 1;        // engine_state.last_seq + 1: the seq of the next event
  // at_ms of the last committed event (0: none). A live engine commits a miss ~10 ms after its
  // due time, so a due time after this that has passed fell while nothing ran: the first Tick
  // hands that time back (matching::Tick::outage_since).
  matching::Timestamp last_event_at = 0;
  // Every order ever placed with a client_order_id, for idempotent POST /v1/orders replays.
  // Sorted by order id; (account, client_id) is unique (the orders table's constraint).
  struct ClientOrder {
    matching::AccountId account = 0;
    std::string client_id;
    matching::OrderId order = 0;
    // SHA-256 of its request, to refuse a key reused with other parameters; none for an order
    // placed before migration 0008 recorded it.
    std::optional<Sha256Digest> request_sha256;
    bool operator==(const ClientOrder&) const = default;
  };
  std::vector<ClientOrder> client_orders;
  // Every deposit reference ever used: (reference, account, amount).
  std::vector<std::tuple<std::string, matching::AccountId, matching::Amount>> deposit_references;
  // Proofs stored (table proofs) whose delivery the journal does not have: their assignment is
  // still assigned or late. The server crashed (or its engine failed) between storing the
  // bytes and journaling the delivery. The runner delivers them before its first Tick, judged
  // at their receipt time, so the prover is not slashed for our crash. Sorted by assignment.
  std::vector<matching::ProofDelivered> stored_proofs;
};

Result<RecoveredState> LoadState(DbSession& session);

}  // namespace proofbook::server
