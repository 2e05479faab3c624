// Database: blocking PostgreSQL work kept off the io threads, and a readiness probe.
//
// A fixed set of worker threads, each with its own lazily opened pqxx::connection, takes jobs
// from one bounded queue. Post() returns false when the queue is full so the caller can answer
// 503 at once instead of queueing without bound. A job that finds the connection broken gets
// a fresh one next time, and a session whose server closed it while it was idle (PostgreSQL
// restarted) is replaced before a job runs on it. The probe thread checks every `probe_interval`
// that PostgreSQL answers and that every migration is applied; ready() reads the last verdict
// without blocking. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "matching/status.h"
#include "server/db/migrations.h"
#include "server/db/session.h"

namespace proofbook::server {

class Database {
 public:
  // A job runs on a worker thread. `session` is null when PostgreSQL could not be reached; the
  // job must then answer with `error` (kUnavailable) itself. A job that throws has its
  // exception logged (and its session dropped if the connection was lost); it must answer its
  // caller before it throws (RunDb in api/ shows how).
  using Job = std::function<void(DbSession* session, const Status& error)>;

  struct Options {
    std::string url;
    int threads = 2;
    std::size_t queue_limit = 1024;  // jobs waiting beyond this are refused (503)
    std::chrono::milliseconds probe_interval{500};
  };

  Database(Options options, std::vector<Migration> migrations);
  ~Database();  // Stop()s
  // Stops taking jobs, runs those queued, joins every thread. Idempotent. Call it before
  // tearing down whatever the queued jobs answer to (their responders hold HTTP sessions).
  void Stop();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  [[nodiscard]] bool Post(Job job);

  // Runs `work` on a worker thread; when the database is unreachable or too busy, or `work`
  // throws, calls `failed` with why instead (503, or DatabaseError(e, what); with `what` empty:
  // 503 "database unreachable" or 500 "database error"). `work` must answer its caller only
  // once it cannot throw any more, so exactly one of the two answers.
  void Run(std::string what, std::function<void(DbSession& session)> work,
           std::function<void(const Status& why)> failed);

  bool ready() const { return ready_.load(std::memory_order_acquire); }
  std::string not_ready_reason() const;

 private:
  void WorkerLoop();
  void ProbeLoop();

  // Constant after construction.
  const Options options_;
  const std::vector<Migration> migrations_;

  // Guarded by mu_.
  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // workers wait here for jobs
  std::condition_variable probe_cv_;  // the probe sleeps here between checks
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::string not_ready_reason_ = "starting";

  std::atomic<bool> ready_{false};  // written by the probe thread only
  std::vector<std::thread> workers_;
  std::thread probe_;
};

}  // namespace proofbook::server
