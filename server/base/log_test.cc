// InitLogging's buffering: info lines stay in the process until the logger flushes (every
// second, or at once for a warning or an error), so a request's line is not a write(2) of its
// own; a warning takes every line before it out, in order.
#include "server/base/log.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace proofbook::server {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Logging, InfoLinesWaitForAFlushAndAWarningFlushesAtOnce) {
  char path[] = "/tmp/proofbook_log_test_XXXXXX";
  const int file = mkstemp(path);
  ASSERT_GE(file, 0);
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(dup2(file, STDERR_FILENO), STDERR_FILENO);

  InitLogging("info");
  spdlog::info("msg=first n={}", 1);
  spdlog::info("msg=second n={}", 2);
  const std::string before_warning = ReadAll(path);
  spdlog::warn("msg=third");
  const std::string after_warning = ReadAll(path);
  spdlog::info("msg=fourth");
  ShutdownLogging();
  const std::string after_shutdown = ReadAll(path);

  dup2(saved, STDERR_FILENO);
  close(saved);
  close(file);
  std::remove(path);

  EXPECT_EQ(before_warning, "") << "info lines reached the file one by one";
  const auto first = after_warning.find("level=info msg=first n=1\n");
  const auto second = after_warning.find("level=info msg=second n=2\n");
  const auto third = after_warning.find("level=warning msg=third\n");
  ASSERT_NE(first, std::string::npos) << after_warning;
  ASSERT_NE(second, std::string::npos) << after_warning;
  ASSERT_NE(third, std::string::npos) << after_warning;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_EQ(after_warning.find("fourth"), std::string::npos);
  EXPECT_NE(after_shutdown.find("level=info msg=fourth\n"), std::string::npos) << after_shutdown;
  EXPECT_EQ(after_shutdown.rfind("ts=", 0), 0u) << "lines start with the timestamp";
}

}  // namespace
}  // namespace proofbook::server
