// Migrations: numbered SQL files (migrations/NNNN_name.sql), each applied once, in order, in
// its own transaction, and recorded with the SHA-256 of its text in schema_migrations.
//
// A file changed after it was applied, or an applied version this binary does not know, is
// an error: the database and the code disagree and a person must decide. Concurrent
// migrators (two servers starting at once) are serialised by a PostgreSQL advisory lock held
// for the whole run. A migration file must be valid inside a transaction (no CREATE INDEX
// CONCURRENTLY). Functions here block; call them off the io threads.
#pragma once

#include <string>
#include <vector>

#include "matching/status.h"
#include "server/db/session.h"

namespace proofbook::server {

struct Migration {
  int version = 0;
  std::string name;  // file name, e.g. "0001_init.sql"
  std::string sql;
};

// The migrations compiled into this binary (generated from migrations/*.sql at build time).
const std::vector<Migration>& EmbeddedMigrations();

// Reads NNNN_name.sql files from `dir`, sorted by version.
Result<std::vector<Migration>> LoadMigrationsFromDir(const std::string& dir);

std::string MigrationChecksum(const Migration& m);

struct MigrationReport {
  std::vector<int> applied;  // versions applied by this run, in order
  int current_version = 0;   // highest version in the database afterwards
};

// Applies what is pending. On error nothing half-applied remains (each file is atomic).
Result<MigrationReport> ApplyMigrations(DbSession& session,
                                        const std::vector<Migration>& migrations);

// OK when every migration is applied with a matching checksum and the database has no
// version this binary lacks; otherwise kUnavailable saying why. Takes no lock.
Status CheckMigrationsCurrent(DbSession& session, const std::vector<Migration>& migrations);

}  // namespace proofbook::server
