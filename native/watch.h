// Directory watches (inotify) for the open-file cache: a change to a name in a watched directory (created,
// deleted, renamed from or to, attributes changed) or to the directory itself is queued by the kernel before
// the syscall that made it returns, so a non-blocking read after that sees it. Plain C++, -errno on failure.
#pragma once
#include <string>
#include <vector>

namespace zc {
namespace watch {

// A non-blocking, close-on-exec inotify instance: its fd, or -errno.
int Open();

// Watches the directory `path` (never following a final symlink): its watch descriptor, or -errno (ENOTDIR
// when it is no directory). Watching the same directory again answers the same descriptor.
int Add(int fd, const char* path);

// 0, or -errno (EINVAL: that watch is gone already).
int Remove(int fd, int wd);

struct Event {
  int wd;            // -1: the queue overflowed and events were lost (everything must be forgotten)
  std::string name;  // the entry of the directory that changed; "" for the directory itself
  bool gone;         // the watch ended (its directory was deleted, or it was removed)
};

// Appends every event queued now; 0 when there were some or none, or -errno.
int Drain(int fd, std::vector<Event>* events);

}  // namespace watch
}  // namespace zc
