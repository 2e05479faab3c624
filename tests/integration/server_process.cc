#include "tests/integration/server_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "tests/integration/files.h"

extern char** environ;

namespace proofbook::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kStopTimeout = std::chrono::seconds(15);

std::string MakeTempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "proofbook-srv.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn failed for " + args[0]);
  return pid;
}

// Waits for `pid` until `timeout`; the waitpid status, or -1 if it is still running.
int WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    if (std::chrono::steady_clock::now() > until) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

ServerProcess::ServerProcess(const std::string& database_url, std::vector<std::string> extra_args)
    : dir_(MakeTempDir()) {
  std::string port_file = dir_ + "/port";
  std::vector<std::string> args = {PROOFBOOK_SERVER_BIN, "serve",   "--database-url", database_url,
                                   "--port-file",        port_file, "--log-level",    "info"};
  // Any free port, unless the test names one (to restart a server where clients expect it).
  if (std::find(extra_args.begin(), extra_args.end(), "--listen") == extra_args.end()) {
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = Spawn(args, dir_ + "/server.log");
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
  if (pid_ > 0) {
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

bool ServerProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ServerProcess::Terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = WaitFor(pid_, kStopTimeout);
  if (status == -1) {
    ADD_FAILURE() << "proofbook-server did not stop within the timeout after SIGTERM";
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  return status;
}

void ServerProcess::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ServerProcess::Logs() const { return ReadFile(dir_ + "/server.log"); }

CommandResult RunServerCommand(const std::vector<std::string>& args) {
  std::string dir = MakeTempDir();
  std::vector<std::string> full = {PROOFBOOK_SERVER_BIN};
  full.insert(full.end(), args.begin(), args.end());
  pid_t pid = Spawn(full, dir + "/out.log");
  int status = WaitFor(pid, std::chrono::seconds(60));
  CommandResult result;
  if (status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  result.output = ReadFile(dir + "/out.log");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return result;
}

}  // namespace proofbook::testing
