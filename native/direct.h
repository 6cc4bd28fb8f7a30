// Direct I/O and page-cache residency: plain syscall code, no Node-API. Each call returns 0, a count, or -errno,
// retrying only EINTR.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <memory>

namespace zc {
namespace direct {

// What O_DIRECT on this file needs: buffer addresses aligned to `memory`, file positions and lengths to `offset`.
struct Alignment {
  uint32_t memory;
  uint32_t offset;
};

// A file opened for direct I/O, or buffered I/O with the reason:
// - "refused": the filesystem answered O_DIRECT with EINVAL at open (procfs, sysfs, some FUSE, overlay and
//   network filesystems, tmpfs before Linux 6.6);
// - "tmpfs": tmpfs takes O_DIRECT since Linux 6.6 (measured on 6.18: misaligned reads succeed, statx reports no
//   DIOALIGN) but its page cache is its storage: there is nothing to bypass, so the fd stays buffered.
struct Opened {
  int fd;
  bool direct;
  const char* reason;  // nullptr when direct
};

// open(path, flags | O_DIRECT | O_CLOEXEC, mode); on EINVAL, again without O_DIRECT.
int OpenPath(const char* path, int flags, mode_t mode, Opened* out);

// A new open file description of `fd` (through /proc/self/fd) with its access mode and O_DIRECT: O_DIRECT on the
// caller's own description would change it under every other user of it. Falls back as OpenPath.
int Reopen(int fd, Opened* out);

// statx(STATX_DIOALIGN) where the kernel reports it, else the device's logical block size (BLKSSZGET on a block
// device, the filesystem's block device otherwise) for both, else st_blksize.
int GetAlignment(int fd, Alignment* out);

// One read or write of `iov` at `position`, in chunks of at most `chunk` bytes, until all of it moved, the file
// ended (read), or `cancelled` reads true between chunks (-ECANCELED). *moved counts as it goes. With `dropCache`
// (a file whose filesystem refused O_DIRECT), each chunk's range is dropped from the page cache after it moved
// (written back first when writing). *syscall names a failed call.
int Transfer(int fd, bool write, const struct iovec* iov, int count, int64_t position, bool dropCache,
             const std::atomic<bool>* cancelled, int64_t* moved, const char** syscall);

// fdatasync, or fsync when `metadata`.
int Sync(int fd, bool metadata);

struct Residency {
  int64_t size;       // bytes in the range (clamped to the file's size)
  int64_t cached;     // bytes of it in the page cache (whole pages, clamped to size)
  int64_t dirty;      // -1 where the method cannot tell (mincore)
  int64_t writeback;  // -1 likewise
  bool cachestat;     // true: cachestat(2); false: mincore(2) on a temporary mapping
};

// Residency, eviction and prefetch take a regular file or a block device (a directory is EISDIR, anything else
// ESPIPE: only those have a page cache). *syscall names a failed call.

// [offset, offset + length) of fd (length -1: to the end of the file).
int GetResidency(int fd, int64_t offset, int64_t length, Residency* out, const char** syscall);

// posix_fadvise DONTNEED over the range (length -1: to the end; 0: nothing, although the kernel's 0 means to the
// end), after writing dirty pages back (sync_file_range), because the kernel drops only clean pages.
int Evict(int fd, int64_t offset, int64_t length, const char** syscall);

// posix_fadvise WILLNEED over the range (length as Evict): the kernel starts reading it in and returns.
int Prefetch(int fd, int64_t offset, int64_t length, const char** syscall);

// Memory that an async task may read or write: whoever uses it holds a reference (the Buffer over it one, each
// task in flight another), and the last one frees it, so a task never touches memory that its caller could free,
// transfer or detach under it. Zero-filled; aligned to `alignment` (a power of two >= sizeof(void*)). Big blocks
// are fresh anonymous mappings, whose pages the kernel zero-fills on first touch: filling them here would fault
// every page in at once (measured here: 5.4 s for 512 MiB on a loaded VM; Buffer.alloc 33 ms).
class AlignedBlock {
 public:
  // nullptr when the memory cannot be had.
  static std::shared_ptr<AlignedBlock> New(size_t size, size_t alignment);
  // The live block holding all of [address, address + length), or nullptr.
  static std::shared_ptr<AlignedBlock> Find(const void* address, size_t length);
  ~AlignedBlock();
  AlignedBlock(const AlignedBlock&) = delete;
  AlignedBlock& operator=(const AlignedBlock&) = delete;

  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  AlignedBlock(char* data, size_t size) : data_(data), size_(size) {}
  char* data_;
  size_t size_;
};

}  // namespace direct
}  // namespace zc
