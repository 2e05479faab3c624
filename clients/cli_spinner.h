// A progress spinner on stderr while `proofbook order place --wait` blocks in its long polls:
// "| waiting for order 12: open, 1 assignment (4s)", redrawn every 100 ms by its own thread
// and erased when it stops. Does nothing when stderr is not a terminal, so logs and scripts
// never see it.
//
// Thread rules: Update() and Stop() from the owning thread; the drawing thread only reads the
// text under mu_.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace proofbook::cli {

class Spinner {
 public:
  explicit Spinner(std::string text);  // starts drawing `text` when stderr is a terminal
  ~Spinner();
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;

  bool active() const { return active_; }  // drawing (stderr is a terminal)
  // The text after the spinner's glyph; the elapsed time is appended.
  void Update(std::string text);
  // Erases the line and ends the thread; safe to call twice.
  void Stop();

 private:
  void Run();

  // Constant after construction.
  bool active_ = false;
  std::chrono::steady_clock::time_point started_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;    // guarded by mu_
  bool stop_ = false;   // guarded by mu_
  std::thread thread_;  // joined by Stop()
};

}  // namespace proofbook::cli
