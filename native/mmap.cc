#include "mmap.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace zc {

size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

int ProtFor(MapMode mode) { return mode == MapMode::kRead ? PROT_READ : PROT_READ | PROT_WRITE; }

int MapFile(int fd, int64_t offset, size_t length, MapMode mode, bool populate, void** addr) {
  int flags = mode == MapMode::kPrivate ? MAP_PRIVATE : MAP_SHARED;
  if (populate) flags |= MAP_POPULATE;
  void* p = mmap(nullptr, length, ProtFor(mode), flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) return -errno;
  *addr = p;
  return 0;
}

int Unmap(void* addr, size_t length) { return munmap(addr, length) == -1 ? -errno : 0; }

int Sync(void* addr, size_t length, bool async, bool invalidate) {
  int flags = (async ? MS_ASYNC : MS_SYNC) | (invalidate ? MS_INVALIDATE : 0);
  return msync(addr, length, flags) == -1 ? -errno : 0;
}

int Advise(void* addr, size_t length, int advice) { return madvise(addr, length, advice) == -1 ? -errno : 0; }

int Lock(void* addr, size_t length) { return mlock(addr, length) == -1 ? -errno : 0; }

int Unlock(void* addr, size_t length) { return munlock(addr, length) == -1 ? -errno : 0; }

int64_t FileSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) == -1) return -errno;
  return st.st_size;
}

}  // namespace zc
