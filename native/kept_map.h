// A kept file's whole mapping (the open-file cache's): mapped once, when the file is kept, so that a response
// from it is one write(2) from memory, as a server holding the file in RAM does, with no mmap and munmap per
// response (an munmap in a threaded process costs a TLB shootdown on every core). Shared by the responses and
// engine jobs that use it: the address range is given back when the cache has let the file go and the last of
// them is done with it. The kernel reads the mapping inside write(2), so a page past a new end of file is EFAULT
// or a short count there, never SIGBUS. At most a quarter of vm.max_map_count of them in the process
// (http_binding.cc): a file past that is kept unmapped.
#pragma once
#include <napi.h>
#include <stddef.h>
#include <stdint.h>

#include <memory>
#include <unordered_map>
#include <utility>

#include "lease.h"

namespace zc {

struct KeptMap {
  const char* base;
  size_t length;  // the file's size when it was kept
  int fd;         // the cache's fd (for cachestat), open while the map is in its environment's table
  // The cache's lease on the file. A truncation whose new end falls inside a mapped page leaves the rest of that
  // page reading as zeros, with no EFAULT; but a truncation (or any write) breaks this lease first, and the lease
  // thread lets the writer go only after the writes from the map that Hold::Begin let in have ended. So each
  // such write takes the file's bytes; once the lease is given up, nothing more of a response goes out.
  lease::HeldFlag held;
  KeptMap(const char* base, size_t length, int fd, lease::HeldFlag held)
      : base(base), length(length), fd(fd), held(std::move(held)) {}
  KeptMap(const KeptMap&) = delete;
  KeptMap& operator=(const KeptMap&) = delete;
  ~KeptMap();
};

using KeptMapRef = std::shared_ptr<const KeptMap>;

// An environment's kept maps, by the id JS holds.
struct KeptMaps {
  std::unordered_map<uint32_t, KeptMapRef> byId;
  uint32_t nextId = 1;
};

// The map `id` names in this environment, or null when the cache has let it go.
KeptMapRef FindKeptMap(Napi::Env env, uint32_t id);

}  // namespace zc
