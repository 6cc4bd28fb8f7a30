// The engine's internals, shared by its files: engine.cc (threads, file and splice jobs) and broadcast.cc.
#pragma once
#include <stdint.h>
#include <sys/types.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "constants.h"
#include "engine.h"

namespace zc {
namespace engine {
namespace detail {

constexpr int64_t kChunk = constants::kChunk;  // bytes per zero-copy call
constexpr int64_t kTurnBudget = 16 << 20;  // bytes a job moves before other ready jobs get their turn
constexpr size_t kCopyBuffer = constants::kCopyChunk;  // the read/write buffer
// The most a job writes per call to an output whose open file description blocks (see MayBlock in engine.cc):
// PIPE_BUF, which a pipe that polls writable takes whole at once.
constexpr int64_t kGatedChunk = 4096;
// The span of the file an mmap job maps at a time (send_strategies.cc).
constexpr int64_t kMmapWindow = 16 << 20;

struct Worker;
struct Job;
struct Fanout;  // broadcast.cc

// One fd of a job in its worker's epoll; the epoll event's data points here.
struct Watch {
  Job* job = nullptr;
  int fd = -1;
  bool registered = false;
};

struct Job {
  uint64_t id;
  Spec spec;  // with our own duplicated fds
  std::shared_ptr<Sink> sink;
  Worker* worker;
  int64_t offset;     // next input offset
  int64_t outOffset;  // next output offset, or -1
  int64_t done = 0;
  int64_t fallbackDone = 0;
  int64_t reported = 0;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> commands{false};  // kBroadcast: sinks to add or remove
  const char* fallbackReason = nullptr;
  bool readWrite = false;
  bool gated = false;        // the output may block: poll it before each write and write at most kGatedChunk
  bool inputFailed = false;  // kRelay: the input itself failed, so no byte taken from it is owed back
  std::unique_ptr<char[]> buffer;  // read/write mode: bytes read and not yet written are [pos, len)
  size_t pos = 0, len = 0;
  bool queued = false;  // in the worker's ready list
  bool parked = false;  // waiting for an epoll event
  Watch out, in;        // outFd and inFd as epoll sees them
  // kRelay, kBroadcast: the pipe after the input, and the bytes in it not yet passed on.
  int pipe[2] = {-1, -1};
  int pipeSize = 0;
  int64_t inPipe = 0;
  bool eof = false;
  std::unique_ptr<Fanout> fanout;  // kBroadcast
  int64_t wakeAt = 0;              // CLOCK_MONOTONIC ms when the job wants another turn regardless of fds
  // kSend by mmap: the mapped window of the input, [windowOffset, windowOffset + windowLength).
  char* window = nullptr;
  int64_t windowOffset = 0;
  size_t windowLength = 0;
  Job();
  ~Job();
};

struct Worker {
  int epfd = -1;
  int wakefd = -1;
  std::mutex mutex;
  std::deque<Job*> incoming;  // guarded by mutex
  // Below: touched by the worker thread only.
  std::unordered_set<Job*> jobs;
  std::deque<Job*> ready;
};

extern std::atomic<int64_t> gZeroCopyBytes, gFallbackBytes, gSyscalls, gEagainWaits, gActive;

void Queue(Worker* w, Job* j);
void Deliver(Job* j, bool done, int error = 0, const char* syscall = nullptr, bool truncated = false,
             std::shared_ptr<const std::string> unwritten = nullptr);
void Notify(Job* j, const char* notice, int sink, int64_t bytes, int error = 0);
void Complete(Job* j, int error, const char* syscall, bool truncated = false);
// False when the job could not wait and has been completed (and freed) with the error.
bool Park(Job* j, Watch* watch, uint32_t events);
void Wake(Worker* w);
int64_t NowMs();
int AcquirePipe(int size, int fds[2]);
void ReleasePipe(int fds[2], int size, bool empty);

// One read/write step of a file job (engine.cc): the bytes a refused strategy left in the job's pipe first.
ssize_t ReadWriteStep(Job* j, int64_t want, const char** syscall);

// send_strategies.cc: one step of a kSend job by its strategy (bytes written, 0 at end of input, or -errno), and
// what a strategy holds (a mapping) given back at completion.
ssize_t SendStep(Job* j, int64_t want, const char** syscall);
void ReleaseSendStrategy(Job* j);

// broadcast.cc
int NewFanout(Job* j);                        // at submission; 0 or -errno
int QueueSink(Job* j, int fd);                // any thread, under the engine's lock: a sink id or -errno
void QueueSinkRemoval(Job* j, int sinkId);    // any thread, under the engine's lock
void StepBroadcast(Job* j);                   // the worker's turn
void ReleaseFanout(Job* j);                   // at completion: every sink's pipes and fd

}  // namespace detail
}  // namespace engine
}  // namespace zc
