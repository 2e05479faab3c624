#include "tests/integration/test_database.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <pqxx/pqxx>
#include <random>
#include <stdexcept>

#include "server/base/crypto.h"
#include "server/db/migrations.h"

namespace proofbook::testing {

std::string WithDatabase(const std::string& conninfo, const std::string& dbname) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options == nullptr) {
    std::string why = err ? err : "unknown";
    PQfreemem(err);
    throw std::runtime_error("bad DATABASE_URL: " + why);
  }
  std::string out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    std::string key = o->keyword;
    std::string value = key == "dbname" ? dbname : (o->val ? o->val : "");
    if (value.empty()) continue;
    std::string quoted;
    for (char c : value) {
      if (c == '\'' || c == '\\') quoted += '\\';
      quoted += c;
    }
    out += key + "='" + quoted + "' ";
  }
  PQconninfoFree(options);
  return out;
}

TestDatabase::TestDatabase() {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    ADD_FAILURE() << "DATABASE_URL is unset: run the tests with ./proofbook.sh test";
    throw std::runtime_error("DATABASE_URL unset");
  }
  admin_url_ = url;
  uint8_t random[6];
  server::SecureRandom(random, sizeof random);
  name_ = "proofbook_test_" + server::HexEncode(random, sizeof random);
  pqxx::connection conn(admin_url_);
  pqxx::nontransaction(conn).exec("CREATE DATABASE " + name_);
  url_ = WithDatabase(admin_url_, name_);
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection conn(admin_url_);
    pqxx::nontransaction(conn).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "could not drop " << name_ << ": " << e.what();
  }
}

void TestDatabase::Migrate() {
  pqxx::connection conn(url_);
  auto report = server::ApplyMigrations(*::proofbook::server::BorrowSession(conn),
                                        server::EmbeddedMigrations());
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
}

}  // namespace proofbook::testing
