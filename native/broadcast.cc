// Broadcast: one source socket fanned out to many sinks without the data entering user space. The source is
// spliced into the job's pipe; tee(2) copies that pipe into the next empty pipe of each sink's ring; the pipe is
// then drained into /dev/null; each ring is spliced into its sink socket as the socket takes it.
//
// tee copies from the start of a pipe and cannot skip, so every sink must take a round whole or not at all: a
// round goes only into an empty pipe as large as the source pipe (same page slots, so it always fits whole).
// A ring fills only while its socket refuses more. A sink whose ring is full holds the source back while it
// trails the sink that has taken the most by at most maxLag bytes; beyond that it is dropped. A sink that
// stopped reading stops the source before it can trail by much, so one that holds the others back for more
// than kMaxStallMs is dropped as well. A stalled broadcast re-checks every 5 ms.
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <vector>

#include "engine_internal.h"
#include "transfer.h"

namespace zc {
namespace engine {
namespace detail {

struct FanSink {
  int id;
  Watch watch;  // the sink's fd
  std::vector<std::array<int, 2>> ring;
  std::vector<int64_t> ringBytes;
  size_t readIdx = 0, writeIdx = 0, used = 0;  // rounds waiting in the ring
  int64_t delivered = 0;
  bool blocked = false;  // the socket said EAGAIN
  bool gone = false;
  int64_t stalledSince = 0;  // ms, while its full ring holds the source back
};

constexpr size_t kRingPipes = 4;

struct Fanout {
  std::mutex mutex;  // guards the pending lists
  std::vector<std::pair<int, int>> pendingAdds;  // (id, our fd)
  std::vector<int> pendingRemoves;
  int nextId = 1;
  // Worker thread only:
  std::vector<std::unique_ptr<FanSink>> sinks;
  int64_t received = 0;
  size_t ringSize = 2;
  int devNull = -1;
};

Job::Job() = default;  // here, where Fanout is a complete type
Job::~Job() = default;

int NewFanout(Job* j) {
  auto f = std::make_unique<Fanout>();
  f->devNull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (f->devNull < 0) return -errno;
  // A few rounds per sink: rings only smooth out bursts; the socket buffers (megabytes) do the buffering.
  // Pipe memory counts against a per-user limit (pipe-user-pages-soft, 64 MiB by default).
  f->ringSize = kRingPipes;
  j->fanout = std::move(f);
  return 0;
}

int QueueSink(Job* j, int fd) {
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return -errno;
  Fanout& f = *j->fanout;
  std::lock_guard<std::mutex> lock(f.mutex);
  int id = f.nextId++;
  f.pendingAdds.push_back({id, own});
  j->commands = true;
  return id;
}

void QueueSinkRemoval(Job* j, int sinkId) {
  Fanout& f = *j->fanout;
  std::lock_guard<std::mutex> lock(f.mutex);
  f.pendingRemoves.push_back(sinkId);
  j->commands = true;
}

namespace {

void CloseSink(Job* j, FanSink& s) {
  if (s.watch.registered) epoll_ctl(j->worker->epfd, EPOLL_CTL_DEL, s.watch.fd, nullptr);
  close(s.watch.fd);
  for (size_t i = 0; i < s.ring.size(); i++) {
    ReleasePipe(s.ring[i].data(), j->pipeSize, s.ringBytes[i] == 0);
  }
  s.ring.clear();
  s.gone = true;
}

void Drop(Job* j, FanSink& s, const char* notice, int error = 0) {
  CloseSink(j, s);
  Notify(j, notice, s.id, s.delivered, error);
}

void ApplyCommands(Job* j) {
  Fanout& f = *j->fanout;
  std::vector<std::pair<int, int>> adds;
  std::vector<int> removes;
  {
    std::lock_guard<std::mutex> lock(f.mutex);
    adds.swap(f.pendingAdds);
    removes.swap(f.pendingRemoves);
  }
  for (auto& add : adds) {
    auto s = std::make_unique<FanSink>();
    s->id = add.first;
    s->watch = {j, add.second, false};
    s->ring.resize(f.ringSize, {-1, -1});
    s->ringBytes.resize(f.ringSize, 0);
    for (auto& p : s->ring) {
      int err = AcquirePipe(j->pipeSize, p.data());
      if (err < 0) {
        Drop(j, *s, "sink-error", err);
        break;
      }
    }
    if (!s->gone) f.sinks.push_back(std::move(s));
  }
  for (int id : removes) {
    for (auto& s : f.sinks) {
      if (s->id == id && !s->gone) Drop(j, *s, "sink-removed");
    }
  }
}

// Splices each sink's ring into its socket as far as the socket takes it. True if anything moved.
bool DeliverAll(Job* j) {
  bool progress = false;
  for (auto& sp : j->fanout->sinks) {
    FanSink& s = *sp;
    s.blocked = false;
    while (!s.gone && s.used > 0) {
      ssize_t r = Splice(s.ring[s.readIdx][0], nullptr, s.watch.fd, nullptr,
                         static_cast<size_t>(s.ringBytes[s.readIdx]), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      gSyscalls++;
      if (r > 0) {
        s.ringBytes[s.readIdx] -= r;
        s.delivered += r;
        gZeroCopyBytes += r;
        progress = true;
        if (s.ringBytes[s.readIdx] == 0) {
          s.readIdx = (s.readIdx + 1) % s.ring.size();
          s.used--;
        }
      } else if (r == -EAGAIN) {
        s.blocked = true;
        break;
      } else {
        Drop(j, s, "sink-error", r == 0 ? -EIO : static_cast<int>(r));
      }
    }
  }
  return progress;
}

constexpr int64_t kStallRecheckMs = 5;
constexpr int64_t kMaxStallMs = 1000;
constexpr int kStalled = 1;

// Tees the source pipe into every sink's next ring pipe, then empties it. Returns 0, kStalled when a sink
// within maxLag holds it back, or -errno.
int Distribute(Job* j) {
  Fanout& f = *j->fanout;
  // Behind whom: the sink that has taken the most. When every sink is equally slow, nobody is behind and the
  // source simply waits (backpressure); a sink is dropped only while others could take more.
  int64_t leader = 0;
  bool hungry = false;
  for (auto& sp : f.sinks) {
    if (sp->gone) continue;
    if (sp->delivered > leader) leader = sp->delivered;
    if (sp->used < sp->ring.size()) hungry = true;
  }
  int64_t now = NowMs();
  bool stalled = false;
  for (auto& sp : f.sinks) {
    FanSink& s = *sp;
    if (s.gone) continue;
    if (s.used < s.ring.size()) {
      s.stalledSince = 0;
      continue;
    }
    if (s.stalledSince == 0) s.stalledSince = now;
    if (leader - s.delivered > j->spec.maxLag || (hungry && now - s.stalledSince > kMaxStallMs)) {
      Drop(j, s, "sink-drop");
    } else {
      stalled = true;
    }
  }
  if (stalled) return kStalled;
  for (auto& sp : f.sinks) {
    FanSink& s = *sp;
    if (s.gone) continue;
    ssize_t r = Tee(j->pipe[0], s.ring[s.writeIdx][1], static_cast<size_t>(j->inPipe), SPLICE_F_NONBLOCK);
    gSyscalls++;
    if (r != j->inPipe) {  // never part of a round: the sink would get bytes twice or not at all
      Drop(j, s, "sink-error", r < 0 ? static_cast<int>(r) : -EIO);
      continue;
    }
    s.ringBytes[s.writeIdx] = r;
    s.writeIdx = (s.writeIdx + 1) % s.ring.size();
    s.used++;
  }
  while (j->inPipe > 0) {
    ssize_t r = Splice(j->pipe[0], nullptr, f.devNull, nullptr, static_cast<size_t>(j->inPipe), SPLICE_F_MOVE);
    gSyscalls++;
    if (r <= 0) return r == 0 ? -EIO : static_cast<int>(r);
    j->inPipe -= r;
  }
  return 0;
}

void Compact(Fanout& f) {
  std::vector<std::unique_ptr<FanSink>> live;
  for (auto& s : f.sinks) {
    if (!s->gone) live.push_back(std::move(s));
  }
  f.sinks.swap(live);
}

}  // namespace

void StepBroadcast(Job* j) {
  j->queued = false;
  Fanout& f = *j->fanout;
  if (j->commands.exchange(false)) ApplyCommands(j);
  if (j->cancelled.load()) {
    for (auto& s : f.sinks) {
      if (!s->gone) Notify(j, "sink-done", s->id, s->delivered);
    }
    return Complete(j, -ECANCELED, "cancel");
  }
  bool more = false;
  int64_t budget = kTurnBudget;
  for (;;) {
    bool progress = DeliverAll(j);
    bool stalled = false;
    if (j->inPipe > 0) {
      int r = Distribute(j);
      if (r < 0) {
        Compact(f);
        return Complete(j, r, "splice");
      }
      stalled = r == kStalled;
      progress = progress || !stalled;
    }
    if (stalled) {
      j->wakeAt = NowMs() + kStallRecheckMs;
      Compact(f);
      break;
    }
    if (j->inPipe == 0 && !j->eof) {
      ssize_t r = Splice(j->spec.inFd, nullptr, j->pipe[1], nullptr, static_cast<size_t>(j->pipeSize),
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      gSyscalls++;
      if (r > 0) {
        j->inPipe = r;
        f.received += r;
        j->done = f.received;
        budget -= r;
        progress = true;
      } else if (r == 0) {
        j->eof = true;
        progress = true;
      } else if (r != -EAGAIN) {
        Compact(f);
        return Complete(j, static_cast<int>(r), "splice");
      }
    }
    Compact(f);
    if (!progress) break;
    if (budget <= 0) {
      more = true;
      break;
    }
  }
  bool drained = true;
  for (auto& s : f.sinks) drained = drained && s->used == 0;
  if (j->eof && j->inPipe == 0 && drained) {
    for (auto& s : f.sinks) Notify(j, "sink-done", s->id, s->delivered);
    return Complete(j, 0, nullptr);
  }
  if (more) return Queue(j->worker, j);
  if (j->inPipe == 0 && !j->eof && !Park(j, &j->in, EPOLLIN)) return;
  for (auto& s : f.sinks) {
    if (s->used > 0 && s->blocked && !Park(j, &s->watch, EPOLLOUT)) return;
  }
}

void ReleaseFanout(Job* j) {
  Fanout& f = *j->fanout;
  for (auto& s : f.sinks) {
    if (!s->gone) CloseSink(j, *s);
  }
  f.sinks.clear();
  for (auto& add : f.pendingAdds) close(add.second);
  f.pendingAdds.clear();
  if (f.devNull >= 0) close(f.devNull);
  f.devNull = -1;
}

}  // namespace detail
}  // namespace engine
}  // namespace zc
