// The raw transfer syscalls, one call each. Plain code, no Node-API: each returns the bytes moved (>= 0) or
// -errno, retrying only EINTR (which moved nothing). Offsets are in/out: when given, the kernel uses and
// advances *off and leaves the fd's own file position alone.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lease.h"

namespace zc {

// The kernel moves at most MAX_RW_COUNT (INT_MAX rounded down to a page) per call; larger asks are capped.
constexpr size_t kMaxRwCount = 0x7ffff000;

ssize_t Sendfile(int outFd, int inFd, int64_t* offset, size_t length);
// Bytes that more bytes follow at once (a response's headers before its body): send(2) with MSG_MORE, so that
// they leave in one segment with the next call's bytes (without a TCP_CORK on/off pair around them); write(2)
// where out is no socket.
ssize_t SendMore(int outFd, const void* data, size_t length);
// Sends what SendMore held back when no bytes followed it (clearing TCP_CORK pushes pending frames); nothing to do
// where out is no TCP socket.
void PushHeld(int outFd);
ssize_t Splice(int fdIn, int64_t* offIn, int fdOut, int64_t* offOut, size_t length, unsigned flags);
ssize_t Tee(int pipeIn, int pipeOut, size_t length, unsigned flags);
ssize_t Vmsplice(int pipeWriteFd, const struct iovec* iov, size_t count, unsigned flags);
ssize_t CopyFileRange(int fdIn, int64_t* offIn, int fdOut, int64_t* offOut, size_t length);

// The first byte of a range's last page, which a write from a mapping must not take from the mapping: a
// truncation whose new end falls inside a mapped page leaves the rest of that page reading as zeros (no EFAULT,
// no short count), so a body written from a mapping up to its end could end in zeros that look whole. That page
// is read with pread after the rest has gone: a file that shrank reads short there, and the body stops short.
int64_t MappedTailStart(int64_t offset, int64_t end);

// write(2) of the file `in`'s [offset, offset + length) from `data` (a read-only shared mapping of it, at
// `offset`), `head` first (advanced past what went), until EAGAIN, an error or the end.
// - Under a lease (`hold`, the open-file cache's; `in` then a descriptor of the leased open file): all of it from
//   the mapping, each write opened with Hold::Begin, so no writer the lease holds back changes the pages while
//   they are copied, and each a socket's that never waits (MSG_DONTWAIT; `out` must be a socket). A lease given
//   up or breaking before a write sets *untrusted and stops there: what went is the file's, the rest may not be.
// - Without one: the last page by pread (MappedTailStart), the rest held back with MSG_MORE until it follows.
//   Before each write after the first and before the last page, the file is checked no shorter than what went
//   (an fstat: a truncate-and-restore within the microseconds between a write and it goes unseen); where it is,
//   *untrusted is set and nothing more is written.
// Either way, *untrusted means the bytes that went may hold zeros the file never had, and the response must be
// cut. Returns the bytes written, head included, fewer than asked at EAGAIN or when the file shrank (a short
// pread, or EFAULT in the mapping), or -errno when none were. *calls counts syscalls.
ssize_t WriteFromMapping(int out, int in, const char* data, int64_t offset, size_t length, struct iovec* head,
                         lease::Hold* hold, bool* untrusted, int64_t* calls);

// Whether [offset, offset + length) of fd is entirely in the page cache, so that reading it cannot block on
// the disk: 1 yes, 0 no, -errno when the kernel cannot tell. cachestat(2) where the kernel has it (6.5+), else
// a preadv2(RWF_NOWAIT) probe of the first and last byte.
int RangeCached(int fd, int64_t offset, int64_t length);

// Whether a read or write on fd could wait in the kernel: its open file description lacks O_NONBLOCK (a caller's,
// shared by our dups, so its flags are not ours to change) and it is not a regular file, a block device or a
// memory device (major 1: /dev/null, /dev/zero, /dev/full, which never wait) or an anonymous inode.
bool MayBlock(int fd);

// Whether fd would take a write (forWrite) or give a read now, without waiting: poll with no timeout. An error
// or hang-up counts as ready, so that the call itself reports it.
bool Ready(int fd, bool forWrite);

// A close-on-exec pipe (O_NONBLOCK when asked); a size > 0 is applied with F_SETPIPE_SZ. Returns the
// kernel's actual capacity in bytes, or -errno with *failed naming the syscall (nothing is left open).
int MakePipe(int fds[2], int size, bool nonBlock, const char** failed);

}  // namespace zc
