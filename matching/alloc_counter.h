// Counts heap allocations in a benchmark binary: linking alloc_counter.cc replaces the global
// operator new with a counting one. Benchmarks only; the counter is a relaxed atomic.
#pragma once

#include <cstdint>

namespace proofbook::matching {
uint64_t AllocationCount();
}  // namespace proofbook::matching
