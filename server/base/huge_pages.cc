#include "server/base/huge_pages.h"

#include <dlfcn.h>
#include <sys/mman.h>

#include <cstddef>

namespace proofbook::server {
namespace {

// jemalloc 5's extent hooks (struct extent_hooks_s in <jemalloc/jemalloc.h>), declared here so
// that nothing includes or links jemalloc: nine function pointers, the allocator first.
struct ExtentHooks;
using ExtentAlloc = void* (*)(ExtentHooks*, void* new_addr, size_t size, size_t alignment,
                              bool* zero, bool* commit, unsigned arena);
struct ExtentHooks {
  ExtentAlloc alloc;
  void* others[8];  // dalloc, destroy, commit, decommit, purge_lazy, purge_forced, split, merge
};
using Mallctl = int (*)(const char* name, void* old, size_t* old_size, void* value,
                        size_t value_size);

ExtentHooks* default_hooks = nullptr;  // arena 0's, set once before the arena exists
ExtentHooks huge_hooks;                // the defaults, with AllocHuge as the allocator

// The default allocator, then the advice. jemalloc retains and splits what it maps, so every
// extent of the arena comes from here. madvise is advice: if it fails the pages are 4 KiB.
void* AllocHuge(ExtentHooks*, void* new_addr, size_t size, size_t alignment, bool* zero,
                bool* commit, unsigned arena) {
  void* p = default_hooks->alloc(default_hooks, new_addr, size, alignment, zero, commit, arena);
  if (p != nullptr) madvise(p, size, MADV_HUGEPAGE);
  return p;
}

struct Arena {
  Mallctl mallctl = nullptr;  // null: no jemalloc, or the arena could not be made
  unsigned index = 0;
};

Arena MakeArena() {
  auto* mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (mallctl == nullptr) return {};
  size_t size = sizeof(default_hooks);
  if (mallctl("arena.0.extent_hooks", &default_hooks, &size, nullptr, 0) != 0 ||
      default_hooks == nullptr) {
    return {};
  }
  huge_hooks = *default_hooks;
  huge_hooks.alloc = &AllocHuge;
  ExtentHooks* hooks = &huge_hooks;
  unsigned index = 0;
  size = sizeof(index);
  if (mallctl("arenas.create", &index, &size, &hooks, sizeof(hooks)) != 0) return {};
  return Arena{mallctl, index};
}

const Arena& HugePageArena() {
  static const Arena arena = MakeArena();  // once, on first use
  return arena;
}

}  // namespace

ScopedHugePageArena::ScopedHugePageArena() {
  const Arena& arena = HugePageArena();
  if (arena.mallctl == nullptr) return;
  unsigned index = arena.index;
  size_t size = sizeof(previous_);
  active_ = arena.mallctl("thread.arena", &previous_, &size, &index, sizeof(index)) == 0;
}

ScopedHugePageArena::~ScopedHugePageArena() {
  if (active_)
    HugePageArena().mallctl("thread.arena", nullptr, nullptr, &previous_, sizeof(previous_));
}

}  // namespace proofbook::server
