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

class DemoTest : public ServerFixture {};

TEST_F(DemoTest, FaultyProverIsSlashedAndTheHonestOneProvesAndIsPaid) {
  StartServer();
  char dir[] = "/tmp/proofbook-demo-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/demo.log";
  const std::string command = "PROOFBOOK_URL=http://127.0.0.1:" + std::to_string(server_->port()) +
                              " PROOFBOOK_ADMIN_KEY=" + admin_key_ +
                              " PROOFBOOK_BIN_DIR=" PROOFBOOK_CLIENTS_DIR
                              " bash " PROOFBOOK_SOURCE_DIR "/clients/demo.sh >" +
                              log + " 2>&1";
  const int status = std::system(command.c_str());
  const std::string out = ReadFile(log);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("demo: OK"), std::string::npos) << out;
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

}  // namespace
}  // namespace proofbook::testing
