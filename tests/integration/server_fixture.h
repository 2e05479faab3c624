// ServerFixture: the set-up the end-to-end tests share. A fresh database with the schema and
// a bootstrapped admin, a real server process (StartServer), an HTTP client on it, helpers to
// make accounts and deposits through the API, and after each test the ledger invariant
// checked in SQL.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "server/core/api_keys.h"
#include "tests/integration/http_client.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_database.h"

namespace proofbook::testing {

inline boost::json::value Json(const HttpResult& r) { return boost::json::parse(r.body); }

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    db_.Migrate();
    pqxx::connection conn(db_.url());
    auto admin = server::BootstrapAdmin(*::proofbook::server::BorrowSession(conn));
    ASSERT_TRUE(admin.has_value() && admin->has_value());
    admin_key_ = (*admin)->api_key;
  }
  void TearDown() override {
    server_.reset();
    pqxx::connection conn(db_.url());
    pqxx::read_transaction tx(conn);
    EXPECT_EQ(tx.exec("SELECT ledger_imbalance()")[0][0].as<int64_t>(), 0)
        << "sum of balances != deposits - withdrawals";
    EXPECT_EQ(tx.exec("SELECT count(*) FROM ledger_differences()")[0][0].as<int64_t>(), 0)
        << "a bucket differs from the sum of its ledger entries";
  }
  void StartServer(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(db_.url(), std::move(args));
    client_ = std::make_unique<HttpClient>(server_->port());
  }
  // Creates an account; returns {id, key}.
  std::pair<int64_t, std::string> Account(const std::string& role, const std::string& name) {
    auto r = client_->Request("POST", "/v1/admin/accounts",
                              R"({"role":")" + role + R"(","name":")" + name + R"("})", admin_key_);
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return {0, ""};
    auto body = Json(r);
    return {body.at("account").at("id").as_int64(), std::string(body.at("api_key").as_string())};
  }
  void Deposit(int64_t account, int64_t amount) {
    auto r = client_->Request("POST", "/v1/admin/accounts/" + std::to_string(account) + "/deposits",
                              R"({"amount":)" + std::to_string(amount) + "}", admin_key_);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  TestDatabase db_;
  std::string admin_key_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> client_;
};

}  // namespace proofbook::testing
