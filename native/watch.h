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

// This process's mount table, to poll: a mount or unmount (which inotify does not report) changes what a path
// names as much as a rename. Its fd, or -errno.
int OpenMounts();

// Watches the directory `path` (never following a final symlink): its watch descriptor, or -errno (ENOTDIR
// when it is no directory). Watching the same directory again answers the same descriptor.
int Add(int fd, const char* path);

// Watches the attributes of the file at `path` (never following a final symlink): a chmod, chown, touch, xattr
// or link-count change made through any of its names (a watch is on the inode). Its descriptor, or -errno.
int AddFile(int fd, const char* path);

// 0, or -errno (EINVAL: that watch is gone already).
int Remove(int fd, int wd);

struct Event {
  int wd;            // -1: events were lost (the queue overflowed) or the mount table changed: forget everything
  std::string name;  // the entry of the directory that changed; "" for the directory itself
  bool gone;         // the watch ended (its directory was deleted, or it was removed)
};

// An epoll instance over the inotify fd and the mount table's (both stay the caller's, open while it is used):
// looking at it costs one epoll_wait that reads a ready list, where a poll(2) of the two fds would add itself to
// and remove itself from both wait queues. The kernel puts a watch event or a mount change on that list before
// the syscall that made it returns. Its fd, or -errno.
int OpenPoll(int fd, int mountsFd);

// Whether events are queued (*queued) and whether the mount table changed since the last look (*mounts: that
// news is taken by this look), from the OpenPoll instance; one epoll_wait. 0, or -errno.
int Poll(int pollFd, bool* queued, bool* mounts);

// Appends every event queued on `fd` now, and one with wd -1 when the mount table changed since the last look;
// one epoll_wait when nothing changed. 0, or -errno.
int Drain(int pollFd, int fd, std::vector<Event>* events);

}  // namespace watch
}  // namespace zc
