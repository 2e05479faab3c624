// The journal's event log format: one batch's events as one bytea (journal_batches.events,
// migrations/0018_journal_batches.sql), which the view engine_events decodes back into rows.
//
//   'PBE1'  count (int4)  count records of 120 bytes  string table
//   record: ref, at_ms, market, account, to_account, order, offer, assignment, amount, value,
//           tree (int8 each; ids 0 for none), then kind, command, reason, field (int4 offset from
//           the start of the blob + int4 length into the string table; length 0: NULL)
// Integers are big-endian (what PostgreSQL's bit(64)::bigint reads). A name appears once per
// batch in the string table, however many events carry it. The seq of record i is the batch's
// first_seq + i.
//
// Pure: no SQL, no allocation once the buffer has grown to a batch's size.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "matching/event.h"

namespace proofbook::server {

inline constexpr std::string_view kEventLogMagic = "PBE1";
inline constexpr size_t kEventLogHeaderBytes = 8;
inline constexpr size_t kEventLogRecordBytes = 120;

class EventLogWriter {
 public:
  // Replaces `out` with the encoding of `events`.
  void Encode(std::span<const matching::Event> events, std::string& out);

 private:
  // Offset of `s` in the string table being built (appended the first time it is seen).
  uint32_t Intern(std::string_view s);

  std::vector<std::pair<std::string_view, uint32_t>> strings_;  // this batch's, reused
  std::string table_;                                           // the string table, reused
  size_t table_start_ = 0;  // where the string table will start in the blob
};

}  // namespace proofbook::server
