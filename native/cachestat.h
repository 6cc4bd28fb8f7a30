// cachestat(2) (Linux 6.5+): how much of a file range is in the page cache, dirty, under writeback. Not in every
// libc's headers yet, so declared here; the one place that knows the syscall.
#pragma once
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#ifndef SYS_cachestat
#define SYS_cachestat 451  // the same number on every architecture
#endif

namespace zc {

struct Cachestat {
  uint64_t nrCache;
  uint64_t nrDirty;
  uint64_t nrWriteback;
  uint64_t nrEvicted;
  uint64_t nrRecentlyEvicted;
};

inline std::atomic<bool> gCachestatMissing{false};  // ENOSYS once: never asked again in this process

// Pages of [offset, offset + length) (length 0: to the end of the file) in *out: 0, or -errno (-ENOSYS for good
// once the kernel said it lacks the call).
inline int CachestatRange(int fd, int64_t offset, int64_t length, Cachestat* out) {
  if (gCachestatMissing.load()) return -ENOSYS;
  struct {
    uint64_t off;
    uint64_t len;
  } range = {static_cast<uint64_t>(offset), static_cast<uint64_t>(length)};
  if (syscall(SYS_cachestat, fd, &range, out, 0) == 0) return 0;
  if (errno == ENOSYS) gCachestatMissing = true;
  return -errno;
}

}  // namespace zc
