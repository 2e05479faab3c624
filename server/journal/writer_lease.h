// WriterLease: the right to write the engine's tables of one database, held by at most one
// server process at a time (issue #11: a second server on the same database used to
// acknowledge orders it never committed).
//
// Two parts, because either alone is not enough:
//  - the lease proper: a PostgreSQL session advisory lock (kLeaseKey) on a connection of its
//    own, kept open while the server runs. A second server cannot take it, so it exits or
//    waits as a standby (Config::standby) instead of serving. The lock goes with the session:
//    a crashed or partitioned holder loses it when PostgreSQL notices the session is gone.
//  - fencing: each Acquire() that succeeds bumps engine_state.writer_epoch (and records
//    last_seq as writer_epoch_seq). The journal commits a batch only while writer_epoch is still
//    the epoch its engine was built under, read under the engine_state row lock
//    (server/journal/journal.cc). So a writer that lost its lease without noticing (its lease
//    session killed, a pause longer than the session's life) is refused at its next batch, whatever
//    the locks say, and its replies get 503: no 201 without its COMMIT.
//
// Acquire() is also how a running server re-validates after a failed commit (EngineRunner
// rebuilds): it confirms or re-takes the lock and starts a new epoch, so batches of the old
// engine incarnation can never commit after the state was reloaded.
//
// Markets will be the unit of scale-out (DESIGN.md): the key's second half is the lease's
// scope, 1 for "the whole journal"; per-market leases would take other values.
//
// Thread rules: not thread-safe; owned by one thread at a time (main at start-up, then the
// engine thread). Never throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "matching/status.h"
#include "server/db/session.h"

namespace proofbook::server {

class WriterLease {
 public:
  // pg_try_advisory_lock(kLeaseClass, kLeaseScope): 'proo' and "the whole journal".
  static constexpr int32_t kLeaseClass = 0x70726f6f;
  static constexpr int32_t kLeaseScope = 1;

  explicit WriterLease(std::string database_url);
  ~WriterLease();
  WriterLease(const WriterLease&) = delete;
  WriterLease& operator=(const WriterLease&) = delete;

  // Takes (or confirms) the lease and starts a new fencing epoch, which it returns. Errors:
  // kConflict when another session holds the lease (the message names it), kUnavailable when
  // PostgreSQL cannot be reached, kInternal for anything else.
  Result<uint64_t> Acquire();

  // The epoch of the last successful Acquire(); 0 before.
  uint64_t epoch() const { return epoch_; }

 private:
  const std::string url_;
  std::unique_ptr<DbSession> conn_;  // holds the advisory lock while open
  uint64_t epoch_ = 0;
};

}  // namespace proofbook::server
