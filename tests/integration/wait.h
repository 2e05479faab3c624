// WaitUntil: polls `ok` every 50 ms until it holds or `timeout` has passed; whether it held.
// Tests wait with it for what another process does (a log line, a reload, a server coming
// up), never to time anything: a slow machine makes them slower, not red.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace proofbook::testing {

inline bool WaitUntil(const std::function<bool()>& ok,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (ok()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace proofbook::testing
