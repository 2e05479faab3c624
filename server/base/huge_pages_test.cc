// ScopedHugePageArena: where the process runs on jemalloc (the release preset links this test
// with it), memory allocated inside the scope is in huge pages once written and memory
// allocated after it is not advised; elsewhere (the debug and sanitizer builds) the scope is a
// no-op and allocation is unaffected.
#include "server/base/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace proofbook::server {
namespace {

constexpr size_t kBytes = size_t{64} << 20;

// AnonHugePages (kB) of the mappings that hold [p, p + n), from /proc/self/smaps.
int64_t HugeKib(const void* p, size_t n) {
  const auto lo = reinterpret_cast<uintptr_t>(p), hi = lo + n;
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  int64_t kib = 0;
  while (std::getline(smaps, line)) {
    uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> start >> dash >> end && dash == '-') {
      inside = start < hi && lo < end;
    } else if (inside && line.rfind("AnonHugePages:", 0) == 0) {
      kib += std::stoll(line.substr(14));
    }
  }
  return kib;
}

bool ThpUsable() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(f, mode);
  return !mode.empty() && mode.find("[never]") == std::string::npos;
}

TEST(ScopedHugePageArena, WhatItsScopeAllocatesIsInHugePages) {
  std::unique_ptr<char[]> inside;
  bool active = false;
  {
    ScopedHugePageArena huge;
    active = huge.active();
    inside.reset(new char[kBytes]);
    std::memset(inside.get(), 1, kBytes);
  }
  std::unique_ptr<char[]> after(new char[kBytes]);
  std::memset(after.get(), 1, kBytes);
  if (!active) {
    GTEST_SKIP() << "not running on jemalloc: the scope is a no-op (checked: it allocated)";
  }
  if (!ThpUsable()) GTEST_SKIP() << "transparent huge pages are off on this machine";
  EXPECT_GT(HugeKib(inside.get(), kBytes), 0) << "the scope's memory is in 4 KiB pages";
}

TEST(ScopedHugePageArena, NestsAndRestoresTheThreadsArena) {
  ScopedHugePageArena outer;
  {
    ScopedHugePageArena inner;
    EXPECT_EQ(inner.active(), outer.active());
    std::unique_ptr<int[]> p(new int[1000]);
    p[999] = 1;
  }
  std::unique_ptr<int[]> q(new int[1000]);
  q[999] = 2;
  EXPECT_EQ(q[999], 2);
}

}  // namespace
}  // namespace proofbook::server
