// The process-wide SIGBUS guard. Another process may truncate a file we have mapped; a load past the new end of
// file then raises SIGBUS, which would kill Node. The guard keeps a registry of our mapped ranges; its handler
// maps anonymous zero pages from the faulting page to the end of that range and returns, so the load re-executes
// and reads zeros. SIGBUS from anywhere else (another addon's mapping, `kill -BUS`) goes to the handler that was
// installed before ours, or takes the default action, exactly as if we were not loaded.
// Every mapping of ours is writable (a Buffer is always writable from JS), so the zero pages are too: the guard
// never needs SIGSEGV, which stays V8's (WebAssembly traps).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

namespace zc {
namespace guard {

// Installs the handler once per process. Returns 0 or -errno.
int Install();

// Registers [addr, addr + length) (page-aligned). `wake` is signalled
// (uv_async_send, which is async-signal-safe) the first time the guard fills a page of this range; it must
// stay valid until Unregister returns. Returns a slot number >= 0, or -ENOSPC when the registry is full.
int Register(void* addr, size_t length, uv_async_t* wake);

// Hides the slot from the handler and waits for handlers already inside it, so the range can be unmapped.
void Unregister(int slot);

// Where the guard's zero pages begin in the slot's range (the lowest page it filled), or 0 if it filled none.
uintptr_t FilledFrom(int slot);

// The slot whose range contains [addr, addr + length) partly, or -1.
int Find(const void* addr, size_t length);

}  // namespace guard
}  // namespace zc
