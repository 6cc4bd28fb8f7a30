#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace zc {
namespace watch {

namespace {

// What can change what a path names, or whether it may be served: names appearing, disappearing or moving,
// and permissions. Content changes are the leases' part (a write opens for writing first, which breaks them).
constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                           IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;

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

int Remove(int fd, int wd) { return inotify_rm_watch(fd, wd) == -1 ? -errno : 0; }

int Poll(int fd, int mountsFd, bool* queued, bool* mounts) {
  // /proc/self/mountinfo polls POLLPRI | POLLERR once per change of the mount table.
  struct pollfd p[2] = {{fd, POLLIN, 0}, {mountsFd, POLLPRI, 0}};
  int ready;
  do {
    ready = poll(p, 2, 0);
  } while (ready == -1 && errno == EINTR);
  if (ready == -1) return -errno;
  *queued = (p[0].revents & POLLIN) != 0;
  *mounts = p[1].revents != 0;
  return 0;
}

int Drain(int fd, int mountsFd, std::vector<Event>* events) {
  bool queued = false, mounts = false;
  int err = Poll(fd, mountsFd, &queued, &mounts);
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
