// ServerProcess: runs the real proofbook-server binary as a child process for a test, with
// its logs in a temporary file (printed when the test fails), and waits until it listens.
// Stops it with SIGTERM on destruction (SIGKILL if it does not stop in time). The child
// process itself is clients/common's Process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clients/common/process.h"

namespace proofbook::testing {

class ServerProcess {
 public:
  // Starts `proofbook-server serve --database-url URL --listen 127.0.0.1:0 ...extra_args`
  // (without the --listen when extra_args has one).
  ServerProcess(const std::string& database_url, std::vector<std::string> extra_args = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return process_->pid(); }  // -1 once reaped
  bool running();                                // the child has not exited
  int Terminate();  // SIGTERM and wait: the exit status (as from waitpid), or -1
  void Kill9();     // SIGKILL and reap: a crash
  std::string Logs() const;

 private:
  std::string dir_;  // temp folder: port file and log
  std::unique_ptr<clients::Process> process_;
  uint16_t port_ = 0;
};

// Runs proofbook-server with `args` to completion; returns its exit code and combined output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunServerCommand(const std::vector<std::string>& args);

}  // namespace proofbook::testing
