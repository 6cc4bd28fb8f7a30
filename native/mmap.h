// Plain mmap calls (no Node-API): each returns 0 / a result, or -errno.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace zc {

enum class MapMode { kRead, kWrite, kPrivate };

size_t PageSize();

// Protection a mode maps with (and gives the guard's zero pages).
int ProtFor(MapMode mode);

// Maps [offset, offset + length) of fd; offset must be page-aligned. *addr receives the mapping.
int MapFile(int fd, int64_t offset, size_t length, MapMode mode, bool populate, void** addr);
int Unmap(void* addr, size_t length);
int Sync(void* addr, size_t length, bool async, bool invalidate);

// advice: one of the MADV_* values chosen by the glue from its name.
int Advise(void* addr, size_t length, int advice);
int Lock(void* addr, size_t length);
int Unlock(void* addr, size_t length);

// The size of the file behind fd, or -errno.
int64_t FileSize(int fd);

}  // namespace zc
