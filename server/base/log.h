// Structured logging: one logfmt line per event on stderr, for example
//   ts=2026-11-24T22:31:05.123Z level=info msg=request id=7f3a method=GET path=/healthz status=200
//   latency_us=41
// Values that need it are quoted by LogValue. stdout stays free for what a command prints
// for people (bootstrap-admin's key). Thread-safe after InitLogging.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace proofbook::server {

// Sets the level (trace|debug|info|warn|error|off) and the logfmt pattern. Call once at start.
// Lines are buffered: warnings and errors are flushed at once, the rest every second.
void InitLogging(const std::string& level);
// Flushes and stops the flusher thread. Call before returning from main.
void ShutdownLogging();

// A logfmt value: bare when it is made of safe characters, otherwise double-quoted with
// '"', '\\' and control characters escaped. Never lets client text break a line.
std::string LogValue(std::string_view value);

// Whole milliseconds from `start` to now (durations logged as ms=, time budgets).
inline int64_t MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

}  // namespace proofbook::server
