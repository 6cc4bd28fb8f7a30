#include "direct.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "cachestat.h"

namespace zc {
namespace direct {

namespace {

// Bytes per syscall of a read or write: a cancel is seen between two of them.
constexpr int64_t kChunk = 8 << 20;

int64_t PageSize() { return sysconf(_SC_PAGESIZE); }

int OpenRetrying(const char* path, int flags, mode_t mode) {
  int fd;
  do fd = open(path, flags, mode);
  while (fd == -1 && errno == EINTR);
  return fd == -1 ? -errno : fd;
}

// The logical block size of the device under fd's filesystem (or of fd itself, a block device), or 0.
uint32_t LogicalBlockSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) == -1) return 0;
  if (!S_ISBLK(st.st_mode)) {
    char path[64];
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u/queue/logical_block_size", major(st.st_dev),
             minor(st.st_dev));
    FILE* f = fopen(path, "re");
    unsigned size = 0;
    if (f != nullptr) {
      if (fscanf(f, "%u", &size) != 1) size = 0;
      fclose(f);
    }
    return size;
  }
  int size = 0;
  return ioctl(fd, BLKSSZGET, &size) == 0 && size > 0 ? static_cast<uint32_t>(size) : 0;
}

// Drops a range that was just read or written buffered from the page cache (what O_DIRECT would have left
// alone). Advice: its failure changes no byte, so it is not an error of the read or write.
void DropRange(int fd, bool written, int64_t offset, int64_t length) {
  if (written) sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                                       SYNC_FILE_RANGE_WAIT_AFTER);
  posix_fadvise(fd, offset, length, POSIX_FADV_DONTNEED);
}

// What direct I/O can work on: regular files and block devices, whose reads end once the device answered. A
// directory is EISDIR; anything else ESPIPE: a FIFO, socket or anonymous inode answers a positional read so, and
// a character device's read may wait forever (/dev/kmsg), holding an engine thread that no cancel can free.
int KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return -EISDIR;
  return S_ISREG(mode) || S_ISBLK(mode) ? 0 : -ESPIPE;
}

int CheckKind(int fd) {
  struct stat st;
  if (fstat(fd, &st) == -1) return -errno;
  return KindOf(st.st_mode);
}

}  // namespace

int OpenPath(const char* path, int flags, mode_t mode, Opened* out) {
  // O_NONBLOCK so that a FIFO (refused right after) cannot block the open; cleared once the file is known.
  int base = flags | O_CLOEXEC | O_NONBLOCK;
  // An existing path of the wrong kind is refused before open() acts on it (a FIFO or socket opened for writing
  // would answer ENXIO, a device open has effects); the check on the fd below is the one that holds.
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && KindOf(st.st_mode) < 0) return KindOf(st.st_mode);
  int fd = OpenRetrying(path, base | O_DIRECT, mode);
  out->direct = fd != -EINVAL;
  out->reason = out->direct ? nullptr : "refused";
  if (fd == -EINVAL) fd = OpenRetrying(path, base, mode);
  if (fd < 0) return fd;
  int err = CheckKind(fd);
  if (err < 0) {
    close(fd);
    return err;
  }
  out->fd = fd;
  // Our own open file description: changing its flags touches nobody else's.
  int own = fcntl(fd, F_GETFL) & ~O_NONBLOCK;
  struct statfs fs;
  if (out->direct && fstatfs(fd, &fs) == 0 && fs.f_type == TMPFS_MAGIC) {
    own &= ~O_DIRECT;
    out->direct = false;
    out->reason = "tmpfs";
  }
  fcntl(fd, F_SETFL, own);
  return 0;
}

int Reopen(int fd, Opened* out) {
  int flags = fcntl(fd, F_GETFL);
  if (flags == -1) return -errno;
  int err = CheckKind(fd);  // before opening: reopening a FIFO or socket through /proc could block or fail oddly
  if (err < 0) return err;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  // The access mode and O_APPEND carry over; O_CREAT and O_TRUNC would act again, so they do not.
  return OpenPath(path, flags & (O_ACCMODE | O_APPEND), 0, out);
}

int GetAlignment(int fd, Alignment* out) {
#ifdef STATX_DIOALIGN
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) != 0 &&
      stx.stx_dio_offset_align != 0) {
    out->memory = stx.stx_dio_mem_align;
    out->offset = stx.stx_dio_offset_align;
    return 0;
  }
#endif
  uint32_t size = LogicalBlockSize(fd);
  if (size == 0) {
    struct stat st;
    if (fstat(fd, &st) == -1) return -errno;
    size = static_cast<uint32_t>(st.st_blksize);
  }
  out->memory = out->offset = size;
  return 0;
}

int Transfer(int fd, bool write, const struct iovec* iov, int count, int64_t position, bool dropCache,
             const std::atomic<bool>* cancelled, int64_t* moved, const char** syscall) {
  std::vector<struct iovec> rest(iov, iov + count);
  size_t first = 0;
  *syscall = write ? "pwritev" : "preadv";
  while (first < rest.size()) {
    if (cancelled != nullptr && cancelled->load()) return -ECANCELED;
    // At most kChunk bytes (and IOV_MAX buffers) per call, the last buffer cut short if need be.
    std::vector<struct iovec> call;
    int64_t want = 0;
    for (size_t i = first; i < rest.size() && want < kChunk && call.size() < IOV_MAX; i++) {
      struct iovec part = rest[i];
      part.iov_len = std::min<size_t>(part.iov_len, static_cast<size_t>(kChunk - want));
      call.push_back(part);
      want += static_cast<int64_t>(part.iov_len);
    }
    ssize_t n;
    do n = write ? pwritev(fd, call.data(), static_cast<int>(call.size()), position)
                 : preadv(fd, call.data(), static_cast<int>(call.size()), position);
    while (n == -1 && errno == EINTR);
    if (n < 0) return -errno;
    if (n == 0) return 0;  // end of file (a write of 0 bytes cannot happen: no buffer is empty)
    if (dropCache) DropRange(fd, write, position, n);
    position += n;
    *moved += n;
    for (size_t left = static_cast<size_t>(n); left > 0;) {
      size_t take = std::min(left, rest[first].iov_len);
      rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + take;
      rest[first].iov_len -= take;
      left -= take;
      if (rest[first].iov_len == 0) first++;
    }
    if (!write && n < want) return 0;  // a short read: the file ended
  }
  return 0;
}

int Sync(int fd, bool metadata) {
  int r;
  do r = metadata ? fsync(fd) : fdatasync(fd);
  while (r == -1 && errno == EINTR);
  return r == -1 ? -errno : 0;
}

namespace {

// Only regular files and block devices have a page cache to ask about or advise: a directory is EISDIR, anything
// else ESPIPE. *size: the file's size (a block device's from BLKGETSIZE64).
int CachedKind(int fd, int64_t* size, const char** syscall) {
  *syscall = "fstat";
  struct stat st;
  if (fstat(fd, &st) == -1) return -errno;
  *size = st.st_size;
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    *syscall = "ioctl";
    if (ioctl(fd, BLKGETSIZE64, &bytes) == -1) return -errno;
    *size = static_cast<int64_t>(bytes);
    return 0;
  }
  *syscall = "posix_fadvise";
  if (S_ISDIR(st.st_mode)) return -EISDIR;
  return S_ISREG(st.st_mode) ? 0 : -ESPIPE;
}

// mincore(2) on a temporary read-only mapping of the range: which pages are resident. The range is page-aligned.
int MincoreCached(int fd, int64_t offset, int64_t length, int64_t* pages, const char** syscall) {
  *syscall = "mmap";
  void* base = mmap(nullptr, static_cast<size_t>(length), PROT_READ, MAP_SHARED, fd, offset);
  if (base == MAP_FAILED) return -errno;
  int64_t count = (length + PageSize() - 1) / PageSize();
  std::vector<unsigned char> vec(static_cast<size_t>(count));
  *syscall = "mincore";
  int err = mincore(base, static_cast<size_t>(length), vec.data()) == -1 ? -errno : 0;
  munmap(base, static_cast<size_t>(length));
  *pages = 0;
  for (unsigned char v : vec) *pages += v & 1;
  return err;
}

}  // namespace

int GetResidency(int fd, int64_t offset, int64_t length, Residency* out, const char** syscall) {
  int64_t fileSize = 0;
  int err = CachedKind(fd, &fileSize, syscall);
  if (err < 0) return err;
  int64_t end = length < 0 ? fileSize : std::min<int64_t>(fileSize, offset + length);
  out->size = std::max<int64_t>(0, end - offset);
  out->cached = 0;
  out->dirty = out->writeback = 0;
  out->cachestat = true;
  if (out->size == 0) return 0;
  int64_t page = PageSize();
  int64_t start = offset & ~(page - 1);
  int64_t span = end - start;
  Cachestat cs;
  *syscall = "cachestat";
  err = CachestatRange(fd, start, span, &cs);
  if (err == 0) {
    out->cached = std::min<int64_t>(out->size, static_cast<int64_t>(cs.nrCache) * page);
    out->dirty = std::min<int64_t>(out->size, static_cast<int64_t>(cs.nrDirty) * page);
    out->writeback = std::min<int64_t>(out->size, static_cast<int64_t>(cs.nrWriteback) * page);
    return 0;
  }
  if (err != -ENOSYS) return err;
  out->cachestat = false;
  out->dirty = out->writeback = -1;
  int64_t pages = 0;
  if ((err = MincoreCached(fd, start, span, &pages, syscall)) < 0) return err;
  out->cached = std::min<int64_t>(out->size, pages * page);
  return 0;
}

int Evict(int fd, int64_t offset, int64_t length, const char** syscall) {
  int64_t size;
  int err = CachedKind(fd, &size, syscall);
  if (err < 0 || length == 0) return err;
  if (length < 0) length = 0;  // the kernel's "to the end"
  *syscall = "sync_file_range";
  if (sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                              SYNC_FILE_RANGE_WAIT_AFTER) == -1)
    return -errno;
  *syscall = "posix_fadvise";
  return -posix_fadvise(fd, offset, length, POSIX_FADV_DONTNEED);
}

int Prefetch(int fd, int64_t offset, int64_t length, const char** syscall) {
  int64_t size;
  int err = CachedKind(fd, &size, syscall);
  if (err < 0 || length == 0) return err;
  *syscall = "posix_fadvise";
  return -posix_fadvise(fd, offset, length < 0 ? 0 : length, POSIX_FADV_WILLNEED);
}

namespace {

constexpr size_t kMappedBlock = 1 << 20;  // from this size on, a block is its own mapping

void* AllocateAligned(size_t size, size_t alignment) {
  if (size < kMappedBlock) {
    void* p = nullptr;
    if (posix_memalign(&p, alignment, size == 0 ? alignment : size) != 0) return nullptr;
    memset(p, 0, size);
    return p;
  }
  // Mappings start on a page; for a larger alignment, map the slack too and unmap what lies outside the block.
  size_t page = static_cast<size_t>(PageSize());
  size_t slack = alignment > page ? alignment : 0;
  size_t length = (size + page - 1) / page * page;
  void* base = mmap(nullptr, length + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(base);
  uintptr_t aligned = (start + alignment - 1) & ~(static_cast<uintptr_t>(alignment) - 1);
  if (aligned > start) munmap(base, aligned - start);
  size_t tail = start + length + slack - (aligned + length);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + length), tail);
  return reinterpret_cast<void*>(aligned);
}

void FreeAligned(void* block, size_t size) {
  if (size < kMappedBlock) {
    free(block);
    return;
  }
  size_t page = static_cast<size_t>(PageSize());
  munmap(block, (size + page - 1) / page * page);
}

// The live blocks by start address, so that a view handed to an async call can be told to lie in one.
std::mutex gBlocksMutex;
std::map<uintptr_t, std::weak_ptr<AlignedBlock>> gBlocks;

}  // namespace

std::shared_ptr<AlignedBlock> AlignedBlock::New(size_t size, size_t alignment) {
  void* memory = AllocateAligned(size, alignment);
  if (memory == nullptr) return nullptr;
  std::shared_ptr<AlignedBlock> block(new AlignedBlock(static_cast<char*>(memory), size));
  std::lock_guard<std::mutex> lock(gBlocksMutex);
  gBlocks[reinterpret_cast<uintptr_t>(memory)] = block;
  return block;
}

std::shared_ptr<AlignedBlock> AlignedBlock::Find(const void* address, size_t length) {
  uintptr_t start = reinterpret_cast<uintptr_t>(address);
  std::lock_guard<std::mutex> lock(gBlocksMutex);
  auto it = gBlocks.upper_bound(start);
  if (it == gBlocks.begin()) return nullptr;
  std::shared_ptr<AlignedBlock> block = (--it)->second.lock();
  if (!block || start + length > it->first + block->size()) return nullptr;
  return block;
}

AlignedBlock::~AlignedBlock() {
  {
    std::lock_guard<std::mutex> lock(gBlocksMutex);
    gBlocks.erase(reinterpret_cast<uintptr_t>(data_));
  }
  FreeAligned(data_, size_);
}

}  // namespace direct
}  // namespace zc
