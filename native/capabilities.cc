// Which zero-copy syscalls this kernel really serves. Each probe calls the syscall with an invalid fd:
// EBADF proves the call exists, ENOSYS (seccomp filters, old kernels) that it does not.
#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "addon.h"

namespace zc {

static bool Exists(long r) { return !(r == -1 && errno == ENOSYS); }

static std::string ProbeReason(bool ok, const char* syscall) {
  return ok ? std::string() : std::string(syscall) + " is not implemented by this kernel (ENOSYS)";
}

static bool LeasesEnabled(std::string* reason) {
  int fd = open("/proc/sys/fs/leases-enable", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;  // no such knob: leases are always on
  char c = '1';
  ssize_t n = read(fd, &c, 1);
  close(fd);
  if (n == 1 && c == '0') {
    *reason = "leases are disabled (/proc/sys/fs/leases-enable is 0)";
    return false;
  }
  return true;
}

static Napi::Value CapabilitiesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object caps = Napi::Object::New(env);
  Napi::Object reasons = Napi::Object::New(env);
  auto add = [&](const char* name, bool ok, const std::string& reason) {
    caps.Set(name, ok);
    if (!ok) reasons.Set(name, reason);
  };
  bool ok = Exists(sendfile(-1, -1, nullptr, 1));
  add("sendfile", ok, ProbeReason(ok, "sendfile"));
  ok = Exists(splice(-1, nullptr, -1, nullptr, 1, 0));
  add("splice", ok, ProbeReason(ok, "splice"));
  ok = Exists(tee(-1, -1, 1, 0));
  add("tee", ok, ProbeReason(ok, "tee"));
  ok = Exists(vmsplice(-1, nullptr, 0, 0));
  add("vmsplice", ok, ProbeReason(ok, "vmsplice"));
  ok = Exists(syscall(SYS_copy_file_range, -1, nullptr, -1, nullptr, 1, 0));
  add("copyFileRange", ok, ProbeReason(ok, "copy_file_range"));
  add("mmap", true, "");
  std::string leaseReason;
  ok = LeasesEnabled(&leaseReason);
  add("leases", ok, leaseReason);
  caps.Set("reasons", reasons);
  return caps;
}

void RegisterCapabilities(Napi::Env env, Napi::Object exports) {
  exports.Set("capabilities", Napi::Function::New(env, CapabilitiesJs, "capabilities"));
}

}  // namespace zc
