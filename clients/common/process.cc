#include "clients/common/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace proofbook::clients {

namespace {

// How often a wait with a time limit looks at the child.
constexpr auto kPollInterval = std::chrono::milliseconds(10);

std::string ReadWhole(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The file actions that send `fd` to `out`; `capture` is the path a capture goes to.
void Redirect(posix_spawn_file_actions_t* actions, int fd, const ProcessOutput& out,
              const std::string& capture) {
  switch (out.kind) {
    case ProcessOutput::Kind::kInherit:
      return;
    case ProcessOutput::Kind::kFile:
      posix_spawn_file_actions_addopen(actions, fd, out.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                       0644);
      return;
    case ProcessOutput::Kind::kAppend:
      posix_spawn_file_actions_addopen(actions, fd, out.path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                       0644);
      return;
    case ProcessOutput::Kind::kCapture:
      posix_spawn_file_actions_addopen(actions, fd, capture.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                       0600);
      return;
    case ProcessOutput::Kind::kStdout:
      posix_spawn_file_actions_adddup2(actions, STDOUT_FILENO, fd);
      return;
  }
}

}  // namespace

Process::Process(ProcessOptions options) {
  if (options.argv.empty()) {
    error_ = "no program to run";
    return;
  }
  const bool capture = options.stdout_to.kind == ProcessOutput::Kind::kCapture ||
                       options.stderr_to.kind == ProcessOutput::Kind::kCapture;
  if (capture) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "proofbook-process.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      error_ = std::string("cannot make a capture folder: ") + std::strerror(errno);
      return;
    }
    capture_dir_ = pattern;
  }
  auto file_of = [&](const ProcessOutput& out, const char* name) -> std::string {
    switch (out.kind) {
      case ProcessOutput::Kind::kFile:
      case ProcessOutput::Kind::kAppend:
        return out.path;
      case ProcessOutput::Kind::kCapture:
        return capture_dir_ + "/" + name;
      default:
        return "";
    }
  };
  stdout_path_ = file_of(options.stdout_to, "stdout");
  stderr_path_ = file_of(options.stderr_to, "stderr");

  std::vector<char*> argv;
  for (auto& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  if (options.env) {
    for (auto& e : *options.env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.stdin_null) {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  Redirect(&actions, STDOUT_FILENO, options.stdout_to, stdout_path_);
  Redirect(&actions, STDERR_FILENO, options.stderr_to, stderr_path_);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  char** env = options.env ? envp.data() : environ;
  const int rc = options.search_path
                     ? posix_spawnp(&pid_, argv[0], &actions, &attr, argv.data(), env)
                     : posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), env);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    error_ = "cannot run " + options.argv[0] + ": " + std::strerror(rc);
    return;
  }
  started_ = true;
}

Process::~Process() {
  if (pid_ > 0) Kill();
  if (!capture_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(capture_dir_, ignored);
  }
}

void Process::Reaped(int status) {
  status_ = status;
  pid_ = -1;
}

bool Process::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    Reaped(status);
    return false;
  }
  return true;
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > until) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
  return status_.value_or(-1);
}

int Process::Wait() {
  if (pid_ > 0) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    Reaped(status);
  }
  return status_.value_or(-1);
}

bool Process::Signal(int signal) { return pid_ > 0 && ::kill(pid_, signal) == 0; }

int Process::Kill() {
  Signal(SIGKILL);
  return Wait();
}

std::string Process::Stdout() const { return ReadWhole(stdout_path_); }

std::string Process::Stderr() const { return ReadWhole(stderr_path_); }

int Process::ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

}  // namespace proofbook::clients
