// Reading JS arguments in glue code. TypeScript has validated ranges already; these only make sure that
// whatever arrives cannot be misread into something memory-unsafe (a wrong type throws a TypeError).
#pragma once
#include <napi.h>
#include <stdint.h>
#include <sys/uio.h>

#include <string>
#include <vector>

namespace zc {

// An fd: an int32 Number >= 0.
bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* fd);

// A length: a Number >= 0; capped at `cap` (lengths above what one syscall takes are capped, not rejected).
bool ArgLength(const Napi::CallbackInfo& info, size_t i, size_t cap, size_t* len);

// An optional offset: undefined/null (use the fd's position: *has = false), or a Number or BigInt in [0, 2^63).
bool ArgOffset(const Napi::CallbackInfo& info, size_t i, int64_t* off, bool* has);

// A boolean flag; anything but `true` is false.
bool ArgFlag(const Napi::CallbackInfo& info, size_t i);

// Members of an options object, read by name (as sharp does), with the same rules; the TypeError names the member.
bool OptFd(Napi::Object o, const char* name, int* fd);
bool OptLength(Napi::Object o, const char* name, size_t cap, size_t* len);  // absent: 0
bool OptOffset(Napi::Object o, const char* name, int64_t* off, bool* has);
bool OptFlag(Napi::Object o, const char* name);
bool OptString(Napi::Object o, const char* name, std::string* out);  // absent: *out unchanged
bool OptView(Napi::Object o, const char* name, struct iovec* view);   // absent: an empty view

// One ArrayBufferView (TypedArray or DataView), as base pointer and byte length.
bool ArgView(const Napi::CallbackInfo& info, size_t i, struct iovec* view);

// One ArrayBufferView or an array of them, as iovecs (at most IOV_MAX; the rest is left for the next call).
// Empty views are skipped. The pointers stay valid only while the calling JS frame holds the views.
bool ArgIovecs(const Napi::CallbackInfo& info, size_t i, std::vector<struct iovec>* iov);

}  // namespace zc
