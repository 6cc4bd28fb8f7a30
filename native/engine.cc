#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine_internal.h"
#include "transfer.h"

namespace zc {
namespace engine {

namespace detail {

std::mutex gMutex;  // guards everything below
std::vector<Worker*> gWorkers;
int gThreadCount = 2;
std::unordered_map<uint64_t, Job*> gJobs;
uint64_t gNextId = 1;
size_t gNextWorker = 0;

std::atomic<bool> gCopyFileRangeMissing{false};  // ENOSYS once: never try again in this process
std::atomic<int64_t> gZeroCopyBytes{0}, gFallbackBytes{0}, gSyscalls{0}, gEagainWaits{0}, gActive{0};

// Pipes for kSplice jobs, reused only when empty: a pipe that still holds data is closed, never reused.
struct PooledPipe {
  int fds[2];
  int size;  // as asked
};
constexpr size_t kPipePoolMax = 64;
std::mutex gPipeMutex;
std::vector<PooledPipe> gPipes;

int AcquirePipe(int size, int fds[2]) {
  {
    std::lock_guard<std::mutex> lock(gPipeMutex);
    for (size_t i = 0; i < gPipes.size(); i++) {
      if (gPipes[i].size != size) continue;
      fds[0] = gPipes[i].fds[0];
      fds[1] = gPipes[i].fds[1];
      gPipes.erase(gPipes.begin() + static_cast<std::ptrdiff_t>(i));
      return 0;
    }
  }
  const char* failed;
  int r = MakePipe(fds, size, true, &failed);
  return r < 0 ? r : 0;
}

void ReleasePipe(int fds[2], int size, bool empty) {
  if (fds[0] < 0) return;
  {
    std::lock_guard<std::mutex> lock(gPipeMutex);
    if (empty && gPipes.size() < kPipePoolMax) {
      gPipes.push_back({{fds[0], fds[1]}, size});
      return;
    }
  }
  close(fds[0]);
  close(fds[1]);
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void Wake(Worker* w) {
  uint64_t one = 1;
  while (write(w->wakefd, &one, sizeof one) == -1 && errno == EINTR) {
  }
}

void Queue(Worker* w, Job* j) {
  if (j->queued) return;
  j->queued = true;
  j->parked = false;
  w->ready.push_back(j);
}

void Deliver(Job* j, bool done, int error, const char* syscall, bool truncated) {
  Event e{j->id, done, j->done, j->fallbackDone, error, syscall, truncated, j->fallbackReason, nullptr, -1};
  j->reported = j->done;
  j->sink->Deliver(e);
}

void Notify(Job* j, const char* notice, int sink, int64_t bytes, int error) {
  Event e{j->id, false, bytes, 0, error, error ? "splice" : nullptr, false, nullptr, notice, sink};
  j->sink->Deliver(e);
}

void Complete(Job* j, int error, const char* syscall, bool truncated) {
  Worker* w = j->worker;
  if (j->fanout) ReleaseFanout(j);
  for (Watch* watch : {&j->out, &j->in}) {
    if (watch->registered) epoll_ctl(w->epfd, EPOLL_CTL_DEL, watch->fd, nullptr);
  }
  if (j->spec.outFd >= 0) close(j->spec.outFd);
  close(j->spec.inFd);
  ReleasePipe(j->pipe, j->pipeSize, j->inPipe == 0);
  {
    std::lock_guard<std::mutex> lock(gMutex);
    gJobs.erase(j->id);
  }
  w->jobs.erase(j);
  gActive--;
  Deliver(j, true, error, syscall, truncated);
  delete j;
}

// The input ran out (EOF) or everything was sent: a file that shrank below the promised end means the kernel
// may already have sent zeros for the missing bytes, so that is reported as truncation, never success.
void Finish(Job* j) {
  bool truncated = j->done < j->spec.length;
  struct stat st;
  if (fstat(j->spec.inFd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < j->spec.offset + j->spec.length) {
    truncated = true;
  }
  Complete(j, 0, nullptr, truncated);
}

// Waits for `events` on one of the job's fds (EPOLLOUT for an output that is full, EPOLLIN for an input
// with nothing to read yet); the job runs again when it comes.
bool Park(Job* j, Watch* watch, uint32_t events) {
  struct epoll_event ev {};
  ev.events = events | EPOLLONESHOT;
  ev.data.ptr = watch;
  int op = watch->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(j->worker->epfd, op, watch->fd, &ev) == -1) {
    Complete(j, -errno, "epoll_ctl");
    return false;
  }
  watch->registered = true;
  j->parked = true;
  gEagainWaits++;
  return true;
}

// Refusals after which read/write takes over (libuv's list for sendfile, and copy_file_range's own).
bool Refused(ssize_t r) {
  return r == -EINVAL || r == -ENOSYS || r == -EOPNOTSUPP || r == -EXDEV || r == -EIO || r == -ENOTSOCK;
}

// One zero-copy call. Returns its result.
ssize_t ZeroCopyStep(Job* j, int64_t want) {
  gSyscalls++;
  if (j->spec.kind == Kind::kSendfile) return Sendfile(j->spec.outFd, j->spec.inFd, &j->offset, want);
  return CopyFileRange(j->spec.inFd, &j->offset, j->spec.outFd, j->outOffset >= 0 ? &j->outOffset : nullptr, want);
}

const char* SyscallName(Kind kind) { return kind == Kind::kSendfile ? "sendfile" : "copy_file_range"; }

// One read/write step: read a buffer's worth if the last one is written, then write what is pending.
// Returns bytes written (> 0), 0 at end of input, or -errno; *syscall names the failed call.
ssize_t ReadWriteStep(Job* j, int64_t remaining, const char** syscall) {
  if (!j->buffer) j->buffer.reset(new char[kCopyBuffer]);
  if (j->pos == j->len) {
    size_t want = remaining < static_cast<int64_t>(kCopyBuffer) ? static_cast<size_t>(remaining) : kCopyBuffer;
    ssize_t n;
    do n = pread(j->spec.inFd, j->buffer.get(), want, j->offset);
    while (n == -1 && errno == EINTR);
    gSyscalls++;
    if (n <= 0) {
      *syscall = "read";
      return n == 0 ? 0 : -errno;
    }
    j->offset += n;
    j->pos = 0;
    j->len = static_cast<size_t>(n);
  }
  ssize_t w;
  do {
    w = j->outOffset >= 0 ? pwrite(j->spec.outFd, j->buffer.get() + j->pos, j->len - j->pos, j->outOffset)
                          : write(j->spec.outFd, j->buffer.get() + j->pos, j->len - j->pos);
  } while (w == -1 && errno == EINTR);
  gSyscalls++;
  if (w < 0) {
    *syscall = "write";
    return -errno;
  }
  j->pos += static_cast<size_t>(w);
  if (j->outOffset >= 0) j->outOffset += w;
  return w;
}

// Runs a job for one turn: until it is done, parks on EAGAIN, fails, or has used its budget.
void Step(Job* j) {
  j->queued = false;
  int64_t budget = kTurnBudget;
  for (;;) {
    if (j->cancelled.load()) return Complete(j, -ECANCELED, "cancel");
    int64_t remaining = j->spec.length - j->done;
    if (remaining == 0) return Finish(j);
    if (budget <= 0) return Queue(j->worker, j);
    ssize_t r;
    const char* syscall = SyscallName(j->spec.kind);
    if (j->readWrite) {
      r = ReadWriteStep(j, remaining, &syscall);
      if (r > 0) {
        j->fallbackDone += r;
        gFallbackBytes += r;
      }
    } else {
      r = ZeroCopyStep(j, remaining < kChunk ? remaining : kChunk);
      if (r > 0) gZeroCopyBytes += r;
      if (Refused(r)) {
        Kind refused = j->spec.kind;
        if (!j->fallbackReason) j->fallbackReason = refused == Kind::kSendfile ? "sendfile-refused" : "copy_file_range-refused";
        if (r == -ENOSYS && refused == Kind::kCopyFileRange) gCopyFileRangeMissing = true;
        // copy_file_range falls back to sendfile where sendfile can honour the output position, else read/write.
        if (refused == Kind::kCopyFileRange && j->outOffset < 0) {
          j->spec.kind = Kind::kSendfile;
        } else {
          j->readWrite = true;
        }
        continue;
      }
    }
    if (r > 0) {
      j->done += r;
      budget -= r;
      if (j->spec.progress && j->done < j->spec.length && j->done - j->reported >= kChunk) Deliver(j, false);
      continue;
    }
    if (r == 0) return Finish(j);
    if (r == -EAGAIN) return (void)Park(j, &j->out, EPOLLOUT);
    return Complete(j, static_cast<int>(r), syscall);
  }
}

// A relay through a pipe: input -> pipe, then pipe -> output, until the input ends or `length` bytes moved.
void StepSplice(Job* j) {
  j->queued = false;
  int64_t budget = kTurnBudget;
  int64_t* outOffset = j->outOffset >= 0 ? &j->outOffset : nullptr;
  for (;;) {
    if (j->cancelled.load()) return Complete(j, -ECANCELED, "cancel");
    if (budget <= 0) return Queue(j->worker, j);
    ssize_t r;
    if (j->inPipe > 0) {
      r = Splice(j->pipe[0], nullptr, j->spec.outFd, outOffset, static_cast<size_t>(j->inPipe),
                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      gSyscalls++;
      if (r > 0) {
        j->inPipe -= r;
        j->done += r;
        gZeroCopyBytes += r;
        budget -= r;
        if (j->spec.progress && j->done - j->reported >= kChunk) Deliver(j, false);
        continue;
      }
      if (r == -EAGAIN) return (void)Park(j, &j->out, EPOLLOUT);
      return Complete(j, r == 0 ? -EIO : static_cast<int>(r), "splice");
    }
    bool limited = j->spec.length >= 0;
    if (j->eof || (limited && j->done >= j->spec.length)) {
      if (j->eof && j->spec.shutdownOnEof) shutdown(j->spec.outFd, SHUT_WR);
      return Complete(j, 0, nullptr, limited && j->done < j->spec.length);
    }
    int64_t want = j->pipeSize;
    if (limited && j->spec.length - j->done < want) want = j->spec.length - j->done;
    r = Splice(j->spec.inFd, nullptr, j->pipe[1], nullptr, static_cast<size_t>(want),
               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    gSyscalls++;
    if (r > 0) {
      j->inPipe += r;
    } else if (r == 0) {
      j->eof = true;
    } else if (r == -EAGAIN) {
      return (void)Park(j, &j->in, EPOLLIN);
    } else {
      return Complete(j, static_cast<int>(r), "splice");
    }
  }
}

void TakeIncoming(Worker* w) {
  uint64_t count;
  while (read(w->wakefd, &count, sizeof count) > 0) {
  }
  std::deque<Job*> fresh;
  {
    std::lock_guard<std::mutex> lock(w->mutex);
    fresh.swap(w->incoming);
  }
  for (Job* j : fresh) {
    w->jobs.insert(j);
    Queue(w, j);
  }
  for (Job* j : w->jobs) {
    if (j->parked && (j->cancelled.load() || j->commands.load())) Queue(w, j);
  }
}

void Run(Worker* w) {
  pthread_setname_np(pthread_self(), "zc-engine");  // so that /proc/<pid>/task shows (and tests find) it
  // Signals are for the JS thread (and the lease thread): an engine thread takes only synchronous faults.
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGFPE);
  sigdelset(&all, SIGILL);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  struct epoll_event events[64];
  for (;;) {
    // Jobs may ask for a turn at a time (a broadcast re-checking a stalled sink): the nearest sets the timeout.
    int64_t next = 0;
    for (Job* j : w->jobs) {
      if (j->wakeAt > 0 && (next == 0 || j->wakeAt < next)) next = j->wakeAt;
    }
    int timeout = !w->ready.empty() ? 0 : next == 0 ? -1 : static_cast<int>(std::max<int64_t>(0, next - NowMs()));
    int n = epoll_wait(w->epfd, events, 64, timeout);
    if (next > 0) {
      int64_t now = NowMs();
      for (Job* j : w->jobs) {
        if (j->wakeAt > 0 && j->wakeAt <= now) {
          j->wakeAt = 0;
          Queue(w, j);
        }
      }
    }
    for (int i = 0; i < n; i++) {
      Watch* watch = static_cast<Watch*>(events[i].data.ptr);
      if (watch == nullptr) {
        TakeIncoming(w);
      } else if (watch->job->parked) {
        Queue(w, watch->job);
      }
    }
    // One turn for each job that was ready when this round began, so that none starves the others.
    for (size_t turns = w->ready.size(); turns > 0 && !w->ready.empty(); turns--) {
      Job* j = w->ready.front();
      w->ready.pop_front();
      if (j->spec.kind == Kind::kSplice) StepSplice(j);
      else if (j->spec.kind == Kind::kBroadcast) StepBroadcast(j);
      else Step(j);
    }
  }
}

// Under gMutex.
int StartWorkers() {
  for (int i = 0; i < gThreadCount; i++) {
    Worker* w = new Worker();  // never freed: the threads live as long as the process
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->epfd < 0 || w->wakefd < 0) return -errno;
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) == -1) return -errno;
    std::thread(Run, w).detach();
    gWorkers.push_back(w);
  }
  return 0;
}

}  // namespace detail

using namespace detail;

int Configure(int threads) {
  std::lock_guard<std::mutex> lock(gMutex);
  if (!gWorkers.empty()) return -EBUSY;
  gThreadCount = threads;
  return 0;
}

int Threads() {
  std::lock_guard<std::mutex> lock(gMutex);
  return gThreadCount;
}

// A job that never reached a worker: give back what Submit took for it.
static int64_t Discard(Job* j, int err) {
  if (j->spec.outFd >= 0) close(j->spec.outFd);
  close(j->spec.inFd);
  if (j->fanout) ReleaseFanout(j);
  ReleasePipe(j->pipe, j->pipeSize, true);
  delete j;
  return err;
}

int64_t Submit(const Spec& spec, std::shared_ptr<Sink> sink) {
  int out = spec.kind == Kind::kBroadcast ? -1 : fcntl(spec.outFd, F_DUPFD_CLOEXEC, 0);
  if (out < 0 && spec.kind != Kind::kBroadcast) return -errno;
  int in = fcntl(spec.inFd, F_DUPFD_CLOEXEC, 0);
  if (in < 0) {
    int err = errno;
    if (out >= 0) close(out);
    return -err;
  }
  Job* j = new Job();
  j->spec = spec;
  j->spec.outFd = out;
  j->spec.inFd = in;
  j->out = {j, out, false};
  j->in = {j, in, false};
  if (spec.kind == Kind::kSplice || spec.kind == Kind::kBroadcast) {
    j->pipeSize = spec.pipeSize > 0 ? spec.pipeSize : 1 << 20;
    int err = AcquirePipe(j->pipeSize, j->pipe);
    if (err == 0 && spec.kind == Kind::kBroadcast) err = NewFanout(j);
    for (size_t i = 0; err == 0 && i < spec.sinkFds.size(); i++) {
      int id = QueueSink(j, spec.sinkFds[i]);  // before any worker sees the job: no byte can pass them by
      if (id < 0) err = id;
    }
    if (err < 0) return Discard(j, err);
  }
  if (spec.kind == Kind::kCopyFileRange && gCopyFileRangeMissing.load()) {
    j->spec.kind = spec.outOffset < 0 ? Kind::kSendfile : spec.kind;
    j->readWrite = spec.outOffset >= 0;
    j->fallbackReason = "copy_file_range-refused";
  }
  if (spec.copy) {
    j->readWrite = true;
    j->fallbackReason = "lease-copy";
  }
  j->sink = std::move(sink);
  j->offset = spec.offset;
  j->outOffset = spec.outOffset;
  Worker* w;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    if (gWorkers.empty()) {
      int err = StartWorkers();
      if (err < 0) return Discard(j, err);
    }
    w = gWorkers[gNextWorker++ % gWorkers.size()];
    j->worker = w;  // before the job is visible to Cancel
    j->id = gNextId++;
    gJobs[j->id] = j;
  }
  gActive++;
  uint64_t id = j->id;
  {
    std::lock_guard<std::mutex> lock(w->mutex);
    w->incoming.push_back(j);
  }
  Wake(w);
  return static_cast<int64_t>(id);
}

void Cancel(uint64_t job) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gJobs.find(job);
  if (it == gJobs.end()) return;
  it->second->cancelled = true;
  Wake(it->second->worker);
}

int AddSink(uint64_t job, int fd) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gJobs.find(job);
  if (it == gJobs.end() || !it->second->fanout) return -ENOENT;
  int id = QueueSink(it->second, fd);
  if (id > 0) Wake(it->second->worker);
  return id;
}

void RemoveSink(uint64_t job, int sinkId) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gJobs.find(job);
  if (it == gJobs.end() || !it->second->fanout) return;
  QueueSinkRemoval(it->second, sinkId);
  Wake(it->second->worker);
}

void CancelAndWait(uint64_t job, int timeoutMs) {
  Cancel(job);
  int64_t until = NowMs() + timeoutMs;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(gMutex);
      if (gJobs.find(job) == gJobs.end()) return;
    }
    if (NowMs() >= until) return;
    usleep(500);
  }
}

void CancelAll(const Sink* sink) {
  std::lock_guard<std::mutex> lock(gMutex);
  for (auto& entry : gJobs) {
    if (entry.second->sink.get() != sink) continue;
    entry.second->cancelled = true;
    Wake(entry.second->worker);
  }
}

Stats GetStats() {
  int64_t pooled;
  {
    std::lock_guard<std::mutex> lock(gPipeMutex);
    pooled = static_cast<int64_t>(gPipes.size());
  }
  return {gZeroCopyBytes.load(), gFallbackBytes.load(), gSyscalls.load(), gEagainWaits.load(), gActive.load(), pooled};
}

void CountFastPath(int64_t bytes, int64_t syscalls, bool copied) {
  (copied ? gFallbackBytes : gZeroCopyBytes) += bytes;
  gSyscalls += syscalls;
}

}  // namespace engine
}  // namespace zc
