// ProverProcess: the real proofbook-prover binary (PROOFBOOK_PROVER_BIN, defined by the test's
// CMake target) as a child process of a test, its output captured.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "clients/common/process.h"
#include "tests/integration/wait.h"

namespace proofbook::testing {

// A proofbook-prover child process; its output (stdout and stderr) is captured.
class ProverProcess {
 public:
  explicit ProverProcess(std::vector<std::string> args) : process_(Options(std::move(args))) {
    EXPECT_TRUE(process_.started()) << process_.error();
  }
  ~ProverProcess() {
    if (process_.pid() > 0) Stop();
  }
  // SIGTERM, then the exit status.
  int Stop() {
    process_.Signal(SIGTERM);
    if (auto status = process_.Wait(std::chrono::seconds(10))) return *status;
    const int status = process_.Kill();
    ADD_FAILURE() << "proofbook-prover did not stop on SIGTERM:\n" << Logs();
    return status;
  }
  std::string Logs() const { return process_.Stdout(); }
  // Waits until the log holds `text`.
  bool WaitFor(const std::string& text, int timeout_ms = 10000) {
    return WaitUntil([&] { return Logs().find(text) != std::string::npos; },
                     std::chrono::milliseconds(timeout_ms));
  }

 private:
  static clients::ProcessOptions Options(std::vector<std::string> args) {
    clients::ProcessOptions options;
    options.argv = std::move(args);
    options.argv.insert(options.argv.begin(), PROOFBOOK_PROVER_BIN);
    options.stdout_to = clients::ProcessOutput::Capture();
    options.stderr_to = clients::ProcessOutput::ToStdout();
    return options;
  }

  clients::Process process_;
};

}  // namespace proofbook::testing
