// TestDatabase: a fresh, empty PostgreSQL database for one test, made from DATABASE_URL
// (which names a maintenance database on the throwaway cluster of `./proofbook.sh test`) and
// dropped afterwards. Fails the test loudly when DATABASE_URL is unset: these tests need a
// real PostgreSQL and never pretend otherwise.
#pragma once

#include <string>

#include "server/db/pq.h"  // BorrowSession: server functions on the tests' own connections

namespace proofbook::testing {

class TestDatabase {
 public:
  TestDatabase();   // creates proofbook_test_<random>
  ~TestDatabase();  // drops it (WITH (FORCE): servers still connected are cut off)
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& url() const { return url_; }  // conninfo for the new database
  const std::string& name() const { return name_; }

  // Creates the schema with the migrations built into the server.
  void Migrate();

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// `conninfo` with its dbname replaced, as a key=value conninfo string.
std::string WithDatabase(const std::string& conninfo, const std::string& dbname);

}  // namespace proofbook::testing
