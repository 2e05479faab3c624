#include "server/journal/event_log.h"

#include <cstdint>

namespace proofbook::server {
namespace {

void PutBig(char* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

uint32_t EventLogWriter::Intern(std::string_view s) {
  for (const auto& [seen, offset] : strings_) {
    // The names are static literals: the same pointer is the common case.
    if (seen.data() == s.data() ? seen.size() == s.size() : seen == s) return offset;
  }
  const auto offset = static_cast<uint32_t>(table_start_ + table_.size());
  table_.append(s);
  strings_.emplace_back(s, offset);
  return offset;
}

void EventLogWriter::Encode(std::span<const matching::Event> events, std::string& out) {
  strings_.clear();
  table_.clear();
  table_start_ = kEventLogHeaderBytes + events.size() * kEventLogRecordBytes;
  out.resize(table_start_);
  char* p = out.data();
  p[0] = kEventLogMagic[0], p[1] = kEventLogMagic[1], p[2] = kEventLogMagic[2],
  p[3] = kEventLogMagic[3];
  PutBig(p + 4, events.size(), 4);
  p += kEventLogHeaderBytes;
  for (const matching::Event& e : events) {
    const int64_t ints[] = {static_cast<int64_t>(e.ref),
                            e.now,
                            e.market,
                            e.account,
                            e.to_account,
                            e.order,
                            e.offer,
                            e.assignment,
                            e.amount,
                            e.value,
                            e.tree};
    for (int64_t v : ints) {
      PutBig(p, static_cast<uint64_t>(v), 8);
      p += 8;
    }
    const std::string_view strings[] = {
        matching::EventKindName(e.kind), matching::CommandKindName(e.command),
        e.reason == matching::Reason::kNone ? std::string_view() : matching::ReasonName(e.reason),
        e.field};
    for (std::string_view s : strings) {
      PutBig(p, s.empty() ? 0 : Intern(s), 4);
      PutBig(p + 4, s.size(), 4);
      p += 8;
    }
  }
  out += table_;
}

}  // namespace proofbook::server
