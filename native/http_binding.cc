// Two syscalls the static-file server needs and Node does not expose: openat2(RESOLVE_BENEATH), so that a
// request path can never open a file outside the served root (the kernel refuses `..` and symlinks that leave
// it, with no check-then-open race), and TCP_CORK, so that response headers and the first body bytes leave in
// one segment.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "addon.h"
#include "args.h"
#include "errors.h"

#ifndef SYS_openat2
#define SYS_openat2 437  // the same number on every architecture (added in Linux 5.6)
#endif

namespace zc {

namespace {

// linux/openat2.h, spelled out: older or musl-based toolchains lack the header.
struct OpenHow {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
constexpr uint64_t kResolveNoMagiclinks = 0x02;
constexpr uint64_t kResolveBeneath = 0x08;

}  // namespace

// openBeneath(dirFd, relativePath) -> fd opened read-only, non-blocking (a FIFO must not stall the open),
// close-on-exec. EXDEV when the path leaves dirFd, ENOSYS where openat2 is missing.
static Napi::Value OpenBeneathJs(const Napi::CallbackInfo& info) {
  int dir;
  if (!ArgFd(info, 0, &dir)) return info.Env().Undefined();
  if (!info[1].IsString()) return ThrowType(info.Env(), "path must be a string");
  std::string path = info[1].As<Napi::String>().Utf8Value();
  if (path.find('\0') != std::string::npos) return ThrowErrno(info.Env(), -ENOENT, "openat2", path.c_str());
  OpenHow how{static_cast<uint64_t>(O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), 0,
              kResolveBeneath | kResolveNoMagiclinks};
  long fd;
  do {
    fd = syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how);
  } while (fd == -1 && errno == EINTR);
  if (fd == -1) return ThrowErrno(info.Env(), -errno, "openat2", path.c_str());
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

// setCork(socketFd, on) -> false where the socket is not TCP (a Unix socket has no cork).
static Napi::Value SetCorkJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  int on = ArgFlag(info, 1) ? 1 : 0;
  if (setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EOPNOTSUPP || errno == ENOPROTOOPT || errno == ENOTSOCK) return Napi::Boolean::New(info.Env(), false);
  return ThrowErrno(info.Env(), -errno, "setsockopt");
}

void RegisterHttp(Napi::Env env, Napi::Object exports) {
  exports.Set("openBeneath", Napi::Function::New(env, OpenBeneathJs, "openBeneath"));
  exports.Set("setCork", Napi::Function::New(env, SetCorkJs, "setCork"));
}

}  // namespace zc
