// proofbook-prover: a ready prover. Connects to /v1/prover/ws with its API key, stakes if
// asked, posts its offers, proves each assignment with the real prover for the market
// (snarkjs groth16 fullprove with the market's circuit files; sha256-preimage from the
// order's "preimage" hint), streams the proof back and logs each job with its timing.
//
// Bounded parallelism (the sum of the offers' capacities), reconnection with exponential
// backoff and jitter, open assignments resumed after a reconnect (the server sends them
// again), in-flight jobs finished on SIGTERM/SIGINT after the offers are cancelled.
// Misbehaviour for demos and tests, off by default: --fail-rate (skip the work, deliver garbage),
// --delay-ms (deliver late), --tamper (alter one byte of every proof).
//
// Threads: one io thread runs the WebSocket (all socket work happens there); `parallel`
// worker threads prove. Workers hand proofs to the io thread with net::post.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
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

// Runs argv (found in PATH) to completion, its output ours; true on exit status 0. The child
// starts with no signal blocked, though this process blocks SIGPIPE.
bool Run(const std::vector<std::string>& argv, std::string* why) {
  proofbook::clients::ProcessOptions options;
  options.argv = argv;
  options.search_path = true;
  proofbook::clients::Process child(std::move(options));
  if (!child.started()) {
    *why = child.error();
    return false;
  }
  const int status = child.Wait();
  if (proofbook::clients::Process::ExitCode(status) == 0) return true;
  *why = argv[0] + " failed (status " + std::to_string(status) + ")";
  return false;
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

class Prover {
 public:
  explicit Prover(Config c)
      : c_(std::move(c)), http_(c_.endpoint, HttpOptions()), rng_(std::random_device{}()) {
    ws_options_.host = c_.endpoint.host;
    ws_options_.port = c_.endpoint.port;
    ws_options_.path = c_.endpoint.base_path + "/v1/prover/ws";
    ws_options_.bearer = c_.api_key;
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
    // Proofs made while we were away go now; the server resends open assignments too.
    for (auto& [a, proof] : ready_) SendProof(a, proof);
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
      }
      cv_.notify_one();
    } else if (type == "proof_result") {
      const int64_t a = m.at("assignment").as_int64();
      ready_.erase(a);
      Finish(a, "msg=proof_result assignment=" + std::to_string(a) +
                    " result=" + std::string(m.at("result").as_string()) +
                    (m.contains("reason") ? " reason=" + std::string(m.at("reason").as_string())
                                          : std::string()));
    } else if (type == "settlement") {
      Log("info", "msg=paid assignment=" + std::to_string(m.at("assignment").as_int64()) +
                      " amount=" + std::to_string(m.at("amount").as_int64()));
    } else if (type == "slashed") {
      Log("warn", "msg=slashed assignment=" + std::to_string(m.at("assignment").as_int64()) +
                      " amount=" + std::to_string(m.at("amount").as_int64()) +
                      " reason=" + std::string(m.at("reason").as_string()));
    } else if (type == "reassigned_away") {
      const int64_t a = m.at("assignment").as_int64();
      ready_.erase(a);
      Finish(a, "msg=reassigned_away assignment=" + std::to_string(a));
    } else if (type == "error") {
      const auto& e = m.at("error");
      Log("warn", "msg=server_error code=" + std::string(e.at("code").as_string()) + " message=\"" +
                      std::string(e.at("message").as_string()) + "\"");
      // A refused proof ends its job.
      if (const json::value* id = m.if_contains("id"); id && id->is_string()) {
        std::string s(id->as_string());
        if (s.rfind("proof-", 0) == 0) {
          const int64_t a = std::stoll(s.substr(6));
          ready_.erase(a);
          Finish(a, "msg=proof_refused assignment=" + std::to_string(a));
        }
      }
    }
  }

  // A job's end (io thread).
  void Finish(int64_t assignment, const std::string& line) {
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
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_ && jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      const auto start = Clock::now();
      std::string why;
      // --fail-rate: a prover that skips the work and sends garbage (so it needs no circuit).
      const bool fail = Fails();
      std::optional<std::string> proof =
          fail ? "garbage " + std::to_string(start.time_since_epoch().count()) : Prove(job, &why);
      const auto prove_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      if (!proof) {
        Log("error", "msg=prove_failed assignment=" + std::to_string(job.assignment) + " why=\"" +
                         why + "\"");
        net::post(ioc_, [this, a = job.assignment] {
          Finish(a, "msg=job_abandoned assignment=" + std::to_string(a));
        });
        continue;
      }
      const char* fault = fail ? " fault=garbage" : c_.tamper ? " fault=tampered" : "";
      if (c_.tamper && !fail) Tamper(*proof);
      if (c_.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(c_.delay_ms));
      Log("info", "msg=proved assignment=" + std::to_string(job.assignment) +
                      " market=" + job.market + " bytes=" + std::to_string(proof->size()) +
                      " prove_ms=" + std::to_string(prove_ms) + fault);
      net::post(ioc_, [this, a = job.assignment, p = std::move(*proof)] {
        ready_[a] = p;
        SendProof(a, p);
      });
    }
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

  std::optional<std::string> Prove(const Job& job, std::string* why) {
    auto v = verifier_.find(job.market);
    if (v == verifier_.end()) {
      *why = "unknown market " + job.market;
      return std::nullopt;
    }
    const json::object* in = job.inputs.if_object();
    if (v->second == "sha256-preimage") {
      const json::value* pre = in ? in->if_contains("preimage") : nullptr;
      if (pre == nullptr || !pre->is_string()) {
        *why = "the order's inputs carry no preimage";
        return std::nullopt;
      }
      return std::string(pre->as_string());
    }
    // snarkjs-groth16: full prove from the order's witness with the market's circuit.
    auto circuit = c_.circuits.find(job.market);
    if (circuit == c_.circuits.end()) {
      *why = "no --circuit for market " + job.market;
      return std::nullopt;
    }
    const json::value* witness = in ? in->if_contains("witness") : nullptr;
    if (witness == nullptr || !witness->is_object()) {
      *why = "the order's inputs carry no witness";
      return std::nullopt;
    }
    const std::string dir = c_.work_dir + "/a" + std::to_string(job.assignment);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/input.json") << json::serialize(*witness);
    if (!::Run({c_.node, c_.snarkjs, "groth16", "fullprove", dir + "/input.json",
                circuit->second + "/circuit.wasm", circuit->second + "/circuit_final.zkey",
                dir + "/proof.json", dir + "/public.json"},
               why)) {
      return std::nullopt;
    }
    std::string proof = ReadFile(dir + "/proof.json");
    std::filesystem::remove_all(dir);
    if (proof.empty()) *why = "snarkjs wrote no proof";
    return proof.empty() ? std::nullopt : std::optional<std::string>(proof);
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
  std::map<int64_t, std::string> ready_;  // proofs not yet answered
  int64_t done_ = 0;
  // shared with the workers
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  int in_flight_ = 0;
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
  app.add_option("--url", url, "Server URL (http://host:port)")->envname("PROOFBOOK_URL");
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
  app.add_option("--max-backoff-ms", c.max_backoff_ms, "Longest wait between reconnections")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    std::string rest = url;
    if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
    if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
    auto colon = rest.rfind(':');
    c.endpoint.url = url;
    c.endpoint.host = colon == std::string::npos ? rest : rest.substr(0, colon);
    c.endpoint.port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
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
