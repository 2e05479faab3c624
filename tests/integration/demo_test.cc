// The README's "Try it" demo, end to end: clients/demo.sh as a user runs it, with the real
// proofbook and proofbook-prover binaries, against a real server and PostgreSQL. The script
// checks the outcome itself (order completed, the faulty prover slashed, the honest one paid);
// this test also reads what happened from the database, and the fixture checks the ledger.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "tests/integration/files.h"
#include "tests/integration/server_fixture.h"

namespace proofbook::testing {
namespace {

class DemoTest : public ServerFixture {
 protected:
  // Runs clients/`script` as a user would, against the server; its output. Fails the test unless
  // it exits 0 and says "demo: OK".
  std::string RunDemo(const std::string& script, const std::string& dir) {
    const std::string log = dir + "/demo.log";
    const std::string command =
        "PROOFBOOK_URL=http://127.0.0.1:" + std::to_string(server_->port()) +
        " PROOFBOOK_ADMIN_KEY=" + admin_key_ +
        " PROOFBOOK_BIN_DIR=" PROOFBOOK_CLIENTS_DIR " bash " PROOFBOOK_SOURCE_DIR "/clients/" +
        script + " >" + log + " 2>&1";
    const int status = std::system(command.c_str());
    const std::string out = ReadFile(log);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    EXPECT_NE(out.find("demo: OK"), std::string::npos) << out;
    return out;
  }
};

TEST_F(DemoTest, FaultyProverIsSlashedAndTheHonestOneProvesAndIsPaid) {
  StartServer();
  char dir[] = "/tmp/proofbook-demo-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string out = RunDemo("demo.sh", dir);
  ASSERT_FALSE(::testing::Test::HasFailure());
  EXPECT_NE(out.find("result=rejected"), std::string::npos) << out;
  EXPECT_NE(out.find("result=accepted"), std::string::npos) << out;

  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  auto orders = tx.exec("SELECT status::text FROM orders");
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders[0][0].as<std::string>(), "completed");
  auto slashed = tx.exec(
      "SELECT a.name, s.reason::text FROM slashings s JOIN accounts a ON a.id = s.prover_id");
  ASSERT_EQ(slashed.size(), 1u);
  EXPECT_EQ(slashed[0][0].as<std::string>(), "faulty-prover");
  EXPECT_EQ(slashed[0][1].as<std::string>(), "invalid_proof");
  auto paid = tx.exec("SELECT a.name FROM settlements s JOIN accounts a ON a.id = s.prover_id");
  ASSERT_EQ(paid.size(), 1u);
  EXPECT_EQ(paid[0][0].as<std::string>(), "honest-prover");
  std::filesystem::remove_all(dir);
}

// The README's "Prove a block as a tree" demo: clients/tree_demo.sh against a server with a VRF
// master key. The script checks the root is the Merkle root of the chunks and that the faulty
// prover, and only it, was slashed; this test reads the takeover and the payments from the
// database.
TEST_F(DemoTest, ATreeIsProvedDespiteAFaultyMergeProver) {
  char dir[] = "/tmp/proofbook-tree-demo-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string key_file = std::string(dir) + "/vrf.key";
  ASSERT_EQ(std::system(("od -An -tx1 -N32 /dev/urandom | tr -d ' \\n' >" + key_file).c_str()), 0);
  StartServer({"--vrf-master-key-file", key_file});
  RunDemo("tree_demo.sh", dir);
  ASSERT_FALSE(::testing::Test::HasFailure());

  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT status FROM trees")[0].as<std::string>(), "completed");
  // Each slashed merge was taken over by an honest prover, who was paid for it.
  auto takeovers = tx.exec(
      "SELECT a.name FROM engine_events e JOIN accounts a ON a.id = e.account "
      "WHERE e.kind = 'merge_takeover'");
  EXPECT_GE(takeovers.size(), 1u);
  EXPECT_EQ(takeovers.size(), tx.exec1("SELECT count(*) FROM slashings")[0].as<std::size_t>());
  for (const auto& row : takeovers) EXPECT_EQ(row[0].as<std::string>().rfind("honest-", 0), 0u);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM settlements")[0].as<int>(), 15);  // every node once
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace proofbook::testing
