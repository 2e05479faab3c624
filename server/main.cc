// proofbook-server: parses the command line and runs one subcommand (serve, migrate,
// bootstrap-admin, seed-history). See --help.
#include <cstdlib>
#include <exception>
#include <iostream>

#include "server/app.h"
#include "server/base/log.h"
#include "server/config.h"

int main(int argc, char** argv) {
  using namespace proofbook::server;
  // Fail a connection attempt to a dead PostgreSQL in seconds, not minutes, unless the
  // operator chose otherwise.
  setenv("PGCONNECT_TIMEOUT", "3", /*overwrite=*/0);

  ParsedArgs parsed = ParseCommandLine(argc, argv);
  if (!parsed.config) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.output << "\n";
    return parsed.exit_code;
  }
  int rc = 1;
  try {
    switch (parsed.config->subcommand) {
      case Subcommand::kServe:
        rc = RunServe(*parsed.config);
        break;
      case Subcommand::kMigrate:
        rc = RunMigrate(*parsed.config);
        break;
      case Subcommand::kBootstrapAdmin:
        rc = RunBootstrapAdmin(*parsed.config);
        break;
      case Subcommand::kSeedHistory:
        rc = RunSeedHistory(*parsed.config);
        break;
    }
  } catch (const std::exception& e) {
    // Exceptions are for start-up faults and bugs; input errors are values.
    std::cerr << "proofbook-server: fatal: " << e.what() << "\n";
    rc = 1;
  }
  ShutdownLogging();
  return rc;
}
