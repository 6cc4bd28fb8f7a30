// The strategies of a kSend job (a regular file -> any fd): one function per way of moving bytes, each taking the
// next bytes of the file at j->offset to the output. A new kernel path (io_uring, ...) is one more function here,
// one more row in engine.h's kStrategies, and the same contract:
//   - return bytes written to the output (> 0), 0 at the end of the input, or -errno (-EAGAIN: the output is full,
//     park; an errno in kRefusals: read/write takes over with every byte the strategy took still owed);
//   - never report bytes of a file that shrank as written data: a short read or EFAULT ends the job, and Finish
//     turns a file smaller than promised into `truncated`;
//   - a copying strategy (the output holds copies, not the file's pages) honours spec.leaseHeld per chunk.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "engine_internal.h"
#include "transfer.h"

namespace zc {
namespace engine {
namespace detail {

namespace {

// A write of the next `size` bytes at `data` to the output (at its offset when it has one).
ssize_t WriteOut(Job* j, const char* data, size_t size) {
  ssize_t w;
  do {
    w = j->outOffset >= 0 ? pwrite(j->spec.outFd, data, size, j->outOffset) : write(j->spec.outFd, data, size);
  } while (w == -1 && errno == EINTR);
  gSyscalls++;
  if (w < 0) return -errno;
  if (j->outOffset >= 0) j->outOffset += w;
  return w;
}

// The same, never waiting even where the output's description is blocking (a write under Hold::Begin must
// not: the lease thread waits for it). A socket is told MSG_DONTWAIT; anything else is a gated output here, whose
// write of at most PIPE_BUF after it polled writable is taken at once.
ssize_t WriteNow(Job* j, const char* data, size_t size) {
  ssize_t w;
  do w = send(j->spec.outFd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (w == -1 && errno == EINTR);
  if (w == -1 && errno == ENOTSOCK) return WriteOut(j, data, size);
  gSyscalls++;
  return w < 0 ? -errno : w;
}

ssize_t SendfileStep(Job* j, int64_t want, const char** syscall) {
  *syscall = "sendfile";
  gSyscalls++;
  ssize_t r = Sendfile(j->spec.outFd, j->spec.inFd, &j->offset, static_cast<size_t>(want));
  if (r > 0) gZeroCopyBytes += r;
  return r;
}

// file -> our pooled pipe -> output. The pipe is filled only when empty, with at most what is left to send, so
// that it never holds a byte past the promised end; what it holds is owed to the output first.
ssize_t SpliceStep(Job* j, int64_t want, const char** syscall) {
  if (j->inPipe == 0) {
    *syscall = "splice";
    int64_t fill = std::min<int64_t>(j->spec.length - j->done, j->pipeSize);
    ssize_t r = Splice(j->spec.inFd, &j->offset, j->pipe[1], nullptr, static_cast<size_t>(fill),
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    gSyscalls++;
    if (r <= 0) return r;  // 0: end of file; the pipe is empty, so nothing is owed
    j->inPipe = r;
  }
  *syscall = "splice";
  int64_t size = std::min(want, j->inPipe);
  unsigned more = j->done + size < j->spec.length ? SPLICE_F_MORE : 0;
  ssize_t r = Splice(j->pipe[0], nullptr, j->spec.outFd, j->outOffset >= 0 ? &j->outOffset : nullptr,
                     static_cast<size_t>(size), SPLICE_F_MOVE | SPLICE_F_NONBLOCK | more);
  gSyscalls++;
  if (r > 0) {
    j->inPipe -= r;
    gZeroCopyBytes += r;
  }
  return r == 0 ? -EIO : r;  // a pipe holding bytes never reads as empty
}

void Unmap(Job* j) {
  if (j->window == nullptr) return;
  if (!j->spec.kept) munmap(j->window, j->windowLength);  // a kept map is its cache's to give back
  j->window = nullptr;
  j->windowLength = 0;
}

// write(2) from a read-only shared mapping, one window at a time. The kernel copies from the mapping inside
// write, where a page past a new end of file is EFAULT or a short count, never SIGBUS; the window never
// reaches past the size fstat gave when it was mapped, so a short file ends the job (Finish: truncated). A kept
// map's writes are each covered whole by the cache's lease (Hold::Begin); without it, the range's last page is
// read and written by the copy step instead, after the rest (MappedTailStart; WriteFromMapping says why).
ssize_t MmapStep(Job* j, int64_t want, const char** syscall) {
  int64_t end = j->spec.offset + j->spec.length;
  // Without a kept map's lease, what went is checked before anything more goes: the file no shorter than it.
  if (!j->spec.kept && !j->spec.leaseHeld && j->offset > j->spec.offset) {
    struct stat st;
    *syscall = "fstat";
    if (fstat(j->spec.inFd, &st) == -1) return -errno;
    if (st.st_size < j->offset) return -EFAULT;  // Finish: truncated
  }
  int64_t tail = j->spec.kept ? end : MappedTailStart(j->spec.offset, end);
  if (j->offset >= tail) return ReadWriteStep(j, want, syscall);
  want = std::min(want, tail - j->offset);
  if (j->spec.kept && j->window == nullptr) {
    // The whole file, mapped when it was kept, at the size it had then: bytes past it are none of this job's.
    j->window = const_cast<char*>(j->spec.kept->base);
    j->windowOffset = 0;
    j->windowLength = j->spec.kept->length;
  }
  if (j->spec.kept && j->offset >= std::min<int64_t>(end, static_cast<int64_t>(j->windowLength))) return 0;
  if (j->window == nullptr || j->offset < j->windowOffset ||
      j->offset >= j->windowOffset + static_cast<int64_t>(j->windowLength)) {
    Unmap(j);
    *syscall = "fstat";
    struct stat st;
    if (fstat(j->spec.inFd, &st) == -1) return -errno;
    int64_t stop = std::min<int64_t>(end, st.st_size);
    if (j->offset >= stop) return 0;
    int64_t page = sysconf(_SC_PAGESIZE);
    j->windowOffset = j->offset / page * page;
    j->windowLength = static_cast<size_t>(std::min<int64_t>(stop - j->windowOffset, kMmapWindow));
    *syscall = "mmap";
    void* map = mmap(nullptr, j->windowLength, PROT_READ, MAP_SHARED, j->spec.inFd, j->windowOffset);
    gSyscalls++;
    if (map == MAP_FAILED) {
      j->windowLength = 0;
      return errno == ENODEV ? -EOPNOTSUPP : -errno;  // a file that cannot be mapped: a refusal
    }
    j->window = static_cast<char*>(map);
  }
  int64_t at = j->offset - j->windowOffset;
  size_t size = static_cast<size_t>(std::min<int64_t>(want, static_cast<int64_t>(j->windowLength) - at));
  if (j->spec.leaseHeld && !j->spec.leaseHeld->held()) {
    *syscall = "lease";
    return -ECANCELED;  // the lease is gone: a writer may be changing these pages
  }
  lease::Hold* hold = j->spec.kept ? j->spec.kept->held.get() : nullptr;
  if (hold && !hold->Begin(j->spec.inFd)) {
    *syscall = "lease";
    return -ECANCELED;  // the cache's lease is gone: a writer may be changing these pages
  }
  *syscall = "write";
  ssize_t w = hold ? WriteNow(j, j->window + at, size) : WriteOut(j, j->window + at, size);
  if (hold) hold->End();
  if (w > 0) {
    j->offset += w;
    gZeroCopyBytes += w;
  }
  return w;
}

}  // namespace

ssize_t SendStep(Job* j, int64_t want, const char** syscall) {
  switch (j->spec.strategy) {
    case Strategy::kSplice:
      return SpliceStep(j, want, syscall);
    case Strategy::kMmap:
      return MmapStep(j, want, syscall);
    case Strategy::kCopy:
      return ReadWriteStep(j, want, syscall);
    case Strategy::kSendfile:
      break;
  }
  return SendfileStep(j, want, syscall);
}

void ReleaseSendStrategy(Job* j) { Unmap(j); }

}  // namespace detail
}  // namespace engine
}  // namespace zc
