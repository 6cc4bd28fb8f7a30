// Plain mmap calls (no Node-API): each returns 0 / a result, or -errno.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace zc {

// kRead: private and writable (a store from JS gets a private copy of its page, by the kernel's copy-on-write;
// pages never written keep showing the file as it is now), with no commit charge. kWrite: shared and writable.
// kPrivate: private and writable, with the commit charge reserved.
enum class MapMode { kRead, kWrite, kPrivate };

size_t PageSize();

// Maps [offset, offset + length) of fd, readable and writable; offset must be page-aligned.
int MapFile(int fd, int64_t offset, size_t length, MapMode mode, void** addr);

// Replaces the range in place with anonymous zero pages (one atomic mmap): the file is let go, while a thread
// still reading the range reads the file's bytes or zeros, never a fault and never another mapping's bytes.
int ReleaseFile(void* addr, size_t length);

int Unmap(void* addr, size_t length);
int Sync(void* addr, size_t length, bool async, bool invalidate);

// Faults the range in for reading, never breaking copy-on-write (MAP_POPULATE and mlock would copy every page
// of a private writable mapping). Touches each page where the kernel lacks MADV_POPULATE_READ (before 5.14).
int PopulateRead(void* addr, size_t length);

// advice: one of the MADV_* values chosen by the glue from its name.
int Advise(void* addr, size_t length, int advice);
// Locks the pages as they are faulted, then faults them all in for reading: locked and resident like mlock,
// without breaking copy-on-write.
int Lock(void* addr, size_t length);
int Unlock(void* addr, size_t length);

// The current size of the file mapped at addr (a mapping's start), found through /proc/self/maps and the path
// it names, or -ENOENT when that path no longer names the mapped file (renamed, unlinked).
int64_t MappedFileSize(const void* addr);

}  // namespace zc
