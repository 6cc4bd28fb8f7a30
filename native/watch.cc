#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace zc {
namespace watch {

namespace {

// What can change what a path names, or whether it may be served: names appearing, disappearing or moving,
// and permissions. Content changes are the leases' part (a write opens for writing first, which breaks them).
constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                           IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;

// What an OpenPoll instance says is ready.
constexpr uint32_t kWatches = 1, kMounts = 2;

}  // namespace

int Open() {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  return fd == -1 ? -errno : fd;
}

int OpenMounts() {
  int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  return fd == -1 ? -errno : fd;
}

int Add(int fd, const char* path) {
  int wd = inotify_add_watch(fd, path, kMask);
  return wd == -1 ? -errno : wd;
}

int AddFile(int fd, const char* path) {
  int wd = inotify_add_watch(fd, path, IN_ATTRIB | IN_DONT_FOLLOW);
  return wd == -1 ? -errno : wd;
}

int Remove(int fd, int wd) { return inotify_rm_watch(fd, wd) == -1 ? -errno : 0; }

int OpenPoll(int fd, int mountsFd) {
  int pollFd = epoll_create1(EPOLL_CLOEXEC);
  if (pollFd == -1) return -errno;
  // /proc/self/mountinfo polls EPOLLPRI | EPOLLERR once per change of the mount table (EPOLLIN always).
  struct epoll_event watches = {EPOLLIN, {.u32 = kWatches}}, mounts = {EPOLLPRI, {.u32 = kMounts}};
  if (epoll_ctl(pollFd, EPOLL_CTL_ADD, fd, &watches) == -1 ||
      epoll_ctl(pollFd, EPOLL_CTL_ADD, mountsFd, &mounts) == -1) {
    int err = errno;
    close(pollFd);
    return -err;
  }
  return pollFd;
}

int Poll(int pollFd, bool* queued, bool* mounts) {
  struct epoll_event ready[2];
  int n;
  do {
    n = epoll_wait(pollFd, ready, 2, 0);
  } while (n == -1 && errno == EINTR);
  if (n == -1) return -errno;
  *queued = *mounts = false;
  for (int i = 0; i < n; i++) (ready[i].data.u32 == kWatches ? *queued : *mounts) = true;
  return 0;
}

int Drain(int pollFd, int fd, std::vector<Event>* events) {
  bool queued = false, mounts = false;
  int err = Poll(pollFd, &queued, &mounts);
  if (err < 0) return err;
  if (mounts) events->push_back({-1, "", false});
  if (!queued) return 0;
  alignas(struct inotify_event) char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == -1 && errno == EINTR) continue;
    if (n == -1) return errno == EAGAIN ? 0 : -errno;
    for (char* p = buf; p < buf + n;) {
      auto* e = reinterpret_cast<struct inotify_event*>(p);
      if (e->mask & IN_Q_OVERFLOW) events->push_back({-1, "", false});
      else events->push_back({e->wd, e->len > 0 ? std::string(e->name) : std::string(), (e->mask & IN_IGNORED) != 0});
      p += sizeof(struct inotify_event) + e->len;
    }
  }
}

}  // namespace watch
}  // namespace zc
