#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace proofbook::server {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"DATABASE_URL", "PROOFBOOK_LISTEN", "PROOFBOOK_IO_THREADS",
                             "PROOFBOOK_LOG_LEVEL", "PROOFBOOK_BODY_LIMIT"}) {
      unsetenv(name);
    }
  }
  ParsedArgs Parse(std::vector<const char*> args) {
    args.insert(args.begin(), "proofbook-server");
    return ParseCommandLine(static_cast<int>(args.size()), args.data());
  }
};

TEST_F(ConfigTest, ServeTakesFlags) {
  auto p = Parse({"serve", "--database-url", "postgresql://x@h/db", "--listen", "0.0.0.0:9090",
                  "--io-threads", "4", "--body-limit", "2048", "--log-level", "debug"});
  ASSERT_TRUE(p.config.has_value()) << p.output;
  EXPECT_EQ(p.config->subcommand, Subcommand::kServe);
  EXPECT_EQ(p.config->database_url, "postgresql://x@h/db");
  EXPECT_EQ(p.config->listen_host, "0.0.0.0");
  EXPECT_EQ(p.config->listen_port, 9090);
  EXPECT_EQ(p.config->io_threads, 4);
  EXPECT_EQ(p.config->body_limit, 2048u);
  EXPECT_EQ(p.config->log_level, "debug");
}

TEST_F(ConfigTest, DefaultsListenOnLoopback8080) {
  auto p = Parse({"serve", "--database-url", "postgresql:///db"});
  ASSERT_TRUE(p.config.has_value()) << p.output;
  EXPECT_EQ(p.config->listen_host, "127.0.0.1");
  EXPECT_EQ(p.config->listen_port, 8080);
  EXPECT_EQ(p.config->log_level, "info");
}

TEST_F(ConfigTest, EnvironmentFillsWhatFlagsLeaveOut) {
  setenv("DATABASE_URL", "postgresql://env/db", 1);
  setenv("PROOFBOOK_LISTEN", "127.0.0.1:0", 1);
  setenv("PROOFBOOK_IO_THREADS", "3", 1);
  auto p = Parse({"serve"});
  ASSERT_TRUE(p.config.has_value()) << p.output;
  EXPECT_EQ(p.config->database_url, "postgresql://env/db");
  EXPECT_EQ(p.config->listen_port, 0);
  EXPECT_EQ(p.config->io_threads, 3);
}

TEST_F(ConfigTest, FlagBeatsEnvironment) {
  setenv("DATABASE_URL", "postgresql://env/db", 1);
  auto p = Parse({"migrate", "--database-url", "postgresql://flag/db"});
  ASSERT_TRUE(p.config.has_value()) << p.output;
  EXPECT_EQ(p.config->subcommand, Subcommand::kMigrate);
  EXPECT_EQ(p.config->database_url, "postgresql://flag/db");
}

TEST_F(ConfigTest, MissingDatabaseUrlIsAnError) {
  auto p = Parse({"serve"});
  EXPECT_FALSE(p.config.has_value());
  EXPECT_NE(p.exit_code, 0);
  EXPECT_NE(p.output.find("database-url"), std::string::npos) << p.output;
}

TEST_F(ConfigTest, NoSubcommandIsAnError) {
  auto p = Parse({});
  EXPECT_FALSE(p.config.has_value());
  EXPECT_NE(p.exit_code, 0);
}

TEST_F(ConfigTest, HelpExitsZeroWithUsage) {
  auto p = Parse({"--help"});
  EXPECT_FALSE(p.config.has_value());
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_NE(p.output.find("serve"), std::string::npos);
  EXPECT_NE(p.output.find("migrate"), std::string::npos);
}

TEST_F(ConfigTest, SubcommandHelpListsItsFlags) {
  auto p = Parse({"serve", "--help"});
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_NE(p.output.find("--listen"), std::string::npos) << p.output;
}

TEST_F(ConfigTest, RejectsBadValues) {
  EXPECT_FALSE(Parse({"serve", "--database-url", "x", "--io-threads", "0"}).config);
  EXPECT_FALSE(Parse({"serve", "--database-url", "x", "--io-threads", "many"}).config);
  EXPECT_FALSE(Parse({"serve", "--database-url", "x", "--log-level", "loud"}).config);
  EXPECT_FALSE(Parse({"serve", "--database-url", "x", "--listen", "nohost"}).config);
  EXPECT_FALSE(Parse({"serve", "--database-url", "x", "--listen", "h:70000"}).config);
  EXPECT_FALSE(Parse({"serve", "--database-url", "x", "--unknown-flag"}).config);
}

TEST(ParseListenAddress, AcceptsIpv6InBrackets) {
  auto r = ParseListenAddress("[::1]:8080");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, "::1");
  EXPECT_EQ(r->second, 8080);
}

TEST(ParseListenAddress, RejectsMissingPort) {
  EXPECT_FALSE(ParseListenAddress("localhost:").has_value());
  EXPECT_FALSE(ParseListenAddress(":80").has_value());
  EXPECT_FALSE(ParseListenAddress("host:8x").has_value());
}

}  // namespace
}  // namespace proofbook::server
