#include "sigbus.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

namespace zc {
namespace guard {

namespace {

enum State : uint32_t { kFree = 0, kClaimed, kLive, kDying };

// Everything the handler reads is an atomic in a static array: no locks, no allocation, async-signal-safe.
struct Slot {
  std::atomic<uint32_t> state{kFree};
  std::atomic<uint32_t> inflight{0};  // handlers currently looking at this slot
  std::atomic<uintptr_t> filledFrom{0};  // lowest zero-filled page, 0 for none
  std::atomic<uintptr_t> start{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<uv_async_t*> wake{nullptr};
};

// Static storage is untouched (not resident) beyond the high-water mark.
constexpr int kSlots = 1 << 16;
Slot slots[kSlots];
std::atomic<int> highWater{0};

std::once_flag installOnce;
int installResult = 0;
struct sigaction previous;

uintptr_t PageSize() {
  static const uintptr_t size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// Runs `act(slot)` on the live slot holding `addr`, with the slot pinned against Unregister. False if none.
template <typename Act>
bool WithSlotAt(uintptr_t addr, Act act) {
  int top = highWater.load();
  for (int i = 0; i < top; i++) {
    Slot& s = slots[i];
    // Announce ourselves before checking the state: Unregister flips the state first and then waits for
    // inflight to drain, so one of the two always sees the other.
    s.inflight.fetch_add(1);
    if (s.state.load() == kLive && addr >= s.start.load() && addr < s.end.load()) {
      bool ok = act(s);
      s.inflight.fetch_sub(1);
      return ok;
    }
    s.inflight.fetch_sub(1);
  }
  return false;
}

// A load past the end of a truncated file: zero pages from the faulting page to the end of the range.
bool FillWithZeros(uintptr_t addr) {
  return WithSlotAt(addr, [addr](Slot& s) {
    uintptr_t page = addr & ~(PageSize() - 1);
    void* r = mmap(reinterpret_cast<void*>(page), s.end.load() - page, PROT_READ | PROT_WRITE,
                   MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return false;
    uintptr_t seen = s.filledFrom.load();
    while ((seen == 0 || page < seen) && !s.filledFrom.compare_exchange_weak(seen, page)) {
    }
    if (seen == 0) {  // the first fill: tell the owning thread
      uv_async_t* wake = s.wake.load();
      if (wake) uv_async_send(wake);
    }
    return true;
  });
}

// Not ours: behave exactly as if the guard were absent.
void Chain(const struct sigaction& previous, int sig, siginfo_t* info, void* context) {
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) return previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler == SIG_IGN) {
    if (info->si_code <= 0) return;  // a sent signal that was being ignored stays ignored
  } else if (previous.sa_handler != SIG_DFL) {
    return previous.sa_handler(sig);
  }
  // Default action: restore it; a fault re-executes and terminates, a sent signal is raised again.
  signal(sig, SIG_DFL);
  if (info->si_code <= 0) raise(sig);
}

void Handler(int sig, siginfo_t* info, void* context) {
  int savedErrno = errno;  // uv_async_send may clobber it
  // si_code > 0: raised by the kernel for a fault; <= 0: sent by kill(), tgkill(), sigqueue().
  uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
  bool handled = info->si_code == BUS_ADRERR && FillWithZeros(addr);
  errno = savedErrno;
  if (!handled) Chain(previous, sig, info, context);
}

}  // namespace

int Install() {
  std::call_once(installOnce, [] {
    struct sigaction sa {};
    sa.sa_sigaction = Handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous) == -1) installResult = -errno;
  });
  return installResult;
}

int Register(void* addr, size_t length, uv_async_t* wake) {
  for (int i = 0; i < kSlots; i++) {
    Slot& s = slots[i];
    uint32_t expected = kFree;
    if (!s.state.compare_exchange_strong(expected, kClaimed)) continue;
    s.start.store(reinterpret_cast<uintptr_t>(addr));
    s.end.store(reinterpret_cast<uintptr_t>(addr) + length);
    s.wake.store(wake);
    s.filledFrom.store(0);
    int top = highWater.load();
    while (top < i + 1 && !highWater.compare_exchange_weak(top, i + 1)) {
    }
    s.state.store(kLive);
    return i;
  }
  return -ENOSPC;
}

void Unregister(int slot) {
  Slot& s = slots[slot];
  s.state.store(kDying);
  while (s.inflight.load() != 0) sched_yield();
  s.wake.store(nullptr);
  s.start.store(0);
  s.end.store(0);
  s.state.store(kFree);
}

uintptr_t FilledFrom(int slot) { return slots[slot].filledFrom.load(); }

int Find(const void* addr, size_t length) {
  uintptr_t a = reinterpret_cast<uintptr_t>(addr), b = a + length;
  int top = highWater.load();
  for (int i = 0; i < top; i++) {
    Slot& s = slots[i];
    if (s.state.load() == kLive && a < s.end.load() && b > s.start.load()) return i;
  }
  return -1;
}

}  // namespace guard
}  // namespace zc
