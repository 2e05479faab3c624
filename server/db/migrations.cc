#include "server/db/migrations.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>

#include "server/base/crypto.h"
#include "server/db/pq.h"

namespace proofbook::server {
namespace {

// pg_advisory_lock key shared by every proofbook migrator ("pbmigrat" in ASCII).
constexpr long long kMigrationLockKey = 0x70626d6967726174LL;

constexpr const char* kCreateTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

struct Applied {
  std::string name;
  std::string checksum;
};

std::map<int, Applied> ReadApplied(pqxx::transaction_base& tx) {
  std::map<int, Applied> out;
  for (const auto& row : tx.exec("SELECT version, name, checksum FROM schema_migrations")) {
    out[row[0].as<int>()] = Applied{row[1].as<std::string>(), row[2].as<std::string>()};
  }
  return out;
}

bool TableExists(pqxx::transaction_base& tx) {
  return tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL")[0][0].as<bool>();
}

Status Validate(const std::vector<Migration>& migrations) {
  for (std::size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version <= migrations[i - 1].version) {
      return Status(StatusCode::kInternal,
                    "migrations are not in strictly increasing order at " + migrations[i].name);
    }
  }
  return Status::Ok();
}

// Compares what the database has applied with what we know. Pending ones are fine here.
Status Compare(const std::map<int, Applied>& applied, const std::vector<Migration>& migrations) {
  std::map<int, const Migration*> known;
  for (const auto& m : migrations) known[m.version] = &m;
  for (const auto& [version, row] : applied) {
    auto it = known.find(version);
    if (it == known.end()) {
      return Status(StatusCode::kInternal,
                    "database has migration " + row.name +
                        " which this binary does not know (a newer server migrated it?)");
    }
    if (MigrationChecksum(*it->second) != row.checksum) {
      return Status(StatusCode::kInternal, "migration " + row.name +
                                               " was changed after it was applied (checksum " +
                                               row.checksum.substr(0, 12) + "... in the database)");
    }
  }
  return Status::Ok();
}

Status FromException(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return Status(StatusCode::kUnavailable, std::string("database unreachable: ") + e.what());
  }
  return Status(StatusCode::kInternal, std::string("migration failed: ") + e.what());
}

// The NNNN of "NNNN_name.sql" (name: letters, digits, '_'), or nullopt.
std::optional<int> ParseVersion(std::string_view file) {
  constexpr std::string_view kExt = ".sql";
  if (!file.ends_with(kExt)) return std::nullopt;
  file.remove_suffix(kExt.size());
  auto underscore = file.find('_');
  if (underscore == 0 || underscore == std::string_view::npos || underscore > 9 ||
      underscore + 1 == file.size()) {
    return std::nullopt;
  }
  int version = 0;
  for (std::size_t i = 0; i < file.size(); ++i) {
    char c = file[i];
    bool digit = c >= '0' && c <= '9';
    if (i < underscore) {
      if (!digit) return std::nullopt;
      version = version * 10 + (c - '0');
    } else if (!(digit || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
      return std::nullopt;
    }
  }
  return version;
}

}  // namespace

std::string MigrationChecksum(const Migration& m) { return Sha256Hex(m.sql); }

Result<std::vector<Migration>> LoadMigrationsFromDir(const std::string& dir) {
  std::vector<Migration> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    auto version = ParseVersion(name);
    if (!version) {
      return Status(StatusCode::kInvalidArgument,
                    "migration file " + name + " is not named NNNN_name.sql");
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    out.push_back(Migration{*version, name, text.str()});
  }
  if (ec) {
    return Status(StatusCode::kInvalidArgument,
                  "cannot read migrations dir " + dir + ": " + ec.message());
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  if (Status s = Validate(out); !s.ok()) return s;
  return out;
}

Result<MigrationReport> ApplyMigrations(DbSession& session,
                                        const std::vector<Migration>& migrations) {
  pqxx::connection& conn = Pq(session);
  if (Status s = Validate(migrations); !s.ok()) return s;
  try {
    // Session-level lock: held across the per-file transactions below, released on return
    // or when the connection drops.
    pqxx::nontransaction(conn).exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) +
                                    ")");
    struct Unlock {
      pqxx::connection& conn;
      ~Unlock() {
        try {
          pqxx::nontransaction(conn).exec("SELECT pg_advisory_unlock(" +
                                          std::to_string(kMigrationLockKey) + ")");
        } catch (...) {  // the connection is gone, and the lock with it
        }
      }
    } unlock{conn};

    std::map<int, Applied> applied;
    {
      pqxx::work tx(conn);
      tx.exec(kCreateTable);
      applied = ReadApplied(tx);
      tx.commit();
    }
    if (Status s = Compare(applied, migrations); !s.ok()) return s;

    MigrationReport report;
    for (const auto& m : migrations) {
      if (applied.count(m.version) != 0) continue;
      pqxx::work tx(conn);
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     m.version, m.name, MigrationChecksum(m));
      tx.commit();
      report.applied.push_back(m.version);
    }
    pqxx::read_transaction tx(conn);
    report.current_version =
        tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
    return report;
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status CheckMigrationsCurrent(DbSession& session, const std::vector<Migration>& migrations) {
  pqxx::connection& conn = Pq(session);
  try {
    pqxx::read_transaction tx(conn);
    if (!TableExists(tx)) {
      return Status(StatusCode::kUnavailable, "database is not migrated (no schema_migrations)");
    }
    auto applied = ReadApplied(tx);
    if (Status s = Compare(applied, migrations); !s.ok()) {
      return Status(StatusCode::kUnavailable, s.message());
    }
    for (const auto& m : migrations) {
      if (applied.count(m.version) == 0) {
        return Status(StatusCode::kUnavailable, "migration " + m.name + " is not applied");
      }
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable, std::string("database unreachable: ") + e.what());
  }
}

}  // namespace proofbook::server
