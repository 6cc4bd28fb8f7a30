// JS glue for the raw transfer syscalls: positional arguments already validated by src/raw.ts.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <vector>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "transfer.h"

namespace zc {

static Napi::Value Result(Napi::Env env, ssize_t r, const char* syscall) {
  if (r < 0) return ThrowErrno(env, static_cast<int>(r), syscall);
  return Napi::Number::New(env, static_cast<double>(r));
}

// sendfile(outFd, inFd, offset|null, length)
static Napi::Value SendfileJs(const Napi::CallbackInfo& info) {
  int out, in;
  int64_t off;
  bool hasOff;
  size_t len;
  if (!ArgFd(info, 0, &out) || !ArgFd(info, 1, &in) || !ArgOffset(info, 2, &off, &hasOff) ||
      !ArgLength(info, 3, kMaxRwCount, &len))
    return info.Env().Undefined();
  return Result(info.Env(), Sendfile(out, in, hasOff ? &off : nullptr, len), "sendfile");
}

// splice(fdIn, fdOut, length, offsetIn|null, offsetOut|null, move, more, nonBlock)
static Napi::Value SpliceJs(const Napi::CallbackInfo& info) {
  int in, out;
  size_t len;
  int64_t offIn, offOut;
  bool hasIn, hasOut;
  if (!ArgFd(info, 0, &in) || !ArgFd(info, 1, &out) || !ArgLength(info, 2, kMaxRwCount, &len) ||
      !ArgOffset(info, 3, &offIn, &hasIn) || !ArgOffset(info, 4, &offOut, &hasOut))
    return info.Env().Undefined();
  unsigned flags = (ArgFlag(info, 5) ? SPLICE_F_MOVE : 0) | (ArgFlag(info, 6) ? SPLICE_F_MORE : 0) |
                   (ArgFlag(info, 7) ? SPLICE_F_NONBLOCK : 0);
  ssize_t r = Splice(in, hasIn ? &offIn : nullptr, out, hasOut ? &offOut : nullptr, len, flags);
  return Result(info.Env(), r, "splice");
}

// tee(pipeIn, pipeOut, length, nonBlock)
static Napi::Value TeeJs(const Napi::CallbackInfo& info) {
  int in, out;
  size_t len;
  if (!ArgFd(info, 0, &in) || !ArgFd(info, 1, &out) || !ArgLength(info, 2, kMaxRwCount, &len))
    return info.Env().Undefined();
  return Result(info.Env(), Tee(in, out, len, ArgFlag(info, 3) ? SPLICE_F_NONBLOCK : 0), "tee");
}

// vmsplice(pipeWriteFd, view | view[], nonBlock)
static Napi::Value VmspliceJs(const Napi::CallbackInfo& info) {
  int fd;
  std::vector<struct iovec> iov;
  if (!ArgFd(info, 0, &fd) || !ArgIovecs(info, 1, &iov)) return info.Env().Undefined();
  // On a pipe's read end vmsplice would read *into* the buffers (and block on an empty pipe): refuse it the
  // way write(2) refuses an fd not open for writing.
  int mode = fcntl(fd, F_GETFL);
  if (mode == -1) return ThrowErrno(info.Env(), -errno, "vmsplice");
  if ((mode & O_ACCMODE) == O_RDONLY) return ThrowErrno(info.Env(), -EBADF, "vmsplice");
  if (iov.empty()) return Napi::Number::New(info.Env(), 0);
  // vmsplice waits for room unless told SPLICE_F_NONBLOCK, even on an O_NONBLOCK pipe (splice and tee honour
  // the fd's flag): a non-blocking fd must never block, so its flag counts as the option.
  bool nonBlock = ArgFlag(info, 2) || (mode & O_NONBLOCK);
  ssize_t r = Vmsplice(fd, iov.data(), iov.size(), nonBlock ? SPLICE_F_NONBLOCK : 0);
  return Result(info.Env(), r, "vmsplice");
}

// copyFileRange(fdIn, fdOut, length, offsetIn|null, offsetOut|null)
static Napi::Value CopyFileRangeJs(const Napi::CallbackInfo& info) {
  int in, out;
  size_t len;
  int64_t offIn, offOut;
  bool hasIn, hasOut;
  if (!ArgFd(info, 0, &in) || !ArgFd(info, 1, &out) || !ArgLength(info, 2, kMaxRwCount, &len) ||
      !ArgOffset(info, 3, &offIn, &hasIn) || !ArgOffset(info, 4, &offOut, &hasOut))
    return info.Env().Undefined();
  ssize_t r = CopyFileRange(in, hasIn ? &offIn : nullptr, out, hasOut ? &offOut : nullptr, len);
  return Result(info.Env(), r, "copy_file_range");
}

// createPipe(size, nonBlock) -> { readFd, writeFd, size }
static Napi::Value CreatePipeJs(const Napi::CallbackInfo& info) {
  size_t size;
  if (!ArgLength(info, 0, INT32_MAX, &size)) return info.Env().Undefined();
  int fds[2];
  const char* failed;
  int actual = MakePipe(fds, static_cast<int>(size), ArgFlag(info, 1), &failed);
  if (actual < 0) return ThrowErrno(info.Env(), actual, failed);
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("readFd", fds[0]);
  result.Set("writeFd", fds[1]);
  result.Set("size", actual);
  return result;
}

// dup(fd) -> a close-on-exec duplicate, so that a caller closing or reusing its fd number cannot affect us
static Napi::Value DupJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ThrowErrno(info.Env(), -errno, "dup");
  return Napi::Number::New(info.Env(), copy);
}

// regularSize(fd) -> the size of a regular file, or -1 for anything else (a cheaper fstat than fs.fstatSync,
// which builds a Stats object with dates on the hot path of small transfers)
static Napi::Value RegularSizeJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  struct stat st;
  if (fstat(fd, &st) == -1) return ThrowErrno(info.Env(), -errno, "fstat");
  return Napi::Number::New(info.Env(), S_ISREG(st.st_mode) ? static_cast<double>(st.st_size) : -1);
}

// mayBlock(fd) -> whether a read or write on fd could wait in the kernel (see MayBlock)
static Napi::Value MayBlockJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), MayBlock(fd));
}

// ready(fd, forWrite) -> whether the read or write would go ahead now
static Napi::Value ReadyJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), Ready(fd, info[1].ToBoolean().Value()));
}

void RegisterTransfer(Napi::Env env, Napi::Object exports) {
  exports.Set("dup", Napi::Function::New(env, DupJs, "dup"));
  exports.Set("regularSize", Napi::Function::New(env, RegularSizeJs, "regularSize"));
  exports.Set("mayBlock", Napi::Function::New(env, MayBlockJs, "mayBlock"));
  exports.Set("ready", Napi::Function::New(env, ReadyJs, "ready"));
  exports.Set("sendfile", Napi::Function::New(env, SendfileJs, "sendfile"));
  exports.Set("splice", Napi::Function::New(env, SpliceJs, "splice"));
  exports.Set("tee", Napi::Function::New(env, TeeJs, "tee"));
  exports.Set("vmsplice", Napi::Function::New(env, VmspliceJs, "vmsplice"));
  exports.Set("copyFileRange", Napi::Function::New(env, CopyFileRangeJs, "copyFileRange"));
  exports.Set("createPipe", Napi::Function::New(env, CreatePipeJs, "createPipe"));
}

}  // namespace zc
