// Issue #17 end to end: a block proved as one tree. A real server (with an ECVRF master key, so
// merges are drawn among their children's provers), real PostgreSQL, four real proofbook-prover
// processes over WebSockets, real verifier workers (sha256-preimage leaves, sha256-merge merges),
// and the real command line placing the tree and waiting for its root. One prover proves its
// leaves honestly and delivers garbage for every merge.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "clients/common/process.h"
#include "matching/tree_shape.h"
#include "server/base/crypto.h"
#include "tests/integration/prover_fixture.h"
#include "tests/integration/prover_process.h"

namespace proofbook::testing {
namespace {

class TreeTest : public ProverFixture {
 protected:
  void SetUp() override {
    ProverFixture::SetUp();
    char dir[] = "/tmp/proofbook-tree-test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    uint8_t key[32];
    server::SecureRandom(key, sizeof key);
    std::ofstream(dir_ + "/master.key") << server::HexEncode(key, sizeof key) << "\n";
  }
  void TearDown() override {
    ProverFixture::TearDown();
    std::filesystem::remove_all(dir_);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  // A prover account with `stake` deposited; its id and key.
  std::pair<int64_t, std::string> FundedProver(const std::string& name, int64_t stake) {
    auto [id, key] = Account("prover", name);
    Deposit(id, stake);
    return {id, key};
  }
  int64_t Scalar(const std::string& sql) {
    pqxx::connection conn(db_.url());
    pqxx::read_transaction tx(conn);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  struct CliRun {
    int exit_code = -1;
    std::string out, err;
  };
  // The real `proofbook` command line with `key`, its output captured.
  CliRun Cli(const std::string& key, std::vector<std::string> args) {
    clients::ProcessOptions options;
    options.argv = std::move(args);
    options.argv.insert(options.argv.begin(), PROOFBOOK_CLI_BIN);
    options.env = std::vector<std::string>{"PROOFBOOK_URL=" + Url(), "PROOFBOOK_API_KEY=" + key,
                                           "HOME=" + dir_};
    options.stdin_null = true;
    options.stdout_to = clients::ProcessOutput::Capture();
    options.stderr_to = clients::ProcessOutput::Capture();
    clients::Process process(std::move(options));
    EXPECT_TRUE(process.started()) << process.error();
    CliRun run;
    std::optional<int> status = process.Wait(std::chrono::seconds(90));
    if (!status) {
      status = process.Kill();
      ADD_FAILURE() << "proofbook did not exit in time";
    }
    run.exit_code = clients::Process::ExitCode(*status);
    run.out = process.Stdout();
    run.err = process.Stderr();
    return run;
  }

  std::string dir_;
};

// The parent digest of two hex digests: SHA-256 of their bytes.
std::string Parent(const std::string& left, const std::string& right) {
  auto l = server::HexDecode(left), r = server::HexDecode(right);
  std::string bytes(l->begin(), l->end());
  bytes.append(r->begin(), r->end());
  return server::Sha256Hex(bytes);
}

// A 16-leaf sha256 tree proved by four workers, one of them faulty on merges: the root is
// delivered with the Merkle root of the leaves' digests; the faulty prover is slashed for its
// invalid merges and each time a sibling's prover took the merge over; every node is paid once,
// every payment and slash is in PostgreSQL, and the ledger balances (the fixture checks it).
TEST_F(TreeTest, ASixteenLeafTreeIsProvedDespiteAFaultyMergeProver) {
  StartServer({"--vrf-master-key-file", dir_ + "/master.key"});
  ShaMarket("leaf");
  MergeMarket("merge");
  const std::string seq_key = Sequencer();

  // The faulty prover's leaf offer is the cheapest and takes one job at a time: it proves leaf 0
  // and leaf 1 goes to another prover, so their merge is drawn between two provers. Its stake
  // (10,000 times the others') makes it all but certain to be drawn there.
  auto [faulty, faulty_key] = FundedProver("faulty", 10'000'000);
  ProverProcess bad({"--url", Url(), "--api-key", faulty_key, "--stake", "10000000", "--offer",
                     "market=leaf,price=90,est_ms=1000,capacity=1", "--offer",
                     "market=merge,price=100,est_ms=1000,capacity=4", "--fault-market", "merge",
                     "--fail-rate", "1"});
  std::vector<std::unique_ptr<ProverProcess>> honest;
  std::vector<int64_t> honest_ids;
  for (int i = 0; i < 3; ++i) {
    auto [id, key] = FundedProver("honest" + std::to_string(i), 1000);
    honest_ids.push_back(id);
    honest.push_back(std::make_unique<ProverProcess>(
        std::vector<std::string>{"--url", Url(), "--api-key", key, "--stake", "1000", "--offer",
                                 "market=leaf,price=100,est_ms=1000,capacity=2", "--offer",
                                 "market=merge,price=100,est_ms=1000,capacity=4"}));
  }
  auto offers_placed = [](ProverProcess& p) {
    return WaitUntil(
        [&] {
          const std::string logs = p.Logs();
          const auto first = logs.find("msg=offer_placed");
          return first != std::string::npos &&
                 logs.find("msg=offer_placed", first + 1) != std::string::npos;
        },
        std::chrono::seconds(20));
  };
  ASSERT_TRUE(offers_placed(bad)) << bad.Logs();
  for (auto& p : honest) ASSERT_TRUE(offers_placed(*p)) << p->Logs();

  constexpr int kLeaves = 16;
  std::vector<std::string> digests;
  std::string leaves;
  for (int i = 0; i < kLeaves; ++i) {
    const std::string preimage = "block 7 chunk " + std::to_string(i);
    digests.push_back(server::Sha256Hex(preimage));
    leaves += std::string(i == 0 ? "" : ",") + R"({"sha256":")" + digests.back() +
              R"(","preimage":")" + preimage + R"("})";
  }
  // Placed with the command line, which long-polls until the root is proven.
  const std::string leaves_file = dir_ + "/leaves.json";
  std::ofstream(leaves_file) << "[" << leaves << "]";
  CliRun placed =
      Cli(seq_key, {"--json", "tree", "place", "--leaf-market", "leaf", "--merge-market", "merge",
                    "--leaves", "@" + leaves_file, "--leaf-price", "100", "--merge-price", "100",
                    "--deadline-ms", "60000", "--wait", "--wait-timeout", "60"});
  ASSERT_EQ(placed.exit_code, 0) << placed.out << placed.err << "\nfaulty prover:\n" << bad.Logs();
  const boost::json::object tree = boost::json::parse(placed.out).at("tree").as_object();
  ASSERT_EQ(tree.at("status").as_string(), "completed");
  const int64_t tree_id = tree.at("id").as_int64();
  EXPECT_NE(placed.err.find("tree " + std::to_string(tree_id) + " placed (16 leaves, escrow " +
                            std::to_string(16 * 100 + 15 * 100) + ")"),
            std::string::npos)
      << placed.err;

  // The root is the Merkle root of the leaves' digests, and every node's output is its subtree's.
  const matching::TreeShape shape(kLeaves);
  std::vector<std::string> want(digests);
  for (int32_t n = kLeaves; n < shape.nodes(); ++n) {
    const int32_t left = shape.Node(shape.LevelOf(n) - 1, 2 * shape.PosOf(n));
    want.push_back(Parent(want[static_cast<size_t>(left)], want[static_cast<size_t>(left + 1)]));
  }
  EXPECT_EQ(tree.at("root_output").as_string(), want.back());
  EXPECT_NE(placed.err.find("root of tree " + std::to_string(tree_id) + " proven: " + want.back()),
            std::string::npos)
      << placed.err;
  // `tree show` for people: the tree, then a row per node.
  CliRun shown = Cli(seq_key, {"tree", "show", std::to_string(tree_id)});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("root_output"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(want.back()), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("31 of 31"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(want[0].substr(0, 16) + "..."), std::string::npos) << shown.out;
  const auto& nodes = tree.at("nodes").as_array();
  ASSERT_EQ(nodes.size(), static_cast<size_t>(shape.nodes()));
  for (int32_t n = 0; n < shape.nodes(); ++n) {
    const auto& node = nodes[static_cast<size_t>(n)].as_object();
    EXPECT_EQ(node.at("state").as_string(), "proven") << node;
    EXPECT_EQ(node.at("output").as_string(), want[static_cast<size_t>(n)]) << node;
  }

  // The faulty prover was slashed for invalid merges, and only for those.
  const std::string of_tree =
      " IN (SELECT id FROM orders WHERE tree_id = " + std::to_string(tree_id) + ")";
  const std::string faulty_id = std::to_string(faulty);
  const int64_t slashes = Scalar("SELECT count(*) FROM slashings WHERE prover_id = " + faulty_id);
  EXPECT_GE(slashes, 1) << bad.Logs();
  EXPECT_EQ(Scalar("SELECT count(*) FROM slashings s JOIN markets m ON m.idx = s.market_idx "
                   "WHERE s.reason = 'invalid_proof' AND m.id = 'merge' AND s.order_id" +
                   of_tree),
            slashes);
  EXPECT_EQ(Scalar("SELECT count(*) FROM slashings"), slashes);  // nobody else
  // Each slash moved stake: its ledger entries out of the faulty prover's stake add up to it.
  EXPECT_EQ(Scalar("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE from_account = " +
                   faulty_id +
                   " AND from_bucket = 'staked' AND reason IN "
                   "('slash_compensation', 'slash_treasury')"),
            Scalar("SELECT coalesce(sum(amount), 0) FROM slashings"));

  // Each time, the merge went to the other child's prover, who proved it.
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  int takeovers = 0;
  for (const auto& r :
       tx.exec("SELECT e.order_id, e.account, o.tree_node FROM engine_events e JOIN orders o ON "
               "o.id = e.order_id WHERE e.kind = 'merge_takeover' AND o.tree_id = " +
               std::to_string(tree_id))) {
    const auto node = r[2].as<int32_t>();
    const int32_t left = shape.Node(shape.LevelOf(node) - 1, 2 * shape.PosOf(node));
    std::set<int64_t> children;
    for (int32_t c : {left, left + 1}) {
      children.insert(nodes[static_cast<size_t>(c)].at("prover").as_int64());
    }
    const int64_t to = r[1].as<int64_t>();
    EXPECT_TRUE(children.count(faulty) == 1 && children.count(to) == 1 && to != faulty)
        << "merge node " << node << " went to " << to;
    EXPECT_EQ(nodes[static_cast<size_t>(node)].at("prover").as_int64(), to);
    ++takeovers;
  }
  EXPECT_GE(takeovers, 1);
  EXPECT_EQ(takeovers, slashes);  // every invalid merge was taken over by its sibling

  // Every node's order was paid exactly once, the faulty prover's leaves included; nobody was
  // paid for an unproven node; the tree's unused escrow went back.
  EXPECT_EQ(
      Scalar("SELECT count(*) FROM settlements WHERE kind = 'settled' AND order_id" + of_tree),
      shape.nodes());
  EXPECT_EQ(Scalar("SELECT count(DISTINCT order_id) FROM settlements WHERE order_id" + of_tree),
            shape.nodes());
  EXPECT_GE(Scalar("SELECT count(*) FROM settlements s JOIN orders o ON o.id = s.order_id WHERE "
                   "s.prover_id = " +
                   faulty_id + " AND o.tree_node < 16 AND s.order_id" + of_tree),
            1);
  EXPECT_EQ(Scalar("SELECT reserve FROM trees WHERE id = " + std::to_string(tree_id)), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM orders WHERE tree_id = " + std::to_string(tree_id) +
                   " AND escrow_left <> 0"),
            0);
  EXPECT_NE(bad.Logs().find("fault=garbage"), std::string::npos);
  std::cout << "[ tree     ] " << shape.nodes() << " nodes proven, " << slashes
            << " invalid merges slashed and taken over by the sibling's prover\n";
}

}  // namespace
}  // namespace proofbook::testing
