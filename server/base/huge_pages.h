// ScopedHugePageArena: while one lives on a thread, that thread's heap allocations come from a
// jemalloc arena whose memory is advised MADV_HUGEPAGE (transparent huge pages; the kernel's
// setting is usually `madvise`), and from the thread's usual arena again once it is gone.
//
// For recovery only: rebuilding a million open orders writes ~0.65 GB of fresh memory, and on
// the loadtest VM a 4 KiB page fault costs ~10 us while a 2 MiB one costs the same per 4 KiB
// once the host has backed it at ~0.2 us (loadtest/REPORT_RESTART.md). jemalloc's own
// `thp:always` gives every allocation huge pages, and the order path measured slower with it
// in four run.sh pairs; this keeps it to the threads that rebuild. What they allocate stays
// where it was allocated (the engine's pools and maps: huge pages, which only helps their TLB
// reach); frees from other threads go back to the arena that owns the memory.
//
// A no-op where the process does not run on jemalloc (debug and sanitizer builds, glibc's
// malloc): found at run time (dlsym of `mallctl`), so nothing links against jemalloc here.
#pragma once

namespace proofbook::server {

class ScopedHugePageArena {
 public:
  ScopedHugePageArena();
  ~ScopedHugePageArena();
  ScopedHugePageArena(const ScopedHugePageArena&) = delete;
  ScopedHugePageArena& operator=(const ScopedHugePageArena&) = delete;

  // Whether this thread allocates from the huge-page arena now (false without jemalloc).
  bool active() const { return active_; }

 private:
  unsigned previous_ = 0;
  bool active_ = false;
};

}  // namespace proofbook::server
