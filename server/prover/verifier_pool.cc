#include "server/prover/verifier_pool.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>

#include "server/base/log.h"
#include "server/base/metrics.h"

extern char** environ;

namespace proofbook::server {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxAnswerBytes = 1 << 20;

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool WriteAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Reads exactly n bytes before `deadline`. 0: done, 1: timeout, -1: EOF or error.
int ReadAll(int fd, char* p, std::size_t n, Clock::time_point deadline) {
  while (n > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return 1;
    pollfd pfd{fd, POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return 1;
    ssize_t got = ::read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return 0;
}

}  // namespace

VerifierPool::VerifierPool(Options options) : options_(std::move(options)) {}

VerifierPool::~VerifierPool() { Stop(); }

Status VerifierPool::Spawn(Worker& w) const {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Status(StatusCode::kInternal, "pipe failed");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return Status(StatusCode::kInternal, "pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  // The server blocks its signals for sigwait; the worker must get them as usual.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  for (const std::string& a : options_.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) env_store.emplace_back(*e);
  for (const std::string& e : options_.env) env_store.push_back(e);
  std::vector<char*> envp;
  for (std::string& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    return Status(StatusCode::kUnavailable,
                  "cannot start verifier worker " + options_.argv[0] + ": " + std::strerror(rc));
  }
  w.pid = pid;
  w.to_child = in[1];
  w.from_child = out[0];
  return Status::Ok();
}

void VerifierPool::Kill(Worker& w) {
  if (w.to_child >= 0) ::close(w.to_child);
  if (w.from_child >= 0) ::close(w.from_child);
  if (w.pid > 0) {
    ::kill(w.pid, SIGKILL);
    int status = 0;
    while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  w = Worker{};
}

Status VerifierPool::Start() {
  if (options_.argv.empty()) return Status(StatusCode::kInvalidArgument, "no worker command");
  slots_.resize(static_cast<std::size_t>(std::max(1, options_.workers)));
  for (Slot& s : slots_) {
    if (Status st = Spawn(s.worker); !st.ok()) {
      for (Slot& k : slots_) Kill(k.worker);
      return st;
    }
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].thread = std::thread([this, i] { Run(i); });
  }
  spdlog::info("msg=verifier_pool_started kind={} workers={}", options_.kind, slots_.size());
  return Status::Ok();
}

bool VerifierPool::Submit(VerifyJob job) {
  // Verification time as the prover sees it: queued to verdict (Metrics, by kind).
  job.done = [done = std::move(job.done), start = std::chrono::steady_clock::now(),
              seconds = &Metrics::Get().VerificationSeconds(options_.kind)](const Verdict& v) {
    seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    done(v);
  };
  {
    std::lock_guard lock(mu_);
    if (stopping_ || slots_.empty() || queue_.size() >= options_.max_queue) return false;
    queue_.push_back(Queued{std::move(job), 0});
  }
  cv_.notify_one();
  return true;
}

std::size_t VerifierPool::queue_depth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void VerifierPool::Stop() {
  std::deque<Queued> left;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  for (Slot& s : slots_) {
    if (s.thread.joinable()) s.thread.join();
  }
  for (Queued& q : left) q.job.done(Verdict{Verdict::kFailed, std::string(kVerdictStopping)});
}

std::vector<pid_t> VerifierPool::WorkerPids() const {
  std::lock_guard lock(mu_);
  std::vector<pid_t> pids;
  for (const Slot& s : slots_) pids.push_back(s.worker.pid);
  return pids;
}

Verdict VerifierPool::Attempt(Worker& w, const VerifyJob& job, bool* broken) {
  *broken = true;
  const uint64_t request = next_request_.fetch_add(1);
  std::string body = "{\"id\":" + std::to_string(request);
  if (!job.vk_json.empty()) body += ",\"vk\":" + job.vk_json;
  body += ",\"public\":" + (job.public_json.empty() ? std::string("null") : job.public_json);
  body += ",\"proof\":\"" + Base64(job.proof) + "\"}";
  const uint32_t n = static_cast<uint32_t>(body.size());
  const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)};
  if (!WriteAll(w.to_child, len, 4) || !WriteAll(w.to_child, body.data(), body.size())) {
    return Verdict{Verdict::kFailed, "verifier_crashed"};
  }
  const auto deadline = Clock::now() + options_.timeout;
  unsigned char head[4];
  int r = ReadAll(w.from_child, reinterpret_cast<char*>(head), 4, deadline);
  if (r != 0) return Verdict{Verdict::kFailed, r == 1 ? "verifier_timeout" : "verifier_crashed"};
  const std::size_t size = (std::size_t{head[0]} << 24) | (std::size_t{head[1]} << 16) |
                           (std::size_t{head[2]} << 8) | head[3];
  if (size > kMaxAnswerBytes) return Verdict{Verdict::kFailed, "verifier_bad_answer"};
  std::string answer(size, '\0');
  r = ReadAll(w.from_child, answer.data(), size, deadline);
  if (r != 0) return Verdict{Verdict::kFailed, r == 1 ? "verifier_timeout" : "verifier_crashed"};

  boost::system::error_code ec;
  json::value v = json::parse(answer, ec);
  const json::object* o = v.if_object();
  if (ec || o == nullptr || !o->contains("id") || !(*o).at("id").is_int64() ||
      (*o).at("id").as_int64() != static_cast<int64_t>(request)) {
    return Verdict{Verdict::kFailed, "verifier_bad_answer"};
  }
  *broken = false;
  if (const json::value* verdict = o->if_contains("verdict"); verdict && verdict->is_string()) {
    if (verdict->as_string() == "valid") return Verdict{Verdict::kValid, ""};
    if (verdict->as_string() == "invalid") {
      const json::value* reason = o->if_contains("reason");
      return Verdict{Verdict::kInvalid, reason && reason->is_string()
                                            ? std::string(reason->as_string())
                                            : std::string("invalid")};
    }
  }
  // {"error": ...}: the worker could not use the request, which is ours to fix.
  const json::value* error = o->if_contains("error");
  return Verdict{Verdict::kFailed,
                 "verifier_error: " + (error && error->is_string() ? std::string(error->as_string())
                                                                   : std::string("unknown"))};
}

void VerifierPool::Run(std::size_t index) {
  Worker& w = slots_[index].worker;
  for (;;) {
    Queued q;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      q = std::move(queue_.front());
      queue_.pop_front();
    }
    if (w.pid <= 0) {
      Worker fresh;
      if (Status s = Spawn(fresh); !s.ok()) {
        spdlog::error("msg=verifier_spawn_failed kind={} error={}", options_.kind,
                      LogValue(s.ToString()));
        q.job.done(Verdict{Verdict::kFailed, "verifier_unavailable"});
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      std::lock_guard lock(mu_);
      w = fresh;
    }
    const auto start = Clock::now();
    bool broken = false;
    Verdict verdict = Attempt(w, q.job, &broken);
    if (broken) {
      ++q.attempts;
      spdlog::warn("msg=verifier_worker_failed kind={} pid={} job={} attempt={} why={}",
                   options_.kind, w.pid, q.job.id, q.attempts, verdict.reason);
      {
        std::lock_guard lock(mu_);
        Kill(w);
      }
      restarts_.fetch_add(1);
      if (q.attempts < options_.max_attempts) {
        std::lock_guard lock(mu_);
        if (!stopping_) {
          queue_.push_front(std::move(q));
          continue;
        }
      }
      q.job.done(verdict);
      continue;
    }
    verified_.fetch_add(1);
    spdlog::debug(
        "msg=verified kind={} job={} verdict={} us={}", options_.kind, q.job.id,
        static_cast<int>(verdict.kind),
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
    q.job.done(verdict);
  }
  std::lock_guard lock(mu_);
  // Closing stdin lets the worker exit on EOF; Kill makes sure it does.
  Kill(w);
}

}  // namespace proofbook::server
