#include "lease.h"

#include "constants.h"
#include "engine.h"
#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace zc {
namespace lease {

namespace {

struct Lease {
  int id;
  int fd;  // our duplicate
  int type;  // F_RDLCK or F_WRLCK, as taken
  bool hold;
  int graceMs;
  bool broken = false;
  bool released = false;
  HeldFlag held;  // !released, lock-free
  int64_t deadline = 0;  // CLOCK_MONOTONIC ms, for 'hold'
  uint64_t job = 0;      // a guarded transfer, stopped before the lease is given up
  int socket = -1;       // our duplicate of a guarded socket, reset before the lease is given up with bytes queued
  std::shared_ptr<Listener> listener;
};

std::mutex gMutex;  // guards everything below
std::unordered_map<int, Lease> gLeases;     // by id
std::unordered_map<int, int> gByFd;          // our fd -> id
int gNextId = 1;
int gOffset = constants::kLeaseSignalOffset;
bool gStarted = false;
std::atomic<pid_t> gTid{0};
int gPipe[2] = {-1, -1};  // the handler writes si_fd here; the lease thread reads

int64_t Monotonic() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t Realtime() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Async-signal-safe: just pass the fd on. (Runs on the lease thread, which F_SETOWN_EX aims the signal at.)
void Handler(int, siginfo_t* info, void*) {
  int saved = errno;
  int fd = info->si_fd;
  ssize_t ignored = write(gPipe[1], &fd, sizeof fd);
  (void)ignored;
  errno = saved;
}

constexpr int kStopTimeoutMs = 200;

}  // namespace

bool Hold::Begin(int fd) {
  readers_.fetch_add(1);
  // F_GETLEASE reports a break under way as the type the lease is being broken to, and no lease as F_UNLCK.
  if (held_.load() && fcntl(fd, F_GETLEASE) == type_) return true;
  readers_.fetch_sub(1);
  return false;
}

void Hold::Clear() {
  held_.store(false);
  int64_t deadline = Monotonic() + kReadWaitMs;
  while (readers_.load() > 0 && Monotonic() < deadline) {
    struct timespec pause = {0, 20 * 1000};  // a 64 KiB write takes ~20 µs
    nanosleep(&pause, nullptr);
  }
}

namespace {

// Under gMutex. After a break, a guarded transfer is stopped first (it completes with ECANCELED); a guarded
// socket whose peer has not acknowledged everything is reset, so that no queued page reaches it after a writer.
void GiveUp(Lease& l) {
  if (l.released) return;
  if (l.broken && l.job != 0) engine::CancelAndWait(l.job, kStopTimeoutMs);
  if (l.socket >= 0 && sock::Unacked(l.socket) > 0) sock::Reset(l.socket);
  l.held->Clear();  // before the writer can proceed
  fcntl(l.fd, F_SETLEASE, F_UNLCK);
  l.released = true;
}

void OnBreak(int fd) {
  std::shared_ptr<Listener> listener;
  int id;
  bool released;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    auto byFd = gByFd.find(fd);
    if (byFd == gByFd.end()) return;
    Lease& l = gLeases.at(byFd->second);
    if (l.broken) return;
    l.broken = true;
    if (l.hold) l.deadline = Monotonic() + l.graceMs;
    else GiveUp(l);
    listener = l.listener;
    id = l.id;
    released = l.released;
  }
  int64_t at = Realtime();
  listener->Notify(id, Event::kBroken, at);
  if (released) listener->Notify(id, Event::kReleased, at);
}

// A break the real-time signal could not report: when the user's queued-signal quota (RLIMIT_SIGPENDING) is
// used up, the kernel sends a plain SIGIO, with no fd, instead. F_GETLEASE reports a pending break as the type the
// lease is being downgraded to, so every lease that no longer reads as taken is handled as broken.
void OnUnqueuedBreaks() {
  std::vector<int> broken;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    for (auto& entry : gLeases) {
      const Lease& l = entry.second;
      if (!l.broken && !l.released && fcntl(l.fd, F_GETLEASE) != l.type) broken.push_back(l.fd);
    }
  }
  for (int fd : broken) OnBreak(fd);
}

// 'hold' leases whose grace is over are given up; returns ms until the next deadline (-1: none).
int Deadlines() {
  std::vector<std::pair<int, std::shared_ptr<Listener>>> due;
  int64_t now = Monotonic(), next = -1;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    for (auto& entry : gLeases) {
      Lease& l = entry.second;
      if (l.released || l.deadline == 0) continue;
      if (l.deadline <= now) {
        GiveUp(l);
        due.push_back({l.id, l.listener});
      } else if (next < 0 || l.deadline - now < next) {
        next = l.deadline - now;
      }
    }
  }
  for (auto& d : due) d.second->Notify(d.first, Event::kReleased, Realtime());
  return static_cast<int>(next);
}

void Run(int sig) {
  pthread_setname_np(pthread_self(), "zc-lease");
  // This thread takes the lease signal and synchronous faults only. The SIGIO that replaces an unqueueable lease
  // signal is aimed at this thread (F_OWNER_TID) and stays blocked: it is read from a signalfd, so the process's
  // SIGIO disposition (Node's, or a user's handler) is left as it was.
  sigset_t others;
  sigfillset(&others);
  for (int keep : {sig, SIGBUS, SIGSEGV, SIGFPE, SIGILL}) sigdelset(&others, keep);
  pthread_sigmask(SIG_BLOCK, &others, nullptr);
  sigset_t sigio;
  sigemptyset(&sigio);
  sigaddset(&sigio, SIGIO);
  int sigioFd = signalfd(-1, &sigio, SFD_NONBLOCK | SFD_CLOEXEC);
  gTid = static_cast<pid_t>(syscall(SYS_gettid));
  struct pollfd p[] = {{gPipe[0], POLLIN, 0}, {sigioFd, POLLIN, 0}};
  for (;;) {
    int timeout = Deadlines();
    int n = poll(p, sigioFd >= 0 ? 2 : 1, timeout);
    if (n <= 0) continue;
    int fd;
    while (read(gPipe[0], &fd, sizeof fd) == static_cast<ssize_t>(sizeof fd)) OnBreak(fd);
    struct signalfd_siginfo info;
    bool unqueued = false;
    while (sigioFd >= 0 && read(sigioFd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) unqueued = true;
    if (unqueued) OnUnqueuedBreaks();
  }
}

// Under gMutex: the pipe, the handler and the thread, once.
int Start() {
  if (gStarted) return 0;
  if (pipe2(gPipe, O_CLOEXEC | O_NONBLOCK) == -1) return -errno;
  struct sigaction sa {};
  sa.sa_sigaction = Handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGRTMIN + gOffset, &sa, nullptr) == -1) return -errno;
  std::thread(Run, SIGRTMIN + gOffset).detach();
  while (gTid.load() == 0) sched_yield();
  gStarted = true;
  return 0;
}

}  // namespace

int Configure(int offset) {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gStarted) return -EBUSY;
  if (offset < 0 || SIGRTMIN + offset > SIGRTMAX) return -EINVAL;
  gOffset = offset;
  return 0;
}

int Signal() {
  std::lock_guard<std::mutex> lock(gMutex);
  return SIGRTMIN + gOffset;
}

int Acquire(int fd, int type, bool hold, int graceMs, std::shared_ptr<Listener> listener) {
  std::lock_guard<std::mutex> lock(gMutex);
  // The caller's fd first: starting the lease thread opens fds, which would take a closed fd's number and turn
  // the caller's mistake (EBADF) into a lease on our own pipe.
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return -errno;
  int err = Start();
  if (err < 0) {
    close(own);
    return err;
  }
  struct f_owner_ex owner = {F_OWNER_TID, gTid.load()};
  if (fcntl(own, F_SETSIG, SIGRTMIN + gOffset) == -1 || fcntl(own, F_SETOWN_EX, &owner) == -1 ||
      fcntl(own, F_SETLEASE, type) == -1) {
    err = -errno;
    close(own);
    return err;
  }
  int id = gNextId++;
  Lease l;
  l.id = id;
  l.fd = own;
  l.type = type;
  l.held = std::make_shared<Hold>(type);
  l.hold = hold;
  l.graceMs = graceMs;
  l.listener = std::move(listener);
  gLeases.emplace(id, std::move(l));
  gByFd[own] = id;
  return id;
}

void Guard(int id, uint64_t job) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gLeases.find(id);
  if (it != gLeases.end()) it->second.job = job;
}

int GuardSocket(int id, int fd) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gLeases.find(id);
  if (it == gLeases.end()) return -ENOENT;
  if (it->second.socket >= 0) return 0;
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return -errno;
  it->second.socket = own;
  return 0;
}

int64_t Unacked(int id) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gLeases.find(id);
  if (it == gLeases.end() || it->second.socket < 0) return 0;
  return sock::Unacked(it->second.socket);
}

bool Held(int id) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gLeases.find(id);
  return it != gLeases.end() && !it->second.released;
}

HeldFlag HeldFlagOf(int id) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gLeases.find(id);
  if (it != gLeases.end() && !it->second.released) return it->second.held;
  auto cleared = std::make_shared<Hold>(F_UNLCK);
  cleared->Clear();
  return cleared;
}

void Release(int id) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gLeases.find(id);
  if (it == gLeases.end()) return;
  GiveUp(it->second);
  gByFd.erase(it->second.fd);
  close(it->second.fd);
  if (it->second.socket >= 0) close(it->second.socket);
  gLeases.erase(it);
}

int Get(int fd) {
  int r = fcntl(fd, F_GETLEASE);
  return r == -1 ? -errno : r;
}

void ReleaseAll(const Listener* listener) {
  std::vector<int> ids;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    for (auto& entry : gLeases) {
      if (entry.second.listener.get() == listener) ids.push_back(entry.first);
    }
  }
  for (int id : ids) Release(id);
}

}  // namespace lease
}  // namespace zc
