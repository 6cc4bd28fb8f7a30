// What the static-file server needs and Node does not expose: openat2(RESOLVE_BENEATH), so that a request path
// can never open a file outside the served root (the kernel refuses `..` and symlinks that leave it, with no
// check-then-open race); TCP_CORK, so that response headers and the first body bytes leave in one segment;
// directory and mount-table watches read synchronously, so that the open-file cache sees a rename or a mount
// before the next request; and the cache's kept mappings, a response from which is one writev of headers and
// body (kept_map.h).
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <set>
#include <string>

#include "addon.h"
#include "args.h"
#include "constants.h"
#include "engine.h"
#include "errors.h"
#include "kept_map.h"
#include "transfer.h"
#include "watch.h"

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

// watchOpen() -> an inotify fd (non-blocking, close-on-exec).
static Napi::Value WatchOpenJs(const Napi::CallbackInfo& info) {
  int fd = watch::Open();
  if (fd < 0) return ThrowErrno(info.Env(), fd, "inotify_init1");
  return Napi::Number::New(info.Env(), fd);
}

// watchMounts() -> an fd of /proc/self/mountinfo, for watchDrain.
static Napi::Value WatchMountsJs(const Napi::CallbackInfo& info) {
  int fd = watch::OpenMounts();
  if (fd < 0) return ThrowErrno(info.Env(), fd, "open", "/proc/self/mountinfo");
  return Napi::Number::New(info.Env(), fd);
}

// watchAdd(fd, path, file?) -> a watch descriptor: of a directory, or (file) of a file's attributes.
static Napi::Value WatchAddJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  if (!info[1].IsString()) return ThrowType(info.Env(), "path must be a string");
  std::string path = info[1].As<Napi::String>().Utf8Value();
  if (path.find('\0') != std::string::npos) return ThrowErrno(info.Env(), -ENOENT, "inotify_add_watch", path.c_str());
  int wd = ArgFlag(info, 2) ? watch::AddFile(fd, path.c_str()) : watch::Add(fd, path.c_str());
  if (wd < 0) return ThrowErrno(info.Env(), wd, "inotify_add_watch", path.c_str());
  return Napi::Number::New(info.Env(), wd);
}

// watchRemove(fd, wd) -> false when the watch had ended already.
static Napi::Value WatchRemoveJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  if (!info[1].IsNumber()) return ThrowType(info.Env(), "wd must be a number");
  int err = watch::Remove(fd, info[1].As<Napi::Number>().Int32Value());
  if (err == -EINVAL) return Napi::Boolean::New(info.Env(), false);
  if (err < 0) return ThrowErrno(info.Env(), err, "inotify_rm_watch");
  return Napi::Boolean::New(info.Env(), true);
}

// watchPoll(fd, mountsFd) -> an epoll fd over the inotify fd and the mount table's, for watchDrain.
static Napi::Value WatchPollJs(const Napi::CallbackInfo& info) {
  int fd, mountsFd;
  if (!ArgFd(info, 0, &fd) || !ArgFd(info, 1, &mountsFd)) return info.Env().Undefined();
  int pollFd = watch::OpenPoll(fd, mountsFd);
  if (pollFd < 0) return ThrowErrno(info.Env(), pollFd, "epoll_ctl");
  return Napi::Number::New(info.Env(), pollFd);
}

// watchDrain(pollFd, fd) -> null when nothing changed (the common case: no allocation), else
// [{ wd, name, gone }] (wd -1: forget everything).
static Napi::Value WatchDrainJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pollFd, fd;
  if (!ArgFd(info, 0, &pollFd) || !ArgFd(info, 1, &fd)) return env.Undefined();
  std::vector<watch::Event> events;
  int err = watch::Drain(pollFd, fd, &events);
  if (err < 0) return ThrowErrno(env, err, "epoll_wait");
  if (events.empty()) return env.Null();
  Napi::Array out = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("wd", events[i].wd);
    e.Set("name", events[i].name);
    e.Set("gone", events[i].gone);
    out.Set(static_cast<uint32_t>(i), e);
  }
  return out;
}

// watchQuiet(pollFd) -> 1: nothing queued on the watches, so a kept file may answer as kept; 0: events are
// queued (watchDrain reads them); -1: the mount table changed (this look took that news: nothing kept can be
// trusted). One epoll_wait.
static Napi::Value WatchQuietJs(const Napi::CallbackInfo& info) {
  int pollFd;
  if (!ArgFd(info, 0, &pollFd)) return info.Env().Undefined();
  bool queued = false, mounts = false;
  int err = watch::Poll(pollFd, &queued, &mounts);
  if (err < 0) return ThrowErrno(info.Env(), err, "epoll_wait");
  return Napi::Number::New(info.Env(), mounts ? -1 : queued ? 0 : 1);
}

// The open-file cache's fds (kept files, the inotify instance, the mount table) belong to the environment that
// opened them: a Worker that is terminated runs no JavaScript to close them, so its environment's cleanup does.
// Counted across environments, so that the cache's budget (a share of RLIMIT_NOFILE) holds for the process.
static std::atomic<int64_t> envFdCount{0};

static void CloseEnvFds(void* arg) {
  auto* fds = static_cast<std::set<int>*>(arg);
  for (int fd : *fds) close(fd);
  envFdCount -= static_cast<int64_t>(fds->size());
  delete fds;
}

// envFd(fd): closed when this environment ends, unless closeEnvFd(fd) closed it first.
static Napi::Value EnvFdJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  if (static_cast<std::set<int>*>(info.Data())->insert(fd).second) envFdCount += 1;
  return info.Env().Undefined();
}

// closeEnvFd(fd): closes an fd given to envFd.
static Napi::Value CloseEnvFdJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  envFdCount -= static_cast<int64_t>(static_cast<std::set<int>*>(info.Data())->erase(fd));
  if (close(fd) == -1 && errno != EINTR) return ThrowErrno(info.Env(), -errno, "close");
  return info.Env().Undefined();
}

// envFds() -> how many fds given to envFd are open, in every environment of the process.
static Napi::Value EnvFdsJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(envFdCount.load()));
}

// Kept maps in the process (every environment's). Each is one mapping of the process's vm.max_map_count (65,530
// by default) and as much address space as the file is long, both of which V8's heap and every other mmap share:
// past either, mmap fails wherever it is called, and a V8 that cannot grow its heap aborts (sparse files of
// terabytes, each asked for once, filled the 128 TiB of a process). So kept maps take at most a quarter of the
// map count and kKeptMapBytes of address space, each file at most kKeptMapFileBytes; a file past that is kept
// unmapped.
static std::atomic<int64_t> keptMapCount{0};
static std::atomic<int64_t> keptMapBytes{0};
constexpr int64_t kKeptMapFileBytes = int64_t{1} << 30;
constexpr int64_t kKeptMapBytes = int64_t{64} << 30;

static int64_t KeptMapBudget() {
  static const int64_t budget = [] {
    int64_t max = 65530;
    if (FILE* f = fopen("/proc/sys/vm/max_map_count", "re")) {
      long long v;
      if (fscanf(f, "%lld", &v) == 1 && v > 0) max = v;
      fclose(f);
    }
    return max / 4;
  }();
  return budget;
}

// Room for one kept map of `bytes` in the process's budget: taken (true), or none (false, nothing taken).
static bool TakeKeptMapRoom(int64_t bytes) {
  if (bytes > kKeptMapFileBytes) return false;
  if (keptMapCount.fetch_add(1) >= KeptMapBudget()) {
    keptMapCount--;
    return false;
  }
  if (keptMapBytes.fetch_add(bytes) + bytes > kKeptMapBytes) {
    keptMapBytes -= bytes;
    keptMapCount--;
    return false;
  }
  return true;
}

static void GiveKeptMapRoom(int64_t bytes) {
  keptMapCount--;
  keptMapBytes -= bytes;
}

KeptMap::~KeptMap() {
  munmap(const_cast<char*>(base), length);
  GiveKeptMapRoom(static_cast<int64_t>(length));
}

// keepMapped(fd, length, leaseId) -> an id: [0, length) of the file mapped read-only and shared (length > 0),
// trusted while lease leaseId is held. ENOMEM when the file is too long to keep mapped, or the process's kept maps
// are at their budget.
static Napi::Value KeepMappedJs(const Napi::CallbackInfo& info) {
  int fd;
  size_t length;
  if (!ArgFd(info, 0, &fd) || !ArgLength(info, 1, SIZE_MAX, &length)) return info.Env().Undefined();
  if (!info[2].IsNumber()) return ThrowType(info.Env(), "leaseId must be a number");
  int leaseId = info[2].As<Napi::Number>().Int32Value();
  if (length == 0) return ThrowErrno(info.Env(), -EINVAL, "mmap");
  if (!lease::HeldFlagOf(leaseId)) return ThrowErrno(info.Env(), -EINVAL, "mmap");  // no such lease: not kept
  int64_t bytes = static_cast<int64_t>(length);
  if (!TakeKeptMapRoom(bytes)) return ThrowErrno(info.Env(), -ENOMEM, "mmap");
  void* base = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    int err = errno;
    GiveKeptMapRoom(bytes);
    return ThrowErrno(info.Env(), -err, "mmap");
  }
  KeptMaps& maps = GetAddonData(info.Env())->keptMaps;
  uint32_t id = maps.nextId++;
  maps.byId.emplace(id, std::make_shared<const KeptMap>(static_cast<const char*>(base), length, fd,
                                                     lease::HeldFlagOf(leaseId)));
  return Napi::Number::New(info.Env(), id);
}

// dropMapped(id): the cache lets the map go (before it closes the fd); jobs still using it keep it until done.
static Napi::Value DropMappedJs(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) GetAddonData(info.Env())->keptMaps.byId.erase(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

KeptMapRef FindKeptMap(Napi::Env env, uint32_t id) {
  KeptMaps& maps = GetAddonData(env)->keptMaps;
  auto it = maps.byId.find(id);
  return it == maps.byId.end() ? nullptr : it->second;
}

// sendKept(outFd, id, offset, length, head?) -> bytes written right now on the JS thread (head included), or -1
// when this is not for the fast path: the map is gone, the range is not all in the page cache (a fault could
// wait for the disk: the engine must take it), or outFd is not a socket. The head goes with the first body
// bytes, each write covered by the cache's lease and never waiting (WriteFromMapping). At most
// constants.fastPathMax of the body per call; stops at EAGAIN. Throws ECANCELED (syscall 'lease', with `bytes`:
// the body bytes that went, the file's) where the cache's lease was given up or is breaking before a write: the
// rest can no longer be taken from the map.
static Napi::Value SendKeptJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int out;
  int64_t offset;
  bool hasOffset;
  size_t length;
  struct iovec head = {nullptr, 0};
  if (!ArgFd(info, 0, &out) || !ArgOffset(info, 2, &offset, &hasOffset) ||
      !ArgLength(info, 3, constants::kFastPathMax, &length) || (!info[4].IsUndefined() && !ArgView(info, 4, &head)))
    return env.Undefined();
  if (!info[1].IsNumber() || !hasOffset) return ThrowType(env, "sendKept(outFd, id, offset, length, head?)");
  KeptMapRef map = FindKeptMap(env, info[1].As<Napi::Number>().Uint32Value());
  if (!map || offset + static_cast<int64_t>(length) > static_cast<int64_t>(map->length) ||
      RangeCached(map->fd, offset, static_cast<int64_t>(length)) != 1)
    return Napi::Number::New(env, -1);
  int64_t calls = 0;
  size_t headLength = head.iov_len;
  bool untrusted;
  ssize_t sent = WriteFromMapping(out, map->fd, map->base + offset, offset, length, &head, map->held.get(),
                                  &untrusted, &calls);
  ssize_t body = sent > 0 ? sent - static_cast<ssize_t>(headLength - head.iov_len) : 0;
  engine::CountFastPath(body, calls, false);
  if (untrusted) return ThrowErrnoAfter(env, -ECANCELED, "lease", static_cast<double>(body));
  if (sent == -ENOTSOCK) return Napi::Number::New(env, -1);  // not a socket: the engine writes it, gated
  if (sent < 0 && sent != -EAGAIN) return ThrowErrno(env, static_cast<int>(sent), "writev");
  return Napi::Number::New(env, static_cast<double>(sent > 0 ? sent : 0));
}

void RegisterHttp(Napi::Env env, Napi::Object exports) {
  exports.Set("keepMapped", Napi::Function::New(env, KeepMappedJs, "keepMapped"));
  exports.Set("dropMapped", Napi::Function::New(env, DropMappedJs, "dropMapped"));
  exports.Set("sendKept", Napi::Function::New(env, SendKeptJs, "sendKept"));
  auto* envFds = new std::set<int>();
  napi_add_env_cleanup_hook(env, CloseEnvFds, envFds);
  exports.Set("envFd", Napi::Function::New(env, EnvFdJs, "envFd", envFds));
  exports.Set("envFds", Napi::Function::New(env, EnvFdsJs, "envFds"));
  exports.Set("closeEnvFd", Napi::Function::New(env, CloseEnvFdJs, "closeEnvFd", envFds));
  exports.Set("watchOpen", Napi::Function::New(env, WatchOpenJs, "watchOpen"));
  exports.Set("watchMounts", Napi::Function::New(env, WatchMountsJs, "watchMounts"));
  exports.Set("watchAdd", Napi::Function::New(env, WatchAddJs, "watchAdd"));
  exports.Set("watchRemove", Napi::Function::New(env, WatchRemoveJs, "watchRemove"));
  exports.Set("watchPoll", Napi::Function::New(env, WatchPollJs, "watchPoll"));
  exports.Set("watchDrain", Napi::Function::New(env, WatchDrainJs, "watchDrain"));
  exports.Set("watchQuiet", Napi::Function::New(env, WatchQuietJs, "watchQuiet"));
  exports.Set("openBeneath", Napi::Function::New(env, OpenBeneathJs, "openBeneath"));
  exports.Set("setCork", Napi::Function::New(env, SetCorkJs, "setCork"));
}

}  // namespace zc
