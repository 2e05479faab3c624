#include "clients/cli_spinner.h"

#include <unistd.h>

#include <cstdio>

namespace proofbook::cli {

namespace {

constexpr auto kFrameInterval = std::chrono::milliseconds(100);
constexpr char kFrames[] = {'|', '/', '-', '\\'};

}  // namespace

Spinner::Spinner(std::string text)
    : active_(::isatty(STDERR_FILENO) == 1),
      started_(std::chrono::steady_clock::now()),
      text_(std::move(text)) {
  if (active_) thread_ = std::thread([this] { Run(); });
}

Spinner::~Spinner() { Stop(); }

void Spinner::Update(std::string text) {
  std::lock_guard lock(mu_);
  text_ = std::move(text);
}

void Spinner::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Spinner::Run() {
  std::unique_lock lock(mu_);
  for (std::size_t frame = 0; !stop_; ++frame) {
    auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now() - started_)
                       .count();
    // \r and "erase to end of line" redraw in place; one fprintf keeps the line whole.
    std::fprintf(stderr, "\r\033[K%c %s (%llds)", kFrames[frame % sizeof kFrames], text_.c_str(),
                 static_cast<long long>(elapsed));
    std::fflush(stderr);
    cv_.wait_for(lock, kFrameInterval, [this] { return stop_; });
  }
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace proofbook::cli
