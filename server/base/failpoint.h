// Failpoints: named places where a test build can crash the server on purpose, to prove that
// a crash there loses nothing and costs nobody (issue #11: a crash between storing a proof and
// journaling its delivery used to slash the honest prover).
//
// Compiled in only when PROOFBOOK_FAILPOINTS is defined (Debug builds: the debug and tsan
// presets the test command builds; never the release build). The environment variable
// PROOFBOOK_FAILPOINT names the one armed failpoint; reaching it kills the process with
// SIGKILL, as `kill -9` would, after one line on stderr.
//
// Failpoints in the code:
//   after_proof_stored  the proof's row is committed, its delivery not yet submitted
//                       (server/prover/prover_gateway.cc)
//   created_not_committed   the engine accepted a CreateAccount or CreateMarket, its batch
//                       is not yet committed (server/core/engine_runner.cc)
//
// Delays (FailpointSleep) instead sleep PROOFBOOK_FAILPOINT_SLEEP_MS (default 100) each time:
//   slow_header_check   a proof header's check against PostgreSQL
//                       (server/prover/prover_gateway.cc)
//   slow_proof_store    storing a received proof, before the engine hears of its delivery
//                       (server/prover/prover_gateway.cc)
#pragma once

#include <string_view>

#ifdef PROOFBOOK_FAILPOINTS
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#endif

namespace proofbook::server {

inline void Failpoint([[maybe_unused]] std::string_view name) {
#ifdef PROOFBOOK_FAILPOINTS
  static const char* const armed = std::getenv("PROOFBOOK_FAILPOINT");
  if (armed == nullptr || name != armed) return;
  static constexpr char kLine[] = "failpoint reached: SIGKILL\n";
  [[maybe_unused]] ssize_t n = ::write(2, kLine, sizeof kLine - 1);
  ::kill(::getpid(), SIGKILL);
#endif
}

inline void FailpointSleep([[maybe_unused]] std::string_view name) {
#ifdef PROOFBOOK_FAILPOINTS
  static const char* const armed = std::getenv("PROOFBOOK_FAILPOINT");
  if (armed == nullptr || name != armed) return;
  static const int ms = [] {
    const char* v = std::getenv("PROOFBOOK_FAILPOINT_SLEEP_MS");
    return v != nullptr ? std::atoi(v) : 100;
  }();
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
#endif
}

}  // namespace proofbook::server
