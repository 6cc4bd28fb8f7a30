// JS glue for mappings: an external Buffer over exactly the asked range, registered with the SIGBUS guard.
// unmap() lets the file go at once but never the address range: native code (zlib on the threadpool, a socket
// write queued in libuv, an fs.write) may still hold a pointer into it, and would fault on a freed range or read
// whatever the kernel maps there next. So unmap() replaces the pages in place with anonymous zero pages, and the
// range is returned when the Buffer's ArrayBuffer is collected (its finalizer) or at environment teardown.
#include <sys/mman.h>
#include <uv.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "addon.h"
#include "mapping_table.h"
#include "args.h"
#include "errors.h"
#include "mmap.h"
#include "sigbus.h"

namespace zc {

static bool Mapped(const Mapping* m) { return m->slot >= 0; }

// unmap(): zero pages first, so that no reader can fault in between; then the guard forgets the range.
static int ReleaseFileOf(Mapping* m) {
  if (!Mapped(m)) return 0;
  int err = ReleaseFile(m->base, m->mapLength);
  if (err < 0) return err;
  guard::Unregister(m->slot);
  m->slot = -1;
  return 0;
}

// Nothing can read the range any more (the Buffer was collected, or the environment is going away).
static void FreeRange(Mapping* m, MappingTable* table) {
  if (m->freed) return;
  if (Mapped(m)) guard::Unregister(m->slot);  // after this no handler can touch the range
  m->slot = -1;
  Unmap(m->base, m->mapLength);
  m->freed = true;
  if (table) table->mappings.erase(m->id);
}

// The Buffer's ArrayBuffer was collected: return the range, then free the record.
static void FinalizeMapping(napi_env env, void* /*data*/, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  if (!m->freed) FreeRange(m, GetAddonData(Napi::Env(env))->mappings.get());
  delete m;
}

// On the JS thread, after the guard filled pages: tell JS once per mapping.
static void OnWake(uv_async_t* handle) {
  MappingTable* table = reinterpret_cast<Wake*>(handle)->table;
  if (table->closing) return;
  Napi::Env env(table->owner->env);
  Napi::HandleScope scope(env);
  std::vector<uint32_t> ids;
  for (auto& entry : table->mappings) {
    Mapping* m = entry.second;
    if (Mapped(m) && !m->notified && guard::FilledFrom(m->slot) != 0) {
      m->notified = true;
      ids.push_back(m->id);
    }
  }
  if (table->onTruncated.IsEmpty()) return;
  for (uint32_t id : ids) {
    napi_value argv[] = {Napi::Number::New(env, id)};
    if (!CallQuietly(env, table->onTruncated.Value(), 1, argv, *table->asyncContext)) return;
  }
}

// Environment teardown (process exit, worker termination): unmap what is left, then close the wake-up. The
// records stay for finalizers that may still run.
static void CleanupTable(napi_async_cleanup_hook_handle hook, void* arg) {
  MappingTable* table = static_cast<MappingTable*>(arg);
  table->closing = true;
  for (auto& entry : table->mappings) FreeRange(entry.second, nullptr);
  table->mappings.clear();
  Wake* wake = table->wake;
  table->wake = nullptr;
  wake->hook = hook;
  uv_close(reinterpret_cast<uv_handle_t*>(&wake->async), [](uv_handle_t* h) {
    Wake* w = reinterpret_cast<Wake*>(h);
    napi_remove_async_cleanup_hook(w->hook);
    delete w;
  });
}

static MappingTable* Table(Napi::Env env) {
  AddonData* data = GetAddonData(env);
  if (!data->mappings) {
    data->mappings.reset(new MappingTable());
    data->mappings->owner = data;
    data->mappings->asyncContext.reset(new Napi::AsyncContext(env, "zerocopy:mapping"));
  }
  return data->mappings.get();
}

static bool EnsureWake(Napi::Env env, MappingTable* table) {
  if (table->wake) return true;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return false;
  Wake* wake = new Wake();
  wake->table = table;
  if (uv_async_init(loop, &wake->async, OnWake) != 0) {
    delete wake;
    return false;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&wake->async));  // never keeps the process alive
  table->wake = wake;
  napi_add_async_cleanup_hook(env, CleanupTable, table, nullptr);
  return true;
}

static Mapping* Lookup(const Napi::CallbackInfo& info) {
  MappingTable* table = Table(info.Env());
  auto it = info[0].IsNumber() ? table->mappings.find(info[0].As<Napi::Number>().Uint32Value())
                                : table->mappings.end();
  if (it == table->mappings.end() || !Mapped(it->second)) {
    ThrowType(info.Env(), "no such mapping (already unmapped)");
    return nullptr;
  }
  return it->second;
}

static bool ParseMode(Napi::Value v, MapMode* mode) {
  if (!v.IsString()) return false;
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "read") *mode = MapMode::kRead;
  else if (s == "write") *mode = MapMode::kWrite;
  else if (s == "private") *mode = MapMode::kPrivate;
  else return false;
  return true;
}

static size_t RoundUpToPage(size_t n) { return (n + PageSize() - 1) & ~(PageSize() - 1); }

// map(fd, offset, length, mode, populate, lock, advice|-1) -> { buffer, id }, or null where the runtime
// refuses external buffers (Electron's V8 sandbox): the caller then copies instead.
static Napi::Value MapJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t offset;
  bool hasOffset;
  size_t length;
  MapMode mode;
  if (!ArgFd(info, 0, &fd) || !ArgOffset(info, 1, &offset, &hasOffset) || !ArgLength(info, 2, SIZE_MAX, &length))
    return env.Undefined();
  if (!hasOffset || length == 0 || !ParseMode(info[3], &mode)) return ThrowType(env, "bad mapping arguments");
  bool populate = ArgFlag(info, 4), lock = ArgFlag(info, 5);
  int advice = info[6].IsNumber() ? info[6].As<Napi::Number>().Int32Value() : -1;

  int err = guard::Install();
  if (err < 0) return ThrowErrno(env, err, "sigaction");
  MappingTable* table = Table(env);
  if (!EnsureWake(env, table)) return ThrowErrno(env, -ENOMEM, "uv_async_init");

  int64_t aligned = offset & ~static_cast<int64_t>(PageSize() - 1);
  size_t delta = static_cast<size_t>(offset - aligned);
  size_t mapLength = delta + length;
  void* base;
  if ((err = MapFile(fd, aligned, mapLength, mode, &base)) < 0) return ThrowErrno(env, err, "mmap");
  // No fd is kept: the guard learns truncation by SIGBUS, msync needs none, and a lease keeps its own.
  int slot = guard::Register(base, RoundUpToPage(mapLength), &table->wake->async);
  const char* failed = nullptr;
  if (slot < 0) err = slot, failed = "mmap";
  // After Register: faulting pages in reads the file, which another process may have shortened already.
  if (!failed && lock && (err = Lock(base, mapLength)) < 0) failed = "mlock";
  if (!failed && advice >= 0 && (err = Advise(base, mapLength, advice)) < 0) failed = "madvise";
  if (!failed && populate && !lock) PopulateRead(base, mapLength);  // best effort, as MAP_POPULATE is
  if (failed) {
    if (slot >= 0) guard::Unregister(slot);
    Unmap(base, mapLength);
    return ThrowErrno(env, err, failed);
  }

  Mapping* m = new Mapping{table->nextId++, base, mapLength, static_cast<uint8_t*>(base) + delta, length,
                           offset, slot};
  napi_value buffer;
  napi_status status = napi_create_external_buffer(env, length, m->data, FinalizeMapping, m, &buffer);
  if (status != napi_ok) {
    FreeRange(m, nullptr);
    delete m;
    if (status == napi_no_external_buffers_allowed) return env.Null();
    if (!env.IsExceptionPending()) ThrowErrno(env, -ENOMEM, "napi_create_external_buffer");
    return env.Undefined();
  }
  // No napi_adjust_external_memory: V8 already counts an external ArrayBuffer's length as external memory
  // (measured: process.memoryUsage().external grows by the mapped length), which is what makes it collect
  // dropped mappings; adjusting again would count every mapping twice.
  table->mappings[m->id] = m;
  Napi::Object result = Napi::Object::New(env);
  result.Set("buffer", buffer);
  result.Set("id", m->id);
  return result;
}

// unmap(id): the file goes now; the Buffer's views read zeros until it is collected. No detach: Node's zlib
// aborts the process (a CHECK on the Buffer's length) when a Buffer it is still compressing is detached.
static Napi::Value UnmapJs(const Napi::CallbackInfo& info) {
  Mapping* m = Lookup(info);
  if (!m) return info.Env().Undefined();
  int err = ReleaseFileOf(m);
  return err < 0 ? ThrowErrno(info.Env(), err, "mmap") : info.Env().Undefined();
}

// sync(id, async, invalidate)
static Napi::Value SyncJs(const Napi::CallbackInfo& info) {
  Mapping* m = Lookup(info);
  if (!m) return info.Env().Undefined();
  int err = Sync(m->base, m->mapLength, ArgFlag(info, 1), ArgFlag(info, 2));
  return err < 0 ? ThrowErrno(info.Env(), err, "msync") : info.Env().Undefined();
}

// advise(id, advice, offset, length): offset/length within the asked range, widened to whole pages.
static Napi::Value AdviseJs(const Napi::CallbackInfo& info) {
  Mapping* m = Lookup(info);
  size_t offset, length;
  if (!m || !ArgLength(info, 2, SIZE_MAX, &offset) || !ArgLength(info, 3, SIZE_MAX, &length))
    return info.Env().Undefined();
  if (offset > m->length || length > m->length - offset) return ThrowType(info.Env(), "range outside the mapping");
  uintptr_t from = reinterpret_cast<uintptr_t>(m->data) + offset;
  uintptr_t start = from & ~(PageSize() - 1);
  int err = Advise(reinterpret_cast<void*>(start), from + length - start, info[1].As<Napi::Number>().Int32Value());
  return err < 0 ? ThrowErrno(info.Env(), err, "madvise") : info.Env().Undefined();
}

// lock(id, on): mlock / munlock of the whole mapping
static Napi::Value LockJs(const Napi::CallbackInfo& info) {
  Mapping* m = Lookup(info);
  if (!m) return info.Env().Undefined();
  bool on = ArgFlag(info, 1);
  int err = on ? Lock(m->base, m->mapLength) : Unlock(m->base, m->mapLength);
  return err < 0 ? ThrowErrno(info.Env(), err, on ? "mlock" : "munlock") : info.Env().Undefined();
}

// How many bytes of [from, from + length) of the asked range still hold file data, given that the guard may
// have filled pages with zeros: up to the lowest filled page, and up to the file's current end.
static size_t ValidBytes(Mapping* m, size_t from, size_t length) {
  uintptr_t filled = guard::FilledFrom(m->slot);
  if (filled == 0) return length;
  uintptr_t data = reinterpret_cast<uintptr_t>(m->data);
  int64_t validEnd = filled > data ? static_cast<int64_t>(filled - data) : 0;
  int64_t size = MappedFileSize(m->base);  // to the byte where the path still names the file; else to the page
  if (size >= 0 && size - m->fileOffset < validEnd) validEnd = size - m->fileOffset;
  int64_t valid = validEnd - static_cast<int64_t>(from);
  return valid <= 0 ? 0 : static_cast<size_t>(valid) < length ? static_cast<size_t>(valid) : length;
}

// readInto(id, target, offset, length, targetOffset) -> bytes of file data copied (fewer than length when the
// file was truncated under the mapping: the rest of the copy is zeros). The guard makes the copy fault-proof.
static Napi::Value ReadIntoJs(const Napi::CallbackInfo& info) {
  Mapping* m = Lookup(info);
  struct iovec target;
  size_t offset, length, targetOffset;
  if (!m || !ArgView(info, 1, &target) || !ArgLength(info, 2, SIZE_MAX, &offset) ||
      !ArgLength(info, 3, SIZE_MAX, &length) || !ArgLength(info, 4, SIZE_MAX, &targetOffset))
    return info.Env().Undefined();
  if (offset > m->length || length > m->length - offset || targetOffset > target.iov_len ||
      length > target.iov_len - targetOffset)
    return ThrowType(info.Env(), "range outside the mapping or the target");
  if (length > 0) memmove(static_cast<uint8_t*>(target.iov_base) + targetOffset, m->data + offset, length);
  return Napi::Number::New(info.Env(), static_cast<double>(ValidBytes(m, offset, length)));
}

// truncated(id): the guard has filled pages of this mapping.
static Napi::Value TruncatedJs(const Napi::CallbackInfo& info) {
  Mapping* m = Lookup(info);
  if (!m) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), guard::FilledFrom(m->slot) != 0);
}

// mappedTruncated(views): whether any view lies in a mapping of ours whose file no longer covers it. The
// kernel reads mapped memory without SIGBUS (write, vmsplice get EFAULT or a short count): this tells a
// truncation apart from other failures. One load of the last page of each view's part of a mapping asks the
// guard: past the file's end it faults, and the guard records it (page granularity, as the kernel's EFAULT).
static Napi::Value MappedTruncatedJs(const Napi::CallbackInfo& info) {
  std::vector<struct iovec> views;
  if (!ArgIovecs(info, 0, &views)) return info.Env().Undefined();
  MappingTable* table = Table(info.Env());
  for (const struct iovec& v : views) {
    for (auto& entry : table->mappings) {
      Mapping* m = entry.second;
      uintptr_t a = reinterpret_cast<uintptr_t>(v.iov_base), d = reinterpret_cast<uintptr_t>(m->data);
      if (!Mapped(m) || a + v.iov_len <= d || a >= d + m->length) continue;
      uintptr_t end = std::min(a + v.iov_len, d + m->length);
      (void)*reinterpret_cast<const volatile uint8_t*>(end - 1);
      uintptr_t filled = guard::FilledFrom(m->slot);
      if (filled != 0 && filled < end) return Napi::Boolean::New(info.Env(), true);
    }
  }
  return Napi::Boolean::New(info.Env(), false);
}

static Napi::Value SetTruncatedCallbackJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) return ThrowType(info.Env(), "callback must be a function");
  Table(info.Env())->onTruncated = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

void RegisterMmap(Napi::Env env, Napi::Object exports) {
  exports.Set("map", Napi::Function::New(env, MapJs, "map"));
  exports.Set("unmap", Napi::Function::New(env, UnmapJs, "unmap"));
  exports.Set("msync", Napi::Function::New(env, SyncJs, "msync"));
  exports.Set("madvise", Napi::Function::New(env, AdviseJs, "madvise"));
  exports.Set("mlock", Napi::Function::New(env, LockJs, "mlock"));
  exports.Set("readInto", Napi::Function::New(env, ReadIntoJs, "readInto"));
  exports.Set("truncated", Napi::Function::New(env, TruncatedJs, "truncated"));
  exports.Set("mappedTruncated", Napi::Function::New(env, MappedTruncatedJs, "mappedTruncated"));
  exports.Set("setTruncatedCallback", Napi::Function::New(env, SetTruncatedCallbackJs, "setTruncatedCallback"));
  Napi::Object advice = Napi::Object::New(env);
  advice.Set("normal", MADV_NORMAL);
  advice.Set("sequential", MADV_SEQUENTIAL);
  advice.Set("random", MADV_RANDOM);
  advice.Set("willneed", MADV_WILLNEED);
  advice.Set("dontneed", MADV_DONTNEED);
  advice.Set("hugepage", MADV_HUGEPAGE);
  exports.Set("madviseValues", advice);
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(PageSize())));
}

}  // namespace zc
