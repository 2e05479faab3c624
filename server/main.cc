// proofbook-server: parses the command line and runs one subcommand (serve, migrate,
// bootstrap-admin). See --help.
#include <cstdlib>
#include <exception>
#include <iostream>

#include "server/app.h"
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
  try {
    switch (parsed.config->subcommand) {
      case Subcommand::kServe: return RunServe(*parsed.config);
      case Subcommand::kMigrate: return RunMigrate(*parsed.config);
      case Subcommand::kBootstrapAdmin: return RunBootstrapAdmin(*parsed.config);
    }
  } catch (const std::exception& e) {
    // Exceptions are for start-up faults and bugs; input errors are values.
    std::cerr << "proofbook-server: fatal: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
