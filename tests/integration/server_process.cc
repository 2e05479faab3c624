#include "tests/integration/server_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "tests/integration/files.h"

namespace proofbook::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kStopTimeout = std::chrono::seconds(15);

std::string MakeTempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "proofbook-srv.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// `args` with stdout and stderr going to `log` (appended to; "" for captured).
std::unique_ptr<clients::Process> Spawn(std::vector<std::string> args, const std::string& log) {
  clients::ProcessOptions options;
  options.argv = std::move(args);
  options.stdout_to =
      log.empty() ? clients::ProcessOutput::Capture() : clients::ProcessOutput::Append(log);
  options.stderr_to = clients::ProcessOutput::ToStdout();
  auto process = std::make_unique<clients::Process>(std::move(options));
  if (!process->started()) throw std::runtime_error(process->error());
  return process;
}

// The server binary the tests start: this build's, unless PROOFBOOK_TEST_SERVER_BIN names another
// (the tsan preset runs the debug build's API and prover tests against its TSan-built server).
std::string ServerBin() {
  const char* bin = std::getenv("PROOFBOOK_TEST_SERVER_BIN");
  return bin != nullptr && *bin != '\0' ? bin : PROOFBOOK_SERVER_BIN;
}

}  // namespace

ServerProcess::ServerProcess(const std::string& database_url, std::vector<std::string> extra_args)
    : dir_(MakeTempDir()) {
  std::string port_file = dir_ + "/port";
  std::vector<std::string> args = {ServerBin(),   "serve",   "--database-url", database_url,
                                   "--port-file", port_file, "--log-level",    "info"};
  // Any free port, unless the test names one (to restart a server where clients expect it).
  if (std::find(extra_args.begin(), extra_args.end(), "--listen") == extra_args.end()) {
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  process_ = Spawn(std::move(args), dir_ + "/server.log");
  auto until = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < until) {
    std::string text = ReadFile(port_file);
    if (!text.empty() && text.back() == '\n') {
      port_ = static_cast<uint16_t>(std::stoi(text));
      return;
    }
    if (!running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string logs = Logs();
  Kill9();
  throw std::runtime_error("proofbook-server did not start:\n" + logs);
}

ServerProcess::~ServerProcess() {
  if (process_->pid() > 0) {
    // A clean stop is part of the contract; under the sanitizers a report also shows up here
    // as a non-zero exit (ASan/LSan 1/23, TSan 66).
    int status = Terminate();
    if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      ADD_FAILURE() << "proofbook-server did not exit cleanly after SIGTERM (status " << status
                    << ")";
    }
  }
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- proofbook-server log ----\n" << Logs() << "---- end of log ----\n";
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool ServerProcess::running() { return process_->running(); }

int ServerProcess::Terminate() {
  if (process_->pid() <= 0) return -1;
  process_->Signal(SIGTERM);
  if (auto status = process_->Wait(kStopTimeout)) return *status;
  ADD_FAILURE() << "proofbook-server did not stop within the timeout after SIGTERM";
  return process_->Kill();
}

void ServerProcess::Kill9() { process_->Kill(); }

std::string ServerProcess::Logs() const { return process_->Stdout(); }

CommandResult RunServerCommand(const std::vector<std::string>& args) {
  std::vector<std::string> full = {ServerBin()};
  full.insert(full.end(), args.begin(), args.end());
  auto process = Spawn(std::move(full), "");
  CommandResult result;
  if (auto status = process->Wait(std::chrono::seconds(60))) {
    result.exit_code = clients::Process::ExitCode(*status);
  } else {
    process->Kill();
  }
  result.output = process->Stdout();
  return result;
}

}  // namespace proofbook::testing
