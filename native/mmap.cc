#include "mmap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

// Kernel values, for C libraries older than the calls (MADV_POPULATE_READ: Linux 5.14, glibc 2.35).
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

namespace zc {

size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

int MapFile(int fd, int64_t offset, size_t length, MapMode mode, void** addr) {
  int flags = mode == MapMode::kWrite ? MAP_SHARED : MAP_PRIVATE;
  if (mode == MapMode::kRead) flags |= MAP_NORESERVE;
  void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) return -errno;
  *addr = p;
  return 0;
}

int ReleaseFile(void* addr, size_t length) {
  void* p = mmap(addr, length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? -errno : 0;
}

int Unmap(void* addr, size_t length) { return munmap(addr, length) == -1 ? -errno : 0; }

int Sync(void* addr, size_t length, bool async, bool invalidate) {
  int flags = (async ? MS_ASYNC : MS_SYNC) | (invalidate ? MS_INVALIDATE : 0);
  return msync(addr, length, flags) == -1 ? -errno : 0;
}

int PopulateRead(void* addr, size_t length) {
  if (madvise(addr, length, MADV_POPULATE_READ) == 0) return 0;
  if (errno != EINVAL) return -errno;
  const volatile uint8_t* p = static_cast<const volatile uint8_t*>(addr);
  for (size_t i = 0; i < length; i += PageSize()) (void)p[i];
  return 0;
}

int Advise(void* addr, size_t length, int advice) { return madvise(addr, length, advice) == -1 ? -errno : 0; }

int Lock(void* addr, size_t length) {
  if (mlock2(addr, length, MLOCK_ONFAULT) == -1) return -errno;
  return PopulateRead(addr, length);
}

// munlock as a raw syscall, to pair with mlock2 (which sanitizers do not intercept): AddressSanitizer turns
// munlock() into a no-op, and pages left locked then refuse MADV_DONTNEED with EINVAL.
int Unlock(void* addr, size_t length) { return syscall(SYS_munlock, addr, length) == -1 ? -errno : 0; }

int64_t MappedFileSize(const void* addr) {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (!maps) return -errno;
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%08" PRIxPTR "-", reinterpret_cast<uintptr_t>(addr));
  // A line: start-end perms offset major:minor inode path
  char* line = nullptr;
  size_t cap = 0;
  int64_t result = -ENOENT;
  while (getline(&line, &cap, maps) != -1) {
    if (strncmp(line, prefix, strlen(prefix)) != 0) continue;
    unsigned major, minor;
    unsigned long long inode;
    int pathAt = 0;
    if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &major, &minor, &inode, &pathAt) != 3 || pathAt == 0) break;
    std::string path(line + pathAt);
    while (!path.empty() && path.back() == '\n') path.pop_back();
    struct stat st;
    if (!path.empty() && stat(path.c_str(), &st) == 0 && st.st_ino == inode && major(st.st_dev) == major &&
        minor(st.st_dev) == minor)
      result = st.st_size;
    break;
  }
  free(line);
  fclose(maps);
  return result;
}

}  // namespace zc
