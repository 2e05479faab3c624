// DbSession: one open PostgreSQL session, as everything outside db/ and journal/ holds it: an
// opaque handle. What is inside (a pqxx connection) only db/ and journal/ see
// (server/db/pq.h), so SQL cannot leak into the folders above them.
//
// Not thread-safe: a session is used by one thread at a time.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "matching/status.h"

namespace proofbook::server {

class DbSession {
 public:
  struct Impl;  // server/db/pq.h
  explicit DbSession(std::unique_ptr<Impl> impl);
  ~DbSession();
  DbSession(const DbSession&) = delete;
  DbSession& operator=(const DbSession&) = delete;

  bool is_open() const;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Opens a session, or returns kUnavailable saying why (on one line).
Result<std::unique_ptr<DbSession>> Connect(const std::string& url);

// Reopens `session` if it is missing or closed. On failure it is null and the Status says why.
Status EnsureConnected(std::unique_ptr<DbSession>& session, const std::string& url);

// Whether an exception thrown by database work means the session is gone (drop it).
bool IsConnectionLost(const std::exception& e);

// A database failure as a Status: constraint violations are the client's (409 for unique,
// 400 for others), a lost connection is 503, anything else 500. `what` says what was tried.
Status DatabaseError(const std::exception& e, std::string_view what);

}  // namespace proofbook::server
