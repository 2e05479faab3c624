// LiveFeed: the admin dashboard's live view (GET /v1/admin/live, server-sent events). Once every
// `interval` one database job reads a snapshot of the market (each book at a glance, the latest
// settlements and slashings, the prover leaderboard's top) and the counters of the metrics
// (orders placed, settlements, ...), and every subscriber that is ready gets it as one SSE
// `snapshot` event. A subscriber that has not finished writing the last one skips a tick: a slow
// client never makes the server queue more than one event for it. With no subscribers nothing
// is read.
//
// Thread rules: Start/Stop from one thread; Subscribe from any. The feed's thread builds the
// snapshots; subscribers' bodies are asked for on the HTTP threads. Stop ends every stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/base/body_stream.h"
#include "server/db/database.h"

namespace proofbook::server {

class LiveFeed {
 public:
  LiveFeed(Database& db, std::chrono::milliseconds interval);
  ~LiveFeed();  // Stop()s
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;

  void Start();
  void Stop();

  // A new subscriber's body: the last snapshot at once (if there is one), then each new one.
  std::shared_ptr<BodyStream> Subscribe();

  struct Shared;  // the feed's state, shared with its subscribers' bodies

 private:
  void Loop();
  void Tick();

  Database& db_;
  const std::chrono::milliseconds interval_;
  const std::shared_ptr<Shared> shared_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

// After a read of the prover leaderboard (GET /v1/admin/provers, the live feed): when its view
// is older than 10 s, a refresh is queued on the database pool (one at a time in the process);
// readers never wait for it.
void RefreshProverBoardIfOld(Database& db, DbSession& session);

}  // namespace proofbook::server
