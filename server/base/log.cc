#include "server/base/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>

namespace proofbook::server {
namespace {

// Lines into stdio's buffer for stderr, written out only when it fills or the logger
// flushes. (spdlog's own stderr sink calls fflush after every line, which undid the
// buffering below: a write(2) a request.)
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

void InitLogging(const std::string& level) {
  // stderr is unbuffered, which made every request line a write(2) of its own. Buffered
  // instead, flushed every second and at once for warnings and errors; a kill -9 can lose the
  // last second of info lines. (Until the sink above, spdlog's stderr sink flushed each line
  // and this buffer held nothing: loadtest/REPORT.md, session 23.)
  static char buffer[1 << 16];
  std::setvbuf(stderr, buffer, _IOFBF, sizeof buffer);
  auto logger =
      std::make_shared<spdlog::logger>("proofbook", std::make_shared<BufferedStderrSink>());
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  spdlog::flush_every(std::chrono::seconds(1));  // spdlog 1.10 counts in seconds
}

void ShutdownLogging() {
  spdlog::shutdown();  // stops the flusher, flushes
  std::fflush(stderr);
}

std::string LogValue(std::string_view value) {
  bool bare = !value.empty();
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
      bare = false;
      break;
    }
  }
  if (bare) return std::string(value);
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < ' ' || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

}  // namespace proofbook::server
