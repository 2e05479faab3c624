#include "server/journal/writer_lease.h"

#include <unistd.h>

#include "server/db/pq.h"

namespace proofbook::server {

WriterLease::WriterLease(std::string database_url) : url_(std::move(database_url)) {}

WriterLease::~WriterLease() = default;  // closing the session releases the lock

namespace {

// Who holds the lease, for the refusal's message.
std::string Holder(pqxx::connection& conn) {
  try {
    pqxx::nontransaction tx(conn, "lease_holder");
    auto rows = tx.exec_params(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local') "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid "
        "AND l.objid = $2::int::oid AND l.objsubid = 2 AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        WriterLease::kLeaseClass, WriterLease::kLeaseScope);
    if (rows.empty()) return "another session (it may just have gone)";
    return "'" + rows[0][1].as<std::string>() + "' (PostgreSQL backend pid " +
           rows[0][0].as<std::string>() + ", from " + rows[0][2].as<std::string>() + ")";
  } catch (const std::exception&) {
    return "another session";
  }
}

}  // namespace

Result<uint64_t> WriterLease::Acquire() {
  try {
    if (conn_ && !conn_->is_open()) conn_.reset();  // a lost session took the lock with it
    if (!conn_) {
      auto conn = Connect(url_);
      if (!conn) return conn.error();
      conn_ = std::move(conn).value();
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      pqxx::nontransaction tx(Pq(*conn_), "lease_name");
      tx.exec("SET application_name = " +
              tx.quote("proofbook-server pid " + std::to_string(::getpid()) + " on " + host));
    }
    bool got = false;
    {
      // Session-level: it outlives the statement's transaction. Taking it again while holding
      // it just stacks (and is released all at once when the session ends).
      pqxx::nontransaction tx(Pq(*conn_), "lease_lock");
      got = tx.exec_params("SELECT pg_try_advisory_lock($1, $2)", kLeaseClass, kLeaseScope)[0][0]
                .as<bool>();
    }
    if (!got) {
      std::string holder = Holder(Pq(*conn_));
      conn_.reset();  // nothing held; a fresh session next time
      return Status(StatusCode::kConflict,
                    "another proofbook-server holds the write lease on this database: " + holder)
          .WithReason("write_lease_held");
    }
    pqxx::work tx(Pq(*conn_), "lease_epoch");
    auto r = tx.exec(
        "UPDATE engine_state SET writer_epoch = writer_epoch + 1, writer_epoch_seq = last_seq "
        "RETURNING writer_epoch");
    if (r.size() != 1) return Status(StatusCode::kInternal, "lease: engine_state row missing");
    const uint64_t epoch = r[0][0].as<uint64_t>();
    tx.commit();
    epoch_ = epoch;
    return epoch;
  } catch (const pqxx::broken_connection& e) {
    conn_.reset();
    return Status(StatusCode::kUnavailable, std::string("lease: connection lost: ") + e.what());
  } catch (const std::exception& e) {
    conn_.reset();
    return Status(StatusCode::kInternal, std::string("lease: ") + e.what());
  }
}

}  // namespace proofbook::server
