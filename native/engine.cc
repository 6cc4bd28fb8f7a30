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

// Pipes for kRelay, kBroadcast and splice jobs, reused only when empty: a pipe that still holds data is closed, never reused.
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

void Deliver(Job* j, bool done, int error, const char* syscall, bool truncated,
             std::shared_ptr<const std::string> unwritten) {
  const char* strategy = j->spec.kind != Kind::kSend ? nullptr : NameOf(j->readWrite ? Strategy::kCopy : j->spec.strategy);
  Event e{j->id, done, j->done, j->fallbackDone, error, syscall, truncated, j->fallbackReason, strategy, nullptr, -1,
          std::move(unwritten)};
  j->reported = j->done;
  j->sink->Deliver(e);
}

void Notify(Job* j, const char* notice, int sink, int64_t bytes, int error) {
  Event e{j->id, false, bytes, 0, error, error ? "splice" : nullptr, false, nullptr, nullptr, notice, sink, nullptr};
  j->sink->Deliver(e);
}

// kRelay stopping early with its input intact: what it took from the input and did not write (the read/write
// buffer's rest, then the pipe's contents; our pipe is non-blocking, so draining it cannot wait).
static std::shared_ptr<const std::string> TakeUnwritten(Job* j) {
  auto bytes = std::make_shared<std::string>();
  if (j->pos < j->len) bytes->append(j->buffer.get() + j->pos, j->len - j->pos);
  j->pos = j->len = 0;
  char chunk[64 << 10];
  while (j->inPipe > 0) {
    ssize_t n = read(j->pipe[0], chunk, sizeof chunk);
    if (n == -1 && errno == EINTR) continue;
    if (n <= 0) break;  // cannot happen while inPipe > 0; the pipe is then closed, not pooled
    bytes->append(chunk, static_cast<size_t>(n));
    j->inPipe -= n;
  }
  return bytes;
}

void Complete(Job* j, int error, const char* syscall, bool truncated) {
  Worker* w = j->worker;
  std::shared_ptr<const std::string> unwritten;
  if (j->spec.kind == Kind::kRelay && error != 0 && !j->inputFailed) unwritten = TakeUnwritten(j);
  if (j->fanout) ReleaseFanout(j);
  for (Watch* watch : {&j->out, &j->in}) {
    if (watch->registered) epoll_ctl(w->epfd, EPOLL_CTL_DEL, watch->fd, nullptr);
  }
  if (j->spec.outFd >= 0) close(j->spec.outFd);
  close(j->spec.inFd);
  ReleasePipe(j->pipe, j->pipeSize, j->inPipe == 0);
  ReleaseSendStrategy(j);
  {
    std::lock_guard<std::mutex> lock(gMutex);
    gJobs.erase(j->id);
  }
  w->jobs.erase(j);
  gActive--;
  Deliver(j, true, error, syscall, truncated, std::move(unwritten));
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

// One copy_file_range call. Returns its result.
ssize_t CopyFileRangeStep(Job* j, int64_t want) {
  gSyscalls++;
  return CopyFileRange(j->spec.inFd, &j->offset, j->spec.outFd, j->outOffset >= 0 ? &j->outOffset : nullptr, want);
}

// copy_file_range answers an O_APPEND output with EBADF (not a bad fd: the fd is writable): a refusal too.
bool AppendRefused(Job* j, ssize_t r) {
  if (r != -EBADF || j->spec.kind != Kind::kCopyFileRange) return false;
  int flags = fcntl(j->spec.outFd, F_GETFL);
  return flags != -1 && (flags & O_APPEND) != 0;
}

const char* SyscallName(Kind kind) { return kind == Kind::kSend ? "sendfile" : "copy_file_range"; }

// Read/write mode, reading: fills the empty buffer with up to `want` bytes of fd (at *offset when given).
// Returns bytes read, 0 at end of input, or -errno.
ssize_t FillBuffer(Job* j, int fd, int64_t* offset, int64_t want) {
  if (!j->buffer) j->buffer.reset(new char[kCopyBuffer]);
  size_t size = want < static_cast<int64_t>(kCopyBuffer) ? static_cast<size_t>(want) : kCopyBuffer;
  ssize_t n;
  do n = offset ? pread(fd, j->buffer.get(), size, *offset) : read(fd, j->buffer.get(), size);
  while (n == -1 && errno == EINTR);
  gSyscalls++;
  if (n < 0) return -errno;
  if (offset) *offset += n;
  j->pos = 0;
  j->len = static_cast<size_t>(n);
  return n;
}

// Read/write mode, writing: writes what the buffer holds (at most kGatedChunk to a gated output). Returns
// bytes written or -errno.
ssize_t FlushBuffer(Job* j) {
  size_t size = j->len - j->pos;
  if (j->gated && size > static_cast<size_t>(kGatedChunk)) size = kGatedChunk;
  ssize_t w;
  do {
    w = j->outOffset >= 0 ? pwrite(j->spec.outFd, j->buffer.get() + j->pos, size, j->outOffset)
                          : write(j->spec.outFd, j->buffer.get() + j->pos, size);
  } while (w == -1 && errno == EINTR);
  gSyscalls++;
  if (w < 0) return -errno;
  j->pos += static_cast<size_t>(w);
  if (j->outOffset >= 0) j->outOffset += w;
  if (w > 0) {
    j->fallbackDone += w;
    gFallbackBytes += w;
  }
  return w;
}

// One read/write step of a file job: read a buffer's worth if the last one is written (first what a refused
// splice left in the job's pipe, then the file), then write what is pending. Returns bytes written (> 0), 0 at
// end of input, or -errno; *syscall names the failed call.
ssize_t ReadWriteStep(Job* j, int64_t want, const char** syscall) {
  if (j->pos == j->len) {
    bool owed = j->inPipe > 0;
    ssize_t n = owed ? FillBuffer(j, j->pipe[0], nullptr, j->inPipe) : FillBuffer(j, j->spec.inFd, &j->offset, want);
    if (n <= 0) {
      *syscall = "read";
      return owed && n == 0 ? -EIO : n;  // a pipe holding bytes never reads as empty
    }
    if (owed) j->inPipe -= n;
    if (j->spec.leaseHeld && !j->spec.leaseHeld->held()) {
      *syscall = "lease";
      return -ECANCELED;  // read after the lease was given up: possibly a writer's bytes, never sent
    }
  }
  *syscall = "write";
  return FlushBuffer(j);
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
    int64_t want = remaining < kChunk ? remaining : kChunk;
    if (j->gated) {
      if (!Ready(j->spec.outFd, true)) return (void)Park(j, &j->out, EPOLLOUT);
      want = std::min(want, kGatedChunk);
    }
    ssize_t r;
    const char* syscall = "copy_file_range";
    if (j->readWrite) {
      r = ReadWriteStep(j, want, &syscall);
    } else if (j->spec.kind == Kind::kSend) {
      r = SendStep(j, want, &syscall);
      if (j->spec.strategy != Strategy::kCopy && Refused(r)) {
        if (!j->fallbackReason) j->fallbackReason = RefusedReason(j->spec.strategy);
        j->readWrite = true;
        continue;
      }
      // A mapping's file shrank under the write: the end of its input, which Finish reports as truncation.
      if (r == -EFAULT && j->spec.strategy == Strategy::kMmap) return Finish(j);
    } else {
      r = CopyFileRangeStep(j, want);
      if (r > 0) gZeroCopyBytes += r;
      if (Refused(r) || AppendRefused(j, r)) {
        if (!j->fallbackReason) j->fallbackReason = reason::kCopyFileRangeRefused;
        if (r == -ENOSYS) gCopyFileRangeMissing = true;
        // copy_file_range falls back to sendfile where sendfile can honour the output position, else read/write.
        if (j->outOffset < 0) {
          j->spec.kind = Kind::kSend;
          j->spec.strategy = Strategy::kSendfile;
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

// A relay's end: the input ended (or `length` bytes moved) and everything taken has been written.
void EndRelay(Job* j) {
  bool limited = j->spec.length >= 0;
  if (j->eof && j->spec.shutdownOnEof) shutdown(j->spec.outFd, SHUT_WR);
  Complete(j, 0, nullptr, limited && j->done < j->spec.length);
}

// How many more bytes a relay may take from its input, beyond those it holds (in the pipe or the buffer).
int64_t RelayWant(Job* j, int64_t cap) {
  if (j->spec.length < 0) return cap;
  int64_t left = j->spec.length - j->done - j->inPipe - static_cast<int64_t>(j->len - j->pos);
  return left < cap ? left : cap;
}

void RelayInputFailed(Job* j, ssize_t r, const char* syscall) {
  j->inputFailed = true;
  Complete(j, static_cast<int>(r), syscall);
}

// A relay after splice refused its input or output (an O_APPEND file, a file system without splice): read and
// write, the bytes already in the pipe first, then the input itself, so that nothing taken is lost.
void StepRelayReadWrite(Job* j, int64_t budget) {
  for (;;) {
    if (j->cancelled.load()) return Complete(j, -ECANCELED, "cancel");
    if (budget <= 0) return Queue(j->worker, j);
    if (j->pos == j->len) {
      if (j->inPipe > 0) {
        ssize_t n = FillBuffer(j, j->pipe[0], nullptr, j->inPipe);
        if (n <= 0) return Complete(j, n == 0 ? -EIO : static_cast<int>(n), "read");
        j->inPipe -= n;
      } else {
        int64_t want = RelayWant(j, static_cast<int64_t>(kCopyBuffer));
        if (j->eof || want == 0) return EndRelay(j);
        ssize_t n = FillBuffer(j, j->spec.inFd, nullptr, want);
        if (n == 0) j->eof = true;
        if (n == -EAGAIN) return (void)Park(j, &j->in, EPOLLIN);
        if (n < 0) return RelayInputFailed(j, n, "read");
        if (n <= 0) continue;
      }
    }
    if (j->gated && !Ready(j->spec.outFd, true)) return (void)Park(j, &j->out, EPOLLOUT);
    ssize_t w = FlushBuffer(j);
    if (w == -EAGAIN) return (void)Park(j, &j->out, EPOLLOUT);
    if (w <= 0) return Complete(j, w == 0 ? -EIO : static_cast<int>(w), "write");
    j->done += w;
    budget -= w;
    if (j->spec.progress && j->done - j->reported >= kChunk) Deliver(j, false);
  }
}

// splice refused a relay's input or output: read/write takes over from here, with what is in the pipe.
void RelayRefused(Job* j, int64_t budget) {
  j->readWrite = true;
  if (!j->fallbackReason) j->fallbackReason = reason::kSpliceRefused;
  StepRelayReadWrite(j, budget);
}

// A relay through a pipe: input -> pipe, then pipe -> output, until the input ends or `length` bytes moved.
void StepSplice(Job* j) {
  j->queued = false;
  int64_t budget = kTurnBudget;
  if (j->readWrite) return StepRelayReadWrite(j, budget);
  int64_t* outOffset = j->outOffset >= 0 ? &j->outOffset : nullptr;
  for (;;) {
    if (j->cancelled.load()) return Complete(j, -ECANCELED, "cancel");
    if (budget <= 0) return Queue(j->worker, j);
    ssize_t r;
    if (j->inPipe > 0) {
      int64_t want = j->inPipe;
      if (j->gated) {
        if (!Ready(j->spec.outFd, true)) return (void)Park(j, &j->out, EPOLLOUT);
        want = std::min(want, kGatedChunk);
      }
      r = Splice(j->pipe[0], nullptr, j->spec.outFd, outOffset, static_cast<size_t>(want),
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
      if (Refused(r)) return RelayRefused(j, budget);
      return Complete(j, r == 0 ? -EIO : static_cast<int>(r), "splice");
    }
    int64_t want = RelayWant(j, j->pipeSize);
    if (j->eof || want == 0) return EndRelay(j);
    r = Splice(j->spec.inFd, nullptr, j->pipe[1], nullptr, static_cast<size_t>(want),
               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    gSyscalls++;
    if (r > 0) {
      j->inPipe += r;
    } else if (r == 0) {
      j->eof = true;
    } else if (r == -EAGAIN) {
      return (void)Park(j, &j->in, EPOLLIN);
    } else if (Refused(r)) {
      return RelayRefused(j, budget);
    } else {
      return RelayInputFailed(j, r, "splice");
    }
  }
}

void StepTask(Job* j) {
  j->queued = false;
  const char* syscall = "cancel";
  int r = j->cancelled.load() ? -ECANCELED : j->spec.task(j->cancelled, &j->done, &syscall);
  Complete(j, r, r < 0 ? syscall : nullptr);
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
      if (j->spec.kind == Kind::kRelay) StepSplice(j);
      else if (j->spec.kind == Kind::kBroadcast) StepBroadcast(j);
      else if (j->spec.kind == Kind::kTask) StepTask(j);
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

const char* NameOf(Strategy strategy) {
  for (const auto& named : kStrategies) {
    if (named.value == strategy) return named.name;
  }
  return "unknown";
}

const char* RefusedReason(Strategy strategy) {
  switch (strategy) {
    case Strategy::kSplice:
      return reason::kSpliceRefused;
    case Strategy::kMmap:
      return reason::kMmapRefused;
    default:
      return reason::kSendfileRefused;
  }
}

bool Refused(int64_t result) {
  for (const Refusal& refusal : kRefusals) {
    if (result == -refusal.errnum) return true;
  }
  return false;
}

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

// Hands a prepared job to a worker (starting the workers first); returns its id, or -errno.
static int64_t Enqueue(Job* j) {
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
  // An output whose writes could block the worker (MayBlock) is gated: polled before each write, which then asks
  // for at most kGatedChunk (PIPE_BUF) bytes, which a pipe that polls writable takes at once. The JS layer
  // reopens a caller's FIFO through /proc with O_NONBLOCK (its own description), so that a pipe reaches the
  // engine non-blocking and runs at full speed (256 MiB into a FIFO read by cat: 2.8 GB/s reopened, 0.5 GB/s
  // gated): gating is the guard for what cannot be reopened (character devices, sockets, a FIFO without /proc).
  j->gated = out >= 0 && MayBlock(out);
  bool splices = spec.kind == Kind::kSend && spec.strategy == Strategy::kSplice;
  if (spec.kind == Kind::kRelay || spec.kind == Kind::kBroadcast || splices) {
    j->pipeSize = spec.pipeSize > 0 ? spec.pipeSize : constants::kDefaultPipeSize;
    int err = AcquirePipe(j->pipeSize, j->pipe);
    if (err < 0 && splices) {
      // No pipe of that size to be had (EPERM: the user's pipe budget, pipe-user-pages-soft, is spent): the
      // file needs none, so it is copied instead, as when splice refuses.
      j->spec.strategy = Strategy::kCopy;
      j->fallbackReason = reason::kSpliceRefused;
      err = 0;
    }
    if (err == 0 && spec.kind == Kind::kBroadcast) err = NewFanout(j);
    for (size_t i = 0; err == 0 && i < spec.sinkFds.size(); i++) {
      int id = QueueSink(j, spec.sinkFds[i]);  // before any worker sees the job: no byte can pass them by
      if (id < 0) err = id;
    }
    if (err < 0) return Discard(j, err);
  }
  if (spec.kind == Kind::kCopyFileRange && gCopyFileRangeMissing.load()) {
    j->spec.kind = spec.outOffset < 0 ? Kind::kSend : spec.kind;
    j->readWrite = spec.outOffset >= 0;
    j->spec.strategy = Strategy::kSendfile;
    j->fallbackReason = reason::kCopyFileRangeRefused;
  }
  if (spec.leaseHeld) j->fallbackReason = reason::kLeaseCopy;
  j->sink = std::move(sink);
  j->offset = spec.offset;
  j->outOffset = spec.outOffset;
  return Enqueue(j);
}

int64_t RunTask(Task task, std::shared_ptr<Sink> sink) {
  Job* j = new Job();
  j->spec.kind = Kind::kTask;
  j->spec.task = std::move(task);
  j->spec.inFd = j->spec.outFd = -1;
  j->sink = std::move(sink);
  return Enqueue(j);
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
