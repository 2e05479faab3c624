// The migration runner against a real PostgreSQL: fresh, re-run, tampered, unknown, concurrent.
#include "server/db/migrations.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "tests/integration/test_database.h"

namespace proofbook::server {
namespace {

using testing::TestDatabase;

std::vector<Migration> TwoMigrations() {
  return {
      {1, "0001_a.sql", "CREATE TABLE a (id int PRIMARY KEY);"},
      {2, "0002_b.sql", "CREATE TABLE b (id int PRIMARY KEY); INSERT INTO a VALUES (1);"},
  };
}

int Count(pqxx::connection& conn, const std::string& sql) {
  pqxx::read_transaction tx(conn);
  return tx.exec(sql)[0][0].as<int>();
}

TEST(Migrations, FreshDatabaseGetsEveryMigrationOnce) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  auto report = ApplyMigrations(*::proofbook::server::BorrowSession(conn), TwoMigrations());
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_EQ(report->applied, (std::vector<int>{1, 2}));
  EXPECT_EQ(report->current_version, 2);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM a"), 1);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM schema_migrations"), 2);
  EXPECT_TRUE(
      CheckMigrationsCurrent(*::proofbook::server::BorrowSession(conn), TwoMigrations()).ok());
}

TEST(Migrations, RerunIsANoOp) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  ASSERT_TRUE(
      ApplyMigrations(*::proofbook::server::BorrowSession(conn), TwoMigrations()).has_value());
  auto again = ApplyMigrations(*::proofbook::server::BorrowSession(conn), TwoMigrations());
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->current_version, 2);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM a"), 1);  // 0002's INSERT did not run twice
}

TEST(Migrations, OnlyPendingOnesRun) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  auto first = TwoMigrations();
  first.pop_back();
  ASSERT_TRUE(ApplyMigrations(*::proofbook::server::BorrowSession(conn), first).has_value());
  EXPECT_FALSE(CheckMigrationsCurrent(*::proofbook::server::BorrowSession(conn), TwoMigrations())
                   .ok());  // 0002 pending
  auto report = ApplyMigrations(*::proofbook::server::BorrowSession(conn), TwoMigrations());
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->applied, (std::vector<int>{2}));
}

TEST(Migrations, TamperedAppliedFileIsRejected) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  ASSERT_TRUE(
      ApplyMigrations(*::proofbook::server::BorrowSession(conn), TwoMigrations()).has_value());
  auto tampered = TwoMigrations();
  tampered[0].sql += " -- edited";
  auto report = ApplyMigrations(*::proofbook::server::BorrowSession(conn), tampered);
  ASSERT_FALSE(report.has_value());
  EXPECT_NE(report.error().message().find("0001_a.sql"), std::string::npos)
      << report.error().message();
  EXPECT_NE(report.error().message().find("changed"), std::string::npos);
  Status check = CheckMigrationsCurrent(*::proofbook::server::BorrowSession(conn), tampered);
  EXPECT_EQ(check.code(), StatusCode::kUnavailable);
}

TEST(Migrations, TamperingStopsBeforePendingOnesRun) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  auto first = TwoMigrations();
  first.pop_back();
  ASSERT_TRUE(ApplyMigrations(*::proofbook::server::BorrowSession(conn), first).has_value());
  auto tampered = TwoMigrations();
  tampered[0].sql = "CREATE TABLE a (id bigint PRIMARY KEY);";
  ASSERT_FALSE(ApplyMigrations(*::proofbook::server::BorrowSession(conn), tampered).has_value());
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM schema_migrations"), 1);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'"), 0);
}

TEST(Migrations, UnknownAppliedVersionIsRejected) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  ASSERT_TRUE(
      ApplyMigrations(*::proofbook::server::BorrowSession(conn), TwoMigrations()).has_value());
  auto older = TwoMigrations();
  older.pop_back();
  auto report = ApplyMigrations(*::proofbook::server::BorrowSession(conn), older);
  ASSERT_FALSE(report.has_value());
  EXPECT_NE(report.error().message().find("does not know"), std::string::npos);
}

TEST(Migrations, FailingMigrationLeavesNothingBehind) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  std::vector<Migration> bad = {
      {1, "0001_a.sql", "CREATE TABLE a (id int PRIMARY KEY);"},
      {2, "0002_bad.sql", "CREATE TABLE c (id int); SELECT * FROM no_such_table;"},
  };
  auto report = ApplyMigrations(*::proofbook::server::BorrowSession(conn), bad);
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM schema_migrations"), 1);
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'c'"), 0);
}

TEST(Migrations, ConcurrentMigratorsAreSerialised) {
  TestDatabase db;
  // A slow first migration widens the window in which both runners would race.
  std::vector<Migration> slow = {
      {1, "0001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE a (id int PRIMARY KEY);"},
      {2, "0002_b.sql", "INSERT INTO a VALUES (1);"},
  };
  std::vector<Result<MigrationReport>> results;
  results.reserve(4);
  std::vector<std::thread> threads;
  std::mutex mu;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      pqxx::connection conn(db.url());
      auto r = ApplyMigrations(*::proofbook::server::BorrowSession(conn), slow);
      std::lock_guard lock(mu);
      results.push_back(std::move(r));
    });
  }
  for (auto& t : threads) t.join();
  std::size_t applied = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    applied += r->applied.size();
  }
  EXPECT_EQ(applied, 2u);  // each migration ran exactly once across all runners
  pqxx::connection conn(db.url());
  EXPECT_EQ(Count(conn, "SELECT count(*) FROM a"), 1);
}

TEST(Migrations, EmbeddedMatchRepositoryFiles) {
  auto from_dir = LoadMigrationsFromDir(PROOFBOOK_SOURCE_DIR "/migrations");
  ASSERT_TRUE(from_dir.has_value()) << from_dir.error().ToString();
  const auto& embedded = EmbeddedMigrations();
  ASSERT_EQ(from_dir->size(), embedded.size());
  ASSERT_FALSE(embedded.empty());
  for (std::size_t i = 0; i < embedded.size(); ++i) {
    EXPECT_EQ((*from_dir)[i].version, embedded[i].version);
    EXPECT_EQ((*from_dir)[i].name, embedded[i].name);
    EXPECT_EQ(MigrationChecksum((*from_dir)[i]), MigrationChecksum(embedded[i]));
  }
}

TEST(Migrations, RealSchemaAppliesAndIsCurrent) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  auto report = ApplyMigrations(*::proofbook::server::BorrowSession(conn), EmbeddedMigrations());
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_TRUE(
      CheckMigrationsCurrent(*::proofbook::server::BorrowSession(conn), EmbeddedMigrations()).ok());
}

TEST(Migrations, BadFileNameIsRejected) {
  std::string dir = ::testing::TempDir() + "/bad-migrations";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/init.sql") << "SELECT 1;";
  auto loaded = LoadMigrationsFromDir(dir);
  EXPECT_FALSE(loaded.has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace proofbook::server
