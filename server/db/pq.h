// The pqxx connection inside a DbSession. For db/ and journal/ only: the include rules
// (tests/include_rules.sh) keep every other folder from seeing it.
#pragma once

#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "server/db/session.h"

namespace proofbook::server {

struct DbSession::Impl {
  explicit Impl(const std::string& url)
      : owned(std::make_unique<pqxx::connection>(url)), conn(*owned) {}
  explicit Impl(pqxx::connection& borrowed) : conn(borrowed) {}
  std::unique_ptr<pqxx::connection> owned;  // null for a borrowed connection
  pqxx::connection& conn;
};

inline pqxx::connection& Pq(DbSession& session) { return session.impl().conn; }

// Every read of db/ runs in one snapshot: under READ COMMITTED each statement sees the batches
// committed before it started, so a read of several statements (an order, then its draws) could
// mix two states of the journal (the order's count from before a batch, its draws from after).
using ReadSnapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

// A session over a connection the caller owns and keeps open longer (tests, tools that also
// read tables themselves).
inline std::unique_ptr<DbSession> BorrowSession(pqxx::connection& conn) {
  return std::make_unique<DbSession>(std::make_unique<DbSession::Impl>(conn));
}

}  // namespace proofbook::server
