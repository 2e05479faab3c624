#include "server/prover/verifier_pool.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "server/base/crypto.h"
#include "server/base/log.h"
#include "server/base/metrics.h"

extern char** environ;

namespace proofbook::server {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxAnswerBytes = 1 << 20;
// A job whose key the worker keeps dropping (more keys in use than it holds) is sent again with
// the key this many times, then ends with the worker's error.
constexpr int kMaxVkResends = 3;

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Writes n bytes to the non-blocking `fd` before `deadline` (a worker that stops reading its
// stdin must not hang the pool's thread). 0: done, 1: timeout, -1: error (the worker is gone).
int WriteAll(int fd, const char* p, std::size_t n, Clock::time_point deadline) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return 1;
      pollfd pfd{fd, POLLOUT, 0};
      int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (r < 0 && errno != EINTR) return -1;
      if (r == 0) return 1;
      continue;
    }
    if (w <= 0) return -1;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return 0;
}

void AppendFrame(std::string& out, std::string_view body) {
  const auto n = static_cast<uint32_t>(body.size());
  const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(len, 4);
  out.append(body);
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

namespace {

// Whether posix_spawnp would find `command`: a path with a slash names the program file
// itself, a bare name is looked up in PATH.
bool CommandFound(const std::string& command) {
  if (command.find('/') != std::string::npos) return ::access(command.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (true) {
    const std::size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (dir.empty()) dir = ".";
    if (::access((dir + "/" + command).c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) return false;
    dirs.remove_prefix(colon + 1);
  }
}

}  // namespace

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
  // Our end only (the child's stdin is another open file description): writes poll with a
  // deadline instead of blocking.
  ::fcntl(in[1], F_SETFL, ::fcntl(in[1], F_GETFL) | O_NONBLOCK);
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
  if (Status s = Open(); !s.ok()) return s;
  return SpawnWorkers();
}

Status VerifierPool::Open() {
  if (options_.argv.empty()) return Status(StatusCode::kInvalidArgument, "no worker command");
  if (!CommandFound(options_.argv[0])) {
    return Status(StatusCode::kUnavailable, "cannot start verifier worker " + options_.argv[0] +
                                                ": " + std::strerror(ENOENT));
  }
  std::lock_guard lock(mu_);
  slots_.resize(static_cast<std::size_t>(std::max(1, options_.workers)));
  return Status::Ok();
}

Status VerifierPool::SpawnWorkers() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status(StatusCode::kUnavailable, "verifier pool stopped");
  }
  for (Slot& s : slots_) {
    Worker fresh;
    if (Status st = Spawn(fresh); !st.ok()) {
      std::lock_guard lock(mu_);
      for (Slot& k : slots_) Kill(k.worker);
      return st;
    }
    std::lock_guard lock(mu_);  // WorkerPids() may read it
    s.worker = fresh;
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

std::vector<VerifierPool::Queued> VerifierPool::NextRound(bool wait) {
  std::vector<Queued> round;
  std::unique_lock lock(mu_);
  if (wait) cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
  if (stopping_) return round;
  // A job that has already broken a worker goes alone, with nothing else in flight; the others
  // go as many as allowed.
  if (!wait && !queue_.empty() && queue_.front().attempts > 0) return round;
  std::size_t bytes = 0;
  const auto max_batch = static_cast<std::size_t>(std::clamp(options_.max_batch, 1, 512));
  while (!queue_.empty() && round.size() < max_batch && bytes < options_.max_batch_bytes) {
    if (!round.empty() && (queue_.front().attempts > 0 || round.front().attempts > 0)) break;
    const VerifyJob& j = queue_.front().job;
    bytes += j.proof.size() * 4 / 3 + j.public_json.size() + 64;
    round.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return round;
}

bool VerifierPool::Requeue(std::vector<Queued>& jobs) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) queue_.push_front(std::move(*it));
  jobs.clear();
  return true;
}

bool VerifierPool::Send(Slot& slot, Round& round, std::string* why) {
  std::string out;
  for (const Queued& q : round.jobs) {
    const VerifyJob& job = q.job;
    const uint64_t request = next_request_.fetch_add(1);
    round.requests.push_back(request);
    std::string body = "{\"id\":" + std::to_string(request);
    if (!job.vk_json.empty()) {
      // The key once per worker, then its id.
      std::string id = Sha256Hex(job.vk_json);
      body += ",\"vk_id\":\"" + id + "\"";
      if (slot.vks_sent.insert(std::move(id)).second) body += ",\"vk\":" + job.vk_json;
    }
    if (job.source != 0) body += ",\"source\":" + std::to_string(job.source);
    body += ",\"public\":" + (job.public_json.empty() ? std::string("null") : job.public_json);
    body += ",\"proof\":\"" + Base64(job.proof) + "\"}";
    AppendFrame(out, body);
  }
  const int r =
      WriteAll(slot.worker.to_child, out.data(), out.size(), Clock::now() + options_.timeout);
  if (r != 0) {
    *why = r == 1 ? "verifier_timeout" : "verifier_crashed";
    return false;
  }
  rounds_.fetch_add(1);
  return true;
}

VerifierPool::RoundResult VerifierPool::Receive(Slot& slot, const Round& round) {
  RoundResult result;
  result.broken = true;
  auto deadline = Clock::now() + options_.timeout;
  for (uint64_t request : round.requests) {
    unsigned char head[4];
    int r = ReadAll(slot.worker.from_child, reinterpret_cast<char*>(head), 4, deadline);
    if (r != 0) {
      result.why = r == 1 ? "verifier_timeout" : "verifier_crashed";
      return result;
    }
    const std::size_t size = (std::size_t{head[0]} << 24) | (std::size_t{head[1]} << 16) |
                             (std::size_t{head[2]} << 8) | head[3];
    if (size > kMaxAnswerBytes) {
      result.why = "verifier_bad_answer";
      return result;
    }
    std::string text(size, '\0');
    r = ReadAll(slot.worker.from_child, text.data(), size, deadline);
    if (r != 0) {
      result.why = r == 1 ? "verifier_timeout" : "verifier_crashed";
      return result;
    }
    deadline = Clock::now() + options_.timeout;

    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    const json::object* o = v.if_object();
    if (ec || o == nullptr || !o->contains("id") || !(*o).at("id").is_int64() ||
        (*o).at("id").as_int64() != static_cast<int64_t>(request)) {
      result.why = "verifier_bad_answer";
      return result;
    }
    Answer answer;
    if (const json::value* verdict = o->if_contains("verdict"); verdict && verdict->is_string()) {
      if (verdict->as_string() == "valid") {
        answer.verdict = Verdict{Verdict::kValid, ""};
      } else {
        const json::value* reason = o->if_contains("reason");
        answer.verdict = Verdict{Verdict::kInvalid, reason && reason->is_string()
                                                        ? std::string(reason->as_string())
                                                        : std::string("invalid")};
      }
    } else {
      // {"error": ...}: the worker could not use the request, which is ours to fix.
      const json::value* error = o->if_contains("error");
      const json::value* unknown = o->if_contains("unknown_vk");
      answer.unknown_vk = unknown != nullptr && unknown->is_bool() && unknown->as_bool();
      answer.verdict =
          Verdict{Verdict::kFailed, "verifier_error: " + (error && error->is_string()
                                                              ? std::string(error->as_string())
                                                              : std::string("unknown"))};
    }
    result.answers.push_back(std::move(answer));
  }
  result.broken = false;
  return result;
}

void VerifierPool::Run(std::size_t index) {
  Slot& slot = slots_[index];
  Worker& w = slot.worker;
  std::deque<Round> flight;  // written, answers not read yet; at most two
  // The worker is replaced. The oldest round's unanswered jobs are charged an attempt and
  // queued again (to go alone), or fail after max_attempts; the next round's go back uncharged
  // (the worker may not have started them: it answers in order).
  auto broke = [&](const std::string& why, std::size_t answered_in_front) {
    std::vector<Queued> again;
    std::vector<Queued> failed;  // told once the worker is replaced
    for (std::size_t r = 0; r < flight.size(); ++r) {
      for (std::size_t i = r == 0 ? answered_in_front : 0; i < flight[r].jobs.size(); ++i) {
        Queued& q = flight[r].jobs[i];
        if (r == 0 && i == answered_in_front) {
          spdlog::warn("msg=verifier_worker_failed kind={} pid={} job={} attempt={} why={}",
                       options_.kind, w.pid, q.job.id, q.attempts + 1, why);
        }
        if (r == 0 && ++q.attempts >= options_.max_attempts) {
          failed.push_back(std::move(q));
        } else {
          again.push_back(std::move(q));
        }
      }
    }
    flight.clear();
    {
      std::lock_guard lock(mu_);
      Kill(w);
    }
    restarts_.fetch_add(1);
    for (Queued& q : failed) q.job.done(Verdict{Verdict::kFailed, why});
    if (!again.empty() && !Requeue(again)) {
      for (Queued& q : again) q.job.done(Verdict{Verdict::kFailed, std::string(kVerdictStopping)});
    }
  };
  for (;;) {
    // A second round goes beside the first only when the first is not a lone retry.
    if (flight.empty() || (flight.size() == 1 && flight.front().jobs.front().attempts == 0)) {
      std::vector<Queued> jobs = NextRound(/*wait=*/flight.empty());
      if (jobs.empty() && flight.empty()) break;  // stopping
      if (!jobs.empty()) {
        if (w.pid <= 0) {  // only with nothing in flight
          Worker fresh;
          if (Status s = Spawn(fresh); !s.ok()) {
            spdlog::error("msg=verifier_spawn_failed kind={} error={}", options_.kind,
                          LogValue(s.ToString()));
            for (Queued& q : jobs) q.job.done(Verdict{Verdict::kFailed, "verifier_unavailable"});
            std::this_thread::sleep_for(std::chrono::seconds(1));
            continue;
          }
          std::lock_guard lock(mu_);
          w = fresh;
          slot.vks_sent.clear();
        }
        flight.push_back(Round{std::move(jobs), {}});
        std::string why;
        if (!Send(slot, flight.back(), &why)) broke(why, 0);
        continue;
      }
    }
    const auto start = Clock::now();
    RoundResult result = Receive(slot, flight.front());
    Round& round = flight.front();
    std::vector<Queued> again;  // back to the queue, in order
    for (std::size_t i = 0; i < result.answers.size(); ++i) {
      Queued& q = round.jobs[i];
      Answer& a = result.answers[i];
      if (a.unknown_vk && q.vk_resends < kMaxVkResends) {
        // Dropped by the worker (it holds 64 keys): forget it here, and send it again with it.
        slot.vks_sent.erase(Sha256Hex(q.job.vk_json));
        ++q.vk_resends;
        again.push_back(std::move(q));
        continue;
      }
      verified_.fetch_add(1);
      q.job.done(a.verdict);
    }
    spdlog::debug(
        "msg=verified kind={} jobs={} answered={} us={}", options_.kind, round.jobs.size(),
        result.answers.size(),
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
    if (!again.empty() && !Requeue(again)) {
      for (Queued& q : again) q.job.done(Verdict{Verdict::kFailed, std::string(kVerdictStopping)});
    }
    if (result.broken) {
      broke(result.why, result.answers.size());
    } else {
      flight.pop_front();
    }
  }
  std::lock_guard lock(mu_);
  // Closing stdin lets the worker exit on EOF; Kill makes sure it does.
  Kill(w);
}

}  // namespace proofbook::server
