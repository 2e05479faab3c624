// proofbook-prover: a ready prover. Connects to /v1/prover/ws with its API key, stakes if
// asked, posts its offers, proves each assignment with the real prover for the market
// (snarkjs groth16 fullprove with the market's circuit files; sha256-preimage from the
// order's "preimage" hint; sha256-merge, a proof tree's merge, as SHA-256 of the two children's
// digests the assignment carries), streams the proof back and logs each job with its timing.
//
// Bounded parallelism (the sum of the offers' capacities), reconnection with exponential
// backoff and jitter, open assignments resumed after a reconnect (the server sends them
// again), in-flight jobs finished on SIGTERM/SIGINT after the offers are cancelled.
//
// A job whose statement it cannot prove (no preimage that hashes to the order's digest, a
// witness the circuit refuses or that proves other public signals) is declined as
// `unprovable` rather than left to miss its due time. A job handed on to another prover
// (`reassigned_away`) is still proven, after any fresh job, while the order's deadline is ahead
// and the market pays an uncle reward (--no-uncles: dropped). A `released` job is dropped.
// Misbehaviour for demos and tests, off by default: --fail-rate (skip the work, deliver garbage),
// --delay-ms (deliver late), --tamper (alter one byte of every proof); --fault-market limits them
// to one market's jobs (a prover that proves leaves honestly and fails merges).
//
// Threads: one io thread runs the WebSocket (all socket work happens there); `parallel`
// worker threads prove. Workers hand proofs to the io thread with net::post.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "clients/common/hex.h"
#include "clients/common/http_client.h"
#include "clients/common/process.h"
#include "clients/common/ws_client.h"

namespace {

namespace net = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// ---- Logging: logfmt lines on stderr -----------------------------------------------------------

std::mutex log_mu;
void Log(const char* level, const std::string& msg) {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  std::lock_guard lock(log_mu);
  std::cerr << "ts=" << ts << '.' << std::setw(3) << std::setfill('0') << ms.count()
            << "Z level=" << level << ' ' << msg << std::endl;
}

// ---- Configuration -----------------------------------------------------------------------------

struct OfferSpec {
  std::string market;
  int64_t price = 0, est_ms = 0, capacity = 1;
};

struct Config {
  proofbook::clients::HttpEndpoint endpoint;  // from --url
  std::string api_key;
  int64_t stake = 0;
  std::vector<OfferSpec> offers;
  std::map<std::string, std::string> circuits;  // market -> folder with circuit.wasm, .zkey
  std::string node = "node";
  std::string snarkjs;
  std::string work_dir;
  double fail_rate = 0;
  int64_t delay_ms = 0;
  bool tamper = false;
  std::string fault_market;  // misbehave only on this market's jobs; empty: on all
  bool no_uncles = false;    // drop a job handed on to another prover
  int64_t max_backoff_ms = 10000;
};

// "key=value,key=value" -> map.
std::map<std::string, std::string> KeyValues(const std::string& text) {
  std::map<std::string, std::string> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    auto eq = part.find('=');
    if (eq == std::string::npos) throw CLI::ValidationError("expected key=value in '" + text + "'");
    out[part.substr(0, eq)] = part.substr(eq + 1);
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A member of a message that may be missing (an older server): `fallback` then.
int64_t IntOr(const json::object& m, const char* name, int64_t fallback) {
  const json::value* v = m.if_contains(name);
  return v != nullptr && v->is_int64() ? v->as_int64() : fallback;
}

std::string StrOr(const json::object& m, const char* name, const std::string& fallback) {
  const json::value* v = m.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : fallback;
}

enum class RunResult {
  kOk,          // exit status 0
  kFailed,      // ran and failed
  kNotStarted,  // could not be started (not found, ...)
  kStopped,     // killed because `stop` said so
};

// How often a running child's job is asked whether it is still wanted.
constexpr auto kStopPollInterval = std::chrono::milliseconds(100);
// A decline or proof refused for now (rate_limited, overloaded, unavailable) goes again after
// this long.
constexpr auto kRetryInterval = std::chrono::seconds(1);

// Runs argv (found in PATH) to completion, its output ours (or dropped, `quiet`); kills it as
// soon as `stop()` is true. The child starts with no signal blocked, though this process blocks
// SIGPIPE.
RunResult Run(const std::vector<std::string>& argv, std::string* why,
              const std::function<bool()>& stop, bool quiet = false) {
  proofbook::clients::ProcessOptions options;
  options.argv = argv;
  options.search_path = true;
  if (quiet) {
    options.stdout_to = proofbook::clients::ProcessOutput::Capture();
    options.stderr_to = proofbook::clients::ProcessOutput::ToStdout();
  }
  proofbook::clients::Process child(std::move(options));
  if (!child.started()) {
    *why = child.error();
    return RunResult::kNotStarted;
  }
  for (;;) {
    if (std::optional<int> status = child.Wait(kStopPollInterval)) {
      if (proofbook::clients::Process::ExitCode(*status) == 0) return RunResult::kOk;
      *why = argv[0] + " failed (status " + std::to_string(*status) + ")";
      return RunResult::kFailed;
    }
    if (stop()) {
      child.Kill();
      *why = "stopped";
      return RunResult::kStopped;
    }
  }
}

proofbook::clients::HttpClientOptions HttpOptions() {
  proofbook::clients::HttpClientOptions options;
  options.user_agent = "proofbook-prover";
  return options;
}

// The prover's REST calls (markets, stake, offers): status and body, or status 0 and why.
std::pair<int, std::string> Answer(const proofbook::clients::HttpResponse& r) {
  if (r.failure != proofbook::clients::HttpFailure::kNone) return {0, r.error};
  return {r.status, r.body};
}

// ---- The prover ------------------------------------------------------------------------------

struct Job {
  int64_t assignment = 0, order = 0, price = 0, due_at_ms = 0;
  std::string market;
  json::value inputs;
  Clock::time_point received;
};

// What proving a job came to.
struct Attempt {
  enum Kind {
    kProof,       // `text` is the proof
    kUnprovable,  // the statement cannot be proven by us: `text` says why; declined
    kFailed,      // our own trouble (no circuit, snarkjs would not run): `text`; abandoned
    kStopped,     // the job stopped being wanted while it was proven
  };
  Kind kind = kFailed;
  std::string text;
};

// When working on a job stops being worth it (shared between the io thread and the workers).
struct JobControl {
  int64_t stop_at_ms = std::numeric_limits<int64_t>::max();  // Unix ms; 0: now
  std::string why;                                           // why it stops then, for the log
  bool uncle = false;  // handed on to another prover: proven for the uncle reward only
};

class Prover {
 public:
  explicit Prover(Config c)
      : c_(std::move(c)), http_(c_.endpoint, HttpOptions()), rng_(std::random_device{}()) {
    ws_options_.host = c_.endpoint.host;
    ws_options_.port = c_.endpoint.port;
    ws_options_.path = c_.endpoint.base_path + "/v1/prover/ws";
    ws_options_.bearer = c_.api_key;
    ws_options_.tls = c_.endpoint.tls;
    ws_options_.ca_file = c_.endpoint.ca_file;
  }

  int Run() {
    if (!Setup()) return 1;
    int parallel = 0;
    for (const auto& o : c_.offers) parallel += static_cast<int>(o.capacity);
    parallel = std::max(1, parallel);
    for (int i = 0; i < parallel; ++i) workers_.emplace_back([this] { Work(); });
    signals_.async_wait([this](error_code ec, int sig) {
      if (!ec) Drain(sig);
    });
    Connect();
    ioc_.run();
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    Log("info", "msg=stopped jobs_done=" + std::to_string(done_));
    return 0;
  }

 private:
  // GET or POST (with a JSON body) on the server's REST API, with our key.
  proofbook::clients::HttpResponse Call(const std::string& method, const std::string& target,
                                        const std::string& body = "") {
    proofbook::clients::HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.bearer = c_.api_key;
    if (!body.empty()) request.content_type = "application/json";
    return http_.Send(request);
  }

  bool Setup() {
    if (c_.work_dir.empty()) c_.work_dir = "/tmp/proofbook-prover-" + std::to_string(getpid());
    std::filesystem::create_directories(c_.work_dir);
    auto [status, body] = Answer(Call("GET", "/v1/markets"));
    if (status != 200) {
      Log("error",
          "msg=cannot_list_markets status=" + std::to_string(status) + " error=\"" + body + "\"");
      return false;
    }
    const json::value markets = json::parse(body);
    for (const auto& m : markets.at("markets").as_array()) {
      verifier_[std::string(m.at("id").as_string())] = std::string(m.at("verifier").as_string());
    }
    if (c_.stake > 0) {
      auto [s, b] =
          Answer(Call("POST", "/v1/stake", "{\"amount\":" + std::to_string(c_.stake) + "}"));
      if (s != 200) {
        Log("error", "msg=stake_failed status=" + std::to_string(s) + " body=" + b);
        return false;
      }
      Log("info", "msg=staked amount=" + std::to_string(c_.stake));
    }
    return true;
  }

  // ---- Connection (io thread) ----

  void Connect() {
    ws_.AsyncConnect(ws_options_, [this](bool upgraded) {
      if (!upgraded) return Reconnect(ws_.error());
      OnConnected();
    });
  }

  void OnConnected() {
    connected_ = true;
    backoff_ms_ = 0;
    Log("info", "msg=connected");
    // Messages are not kept across connections: offers (or their cancellations) go again.
    if (draining_) {
      CancelOffers();
    } else {
      PostOffers();
    }
    // Proofs and declines made while we were away go now; the server resends open assignments
    // too.
    for (auto& [a, proof] : ready_) SendProof(a, proof);
    for (auto& [a, reason] : declines_) SendDecline(a, reason);
    ReadLoop();
  }

  void Reconnect(const std::string& why) {
    connected_ = false;
    if (draining_ && InFlight() == 0) return ioc_.stop();
    backoff_ms_ = std::min<int64_t>(c_.max_backoff_ms, backoff_ms_ == 0 ? 100 : backoff_ms_ * 2);
    const int64_t wait = std::uniform_int_distribution<int64_t>(backoff_ms_ / 2, backoff_ms_)(rng_);
    Log("warn", "msg=disconnected why=\"" + why + "\" retry_ms=" + std::to_string(wait));
    retry_.expires_after(std::chrono::milliseconds(wait));
    retry_.async_wait([this](error_code ec) {
      if (!ec) Connect();
    });
  }

  // Posts each configured offer that has no open offer in its market (after a reconnect the
  // server may have cancelled them: the prover was gone past the grace period).
  void PostOffers() {
    auto [status, body] = Answer(Call("GET", "/v1/offers"));
    std::set<std::string> open;
    if (status == 200) {
      const json::value listed = json::parse(body);
      for (const auto& o : listed.at("offers").as_array()) {
        open.insert(std::string(o.at("market").as_string()));
        offer_ids_.insert(o.at("id").as_int64());
      }
    }
    for (const auto& o : c_.offers) {
      if (open.count(o.market)) continue;
      Send(json::serialize(json::object{{"type", "offer"},
                                        {"market", o.market},
                                        {"price", o.price},
                                        {"est_ms", o.est_ms},
                                        {"capacity", o.capacity}}));
    }
  }

  void ReadLoop() {
    ws_.AsyncRead([this](std::optional<proofbook::clients::WsMessage> message) {
      if (!message) return Reconnect(ws_.error());
      OnMessage(message->data);
      ReadLoop();
    });
  }

  void OnMessage(const std::string& text) {
    error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return;
    const json::object& m = v.as_object();
    const std::string type = m.contains("type") ? std::string(m.at("type").as_string()) : "";
    if (type == "offer_placed") {
      const auto& offer = m.at("offer");
      offer_ids_.insert(offer.at("id").as_int64());
      Log("info", "msg=offer_placed offer=" + std::to_string(offer.at("id").as_int64()) +
                      " market=" + std::string(offer.at("market").as_string()));
    } else if (type == "assignment") {
      Job job;
      job.assignment = m.at("assignment").as_int64();
      job.order = m.at("order").as_int64();
      job.market = std::string(m.at("market").as_string());
      job.price = m.at("price").as_int64();
      job.due_at_ms = m.at("due_at_ms").as_int64();
      job.inputs = m.at("inputs");
      job.received = Clock::now();
      if (draining_ || !taken_.insert(job.assignment).second) return;  // already ours
      Log("info", "msg=assignment assignment=" + std::to_string(job.assignment) +
                      " order=" + std::to_string(job.order) + " market=" + job.market +
                      " price=" + std::to_string(job.price));
      {
        std::lock_guard lock(mu_);
        jobs_.push_back(std::move(job));
        ++in_flight_;
        PreemptUnclesLocked();
      }
      cv_.notify_one();
    } else if (type == "proof_result") {
      const int64_t a = m.at("assignment").as_int64();
      ready_.erase(a);
      Finish(a, "msg=proof_result assignment=" + std::to_string(a) +
                    " result=" + std::string(m.at("result").as_string()) +
                    (m.contains("reason") ? " reason=" + std::string(m.at("reason").as_string())
                                          : std::string()) +
                    (m.contains("fault") ? " fault=" + StrOr(m, "fault", "") : std::string()));
    } else if (type == "settlement") {
      Log("info", "msg=paid assignment=" + std::to_string(m.at("assignment").as_int64()) +
                      " amount=" + std::to_string(m.at("amount").as_int64()) +
                      " kind=" + StrOr(m, "kind", "payment"));
    } else if (type == "slashed") {
      Log("warn", "msg=slashed assignment=" + std::to_string(m.at("assignment").as_int64()) +
                      " amount=" + std::to_string(m.at("amount").as_int64()) +
                      " reason=" + std::string(m.at("reason").as_string()));
    } else if (type == "reassigned_away") {
      OnReassignedAway(m);
    } else if (type == "released") {
      // Closed without a slash (the order's inputs were bad, it was unprovable, or the
      // verifier failed): stop working on it.
      const int64_t a = m.at("assignment").as_int64();
      const std::string reason = StrOr(m, "reason", "-");
      StopJob(a, "released (" + reason + ")");
      Finish(a, "msg=released assignment=" + std::to_string(a) +
                    " order=" + std::to_string(IntOr(m, "order", 0)) + " reason=" + reason);
    } else if (type == "declined") {
      const int64_t a = m.at("assignment").as_int64();
      StopJob(a, "declined");
      Finish(a, "msg=declined assignment=" + std::to_string(a) + " order=" +
                    std::to_string(IntOr(m, "order", 0)) + " reason=" + StrOr(m, "reason", "-"));
    } else if (type == "error") {
      const auto& e = m.at("error");
      const std::string code(e.at("code").as_string());
      Log("warn", "msg=server_error code=" + code + " message=\"" +
                      std::string(e.at("message").as_string()) + "\"");
      // A refused proof or decline ends its job, unless it was refused for now (the server's
      // database away, too busy, rate limited): then it goes again a second later. Dropping a
      // proof refused `unavailable` while PostgreSQL restarted cost an honest prover a
      // missed-deadline slash (loadtest/chaos.sh).
      const bool for_now = code == "rate_limited" || code == "overloaded" || code == "unavailable";
      if (const json::value* id = m.if_contains("id"); id && id->is_string()) {
        std::string s(id->as_string());
        if (s.rfind("proof-", 0) == 0) {
          const int64_t a = std::stoll(s.substr(6));
          if (for_now && ready_.count(a) != 0) {
            RetryProofLater(a);
          } else {
            ready_.erase(a);
            Finish(a, "msg=proof_refused assignment=" + std::to_string(a) + " code=" + code);
          }
        } else if (s.rfind("decline-", 0) == 0) {
          const int64_t a = std::stoll(s.substr(8));
          if (for_now) {
            RetryDeclineLater(a);
          } else {
            Finish(a, "msg=decline_refused assignment=" + std::to_string(a) + " code=" + code);
          }
        }
      }
    }
  }

  // The slot went to another prover after our due time. With an uncle reward on offer and the
  // order's deadline ahead the job goes on (after any fresh job; see Work), and its proof is
  // delivered as usual: a valid one before the deadline earns the reward.
  void OnReassignedAway(const json::object& m) {
    const int64_t a = m.at("assignment").as_int64();
    const int64_t uncle_reward_bps = IntOr(m, "uncle_reward_bps", 0);
    const int64_t deadline_ms = IntOr(m, "deadline_ms", 0);
    const bool ours = taken_.count(a) != 0 && finished_.count(a) == 0 && declines_.count(a) == 0;
    if (ours && !c_.no_uncles && !draining_ && uncle_reward_bps > 0 && deadline_ms > NowMs()) {
      {
        std::lock_guard lock(mu_);
        JobControl& control = control_[a];
        control.uncle = true;
        control.stop_at_ms = std::min(control.stop_at_ms, deadline_ms);
        if (control.why.empty()) control.why = "the order's deadline passed";
        PreemptUnclesLocked();
      }
      Log("info", "msg=reassigned_away assignment=" + std::to_string(a) +
                      " order=" + std::to_string(IntOr(m, "order", 0)) +
                      " keep_proving=uncle uncle_reward_bps=" + std::to_string(uncle_reward_bps) +
                      " deadline_ms=" + std::to_string(deadline_ms));
      return;
    }
    StopJob(a, "reassigned away");
    Finish(a, "msg=reassigned_away assignment=" + std::to_string(a));
  }

  // A job's end (io thread).
  void Finish(int64_t assignment, const std::string& line) {
    ready_.erase(assignment);
    declines_.erase(assignment);
    decline_backlog_.erase(assignment);
    if (taken_.count(assignment) == 0) return Log("info", line);  // never ours in this run
    if (!finished_.insert(assignment).second) return;
    Log("info", line);
    ++done_;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
    }
    if (draining_ && InFlight() == 0) Close();
  }

  int InFlight() {
    std::lock_guard lock(mu_);
    return in_flight_;
  }

  // Tells the worker (if any) to stop on `assignment` now (any thread).
  void StopJob(int64_t assignment, const std::string& why) {
    std::lock_guard lock(mu_);
    JobControl& control = control_[assignment];
    if (control.stop_at_ms == 0) return;
    control.stop_at_ms = 0;
    control.why = why;
  }

  // Whether `assignment` is still worth working on; if not, `why`.
  bool Wanted(int64_t assignment, std::string* why) {
    std::lock_guard lock(mu_);
    auto it = control_.find(assignment);
    if (it == control_.end() || NowMs() < it->second.stop_at_ms) return true;
    *why = it->second.why;
    return false;
  }

  bool IsUncleLocked(int64_t assignment) const {
    auto it = control_.find(assignment);
    return it != control_.end() && it->second.uncle;
  }

  // A fresh job (a full price, and a slash if it misses) goes before an uncle job (a share of
  // the price): when fresh jobs wait and no worker is idle, uncle jobs being proven stop.
  void PreemptUnclesLocked() {
    int64_t waiting = 0;
    for (const Job& job : jobs_) waiting += IsUncleLocked(job.assignment) ? 0 : 1;
    int64_t short_of = waiting - idle_;
    for (int64_t a : running_) {
      if (short_of <= 0) return;
      JobControl& control = control_[a];
      if (!control.uncle || control.stop_at_ms == 0) continue;
      control.stop_at_ms = 0;
      control.why = "a fresh assignment needs the worker";
      --short_of;
    }
  }

  // ---- Writes (io thread) ----

  // Nothing is sent while disconnected: on reconnecting, offers and ready proofs go again.
  void Send(std::string text, bool binary = false) {
    if (!connected_) return;
    // Refused when the connection has just failed (the read side notices and reconnects), or
    // when the client's send queue is full.
    if (!ws_.Send(std::move(text), binary) && ws_.ok()) {
      Log("error", "msg=send_refused why=\"send queue full\"");
    }
  }

  // Declines `assignment` (worker's verdict, posted to the io thread); kept until answered.
  void Decline(const Job& job, const std::string& reason, const std::string& why) {
    const int64_t a = job.assignment;
    if (finished_.count(a) != 0) return;  // released or handed on meanwhile
    bool uncle = false;
    {
      std::lock_guard lock(mu_);
      uncle = IsUncleLocked(a);
    }
    if (uncle) {
      // Handed on already: the slot is another's, nothing to decline.
      Finish(a, "msg=job_abandoned assignment=" + std::to_string(a) + " why=\"" + why + "\"");
      return;
    }
    Log("warn", "msg=declining assignment=" + std::to_string(a) + " order=" +
                    std::to_string(job.order) + " reason=" + reason + " why=\"" + why + "\"");
    declines_[a] = reason;
    SendDecline(a, reason);
  }

  void SendDecline(int64_t assignment, const std::string& reason) {
    Send(json::serialize(json::object{{"type", "decline"},
                                      {"id", "decline-" + std::to_string(assignment)},
                                      {"assignment", assignment},
                                      {"reason", reason}}));
  }

  // A decline refused for now (rate limited, overloaded): all such go again in a second.
  void RetryDeclineLater(int64_t assignment) {
    if (declines_.count(assignment) == 0) return;
    const bool armed = !decline_backlog_.empty();
    decline_backlog_.insert(assignment);
    if (armed) return;
    decline_retry_.expires_after(kRetryInterval);
    decline_retry_.async_wait([this](error_code ec) {
      if (ec) return;
      std::set<int64_t> backlog;
      backlog.swap(decline_backlog_);
      for (int64_t a : backlog) {
        if (auto it = declines_.find(a); it != declines_.end()) SendDecline(a, it->second);
      }
    });
  }

  // A proof refused for now (the server's database away, overloaded): all such go again in a
  // second, while they are still unanswered (a reconnection sends them anyway).
  void RetryProofLater(int64_t assignment) {
    Log("info", "msg=proof_retry assignment=" + std::to_string(assignment));
    const bool armed = !proof_backlog_.empty();
    proof_backlog_.insert(assignment);
    if (armed) return;
    proof_retry_.expires_after(kRetryInterval);
    proof_retry_.async_wait([this](error_code ec) {
      if (ec) return;
      std::set<int64_t> backlog;
      backlog.swap(proof_backlog_);
      for (int64_t a : backlog) {
        if (auto it = ready_.find(a); it != ready_.end()) SendProof(a, it->second);
      }
    });
  }

  void SendProof(int64_t assignment, const std::string& proof) {
    Send(json::serialize(json::object{{"type", "proof"},
                                      {"id", "proof-" + std::to_string(assignment)},
                                      {"assignment", assignment},
                                      {"size", proof.size()},
                                      {"sha256", proofbook::clients::Sha256Hex(proof)}}));
    for (std::size_t off = 0; off < proof.size(); off += 64 << 10) {
      Send(proof.substr(off, 64 << 10), /*binary=*/true);
    }
  }

  // SIGTERM/SIGINT: no new work, offers cancelled, in-flight jobs finished, then exit.
  void Drain(int sig) {
    draining_ = true;
    Log("info", std::string("msg=draining signal=") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                    " in_flight=" + std::to_string(InFlight()));
    CancelOffers();
    {
      // Uncle jobs are optional work: they end now rather than hold the exit.
      std::lock_guard lock(mu_);
      for (auto& [a, control] : control_) {
        if (control.uncle && control.stop_at_ms != 0) {
          control.stop_at_ms = 0;
          control.why = "draining";
        }
      }
    }
    if (InFlight() == 0) return Close();
    signals_.async_wait([this](error_code ec, int) {
      if (!ec) {
        Log("warn", "msg=second_signal_exiting_now");
        ioc_.stop();
      }
    });
  }

  void CancelOffers() {
    for (int64_t id : offer_ids_) {
      Send(json::serialize(json::object{{"type", "cancel_offer"}, {"offer", id}}));
    }
  }

  void Close() {
    if (!connected_) return ioc_.stop();
    connected_ = false;
    // The close frame goes after what is queued (the cancellations).
    ws_.AsyncClose(proofbook::clients::kWsCloseNormal, [this] { ioc_.stop(); });
  }

  // ---- Proving (worker threads) ----

  void Work() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        ++idle_;
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        --idle_;
        if (stopping_ && jobs_.empty()) return;
        // Fresh jobs first: an uncle job waits for a worker no fresh job needs.
        auto next = std::find_if(jobs_.begin(), jobs_.end(),
                                 [this](const Job& j) { return !IsUncleLocked(j.assignment); });
        if (next == jobs_.end()) next = jobs_.begin();
        job = std::move(*next);
        jobs_.erase(next);
        running_.insert(job.assignment);
      }
      Handle(job);
      std::lock_guard lock(mu_);
      running_.erase(job.assignment);
    }
  }

  // Proves one job and hands the outcome to the io thread: the proof, a decline, or the end.
  void Handle(const Job& job) {
    const int64_t a = job.assignment;
    auto end = [this, a](std::string line) {
      net::post(ioc_, [this, a, line = std::move(line)] { Finish(a, line); });
    };
    std::string why;
    if (!Wanted(a, &why)) {
      return end("msg=job_dropped assignment=" + std::to_string(a) + " why=\"" + why + "\"");
    }
    const auto start = Clock::now();
    // --fail-rate: a prover that skips the work and sends garbage (so it needs no circuit).
    const bool faulty = c_.fault_market.empty() || c_.fault_market == job.market;
    const bool fail = faulty && Fails();
    Attempt attempt = fail ? Attempt{Attempt::kProof,
                                     "garbage " + std::to_string(start.time_since_epoch().count())}
                           : Prove(job);
    const auto prove_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    switch (attempt.kind) {
      case Attempt::kProof:
        break;
      case Attempt::kStopped:
        Wanted(a, &why);
        return end("msg=job_dropped assignment=" + std::to_string(a) + " why=\"" + why + "\"");
      case Attempt::kUnprovable:
        // Declined before the due time rather than missed and slashed.
        net::post(ioc_,
                  [this, job, why = std::move(attempt.text)] { Decline(job, "unprovable", why); });
        return;
      case Attempt::kFailed:
        Log("error",
            "msg=prove_failed assignment=" + std::to_string(a) + " why=\"" + attempt.text + "\"");
        return end("msg=job_abandoned assignment=" + std::to_string(a));
    }
    std::string& proof = attempt.text;
    const bool tamper = faulty && c_.tamper;
    const char* fault = fail ? " fault=garbage" : tamper ? " fault=tampered" : "";
    if (tamper && !fail) Tamper(proof);
    if (faulty && c_.delay_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(c_.delay_ms));
    // Released, or an uncle job past the order's deadline, while it was proven.
    if (!Wanted(a, &why)) {
      return end("msg=job_dropped assignment=" + std::to_string(a) + " why=\"" + why + "\"");
    }
    bool uncle = false;
    {
      std::lock_guard lock(mu_);
      uncle = IsUncleLocked(a);
    }
    Log("info", "msg=proved assignment=" + std::to_string(a) + " market=" + job.market +
                    " bytes=" + std::to_string(proof.size()) +
                    " prove_ms=" + std::to_string(prove_ms) + fault + (uncle ? " uncle=true" : ""));
    net::post(ioc_, [this, a, p = std::move(proof)] {
      if (finished_.count(a) != 0) return;  // released or handed on meanwhile
      ready_[a] = p;
      SendProof(a, p);
    });
  }

  bool Fails() {
    std::lock_guard lock(rng_mu_);
    return c_.fail_rate > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < c_.fail_rate;
  }

  // --tamper: alter one digit in the middle (a coordinate, for a Groth16 proof), else the last
  // byte.
  static void Tamper(std::string& proof) {
    if (proof.empty()) return;
    std::size_t i = proof.size() / 2;
    while (i < proof.size() && !std::isdigit(static_cast<unsigned char>(proof[i]))) ++i;
    if (i == proof.size()) i = proof.size() - 1;
    proof[i] = proof[i] == '1' ? '2' : '1';
  }

  static Attempt Proof(std::string proof) { return {Attempt::kProof, std::move(proof)}; }
  static Attempt Unprovable(std::string why) { return {Attempt::kUnprovable, std::move(why)}; }
  static Attempt Failed(std::string why) { return {Attempt::kFailed, std::move(why)}; }

  Attempt Prove(const Job& job) {
    auto v = verifier_.find(job.market);
    if (v == verifier_.end()) return Failed("unknown market " + job.market);
    const json::object* in = job.inputs.if_object();
    if (v->second == "sha256-preimage") return ProveSha256(in);
    if (v->second == "sha256-merge") return ProveSha256Merge(in);
    if (v->second == "snarkjs-groth16") return ProveGroth16(job, in);
    return Failed("no prover for verifier " + v->second);
  }

  // The proof is the preimage itself; this prover finds it only in the order's "preimage" hint.
  static Attempt ProveSha256(const json::object* in) {
    const json::value* digest = in ? in->if_contains("sha256") : nullptr;
    if (digest == nullptr || !digest->is_string()) {
      return Unprovable("the order's inputs carry no sha256");
    }
    const json::value* pre = in->if_contains("preimage");
    if (pre == nullptr || !pre->is_string()) {
      return Unprovable("the order's inputs carry no preimage and none can be found");
    }
    std::string want(digest->as_string());
    std::transform(want.begin(), want.end(), want.begin(), ::tolower);
    std::string preimage(pre->as_string());
    if (proofbook::clients::Sha256Hex(preimage) != want) {
      return Unprovable("the order's preimage does not hash to its sha256");
    }
    return Proof(std::move(preimage));
  }

  // A proof tree's merge: the 32 bytes of SHA-256(left || right), the children's digests as the
  // assignment carries them (the server writes them into the merge's order when it places it).
  static Attempt ProveSha256Merge(const json::object* in) {
    std::string joined;
    for (const char* child : {"left", "right"}) {
      const json::value* digest = in ? in->if_contains(child) : nullptr;
      auto bytes = digest != nullptr && digest->is_string()
                       ? proofbook::clients::HexDecode(digest->as_string())
                       : std::nullopt;
      if (!bytes || bytes->size() != 32) {
        return Unprovable(std::string("the merge's inputs carry no ") + child + " digest");
      }
      joined.append(bytes->begin(), bytes->end());
    }
    auto parent = proofbook::clients::HexDecode(proofbook::clients::Sha256Hex(joined));
    return Proof(std::string(parent->begin(), parent->end()));
  }

  // snarkjs-groth16: full prove from the order's witness with the market's circuit.
  Attempt ProveGroth16(const Job& job, const json::object* in) {
    auto circuit = c_.circuits.find(job.market);
    if (circuit == c_.circuits.end()) return Failed("no --circuit for market " + job.market);
    const std::string wasm = circuit->second + "/circuit.wasm";
    const std::string zkey = circuit->second + "/circuit_final.zkey";
    // Missing files are our trouble: snarkjs would fail as if the witness were bad.
    for (const std::string& file : {wasm, zkey, c_.snarkjs}) {
      if (!std::filesystem::exists(file)) return Failed("no file " + file);
    }
    const json::value* witness = in ? in->if_contains("witness") : nullptr;
    if (witness == nullptr || !witness->is_object()) {
      return Unprovable("the order's inputs carry no witness");
    }
    const int64_t a = job.assignment;
    const auto stop = [this, a] {
      std::string ignored;
      return !Wanted(a, &ignored);
    };
    const std::string dir = c_.work_dir + "/a" + std::to_string(a);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/input.json") << json::serialize(*witness);
    std::string why;
    RunResult run = ::Run({c_.node, c_.snarkjs, "groth16", "fullprove", dir + "/input.json", wasm,
                           zkey, dir + "/proof.json", dir + "/public.json"},
                          &why, stop);
    if (run == RunResult::kFailed) {
      // Tell a witness the circuit refuses (the order's fault) from trouble of ours: the
      // witness alone is calculated again (only after a failure, so a good job pays nothing).
      std::string wtns_why;
      RunResult wtns = ::Run(
          {c_.node, c_.snarkjs, "wtns", "calculate", wasm, dir + "/input.json", dir + "/w.wtns"},
          &wtns_why, stop, /*quiet=*/true);
      if (wtns == RunResult::kFailed) {
        std::filesystem::remove_all(dir);
        return Unprovable("the circuit refuses the order's witness");
      }
      if (wtns == RunResult::kStopped) run = RunResult::kStopped;
    }
    const std::string proof = run == RunResult::kOk ? ReadFile(dir + "/proof.json") : "";
    const std::string public_text = run == RunResult::kOk ? ReadFile(dir + "/public.json") : "";
    std::filesystem::remove_all(dir);
    if (run == RunResult::kStopped) return {Attempt::kStopped, "stopped"};
    if (run != RunResult::kOk) return Failed(why);
    if (proof.empty()) return Failed("snarkjs wrote no proof");
    // The verifier checks the proof against the order's public signals: a witness that
    // proves others would be an invalid proof.
    if (!SamePublicSignals(in->if_contains("public"), public_text)) {
      return Unprovable("the order's witness proves other public signals than its own");
    }
    return Proof(proof);
  }

  // False only when `want` is an array of strings (the order's public signals, as the
  // verifier takes them) and snarkjs's public.json differs from it; true when it cannot tell.
  static bool SamePublicSignals(const json::value* want, const std::string& public_text) {
    if (want == nullptr || !want->is_array()) return true;
    for (const auto& signal : want->as_array()) {
      if (!signal.is_string()) return true;
    }
    error_code ec;
    json::value got = json::parse(public_text, ec);
    if (ec || !got.is_array()) return true;
    return got == *want;
  }

  Config c_;
  proofbook::clients::HttpClient http_;  // io thread (and Setup, before it runs)
  proofbook::clients::WsConnectOptions ws_options_;
  std::map<std::string, std::string> verifier_;  // market -> verifier kind
  net::io_context ioc_;
  net::signal_set signals_{ioc_, SIGINT, SIGTERM};
  proofbook::clients::WsClient ws_{ioc_};
  net::steady_timer retry_{ioc_};
  // io thread only
  bool connected_ = false, draining_ = false;
  int64_t backoff_ms_ = 0;
  std::set<int64_t> taken_, finished_, offer_ids_;
  std::map<int64_t, std::string> ready_;     // proofs not yet answered
  std::map<int64_t, std::string> declines_;  // declines not yet answered: their reasons
  std::set<int64_t> decline_backlog_;        // declines to send again when the timer fires
  net::steady_timer decline_retry_{ioc_};
  std::set<int64_t> proof_backlog_;  // proofs to send again when proof_retry_ fires
  net::steady_timer proof_retry_{ioc_};
  int64_t done_ = 0;
  // shared with the workers
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  int in_flight_ = 0;
  int idle_ = 0;                           // workers waiting for a job
  std::set<int64_t> running_;              // jobs a worker is proving
  std::map<int64_t, JobControl> control_;  // jobs to stop at some time (absent: none)
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"proofbook-prover: a prover for proofbook (WebSocket, real provers)"};
  Config c;
  std::string url = "http://127.0.0.1:8080";
  std::vector<std::string> offers, circuits;
  app.add_option("--url", url, "Server URL (http[s]://host:port)")->envname("PROOFBOOK_URL");
  std::string ca_file;
  app.add_option("--ca-file", ca_file,
                 "With https://: trust the CA certificates in this PEM file instead of the "
                 "system's")
      ->envname("PROOFBOOK_CA_FILE");
  app.add_option("--api-key", c.api_key, "The prover's API key")
      ->envname("PROOFBOOK_API_KEY")
      ->required();
  app.add_option("--stake", c.stake, "Stake this much on start")->check(CLI::NonNegativeNumber);
  app.add_option("--offer", offers, "market=M,price=P,est_ms=E,capacity=C (repeatable)");
  app.add_option("--circuit", circuits,
                 "market=DIR: circuit.wasm and circuit_final.zkey of a Groth16 market");
  app.add_option("--node", c.node, "Node.js, for snarkjs")->capture_default_str();
  app.add_option("--snarkjs", c.snarkjs, "snarkjs's cli.js");
  app.add_option("--work-dir", c.work_dir, "Scratch folder (default /tmp/proofbook-prover-PID)");
  app.add_option("--fail-rate", c.fail_rate,
                 "Skip the work and deliver garbage with this probability (0..1)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--delay-ms", c.delay_ms, "Wait this long before delivering each proof")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--tamper", c.tamper, "Alter one byte of every proof");
  app.add_option("--fault-market", c.fault_market,
                 "Apply --fail-rate, --tamper and --delay-ms only to this market's jobs");
  app.add_flag("--no-uncles", c.no_uncles,
               "Drop a job handed on to another prover after its due time, rather than prove it "
               "for the market's uncle reward until the order's deadline");
  app.add_option("--max-backoff-ms", c.max_backoff_ms, "Longest wait between reconnections")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    std::string url_error;
    if (!proofbook::clients::ParseEndpoint(url, &c.endpoint, &url_error)) {
      throw CLI::ValidationError(url_error);
    }
    c.endpoint.ca_file = ca_file;
    for (const auto& o : offers) {
      auto kv = KeyValues(o);
      OfferSpec s;
      s.market = kv.at("market");
      s.price = std::stoll(kv.at("price"));
      s.est_ms = kv.count("est_ms") ? std::stoll(kv.at("est_ms")) : 60000;
      s.capacity = kv.count("capacity") ? std::stoll(kv.at("capacity")) : 1;
      c.offers.push_back(s);
    }
    for (const auto& spec : circuits) {
      auto eq = spec.find('=');
      if (eq == std::string::npos) throw CLI::ValidationError("--circuit wants market=DIR");
      c.circuits[spec.substr(0, eq)] = spec.substr(eq + 1);
    }
  } catch (const std::exception& e) {
    std::cerr << "proofbook-prover: bad option: " << e.what() << "\n";
    return 2;
  }
  if (c.snarkjs.empty())
    c.snarkjs = std::string(PROOFBOOK_SOURCE_ROOT) + "/var/node/node_modules/snarkjs/cli.js";
  // The io thread takes SIGINT/SIGTERM through a signal_set; the workers must not.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return Prover(std::move(c)).Run();
}
