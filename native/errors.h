// Errors shaped like Node's fs errors. The shape itself lives in TypeScript (src/errors.ts): JS hands its
// factory to native code once at load, so native and fallback errors come from one builder.
#pragma once
#include <napi.h>

namespace zc {

// Remembers the JS factory `(errno, syscall, path?) => Error` for this environment (main thread or worker).
void SetErrorFactory(Napi::Env env, Napi::Function factory);

// Throws the factory's error for a negative errno. Returns undefined so glue can `return ThrowErrno(...)`.
Napi::Value ThrowErrno(Napi::Env env, int negErrno, const char* syscall, const char* path = nullptr);

// Throws it with `bytes` (what went before the failure) on it.
Napi::Value ThrowErrnoAfter(Napi::Env env, int negErrno, const char* syscall, double bytes);

// Builds (without throwing) the same error, for completions delivered asynchronously.
Napi::Value ErrnoError(Napi::Env env, int negErrno, const char* syscall, const char* path = nullptr);

// Calls fn(args) and tolerates failure: while Node tears an environment down (process exit, worker end) it may
// still hand over queued thread-safe calls and async wake-ups when JS can no longer run. node-addon-api's
// Call() would then abort the process (its napi_throw fails); this clears the error and returns false.
bool CallQuietly(Napi::Env env, napi_value fn, size_t argc, const napi_value* argv, napi_async_context context = nullptr);

// A Buffer holding a copy of data, or null where Node makes none: while it tears an environment down it refuses
// new Buffers, and node-addon-api's Buffer::Copy would then throw, fail to, and abort the process (seen once as a
// worker ended with transfers in flight). The call that takes it is then refused too (CallQuietly).
Napi::Value BufferCopyOrNull(Napi::Env env, const char* data, size_t length);

// A TypeError for arguments that would be memory-unsafe to use; TypeScript validates everything else first.
Napi::Value ThrowType(Napi::Env env, const char* message);

}  // namespace zc
