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

// A session over a connection the caller owns and keeps open longer (tests, tools that also
// read tables themselves).
inline std::unique_ptr<DbSession> BorrowSession(pqxx::connection& conn) {
  return std::make_unique<DbSession>(std::make_unique<DbSession::Impl>(conn));
}

}  // namespace proofbook::server
