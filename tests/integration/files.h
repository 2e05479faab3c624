// Whole-file reads for tests: fixtures, logs, proofs a client wrote.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace proofbook::testing {

// The file's bytes; empty if it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace proofbook::testing
