// File leases (F_SETLEASE) with a real-time lease-break signal (F_SETSIG). A dedicated thread owns the signal
// (F_SETOWN_EX aims it there; its handler only writes si_fd into a pipe) and acts first: under 'release' it
// gives the lease up at once, under 'hold' at the grace deadline unless JS released it sooner, so a busy event
// loop never keeps another process waiting. Then it tells JS. Plain C++: events leave through a Listener.
// When the user's signal queue is full the kernel sends that thread a plain SIGIO instead (no fd): it reads it
// from a signalfd and finds the broken leases with F_GETLEASE.
#pragma once
#include <stdint.h>

#include <atomic>
#include <memory>

namespace zc {
namespace lease {

enum class Event { kBroken, kReleased };

class Listener {
 public:
  virtual ~Listener() = default;
  // On the lease thread. `atMs` is CLOCK_REALTIME milliseconds.
  virtual void Notify(int id, Event event, int64_t atMs) = 0;
};

// The real-time signal (SIGRTMIN + offset); only before the first lease. 0 or -EBUSY / -EINVAL.
int Configure(int offset);
int Signal();

// Takes a lease on a duplicate of fd. type: F_RDLCK or F_WRLCK. hold: keep it after a break until Release or
// the grace deadline. Returns a lease id (> 0) or -errno.
int Acquire(int fd, int type, bool hold, int graceMs, std::shared_ptr<Listener> listener);

// A transfer the lease guards: before the lease is given up after a break, the transfer is stopped, so the
// writer the lease held back can never change bytes it is still sending.
void Guard(int id, uint64_t job);

// A socket whose send queue may reference the file's pages (sendfile to a remote peer): the lease is never given
// up while the socket still holds bytes its peer has not acknowledged; if it must be (a break whose grace ran
// out, a release before the peer caught up), the connection is reset first, which discards them. 0 or -errno.
int GuardSocket(int id, int fd);

// Bytes the guarded socket's peer has not acknowledged yet (0 without one), or -errno.
int64_t Unacked(int id);

// Whether the lease is still held: false once given up (a break's grace ran out, or Release).
bool Held(int id);

// The same, for threads that read the file's bytes without a lock (from a mapping, by pread) and must know
// that what they read is the file's own: no writer the lease holds back has proceeded.
class Hold {
 public:
  explicit Hold(int type) : type_(type) {}
  // Cleared before the lease is given up: bytes read while this still reads true after the read are the file's.
  bool held() const { return held_.load(); }
  // Opens a read that the lease covers whole, or false once it is given up. Until End(), giving the lease up
  // waits (at most kReadWaitMs), so no writer can change the bytes while they are read, and nothing needs
  // checking after: the read must therefore never wait itself (a non-blocking write). `fd`, a descriptor of the
  // leased open file, is asked too (F_GETLEASE, one syscall): a lease the kernel took back or is breaking while
  // the lease thread could not answer (the process stopped past lease-break-time) still reads held here.
  bool Begin(int fd);
  void End() { readers_.fetch_sub(1); }
  // The lease thread's (or Release's) side: clears the flag, then waits for the reads Begin() let in.
  void Clear();
  static constexpr int kReadWaitMs = 200;

 private:
  const int type_;  // F_RDLCK or F_WRLCK, as taken
  // Sequentially consistent, both: a Begin() that reads the flag true has counted itself before Clear() looks.
  std::atomic<bool> held_{true};
  std::atomic<int> readers_{0};
};

// A lease's Hold (any thread may keep it past the lease); one that is already cleared for an unknown id.
using HeldFlag = std::shared_ptr<Hold>;
HeldFlag HeldFlagOf(int id);

// Gives a lease up (F_UNLCK) and forgets it. Idempotent.
void Release(int id);

// F_GETLEASE of an fd: F_RDLCK, F_WRLCK, F_UNLCK, or -errno.
int Get(int fd);

// Forgets every lease that reports to `listener` (its environment is going away), releasing them.
void ReleaseAll(const Listener* listener);

}  // namespace lease
}  // namespace zc
