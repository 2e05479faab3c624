// proofbook-load: an HTTP load generator for proofbook-server, loopback only.
//
// Two modes:
//   max-rate (--rate 0): closed loop. Each of N keep-alive connections sends its next request
//     as soon as the last one is answered; latency is measured from the moment of sending.
//   fixed-rate (--rate R): open loop. Request i is scheduled at start + i/R, whatever the
//     server is doing. A free connection takes the next scheduled request, waits for its time
//     and sends it; when every connection is busy, due requests wait for one and are sent late.
//     Latency runs from the *scheduled* time, so a stalled server cannot hide its stall by
//     slowing the generator down (coordinated omission, as wrk2 corrects it).
//
// Kinds: healthz (GET /healthz), orders (POST /v1/orders), trees: each request is POST
// /v1/trees of --tree-leaves leaves (unique sha256 preimages, which proofbook-prover proves
// from the hint), and the same connection then long-polls GET /v1/trees/{id}?wait_ms= until the
// tree is final, so a connection holds one tree in flight. The report adds trees completed per
// second and root latency: from the placement's scheduled time to the answer showing the root
// proven (at most one long-poll round trip after the commit that proved it). Needs provers
// (loadtest/trees.sh starts them).
//
// settle (loadtest/settle_load.h, issue #19): -c sequencer connections place orders on a Groth16
// market while one WebSocket per prover key (--prover-keys) answers each assignment at once with
// a pre-made proof (--valid-proof), a share of them (--invalid-share) invalid (--invalid-proof);
// reports orders settled per second and proof sent -> settlement latency. --rate 0 is closed
// loop on settlement there: each connection waits for its order's payment before the next. It
// runs on one thread (--threads does not apply); loadtest/settle.sh sets it up.
//
// Every run is bounded: --duration seconds of sending, then at most --drain seconds for the
// requests already due; whatever is still unanswered is counted as unfinished.
//
// Threads: each --threads worker owns an io_context, its share of the connections and of the
// rate, and its own counters; nothing is shared while running, and the counters are merged
// after the workers join. Exit status: 0, or 1 if the error rate (non-2xx answers, transport
// failures and unfinished requests over requests scheduled) exceeds --max-error-rate, or 2 on
// bad arguments or an unreachable target.
//
// Requests are built by clients/common (BuildRequest), as the blocking HttpClient builds
// them; the connections are this file's own, since one blocking client per connection
// cannot keep hundreds of them busy from one thread.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clients/common/hex.h"
#include "clients/common/http_message.h"
#include "loadtest/histogram.h"
#include "loadtest/settle_load.h"

namespace proofbook::loadtest {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Nanos = std::chrono::nanoseconds;

enum class Kind { kHealthz, kOrders, kTrees, kSettle };

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  Kind kind = Kind::kHealthz;
  int connections = 16;
  int threads = 1;
  double rate = 0;  // requests per second over all connections; 0: max-rate
  double duration_s = 10;
  double drain_s = 5;     // after --duration, how long requests already due may still finish
  double timeout_s = 10;  // per request, write and read together
  std::string api_key;
  std::string market = "load";
  int64_t max_price = 1;
  int64_t deadline_ms = 600000;
  // Each order's inputs, which the market checks when the order is placed: --inputs, or a
  // sha256-preimage market's {"sha256": SHA-256 of "proofbook-load"}.
  json::value inputs;
  // --kind trees: the markets, the number of leaves and the prices (max_price for a leaf, the
  // merge price for a merge).
  std::string leaf_market = "leaf", merge_market = "merge";
  int tree_leaves = 16;
  int64_t merge_price = 1;
  double max_error_rate = 0;
  bool json = false;
  std::string label;  // free text copied into the report
  // --window W: also report each W seconds of the run apart (completions in the window, their
  // rate and latency quantiles), for soak runs that must stay flat; 0: off.
  double window_s = 0;
  // --kind settle: files of API keys (one a line) and of the pre-made proofs, the share of
  // proofs sent invalid, and each prover's offer.
  std::string sequencer_keys_file, prover_keys_file;
  std::string valid_proof_file, invalid_proof_file;
  double invalid_share = 0;
  int64_t offer_price = 1;
  int64_t offer_est_ms = 10000;
  int offer_capacity = 64;
};

// What one worker saw. Owned by the worker's thread while it runs; merged afterwards.
struct Tally {
  uint64_t scheduled = 0;  // requests taken from the schedule (max-rate: = sent)
  uint64_t sent = 0;
  uint64_t completed = 0;  // answered with any status
  uint64_t connects = 0;
  std::map<int, uint64_t> statuses;
  std::map<std::string, uint64_t> failures;  // transport failures by step: connect, write, ...
  Histogram latency;
  Histogram send_lag;  // open loop: how late a request left compared with its schedule
  Clock::time_point last_completion{};
  // --kind trees: final outcomes of the trees placed, and placement to root proven.
  uint64_t trees_completed = 0, trees_failed = 0, trees_unresolved = 0;
  Histogram root_latency;
  Clock::time_point last_root{};
  // --window: completions and their latency by the window (from the start) they finished in.
  std::vector<Histogram> windows;

  void Merge(const Tally& o) {
    scheduled += o.scheduled;
    sent += o.sent;
    completed += o.completed;
    connects += o.connects;
    for (const auto& [k, v] : o.statuses) statuses[k] += v;
    for (const auto& [k, v] : o.failures) failures[k] += v;
    latency.Merge(o.latency);
    send_lag.Merge(o.send_lag);
    trees_completed += o.trees_completed;
    trees_failed += o.trees_failed;
    trees_unresolved += o.trees_unresolved;
    root_latency.Merge(o.root_latency);
    last_root = std::max(last_root, o.last_root);
    last_completion = std::max(last_completion, o.last_completion);
    if (windows.size() < o.windows.size()) windows.resize(o.windows.size());
    for (std::size_t i = 0; i < o.windows.size(); ++i) windows[i].Merge(o.windows[i]);
  }
};

// One worker: an io_context on its own thread, `connections` coroutines sharing one schedule.
// Not thread-safe: everything below runs on the worker's thread.
class Worker {
 public:
  Worker(const Options& opts, int index, tcp::endpoint target, std::string run_id)
      : opts_(opts), index_(index), target_(target), run_id_(std::move(run_id)) {
    if (opts_.kind == Kind::kHealthz) {
      request_.target = "/healthz";
    } else {
      request_.method = "POST";
      request_.target = opts_.kind == Kind::kTrees ? "/v1/trees" : "/v1/orders";
      request_.bearer = opts_.api_key;
      request_.content_type = "application/json";
    }
  }

  // Opens every connection. False if none could be opened.
  bool ConnectAll(int count) {
    for (int i = 0; i < count; ++i) streams_.push_back(std::make_unique<beast::tcp_stream>(io_));
    for (auto& s : streams_) {
      asio::co_spawn(io_, Connect(*s), asio::detached);
    }
    io_.run();
    io_.restart();
    return tally_.connects > 0;
  }

  // Sends from `start` until `start + duration`; returns when done or drained.
  void Run(Clock::time_point start, Nanos interval) {
    start_ = start;
    interval_ = interval;
    end_ =
        start + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(opts_.duration_s));
    hard_stop_ =
        end_ + std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(opts_.drain_s));
    // After the drain: close every socket so that every coroutine's pending operation ends.
    asio::steady_timer stopper(io_, hard_stop_);
    stopper.async_wait([this](beast::error_code ec) {
      if (ec) return;
      stopped_ = true;
      for (auto& s : streams_) s->socket().close(ec);
    });
    stopper_ = &stopper;
    running_loops_ = static_cast<int>(streams_.size());
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      asio::co_spawn(io_, Loop(i), asio::detached);
    }
    io_.run();
    stopper_ = nullptr;
  }

  const Tally& tally() const { return tally_; }
  // Requests scheduled but not sent or not answered when the run ended.
  uint64_t unfinished() const { return tally_.scheduled - tally_.completed - FailedCount(); }

 private:
  uint64_t FailedCount() const {
    uint64_t n = 0;
    for (const auto& [step, count] : tally_.failures) {
      if (step != "connect") n += count;  // a failed connect fails no request by itself
    }
    return n;
  }

  asio::awaitable<void> Connect(beast::tcp_stream& stream) {
    stream.expires_after(
        std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(opts_.timeout_s)));
    auto [ec] = co_await stream.async_connect(target_, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      ++tally_.failures["connect"];
      beast::error_code ignored;
      stream.socket().close(ignored);  // a failed connect may leave the socket open
      co_return;
    }
    ++tally_.connects;
    stream.socket().set_option(tcp::no_delay(true), ec);
  }

  // The next request's scheduled time, or nullopt when the run is over. Max-rate: now.
  std::optional<Clock::time_point> NextTicket() {
    auto now = Clock::now();
    if (interval_.count() == 0) {
      if (now >= end_ || stopped_) return std::nullopt;
      ++tally_.scheduled;
      return now;
    }
    auto at = start_ + interval_ * static_cast<int64_t>(next_ticket_);
    if (at >= end_ || stopped_) return std::nullopt;
    ++next_ticket_;
    ++tally_.scheduled;
    return at;
  }

  clients::BeastRequest BuildRequest() {
    if (opts_.kind == Kind::kOrders) {
      // Unique per request across runs, so the server's idempotency check never merges two.
      std::string id = run_id_ + "-" + std::to_string(index_) + "-" + std::to_string(++order_seq_);
      request_.body = json::serialize(json::object{{"market", opts_.market},
                                                   {"max_price", opts_.max_price},
                                                   {"deadline_ms", opts_.deadline_ms},
                                                   {"inputs", opts_.inputs},
                                                   {"client_order_id", id}});
    }
    if (opts_.kind == Kind::kTrees) {
      // Unique leaves: a sha256-preimage statement with its preimage as the prover's hint.
      const std::string tree =
          run_id_ + "-" + std::to_string(index_) + "-" + std::to_string(++order_seq_);
      json::array leaves;
      leaves.reserve(static_cast<std::size_t>(opts_.tree_leaves));
      for (int i = 0; i < opts_.tree_leaves; ++i) {
        std::string preimage = tree + "-" + std::to_string(i);
        leaves.push_back(
            json::object{{"sha256", clients::Sha256Hex(preimage)}, {"preimage", preimage}});
      }
      json::object body{{"leaf_market", opts_.leaf_market},
                        {"merge_market", opts_.merge_market},
                        {"leaves", std::move(leaves)},
                        {"leaf_price", opts_.max_price},
                        {"deadline_ms", opts_.deadline_ms}};
      if (opts_.tree_leaves > 1) body["merge_price"] = opts_.merge_price;
      request_.body = json::serialize(body);
    }
    return clients::BuildRequest(request_, "", opts_.host, "proofbook-load", /*keep_alive=*/true);
  }

  // --kind trees: after a 201, long-polls the tree on the same connection until it is final or
  // the run's drain ends; records the root latency from `scheduled`. False when the connection
  // failed (it is closed).
  asio::awaitable<bool> AwaitRoot(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                  const std::string& placed_body, Clock::time_point scheduled) {
    json::error_code ec;
    json::value placed = json::parse(placed_body, ec);
    const json::value* id =
        ec || !placed.is_object() ? nullptr : placed.as_object().if_contains("tree");
    id = id != nullptr && id->is_object() ? id->as_object().if_contains("id") : nullptr;
    if (id == nullptr || !id->is_int64()) {
      ++tally_.failures["tree:no_id"];
      co_return true;
    }
    clients::HttpRequest poll;
    poll.target = "/v1/trees/" + std::to_string(id->as_int64()) + "?wait_ms=10000";
    poll.bearer = opts_.api_key;
    while (!stopped_) {
      auto req = clients::BuildRequest(poll, "", opts_.host, "proofbook-load", true);
      stream.expires_after(std::chrono::seconds(15));
      auto [wec, written] =
          co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
      if (wec) {
        Fail(stream, wec, "tree_poll_write");
        break;
      }
      http::response<http::string_body> res;
      auto [rec, read] =
          co_await http::async_read(stream, buffer, res, asio::as_tuple(asio::use_awaitable));
      if (rec) {
        Fail(stream, rec, "tree_poll_read");
        break;
      }
      if (res.result_int() != 200) {
        ++tally_.failures["tree_poll:" + std::to_string(res.result_int())];
        break;
      }
      json::value tree = json::parse(res.body(), ec);
      const json::value* t =
          ec || !tree.is_object() ? nullptr : tree.as_object().if_contains("tree");
      const json::value* status =
          t != nullptr && t->is_object() ? t->as_object().if_contains("status") : nullptr;
      const std::string_view st =
          status != nullptr && status->is_string() ? std::string_view(status->as_string()) : "";
      if (st == "completed") {
        ++tally_.trees_completed;
        tally_.last_root = Clock::now();
        tally_.root_latency.Record((tally_.last_root - scheduled).count());
        co_return true;
      }
      if (st == "failed") {
        ++tally_.trees_failed;
        co_return true;
      }
      if (st != "open") {
        ++tally_.failures["tree_poll:bad_answer"];
        break;
      }
    }
    ++tally_.trees_unresolved;
    co_return stream.socket().is_open();
  }

  asio::awaitable<void> Loop(std::size_t conn) {
    beast::tcp_stream& stream = *streams_[conn];
    beast::flat_buffer buffer;
    const auto timeout =
        std::chrono::duration_cast<Nanos>(std::chrono::duration<double>(opts_.timeout_s));
    while (auto ticket = NextTicket()) {
      const Clock::time_point scheduled = *ticket;
      if (scheduled > Clock::now()) {
        asio::steady_timer wait(io_, scheduled);
        co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      if (stopped_) break;
      if (!stream.socket().is_open()) {
        co_await Connect(stream);
        if (!stream.socket().is_open()) {
          ++tally_.failures["reconnect"];  // this request is lost with the connection
          continue;
        }
        buffer.clear();
      }
      auto req = BuildRequest();
      const Clock::time_point sent_at = Clock::now();
      if (interval_.count() != 0) tally_.send_lag.Record((sent_at - scheduled).count());
      stream.expires_after(timeout);
      ++tally_.sent;
      auto [wec, written] =
          co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
      if (wec) {
        Fail(stream, wec, "write");
        continue;
      }
      http::response<http::string_body> res;
      auto [rec, read] =
          co_await http::async_read(stream, buffer, res, asio::as_tuple(asio::use_awaitable));
      if (rec) {
        Fail(stream, rec, "read");
        continue;
      }
      const auto done = Clock::now();
      ++tally_.completed;
      ++tally_.statuses[static_cast<int>(res.result_int())];
      tally_.latency.Record((done - scheduled).count());
      tally_.last_completion = done;
      if (opts_.window_s > 0) RecordWindow(done, (done - scheduled).count());
      if (opts_.kind == Kind::kTrees && res.result_int() == 201 && res.keep_alive()) {
        if (!co_await AwaitRoot(stream, buffer, res.body(), scheduled)) continue;
      }
      if (!res.keep_alive()) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.socket().close(ignored);
      }
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    // The last loop to finish ends the drain early.
    if (--running_loops_ == 0 && stopper_ != nullptr) stopper_->cancel();
  }

  void RecordWindow(Clock::time_point done, int64_t latency_ns) {
    const double since = std::chrono::duration<double>(done - start_).count();
    const auto w = static_cast<std::size_t>(std::max(0.0, since) / opts_.window_s);
    if (tally_.windows.size() <= w) tally_.windows.resize(w + 1);
    tally_.windows[w].Record(latency_ns);
  }

  void Fail(beast::tcp_stream& stream, beast::error_code ec, const char* step) {
    beast::error_code ignored;
    stream.socket().close(ignored);
    if (stopped_) {
      return;  // closed by the drain deadline: counted as unfinished, not as a failure
    }
    std::string key = step;
    if (ec == beast::error::timeout)
      key += ":timeout";
    else if (ec == http::error::end_of_stream || ec == asio::error::eof)
      key += ":closed";
    else if (ec == asio::error::connection_reset)
      key += ":reset";
    ++tally_.failures[key];
  }

  // Constant after construction.
  const Options& opts_;
  const int index_;
  const tcp::endpoint target_;
  const std::string run_id_;

  // Owned by the worker's thread.
  clients::HttpRequest request_;  // what every request sends; the body changes per order
  asio::io_context io_{1};
  std::vector<std::unique_ptr<beast::tcp_stream>> streams_;
  Clock::time_point start_{}, end_{}, hard_stop_{};
  Nanos interval_{0};  // 0: max-rate
  uint64_t next_ticket_ = 0;
  uint64_t order_seq_ = 0;
  bool stopped_ = false;
  int running_loops_ = 0;
  asio::steady_timer* stopper_ = nullptr;  // set only while Run() runs
  Tally tally_;
};

// Resolves `host` and keeps only loopback addresses; refuses anything else, because this
// tool must never load someone else's machine.
std::optional<tcp::endpoint> ResolveLoopback(const std::string& host, uint16_t port,
                                             std::string& why) {
  if (host != "127.0.0.1" && host != "::1" && host != "[::1]" && host != "localhost") {
    why = "refusing target '" + host + "': only 127.0.0.1, ::1 and localhost are allowed";
    return std::nullopt;
  }
  std::string name = host == "[::1]" ? "::1" : host;
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto results = resolver.resolve(name, std::to_string(port), ec);
  if (ec) {
    why = "cannot resolve " + name + ": " + ec.message();
    return std::nullopt;
  }
  for (const auto& r : results) {
    if (r.endpoint().address().is_loopback()) return r.endpoint();
  }
  why = name + " does not resolve to a loopback address";
  return std::nullopt;
}

std::string MakeRunId() {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x%04x", rd(), static_cast<unsigned>(getpid()) & 0xffff);
  return buf;
}

struct Summary {
  Tally tally;
  uint64_t unfinished = 0;
  uint64_t errors = 0;  // non-2xx + transport failures + unfinished
  double elapsed_s = 0;
  double trees_elapsed_s = 0;  // to the last root proven, at least --duration
  double achieved_rate = 0;
  double error_rate = 0;
};

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kHealthz:
      return "healthz";
    case Kind::kOrders:
      return "orders";
    case Kind::kTrees:
      return "trees";
    case Kind::kSettle:
      return "settle";
  }
  return "?";
}

json::object LatencyJson(const Histogram& h) {
  return json::object{{"p50", Ms(h.Quantile(0.50))},
                      {"p90", Ms(h.Quantile(0.90))},
                      {"p99", Ms(h.Quantile(0.99))},
                      {"p999", Ms(h.Quantile(0.999))},
                      {"max", Ms(h.max())}};
}

json::object ToJson(const Options& opts, const Summary& s) {
  json::object statuses;
  for (const auto& [code, n] : s.tally.statuses) statuses[std::to_string(code)] = n;
  json::object failures;
  for (const auto& [step, n] : s.tally.failures) failures[step] = n;
  const Histogram& h = s.tally.latency;
  json::object out{
      {"label", opts.label},
      {"kind", KindName(opts.kind)},
      {"mode", opts.rate > 0 ? "fixed-rate" : "max-rate"},
      {"target_rate", opts.rate},
      {"connections", opts.connections},
      {"threads", opts.threads},
      {"duration_s", opts.duration_s},
      {"scheduled", s.tally.scheduled},
      {"sent", s.tally.sent},
      {"completed", s.tally.completed},
      {"unfinished", s.unfinished},
      {"errors", s.errors},
      {"error_rate", s.error_rate},
      {"connects", s.tally.connects},
      {"statuses", statuses},
      {"failures", failures},
      {"elapsed_s", s.elapsed_s},
      {"achieved_rate", s.achieved_rate},
      {"latency_ms", LatencyJson(h)},
      {"send_lag_ms", json::object{{"p50", Ms(s.tally.send_lag.Quantile(0.50))},
                                   {"p99", Ms(s.tally.send_lag.Quantile(0.99))},
                                   {"max", Ms(s.tally.send_lag.max())}}},
  };
  if (opts.window_s > 0) {
    json::array windows;
    for (std::size_t i = 0; i < s.tally.windows.size(); ++i) {
      const Histogram& w = s.tally.windows[i];
      json::object o = LatencyJson(w);
      o["start_s"] = static_cast<double>(i) * opts.window_s;
      o["completed"] = w.total();
      o["rate"] = static_cast<double>(w.total()) / opts.window_s;
      windows.push_back(std::move(o));
    }
    out["window_s"] = opts.window_s;
    out["windows"] = std::move(windows);
  }
  if (opts.kind == Kind::kTrees) {
    out["trees"] = json::object{
        {"leaves", opts.tree_leaves},
        {"completed", s.tally.trees_completed},
        {"failed", s.tally.trees_failed},
        {"unresolved", s.tally.trees_unresolved},
        {"elapsed_s", s.trees_elapsed_s},
        {"completed_per_s", static_cast<double>(s.tally.trees_completed) / s.trees_elapsed_s},
        {"root_latency_ms", LatencyJson(s.tally.root_latency)}};
  }
  return out;
}

void PrintText(const Options& opts, const Summary& s) {
  const Histogram& h = s.tally.latency;
  const std::string mode = opts.rate > 0
                               ? "fixed " + std::to_string(static_cast<int64_t>(opts.rate)) + "/s"
                               : "max-rate";
  std::printf("proofbook-load%s%s: %s, %s, %d connections, %d thread(s), %.1f s\n",
              opts.label.empty() ? "" : " ", opts.label.c_str(),
              opts.kind == Kind::kHealthz  ? "GET /healthz"
              : opts.kind == Kind::kOrders ? "POST /v1/orders"
                                           : "POST /v1/trees",
              mode.c_str(), opts.connections, opts.threads, opts.duration_s);
  std::printf("  scheduled %" PRIu64 "  sent %" PRIu64 "  completed %" PRIu64
              "  unfinished %" PRIu64 "  connects %" PRIu64 "\n",
              s.tally.scheduled, s.tally.sent, s.tally.completed, s.unfinished, s.tally.connects);
  std::printf("  statuses:");
  for (const auto& [code, n] : s.tally.statuses) std::printf(" %d=%" PRIu64, code, n);
  std::printf("\n");
  if (!s.tally.failures.empty()) {
    std::printf("  transport failures:");
    for (const auto& [step, n] : s.tally.failures) std::printf(" %s=%" PRIu64, step.c_str(), n);
    std::printf("\n");
  }
  std::printf("  achieved %.0f req/s over %.2f s; errors %" PRIu64 " (%.4f %%)\n", s.achieved_rate,
              s.elapsed_s, s.errors, 100 * s.error_rate);
  std::printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f%s\n",
              Ms(h.Quantile(0.5)), Ms(h.Quantile(0.9)), Ms(h.Quantile(0.99)), Ms(h.Quantile(0.999)),
              Ms(h.max()), opts.rate > 0 ? "  (from scheduled time)" : "");
  if (opts.kind == Kind::kTrees) {
    const Histogram& r = s.tally.root_latency;
    std::printf("  trees of %d leaves: completed %" PRIu64 " (%.2f trees/s)  failed %" PRIu64
                "  unresolved %" PRIu64 "\n",
                opts.tree_leaves, s.tally.trees_completed,
                static_cast<double>(s.tally.trees_completed) / s.trees_elapsed_s,
                s.tally.trees_failed, s.tally.trees_unresolved);
    std::printf("  root latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", Ms(r.Quantile(0.5)),
                Ms(r.Quantile(0.9)), Ms(r.Quantile(0.99)), Ms(r.max()));
  }
  for (std::size_t i = 0; i < s.tally.windows.size(); ++i) {
    const Histogram& w = s.tally.windows[i];
    std::printf("  window %6.0f s: %" PRIu64 " completed (%.0f/s)  p50 %.3f  p99 %.3f  max %.3f\n",
                static_cast<double>(i) * opts.window_s, w.total(),
                static_cast<double>(w.total()) / opts.window_s, Ms(w.Quantile(0.5)),
                Ms(w.Quantile(0.99)), Ms(w.max()));
  }
  if (opts.rate > 0) {
    std::printf("  send lag ms: p50 %.3f  p99 %.3f  max %.3f\n", Ms(s.tally.send_lag.Quantile(0.5)),
                Ms(s.tally.send_lag.Quantile(0.99)), Ms(s.tally.send_lag.max()));
  }
}

// The file's lines that are not empty, or nullopt if it cannot be read.
std::optional<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

std::optional<std::string> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// --kind settle: the options checked and handed to SettleLoad; the exit status as Main's.
int RunSettle(const Options& opts, tcp::endpoint target) {
  SettleOptions s;
  s.host = opts.host;
  s.port = opts.port;
  s.market = opts.market;
  s.sequencers = opts.connections;
  s.rate = opts.rate;
  s.duration_s = opts.duration_s;
  s.drain_s = opts.drain_s;
  s.timeout_s = opts.timeout_s;
  s.max_price = opts.max_price;
  s.deadline_ms = opts.deadline_ms;
  s.inputs = opts.inputs;
  s.invalid_share = opts.invalid_share;
  s.offer_price = opts.offer_price;
  s.offer_est_ms = opts.offer_est_ms;
  s.offer_capacity = opts.offer_capacity;
  s.label = opts.label;
  auto fail = [](const std::string& why) {
    std::cerr << "proofbook-load: " << why << "\n";
    return 2;
  };
  if (opts.sequencer_keys_file.empty()) {
    s.sequencer_keys = {opts.api_key};
  } else {
    auto keys = ReadLines(opts.sequencer_keys_file);
    if (!keys || keys->empty())
      return fail("no key in --sequencer-keys " + opts.sequencer_keys_file);
    s.sequencer_keys = std::move(*keys);
  }
  auto provers = opts.prover_keys_file.empty() ? std::nullopt : ReadLines(opts.prover_keys_file);
  if (!provers || provers->empty()) return fail("--kind settle needs --prover-keys (a key a line)");
  s.prover_keys = std::move(*provers);
  auto valid = opts.valid_proof_file.empty() ? std::nullopt : ReadBytes(opts.valid_proof_file);
  if (!valid || valid->empty()) return fail("--kind settle needs --valid-proof");
  s.valid_proof = std::move(*valid);
  if (opts.invalid_share > 0) {
    auto invalid =
        opts.invalid_proof_file.empty() ? std::nullopt : ReadBytes(opts.invalid_proof_file);
    if (!invalid || invalid->empty()) return fail("--invalid-share > 0 needs --invalid-proof");
    s.invalid_proof = std::move(*invalid);
  }
  SettleLoad load(std::move(s), target);
  std::string why;
  if (!load.Setup(&why)) return fail("set-up: " + why);
  load.Run();
  if (opts.json) {
    std::cout << json::serialize(load.ReportJson()) << "\n";
  } else {
    load.PrintText();
  }
  const double error_rate = load.ErrorRate();
  if (error_rate > opts.max_error_rate) {
    std::cerr << "proofbook-load: error rate " << error_rate << " exceeds --max-error-rate "
              << opts.max_error_rate << "\n";
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  Options opts;
  CLI::App app{"proofbook-load: HTTP load generator for proofbook-server (loopback only)"};
  app.add_option("--host", opts.host, "127.0.0.1, ::1 or localhost; nothing else is accepted")
      ->capture_default_str();
  app.add_option("--port", opts.port, "Server port")->required();
  std::map<std::string, Kind> kinds{{"healthz", Kind::kHealthz},
                                    {"orders", Kind::kOrders},
                                    {"trees", Kind::kTrees},
                                    {"settle", Kind::kSettle}};
  app.add_option("--kind", opts.kind,
                 "healthz: GET /healthz; orders: POST /v1/orders; trees: POST /v1/trees, then "
                 "wait for the root; settle: orders proved by this tool's provers until paid")
      ->transform(CLI::CheckedTransformer(kinds, CLI::ignore_case))
      ->capture_default_str();
  app.add_option("-c,--connections", opts.connections, "Keep-alive connections")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("-t,--threads", opts.threads, "Client threads, each with its share of connections")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("-r,--rate", opts.rate, "Requests/s in total, open loop; 0: max-rate, closed loop")
      ->check(CLI::Range(0.0, 10e6))
      ->capture_default_str();
  app.add_option("-d,--duration", opts.duration_s, "Seconds of sending")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--drain", opts.drain_s, "Seconds after --duration for due requests to finish")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--timeout", opts.timeout_s, "Seconds per request before it counts as failed")
      ->check(CLI::Range(0.01, 600.0))
      ->capture_default_str();
  app.add_option("--api-key", opts.api_key, "Sequencer API key (orders)")
      ->envname("PROOFBOOK_LOAD_API_KEY");
  app.add_option("--market", opts.market, "Market of the orders")->capture_default_str();
  app.add_option("--max-price", opts.max_price, "max_price of each order")->capture_default_str();
  app.add_option("--deadline-ms", opts.deadline_ms, "deadline_ms of each order")
      ->capture_default_str();
  app.add_option("--leaf-market", opts.leaf_market, "trees: the leaves' market")
      ->capture_default_str();
  app.add_option("--merge-market", opts.merge_market, "trees: the merges' market")
      ->capture_default_str();
  app.add_option("--tree-leaves", opts.tree_leaves, "trees: leaves per tree")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--merge-price", opts.merge_price, "trees: merge_price (--max-price: leaf_price)")
      ->capture_default_str();
  std::string inputs;
  app.add_option("--inputs", inputs,
                 "inputs of each order (JSON); default: a sha256-preimage market's "
                 "{\"sha256\": SHA-256 of \"proofbook-load\"}");
  app.add_option("--max-error-rate", opts.max_error_rate,
                 "Exit 1 if (non-2xx + failed + unfinished) / scheduled exceeds this fraction")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--window", opts.window_s,
                 "Also report every this many seconds apart (rate, latency); 0: off")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--sequencer-keys", opts.sequencer_keys_file,
                 "settle: file of sequencer API keys, one a line, cycled over the connections "
                 "(default: --api-key for all)")
      ->check(CLI::ExistingFile);
  app.add_option("--prover-keys", opts.prover_keys_file,
                 "settle: file of prover API keys (staked), one a line: a WebSocket and an offer "
                 "each")
      ->check(CLI::ExistingFile);
  app.add_option("--valid-proof", opts.valid_proof_file, "settle: a proof that verifies (bytes)")
      ->check(CLI::ExistingFile);
  app.add_option("--invalid-proof", opts.invalid_proof_file,
                 "settle: a proof that does not (bytes); needed when --invalid-share > 0")
      ->check(CLI::ExistingFile);
  app.add_option("--invalid-share", opts.invalid_share,
                 "settle: share of all proofs sent that are invalid (a refused proof's order is "
                 "answered validly by the next prover)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--offer-price", opts.offer_price, "settle: each prover's offer price")
      ->capture_default_str();
  app.add_option("--offer-est-ms", opts.offer_est_ms, "settle: each prover's offer est_ms")
      ->capture_default_str();
  app.add_option("--offer-capacity", opts.offer_capacity, "settle: each prover's offer capacity")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_flag("--json", opts.json, "Print the report as one JSON object");
  app.add_option("--label", opts.label, "Name copied into the report");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (opts.kind != Kind::kHealthz && opts.api_key.empty() && opts.sequencer_keys_file.empty()) {
    std::cerr << "proofbook-load: --kind orders, trees and settle need --api-key (or "
                 "PROOFBOOK_LOAD_API_KEY; settle: or --sequencer-keys)\n";
    return 2;
  }
  if (opts.kind == Kind::kSettle && inputs.empty()) {
    std::cerr << "proofbook-load: --kind settle needs --inputs (the public signals the proofs "
                 "verify against, e.g. {\"public\": [...]})\n";
    return 2;
  }
  if (inputs.empty()) {
    opts.inputs = json::object{{"sha256", clients::Sha256Hex("proofbook-load")}};
  } else {
    json::error_code ec;
    opts.inputs = json::parse(inputs, ec);
    if (ec) {
      std::cerr << "proofbook-load: --inputs is not valid JSON: " << ec.message() << "\n";
      return 2;
    }
  }
  if (opts.connections < opts.threads) opts.threads = opts.connections;

  std::string why;
  auto target = ResolveLoopback(opts.host, opts.port, why);
  if (!target) {
    std::cerr << "proofbook-load: " << why << "\n";
    return 2;
  }
  if (opts.kind == Kind::kSettle) return RunSettle(opts, *target);

  const std::string run_id = MakeRunId();
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < opts.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(opts, i, *target, run_id));
  }
  // Connect first, in parallel, so that set-up is not part of the measured time.
  {
    std::vector<std::thread> threads;
    std::atomic<int> connected{0};
    for (int i = 0; i < opts.threads; ++i) {
      int share = opts.connections / opts.threads + (i < opts.connections % opts.threads ? 1 : 0);
      threads.emplace_back([&, i, share] {
        if (workers[i]->ConnectAll(share)) ++connected;
      });
    }
    for (auto& t : threads) t.join();
    if (connected.load() != opts.threads) {
      std::cerr << "proofbook-load: cannot connect to " << target->address().to_string() << ":"
                << opts.port << "\n";
      return 2;
    }
  }

  // Each worker gets rate/threads; the workers' schedules are offset so that together they
  // form one evenly spaced schedule.
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  Nanos interval{0};
  if (opts.rate > 0) {
    interval = Nanos(static_cast<int64_t>(1e9 * opts.threads / opts.rate));
    if (interval.count() == 0) interval = Nanos(1);
  }
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < opts.threads; ++i) {
      auto offset = opts.rate > 0 ? Nanos(static_cast<int64_t>(1e9 * i / opts.rate)) : Nanos(0);
      threads.emplace_back([&, i, offset] { workers[i]->Run(start + offset, interval); });
    }
    for (auto& t : threads) t.join();
  }

  Summary s;
  for (const auto& w : workers) {
    s.tally.Merge(w->tally());
    s.unfinished += w->unfinished();
  }
  for (const auto& [code, n] : s.tally.statuses) {
    if (code < 200 || code > 299) s.errors += n;
  }
  for (const auto& [step, n] : s.tally.failures) {
    if (step != "connect") s.errors += n;
  }
  s.errors += s.unfinished;
  // Completions over the time they took: the nominal duration unless the last answer came
  // later, so a server that falls behind cannot look faster than it was.
  const double nominal = opts.duration_s;
  double until_last = std::chrono::duration<double>(s.tally.last_completion - start).count();
  s.elapsed_s = std::max(nominal, until_last);
  s.trees_elapsed_s =
      std::max(nominal, std::chrono::duration<double>(s.tally.last_root - start).count());
  s.achieved_rate = s.elapsed_s > 0 ? static_cast<double>(s.tally.completed) / s.elapsed_s : 0;
  s.error_rate = s.tally.scheduled > 0
                     ? static_cast<double>(s.errors) / static_cast<double>(s.tally.scheduled)
                     : 0;

  if (opts.json) {
    std::cout << json::serialize(ToJson(opts, s)) << "\n";
  } else {
    PrintText(opts, s);
  }
  if (s.error_rate > opts.max_error_rate) {
    std::cerr << "proofbook-load: error rate " << s.error_rate << " exceeds --max-error-rate "
              << opts.max_error_rate << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace proofbook::loadtest

int main(int argc, char** argv) { return proofbook::loadtest::Main(argc, argv); }
