#include "server/db/database.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include "server/base/log.h"
#include "server/db/pq.h"

namespace proofbook::server {

DbSession::DbSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DbSession::~DbSession() = default;
bool DbSession::is_open() const { return impl_->conn.is_open(); }

Result<std::unique_ptr<DbSession>> Connect(const std::string& url) {
  try {
    return std::make_unique<DbSession>(std::make_unique<DbSession::Impl>(url));
  } catch (const std::exception& e) {
    // libpq's messages span lines ("...refused\n\tIs the server running..."): one line here.
    std::string why;
    for (char c : std::string_view(e.what())) {
      bool space = c == '\n' || c == '\t' || c == ' ';
      if (space && (why.empty() || why.back() == ' ')) continue;
      why += space ? ' ' : c;
    }
    if (!why.empty() && why.back() == ' ') why.pop_back();
    return Status(StatusCode::kUnavailable, "database unreachable: " + why);
  }
}

Status EnsureConnected(std::unique_ptr<DbSession>& session, const std::string& url) {
  if (session && session->is_open()) return Status::Ok();
  auto opened = Connect(url);
  if (!opened) {
    session.reset();
    return opened.error();
  }
  session = std::move(opened).value();
  return Status::Ok();
}

namespace {

// Whether the server of an idle session has gone (PostgreSQL restarted, the backend was
// terminated): PostgreSQL sends nothing unasked on an idle session that LISTENs to nothing, so
// anything readable there (its "terminating connection" error, end of file) means the session
// is dead, which pqxx finds out only when the next statement fails.
bool PeerGone(DbSession& session) {
  const int fd = Pq(session).sock();
  if (fd < 0) return true;
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && p.revents != 0;
}

}  // namespace

bool IsConnectionLost(const std::exception& e) {
  return dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr;
}

Status DatabaseError(const std::exception& e, std::string_view what) {
  if (IsConnectionLost(e)) {
    return Status(StatusCode::kUnavailable, std::string(what) + ": database unreachable");
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    std::string state = sql->sqlstate();
    if (state == "23505") {
      return Status(StatusCode::kConflict, std::string(what) + ": already exists");
    }
    if (state.rfind("23", 0) == 0 || state.rfind("22", 0) == 0) {  // integrity / data errors
      return Status(StatusCode::kInvalidArgument, std::string(what) + ": refused by the database");
    }
  }
  return Status(StatusCode::kInternal, std::string(what) + ": database error");
}

Database::Database(Options options, std::vector<Migration> migrations)
    : options_(std::move(options)), migrations_(std::move(migrations)) {
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  probe_ = std::thread([this] { ProbeLoop(); });
}

Database::~Database() { Stop(); }

void Database::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  probe_cv_.notify_all();
  for (auto& t : workers_) t.join();
  probe_.join();
}

bool Database::Post(Job job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_limit) return false;
    queue_.push_back(std::move(job));
  }
  work_cv_.notify_one();
  return true;
}

void Database::Run(std::string what, std::function<void(DbSession&)> work,
                   std::function<void(const Status&)> failed) {
  auto shared_failed = std::make_shared<std::function<void(const Status&)>>(std::move(failed));
  bool queued = Post([what = std::move(what), work = std::move(work), shared_failed](
                         DbSession* session, const Status& error) {
    if (session == nullptr) return (*shared_failed)(error);
    try {
      work(*session);
    } catch (const std::exception& e) {
      if (!what.empty()) {
        (*shared_failed)(DatabaseError(e, what));
      } else if (IsConnectionLost(e)) {
        (*shared_failed)(Status(StatusCode::kUnavailable, "database unreachable"));
      } else {
        (*shared_failed)(Status(StatusCode::kInternal, "database error"));
      }
      throw;  // logged by the worker, which drops a lost connection
    }
  });
  if (!queued) {
    (*shared_failed)(Status(StatusCode::kOverloaded, "too many database requests waiting; retry"));
  }
}

std::string Database::not_ready_reason() const {
  std::lock_guard lock(mu_);
  return not_ready_reason_;
}

void Database::WorkerLoop() {
  std::unique_ptr<DbSession> conn;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    // A session left over from before an outage would fail this job (a 503 for a read, an
    // assignment pushed without its inputs): a new one first.
    if (conn && conn->is_open() && PeerGone(*conn)) {
      spdlog::info("msg=db_session_reopened why=\"the server closed it\"");
      conn.reset();
    }
    Status error = EnsureConnected(conn, options_.url);
    try {
      job(conn.get(), error);
    } catch (const pqxx::broken_connection& e) {
      // The job could not answer; it must have its own catch for that. Drop the connection.
      spdlog::warn("msg=db_connection_lost error={}", LogValue(e.what()));
      conn.reset();
    } catch (const std::exception& e) {
      spdlog::error("msg=db_job_threw error={}", LogValue(e.what()));
      if (conn && !conn->is_open()) conn.reset();
    }
  }
}

void Database::ProbeLoop() {
  std::unique_ptr<DbSession> conn;
  for (;;) {
    Status status = EnsureConnected(conn, options_.url);
    if (conn) {
      status = CheckMigrationsCurrent(*conn, migrations_);
      if (!status.ok()) conn.reset();  // reconnect next time; cheap, and clears a dead socket
    }
    bool was_ready = ready_.load(std::memory_order_relaxed);
    {
      std::lock_guard lock(mu_);
      not_ready_reason_ = status.ok() ? "" : status.message();
    }
    ready_.store(status.ok(), std::memory_order_release);
    if (was_ready != status.ok()) {
      if (status.ok()) {
        spdlog::info("msg=ready");
      } else {
        spdlog::warn("msg=not_ready reason={}", LogValue(status.message()));
      }
    }
    std::unique_lock lock(mu_);
    if (probe_cv_.wait_for(lock, options_.probe_interval, [this] { return stopping_; })) return;
  }
}

}  // namespace proofbook::server
