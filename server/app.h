// The subcommands of proofbook-server, each run to completion on the calling thread and
// returning a process exit code. main() parses the command line and calls one of these.
#pragma once

#include "server/config.h"

namespace proofbook::server {

// `serve` exits with this when another server holds the database's write lease (and
// --standby was not given): a state to report, not a crash to restart into a loop.
constexpr int kExitLeaseHeld = 3;

int RunServe(const Config& config);           // serves until SIGINT or SIGTERM
int RunMigrate(const Config& config);         // applies pending migrations
int RunBootstrapAdmin(const Config& config);  // creates the first admin if none exists
int RunSeedHistory(const Config& config);     // fills a fresh database with history

}  // namespace proofbook::server
