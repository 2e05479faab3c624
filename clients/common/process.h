// Process: one child process, started with posix_spawn. Its arguments; its environment (ours,
// or exactly the one given); stdin ours or /dev/null; stdout and stderr each inherited, written
// to a file (truncated or appended), captured (a temporary file, read back while it runs or
// after), or, for stderr, sent where stdout goes. Waits with or without a time limit, signals,
// kills. The child starts with no signal blocked, whatever the spawning thread blocks.
//
// The destructor kills (SIGKILL) and reaps a child still running, and removes the capture
// files, so no child and no file outlives its Process.
//
// Thread rules: one thread at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace proofbook::clients {

// Where a child's stdout or stderr goes.
struct ProcessOutput {
  enum class Kind {
    kInherit,  // ours
    kFile,     // `path`, truncated
    kAppend,   // `path`, appended to
    kCapture,  // a temporary file of the Process's own: Stdout() / Stderr()
    kStdout,   // (stderr only) wherever stdout goes
  };
  Kind kind = Kind::kInherit;
  std::string path;

  static ProcessOutput Inherit() { return {}; }
  static ProcessOutput File(std::string path) { return {Kind::kFile, std::move(path)}; }
  static ProcessOutput Append(std::string path) { return {Kind::kAppend, std::move(path)}; }
  static ProcessOutput Capture() { return {Kind::kCapture, ""}; }
  static ProcessOutput ToStdout() { return {Kind::kStdout, ""}; }
};

struct ProcessOptions {
  std::vector<std::string> argv;  // argv[0]: a path; with search_path, a name found in PATH
  bool search_path = false;
  std::optional<std::vector<std::string>> env;  // "NAME=value"; nullopt: this process's own
  bool stdin_null = false;                      // /dev/null rather than our stdin
  ProcessOutput stdout_to;
  ProcessOutput stderr_to;
};

class Process {
 public:
  // Starts the child; started() is false (and error() says why) if it could not.
  explicit Process(ProcessOptions options);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }  // -1 when not started or once reaped

  // True while the child has not exited (reaps it if it has).
  bool running();
  // The wait status (as from waitpid) once the child exits; nullopt if it is still running
  // after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Waits however long it takes; the wait status (-1 if the child was never started).
  int Wait();
  // Sends `signal` to a running child; false if there is none.
  bool Signal(int signal);
  // SIGKILL and reap; the wait status (-1 if the child was never started).
  int Kill();
  // The wait status once reaped.
  std::optional<int> status() const { return status_; }

  // What the child has written so far to the file its stdout / stderr goes to ("" when
  // inherited, or for stderr sent to stdout).
  std::string Stdout() const;
  std::string Stderr() const;

  // The exit code of a wait status, or -1 if the child did not exit by itself (a signal).
  static int ExitCode(int status);

 private:
  void Reaped(int status);

  pid_t pid_ = -1;
  bool started_ = false;
  std::string error_;
  std::optional<int> status_;
  std::string stdout_path_, stderr_path_;  // the files behind Stdout() / Stderr(), if any
  std::string capture_dir_;                // removed with the Process; "" when none
};

}  // namespace proofbook::clients
