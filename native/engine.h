// The transfer engine: a few addon-owned threads, each with its own epoll, that run transfers as jobs. A job
// owns duplicates of its fds, moves data in capped chunks, and parks on EPOLLOUT|EPOLLONESHOT (or EPOLLIN for
// a source) when an fd says EAGAIN, serving other jobs meanwhile. No call of a job can block on a caller's fd:
// an output whose open file description blocks is polled first and written at most PIPE_BUF at a time, so one
// stuck output never delays another job. No libuv threadpool worker is ever used.
// Plain C++: completions leave through a Sink, which the glue turns into JS calls.
#pragma once
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kept_map.h"
#include "lease.h"

namespace zc {
namespace engine {

enum class Kind {
  kSend,           // a regular file -> any fd, moved by a Strategy
  kCopyFileRange,  // file -> file
  kRelay,          // a socket or pipe -> pipe -> any fd (a socket relay, an upload to a file)
  kBroadcast,      // a socket -> pipe, tee'd into a ring of pipes per sink -> each sink socket
  kTask,           // a callable that waits on a device rather than on an fd (direct I/O): see RunTask
};

// A kTask's work: 0 or -errno, with *bytes (reported as Event::bytes) and *syscall (the call that failed) set as
// it goes. It may stop early when `cancelled` reads true, returning -ECANCELED.
using Task = std::function<int(const std::atomic<bool>& cancelled, int64_t* bytes, const char** syscall)>;

// How a kSend job moves bytes.
enum class Strategy {
  kSendfile,  // sendfile(2)
  kSplice,    // file -> a pooled pipe sized with F_SETPIPE_SZ -> the output
  kMmap,      // write(2) from a read-only shared mapping of the file, in windows (copies into the output)
  kCopy,      // pread + write through a buffer (copies into the output)
};

// The one table of names: the glue reads kinds and strategies by these, and JS lists them from it.
template <typename T>
struct Named {
  T value;
  const char* name;
};
constexpr Named<Kind> kKinds[] = {
    {Kind::kSend, "send"}, {Kind::kCopyFileRange, "copyFileRange"}, {Kind::kRelay, "relay"}, {Kind::kBroadcast, "broadcast"}};
constexpr Named<Strategy> kStrategies[] = {
    {Strategy::kSendfile, "sendfile"}, {Strategy::kSplice, "splice"}, {Strategy::kMmap, "mmap"}, {Strategy::kCopy, "copy"}};
const char* NameOf(Strategy strategy);

// What the engine reports. `done` is false for progress reports.
struct Event {
  uint64_t job;
  bool done;
  int64_t bytes;             // moved so far (all of it when done)
  int64_t fallbackBytes;     // of which moved by read/write after the zero-copy call refused
  int error;                 // negative errno, 0 for success
  const char* syscall;       // the call that failed
  bool truncated;            // the input ended before its promised end: the file shrank under the transfer
  const char* fallbackReason;  // why read/write took over, or nullptr
  const char* strategy;        // kSend: the strategy that moved the bytes (after a refusal, "copy"); else nullptr
  // kBroadcast: something happened to one sink ("sink-drop", "sink-error", "sink-removed", "sink-done");
  // `bytes` is then that sink's count.
  const char* notice;
  int sinkId;
  // kRelay stopped by an error or a cancel while its input was still good: the bytes it had taken from the
  // input and not written, in order (so the caller can give them back to the input's reader). Null otherwise.
  std::shared_ptr<const std::string> unwritten;
};

// The errnos with which a zero-copy call refuses a kind of fd rather than failing, each with why (as libuv's errno
// map): read/write then takes over inside the job. The one list: the glue hands it to JS, whose fast path decides
// the same way. (copy_file_range's EBADF for an O_APPEND output is a refusal only there: see AppendRefused.)
struct Refusal {
  int errnum;
  const char* code;
  const char* reason;
};
#define ZC_REFUSAL(e, reason) {e, #e, reason}
constexpr Refusal kRefusals[] = {
    ZC_REFUSAL(EINVAL, "the call does not take this kind of fd (an O_APPEND output, a tty, a file system without it)"),
    ZC_REFUSAL(ENOSYS, "the kernel lacks the call"),
    ZC_REFUSAL(EOPNOTSUPP, "the file system does not support the call"),
    ZC_REFUSAL(EXDEV, "the files are on different file systems"),
    ZC_REFUSAL(EIO, "the file system refused the call (libuv copies instead too)"),
    ZC_REFUSAL(ENOTSOCK, "the call wanted a socket"),
};
#undef ZC_REFUSAL
bool Refused(int64_t result);  // result: a syscall's return or -errno

// Why read/write moved a job's bytes (Event::fallbackReason): the closed set, declared once.
namespace reason {
constexpr const char* kSendfileRefused = "sendfile-refused";  // sendfile answered with a refusal
constexpr const char* kSpliceRefused = "splice-refused";      // splice did (an O_APPEND output: EINVAL)
constexpr const char* kMmapRefused = "mmap-refused";          // the file cannot be mapped (ENODEV)
constexpr const char* kCopyFileRangeRefused = "copy_file_range-refused";
constexpr const char* kLeaseCopy = "lease-copy";  // under a lease for a peer on this host: copies, by design
constexpr const char* kAll[] = {kSendfileRefused, kSpliceRefused, kMmapRefused, kCopyFileRangeRefused, kLeaseCopy};
}  // namespace reason
const char* RefusedReason(Strategy strategy);  // the reason when a strategy is refused

// Receives events on an engine thread. Deliver must not block for long.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void Deliver(const Event& event) = 0;
};

struct Spec {
  Kind kind;
  int outFd;  // duplicated by Submit; the caller keeps its own
  int inFd;
  int64_t offset;      // input offset (files only)
  int64_t outOffset;   // output offset (-1: the fd's position)
  int64_t length;      // -1 for kRelay and kBroadcast: until end of input
  Strategy strategy;   // kSend: how to move the bytes
  bool progress;       // report progress after each chunk
  int pipeSize;        // kRelay, kBroadcast, kSend by splice: the pipe's capacity (0: the default)
  bool shutdownOnEof;  // kRelay: shutdown(SHUT_WR) the output when the input ends (a relay's half-close)
  int64_t maxLag;      // kBroadcast: a sink further behind than this is dropped
  std::vector<int> sinkFds;  // kBroadcast: the sinks it starts with (duplicated), numbered 1..n
  // kSend under a lease, for a peer on this host (a copying strategy: kCopy or kMmap, so that the destination
  // holds copies): a chunk is written only if this flag still reads true after it was read (else -ECANCELED).
  lease::HeldFlag leaseHeld;
  KeptMapRef kept;  // kSend by mmap: the whole file mapped already (the open-file cache's), used in place of windows
  Task task;  // kTask
};

// Sets the thread count; only before the first Submit. Returns 0 or -EBUSY.
int Configure(int threads);
int Threads();

// Starts a job; returns its id (> 0), or -errno when the fds cannot be duplicated.
int64_t Submit(const Spec& spec, std::shared_ptr<Sink> sink);

// Runs `task` once on an engine thread and completes through `sink` like a job; returns its id (> 0). Cancel
// before it starts completes it with -ECANCELED; once started, it sees the cancel only through its flag.
int64_t RunTask(Task task, std::shared_ptr<Sink> sink);

// Stops a job at its next step; it completes with -ECANCELED and the bytes moved so far.
void Cancel(uint64_t job);

// kBroadcast: adds a sink (the fd is duplicated) and returns its id (> 0), or -errno; removes one.
int AddSink(uint64_t job, int fd);
void RemoveSink(uint64_t job, int sinkId);

// Cancels a job and waits (at most timeoutMs) until its worker has stopped it: after this no byte of it moves.
// For a lease that must not be given up while a transfer could still read the file.
void CancelAndWait(uint64_t job, int timeoutMs);

// Cancels every job delivering to `sink` (its environment is going away).
void CancelAll(const Sink* sink);

struct Stats {
  int64_t zeroCopyBytes;
  int64_t fallbackBytes;
  int64_t syscalls;
  int64_t eagainWaits;
  int64_t activeJobs;
  int64_t pooledPipes;  // empty pipes kept for reuse (2 fds each)
};
Stats GetStats();

// The fast path's accounting, for transfers done on the JS thread without a job (`copied`: by read/write).
void CountFastPath(int64_t bytes, int64_t syscalls, bool copied);

}  // namespace engine
}  // namespace zc
