#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "cachestat.h"

namespace zc {

// Runs `call` until it does not fail with EINTR; returns its result or -errno.
template <typename Call>
static ssize_t Retry(Call call) {
  ssize_t r;
  do r = call();
  while (r == -1 && errno == EINTR);
  return r == -1 ? -errno : r;
}

ssize_t Sendfile(int outFd, int inFd, int64_t* offset, size_t length) {
  off_t off = offset ? static_cast<off_t>(*offset) : 0;
  ssize_t r = Retry([&] { return sendfile(outFd, inFd, offset ? &off : nullptr, length); });
  if (offset) *offset = off;
  return r;
}

ssize_t SendMore(int outFd, const void* data, size_t length) {
  ssize_t r = Retry([&] { return send(outFd, data, length, MSG_MORE | MSG_NOSIGNAL | MSG_DONTWAIT); });
  if (r != -ENOTSOCK) return r;
  return Retry([&] { return write(outFd, data, length); });
}

void PushHeld(int outFd) {
  int off = 0;
  setsockopt(outFd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
}

ssize_t Splice(int fdIn, int64_t* offIn, int fdOut, int64_t* offOut, size_t length, unsigned flags) {
  loff_t in = offIn ? *offIn : 0, out = offOut ? *offOut : 0;
  ssize_t r = Retry([&] {
    return splice(fdIn, offIn ? &in : nullptr, fdOut, offOut ? &out : nullptr, length, flags);
  });
  if (offIn) *offIn = in;
  if (offOut) *offOut = out;
  return r;
}

ssize_t Tee(int pipeIn, int pipeOut, size_t length, unsigned flags) {
  return Retry([&] { return tee(pipeIn, pipeOut, length, flags); });
}

ssize_t Vmsplice(int pipeWriteFd, const struct iovec* iov, size_t count, unsigned flags) {
  return Retry([&] { return vmsplice(pipeWriteFd, iov, count, flags); });
}

ssize_t CopyFileRange(int fdIn, int64_t* offIn, int fdOut, int64_t* offOut, size_t length) {
  // Through syscall(2), so that a binary built against an older glibc still reaches the kernel's call.
  loff_t in = offIn ? *offIn : 0, out = offOut ? *offOut : 0;
  ssize_t r = Retry([&] {
    return static_cast<ssize_t>(syscall(SYS_copy_file_range, fdIn, offIn ? &in : nullptr, fdOut,
                                        offOut ? &out : nullptr, length, 0u));
  });
  if (offIn) *offIn = in;
  if (offOut) *offOut = out;
  return r;
}

namespace {

int ProbeNowait(int fd, int64_t offset) {
  char byte;
  struct iovec iov = {&byte, 1};
  ssize_t r;
  do r = preadv2(fd, &iov, 1, offset, RWF_NOWAIT);
  while (r == -1 && errno == EINTR);
  if (r >= 0) return 1;
  return errno == EAGAIN ? 0 : -errno;
}

}  // namespace

int RangeCached(int fd, int64_t offset, int64_t length) {
  if (length <= 0) return 1;
  Cachestat cs;
  int err = CachestatRange(fd, offset, length, &cs);
  if (err == 0) {
    uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    uint64_t first = static_cast<uint64_t>(offset) / page, last = static_cast<uint64_t>(offset + length - 1) / page;
    return cs.nrCache >= last - first + 1 ? 1 : 0;
  }
  if (err != -ENOSYS) return err;
  int r = ProbeNowait(fd, offset);
  return r == 1 ? ProbeNowait(fd, offset + length - 1) : r;
}

int64_t MappedTailStart(int64_t offset, int64_t end) {
  int64_t page = sysconf(_SC_PAGESIZE);
  int64_t last = end > 0 ? (end - 1) / page * page : 0;
  return last > offset ? last : offset;
}

// Whether the file still reaches `end`: the bytes written from a mapping up to it are the file's, unless a
// truncate-and-restore came between (see WriteFromMapping).
static bool SizeHolds(int in, int64_t end, int64_t* calls) {
  struct stat st;
  ++*calls;
  return fstat(in, &st) == 0 && st.st_size >= end;
}

ssize_t WriteFromMapping(int out, int in, const char* data, int64_t offset, size_t length, struct iovec* head,
                         lease::Hold* hold, bool* untrusted, int64_t* calls) {
  int64_t end = offset + static_cast<int64_t>(length);
  size_t mapped = hold ? length : static_cast<size_t>(MappedTailStart(offset, end) - offset);
  size_t headLength = head->iov_len, body = 0;
  ssize_t w = 0;
  *untrusted = false;
  while (body < mapped) {
    if (hold) ++*calls;  // Begin's F_GETLEASE
    if (hold ? !hold->Begin(in) : body > 0 && !SizeHolds(in, offset + static_cast<int64_t>(body), calls)) {
      *untrusted = true;
      break;
    }
    struct iovec iov[2] = {*head, {const_cast<char*>(data) + body, mapped - body}};
    int first = head->iov_len > 0 ? 0 : 1;
    struct msghdr msg = {};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = static_cast<size_t>(2 - first);
    int more = mapped < length ? MSG_MORE : 0;  // the last page follows
    // Under the lease, never a write that waits (the lease thread waits for it): EAGAIN on a blocking socket too.
    int now = hold ? MSG_DONTWAIT : 0;
    do w = sendmsg(out, &msg, more | now | MSG_NOSIGNAL);
    while (w == -1 && errno == EINTR);
    if (w == -1 && errno == ENOTSOCK && !hold) {
      do w = writev(out, iov + first, 2 - first);
      while (w == -1 && errno == EINTR);
    }
    if (hold) hold->End();
    ++*calls;
    if (w <= 0) break;
    size_t headPart = std::min(static_cast<size_t>(w), head->iov_len);
    head->iov_base = static_cast<char*>(head->iov_base) + headPart;
    head->iov_len -= headPart;
    body += static_cast<size_t>(w) - headPart;
  }
  // Whatever stopped the loop, what went is checked before the caller goes on from it (or the last page goes).
  if (!hold && !*untrusted && body > 0 && !SizeHolds(in, offset + static_cast<int64_t>(body), calls)) {
    *untrusted = true;
  }
  if (!*untrusted && body == mapped && w >= 0 && body < length) {
    // The last page, read now that the rest has gone; written with whatever of the head is left.
    static thread_local std::unique_ptr<char[]> page(new char[static_cast<size_t>(sysconf(_SC_PAGESIZE))]);
    size_t tail = length - mapped;
    ssize_t n;
    do n = pread(in, page.get(), tail, offset + static_cast<int64_t>(mapped));
    while (n == -1 && errno == EINTR);
    ++*calls;
    if (n == static_cast<ssize_t>(tail)) {
      struct iovec iov[2] = {*head, {page.get(), tail}};
      int first = head->iov_len > 0 ? 0 : 1;
      do w = writev(out, iov + first, 2 - first);
      while (w == -1 && errno == EINTR);
      ++*calls;
      if (w > 0) {
        size_t headPart = std::min(static_cast<size_t>(w), head->iov_len);
        head->iov_base = static_cast<char*>(head->iov_base) + headPart;
        head->iov_len -= headPart;
        body += static_cast<size_t>(w) - headPart;
      }
    } else {
      w = n < 0 ? -1 : 0;  // shrank: the body stops short here (n >= 0), or the read failed (errno)
      if (n >= 0) PushHeld(out);
    }
  }
  int err = errno;
  size_t sent = headLength - head->iov_len + body;
  if (sent == 0 && w < 0 && err != EFAULT) return -err;
  return static_cast<ssize_t>(sent);
}

int MakePipe(int fds[2], int size, bool nonBlock, const char** failed) {
  *failed = "pipe";
  if (pipe2(fds, O_CLOEXEC | (nonBlock ? O_NONBLOCK : 0)) == -1) return -errno;
  *failed = "fcntl";
  int actual = size > 0 ? fcntl(fds[1], F_SETPIPE_SZ, size) : fcntl(fds[1], F_GETPIPE_SZ);
  if (actual == -1) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    fds[0] = fds[1] = -1;  // closed: a caller that releases "its pipe" on failure must not close them again
    return -err;
  }
  return actual;
}

bool MayBlock(int fd) {
  int flags = fcntl(fd, F_GETFL);
  struct stat st;
  if (flags == -1 || (flags & O_NONBLOCK) || fstat(fd, &st) == -1) return false;
  if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1) return false;
  // An anonymous inode (an epoll fd, an eventfd) has no file type: its read or write answers at once, and an
  // epoll fd never polls writable, so gating it would wait forever for a write that fails with EINVAL.
  if ((st.st_mode & S_IFMT) == 0) return false;
  return !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
}

bool Ready(int fd, bool forWrite) {
  struct pollfd p = {fd, static_cast<short>(forWrite ? POLLOUT : POLLIN), 0};
  int r;
  do r = poll(&p, 1, 0);
  while (r == -1 && errno == EINTR);
  return r != 0;
}

}  // namespace zc
