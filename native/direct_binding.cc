// JS glue for direct I/O and page-cache residency. Async reads, writes and syncs run as tasks on the engine
// threads (a direct read waits for the device: never on the JS thread, never in libuv's pool) and complete
// through this environment's dispatcher.
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "addon.h"
#include "args.h"
#include "direct.h"
#include "engine.h"
#include "errors.h"
#include "js_channel.h"

namespace zc {

namespace {

// A Buffer over an AlignedBlock holds a reference to it, as its finalizer's hint.
void DropReference(napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<direct::AlignedBlock>*>(hint); }

// Delivers task completions to this environment's dispatcher(job, bytes, error|null, bounce|undefined). Tasks
// hold it (shared_ptr) past the environment: once that is gone, their results are dropped, and the memory they
// use is their own (AlignedBlock), so teardown waits for none of them.
class DirectSink : public engine::Sink {
 public:
  DirectSink(Napi::Env env, Napi::Function dispatcher) : channel_(env, dispatcher, "zerocopy:direct", CallJs) {}

  void Deliver(const engine::Event& event) override { channel_.Post(event); }

  // On the JS thread, around engine::RunTask; the process stays alive while any task runs.
  void Starting(Napi::Env env) {
    if (active_++ == 0) channel_.Ref(env);
  }
  void NotStarted(Napi::Env env) { Ended(env); }

  // A read into memory other than an AlignedBlock went to this block instead: the dispatcher gets it at
  // completion, to copy out from on the JS thread.
  void Bounced(uint64_t job, std::shared_ptr<direct::AlignedBlock> block) { bounces_[job] = std::move(block); }

  // The environment is going away: no more posts; tasks not started are cancelled.
  void Close() {
    channel_.Close();
    engine::CancelAll(this);
  }

 private:
  void Ended(Napi::Env env) {
    if (--active_ == 0) channel_.Unref(env);
  }

  // The bounce block of a read, as a Buffer sharing its memory (which then holds a reference), or a copy where
  // the runtime refuses external buffers.
  Napi::Value TakeBounce(Napi::Env env, uint64_t job, int64_t bytes) {
    auto it = bounces_.find(job);
    if (it == bounces_.end()) return env.Undefined();
    auto* held = new std::shared_ptr<direct::AlignedBlock>(std::move(it->second));
    bounces_.erase(it);
    napi_value buffer;
    napi_status status =
        napi_create_external_buffer(env, static_cast<size_t>(bytes), (*held)->data(), DropReference, held, &buffer);
    if (status == napi_ok) return Napi::Value(env, buffer);
    Napi::Value copy = BufferCopyOrNull(env, (*held)->data(), static_cast<size_t>(bytes));
    delete held;
    return copy;
  }

  static void CallJs(Napi::Env env, Napi::Function dispatcher, const engine::Event& e) {
    DirectSink* sink = static_cast<DirectSink*>(GetAddonData(env)->directSink.get());
    if (sink == nullptr) return;
    sink->Ended(env);
    napi_value argv[] = {
        Napi::Number::New(env, static_cast<double>(e.job)),
        Napi::Number::New(env, static_cast<double>(e.bytes)),
        e.error ? ErrnoError(env, e.error, e.syscall ? e.syscall : "engine") : env.Null(),
        sink->TakeBounce(env, e.job, e.bytes),
    };
    CallQuietly(env, dispatcher, 4, argv);
  }

  JsChannel<engine::Event> channel_;
  int active_ = 0;  // JS thread only
  std::unordered_map<uint64_t, std::shared_ptr<direct::AlignedBlock>> bounces_;  // JS thread only
};

// Our own duplicate of a caller's fd for a task, closed when the task (run or cancelled) is destroyed: the
// caller may close its DirectFile while the task waits.
struct OwnedFd {
  int fd;
  explicit OwnedFd(int f) : fd(f) {}
  ~OwnedFd() { close(fd); }
};

void CloseSink(void* arg) { static_cast<DirectSink*>(arg)->Close(); }

DirectSink* Sink(Napi::Env env) { return static_cast<DirectSink*>(GetAddonData(env)->directSink.get()); }

// Runs `work(fd, cancelled, bytes, syscall)` as an engine task on a duplicate of fd; returns the job id (0 with
// an exception pending).
template <typename Work>
int64_t StartTask(Napi::Env env, int fd, Work work) {
  DirectSink* sink = Sink(env);
  if (sink == nullptr) return ThrowType(env, "the direct callback is not set"), 0;
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ThrowErrno(env, -errno, "dup"), 0;
  auto owned = std::make_shared<OwnedFd>(copy);
  sink->Starting(env);
  int64_t id = engine::RunTask(
      [owned, work](const std::atomic<bool>& cancelled, int64_t* bytes, const char** syscall) {
        return work(owned->fd, cancelled, bytes, syscall);
      },
      GetAddonData(env)->directSink);
  if (id < 0) {
    sink->NotStarted(env);
    return ThrowErrno(env, static_cast<int>(id), "engine"), 0;
  }
  return id;
}

Napi::Object OpenedObject(Napi::Env env, const direct::Opened& opened) {
  direct::Alignment alignment{1, 1};
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", opened.fd);
  o.Set("direct", opened.direct);
  o.Set("reason", opened.reason ? Napi::Value(Napi::String::New(env, opened.reason)) : env.Null());
  if (opened.direct && direct::GetAlignment(opened.fd, &alignment) < 0) alignment = {1, 1};
  o.Set("alignment", alignment.offset);
  o.Set("bufferAlignment", alignment.memory);
  return o;
}

// setDirectCallback(dispatcher(job, bytes, error|null))
Napi::Value SetDirectCallbackJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) return ThrowType(env, "dispatcher must be a function");
  AddonData* data = GetAddonData(env);
  if (data->directSink) return ThrowType(env, "the direct callback is already set");
  data->directSink = std::make_shared<DirectSink>(env, info[0].As<Napi::Function>());
  napi_add_env_cleanup_hook(env, CloseSink, data->directSink.get());
  return env.Undefined();
}

// openDirect(path, flags, mode) -> { fd, direct, reason|null, alignment, bufferAlignment } (alignments 1 when not
// direct)
Napi::Value OpenDirectJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) return ThrowType(env, "openDirect(path, flags, mode)");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  direct::Opened opened;
  int err = direct::OpenPath(path.c_str(), info[1].As<Napi::Number>().Int32Value(),
                             static_cast<mode_t>(info[2].As<Napi::Number>().Uint32Value()), &opened);
  if (err < 0) return ThrowErrno(env, err, "open", path.c_str());
  return OpenedObject(env, opened);
}

// reopenDirect(fd) -> the same, for a new open file description of a caller's fd
Napi::Value ReopenDirectJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  direct::Opened opened;
  int err = direct::Reopen(fd, &opened);
  if (err < 0) return ThrowErrno(info.Env(), err, "open");
  return OpenedObject(info.Env(), opened);
}

// closeDirect(fd): closes an fd openDirect or reopenDirect opened. Natively, as they opened it: fs.closeSync would
// find an fd that Node did not open (and says so in a worker).
Napi::Value CloseDirectJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  // Linux frees the fd even when close fails (EINTR included): never retried.
  if (close(fd) == -1 && errno != EINTR) return ThrowErrno(info.Env(), -errno, "close");
  return info.Env().Undefined();
}

// The arguments both transfers take: (fd, write, views, position, dropCache); false after throwing.
bool TransferArgs(const Napi::CallbackInfo& info, int* fd, std::vector<struct iovec>* iov, int64_t* position) {
  bool hasPosition;
  if (!ArgFd(info, 0, fd) || !ArgIovecs(info, 2, iov) || !ArgOffset(info, 3, position, &hasPosition)) return false;
  if (!hasPosition) ThrowType(info.Env(), "a direct transfer needs a position");
  return hasPosition;
}

// directTransferSync(fd, write, views, position, dropCache) -> bytes; a failure throws with `bytes` moved before it
Napi::Value DirectTransferSyncJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t position;
  std::vector<struct iovec> iov;
  if (!TransferArgs(info, &fd, &iov, &position)) return env.Undefined();
  bool write = ArgFlag(info, 1);
  int64_t moved = 0;
  const char* syscall;
  int err = direct::Transfer(fd, write, iov.data(), static_cast<int>(iov.size()), position, ArgFlag(info, 4), nullptr,
                             &moved, &syscall);
  if (err < 0) {
    // As the async calls reject: the error, with the bytes moved before it.
    Napi::Value error = ErrnoError(env, err, syscall);
    if (error.IsObject()) error.As<Napi::Object>().Set("bytes", static_cast<double>(moved));
    napi_throw(env, error);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(moved));
}

// directTransfer(fd, write, views, position, dropCache) -> job id; completes with the bytes moved. The task
// touches only memory it holds: views inside AlignedBlocks (alignedBuffer) are used in place, with a reference
// to each block; any other views go through one block of the task's own, copied in here before a write, and
// handed to the dispatcher after a read, which copies out what it still can (the caller may have detached or
// transferred its memory meanwhile).
Napi::Value DirectTransferJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t position;
  std::vector<struct iovec> iov;
  if (!TransferArgs(info, &fd, &iov, &position)) return env.Undefined();
  bool write = ArgFlag(info, 1), dropCache = ArgFlag(info, 4);
  std::vector<std::shared_ptr<direct::AlignedBlock>> held;
  size_t total = 0;
  for (const struct iovec& v : iov) {
    total += v.iov_len;
    auto block = direct::AlignedBlock::Find(v.iov_base, v.iov_len);
    if (block) held.push_back(std::move(block));
  }
  std::shared_ptr<direct::AlignedBlock> bounce;
  if (held.size() < iov.size()) {
    bounce = direct::AlignedBlock::New(total, static_cast<size_t>(sysconf(_SC_PAGESIZE)));
    if (!bounce) return ThrowErrno(env, -ENOMEM, "posix_memalign");
    if (write) {
      size_t at = 0;
      for (const struct iovec& v : iov) {
        memcpy(bounce->data() + at, v.iov_base, v.iov_len);
        at += v.iov_len;
      }
    }
    held = {bounce};
    iov = {{bounce->data(), total}};
  }
  int64_t id = StartTask(env, fd, [write, iov, held, position, dropCache](
                                      int f, const std::atomic<bool>& cancelled, int64_t* bytes, const char** syscall) {
    return direct::Transfer(f, write, iov.data(), static_cast<int>(iov.size()), position, dropCache, &cancelled,
                            bytes, syscall);
  });
  if (id == 0) return env.Undefined();
  if (bounce && !write) Sink(env)->Bounced(static_cast<uint64_t>(id), bounce);
  return Napi::Number::New(env, static_cast<double>(id));
}

// directSync(fd, metadata) -> job id
Napi::Value DirectSyncJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  bool metadata = ArgFlag(info, 1);
  int64_t id = StartTask(info.Env(), fd, [metadata](int f, const std::atomic<bool>&, int64_t*, const char** syscall) {
    *syscall = metadata ? "fsync" : "fdatasync";
    return direct::Sync(f, metadata);
  });
  return id == 0 ? info.Env().Undefined() : Napi::Number::New(info.Env(), static_cast<double>(id));
}

// alignedBuffer(size, alignment) -> a zero-filled Buffer, or null where the runtime refuses external buffers
// (Electron's V8 sandbox): the caller then over-allocates and slices.
Napi::Value AlignedBufferJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t size, alignment;
  if (!ArgLength(info, 0, SIZE_MAX, &size) || !ArgLength(info, 1, SIZE_MAX, &alignment)) return env.Undefined();
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return ThrowType(env, "bad alignment");
  std::shared_ptr<direct::AlignedBlock> block = direct::AlignedBlock::New(size, alignment);
  if (!block) return ThrowErrno(env, -ENOMEM, "posix_memalign");
  auto* held = new std::shared_ptr<direct::AlignedBlock>(block);
  napi_value buffer;
  napi_status status = napi_create_external_buffer(env, size, block->data(), DropReference, held, &buffer);
  if (status != napi_ok) {
    delete held;
    if (status == napi_no_external_buffers_allowed) return env.Null();
    if (!env.IsExceptionPending()) ThrowErrno(env, -ENOMEM, "napi_create_external_buffer");
    return env.Undefined();
  }
  return Napi::Value(env, buffer);
}

// misalignment(view, alignment) -> the view's address modulo alignment (a power of two)
Napi::Value MisalignmentJs(const Napi::CallbackInfo& info) {
  struct iovec view;
  size_t alignment;
  if (!ArgView(info, 0, &view) || !ArgLength(info, 1, SIZE_MAX, &alignment) || alignment == 0) {
    return info.Env().IsExceptionPending() ? info.Env().Undefined() : ThrowType(info.Env(), "bad alignment");
  }
  uintptr_t address = reinterpret_cast<uintptr_t>(view.iov_base);
  return Napi::Number::New(info.Env(), static_cast<double>(address & (alignment - 1)));
}

bool ArgRange(const Napi::CallbackInfo& info, int* fd, int64_t* offset, int64_t* length) {
  bool has;
  if (!ArgFd(info, 0, fd) || !ArgOffset(info, 1, offset, &has)) return false;
  if (!has) *offset = 0;
  if (!ArgOffset(info, 2, length, &has)) return false;
  if (!has) *length = -1;
  return true;
}

// residency(fd, offset, length|null) -> { size, cached, dirty|null, writeback|null, method }
Napi::Value ResidencyJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t offset, length;
  if (!ArgRange(info, &fd, &offset, &length)) return env.Undefined();
  direct::Residency r;
  const char* syscall;
  int err = direct::GetResidency(fd, offset, length, &r, &syscall);
  if (err < 0) return ThrowErrno(env, err, syscall);
  Napi::Object o = Napi::Object::New(env);
  o.Set("size", static_cast<double>(r.size));
  o.Set("cached", static_cast<double>(r.cached));
  o.Set("dirty", r.dirty < 0 ? env.Null() : Napi::Number::New(env, static_cast<double>(r.dirty)));
  o.Set("writeback", r.writeback < 0 ? env.Null() : Napi::Number::New(env, static_cast<double>(r.writeback)));
  o.Set("method", r.cachestat ? "cachestat" : "mincore");
  return o;
}

// evict(fd, offset, length|null) -> job id: a task, since writing dirty pages back waits for the device.
// prefetch(fd, offset, length|null): WILLNEED only starts the reads. A null length: to the end of the file; 0:
// nothing.
Napi::Value EvictJs(const Napi::CallbackInfo& info) {
  int fd;
  int64_t offset, length;
  if (!ArgRange(info, &fd, &offset, &length)) return info.Env().Undefined();
  int64_t id = StartTask(info.Env(), fd, [offset, length](int f, const std::atomic<bool>&, int64_t*,
                                                          const char** syscall) {
    return direct::Evict(f, offset, length, syscall);
  });
  return id == 0 ? info.Env().Undefined() : Napi::Number::New(info.Env(), static_cast<double>(id));
}

Napi::Value PrefetchJs(const Napi::CallbackInfo& info) {
  int fd;
  int64_t offset, length;
  if (!ArgRange(info, &fd, &offset, &length)) return info.Env().Undefined();
  const char* syscall;
  int err = direct::Prefetch(fd, offset, length, &syscall);
  if (err < 0) return ThrowErrno(info.Env(), err, syscall);
  return info.Env().Undefined();
}

}  // namespace

void RegisterDirect(Napi::Env env, Napi::Object exports) {
  exports.Set("setDirectCallback", Napi::Function::New(env, SetDirectCallbackJs, "setDirectCallback"));
  exports.Set("openDirect", Napi::Function::New(env, OpenDirectJs, "openDirect"));
  exports.Set("reopenDirect", Napi::Function::New(env, ReopenDirectJs, "reopenDirect"));
  exports.Set("closeDirect", Napi::Function::New(env, CloseDirectJs, "closeDirect"));
  exports.Set("directTransferSync", Napi::Function::New(env, DirectTransferSyncJs, "directTransferSync"));
  exports.Set("directTransfer", Napi::Function::New(env, DirectTransferJs, "directTransfer"));
  exports.Set("directSync", Napi::Function::New(env, DirectSyncJs, "directSync"));
  exports.Set("alignedBuffer", Napi::Function::New(env, AlignedBufferJs, "alignedBuffer"));
  exports.Set("misalignment", Napi::Function::New(env, MisalignmentJs, "misalignment"));
  exports.Set("residency", Napi::Function::New(env, ResidencyJs, "residency"));
  exports.Set("evict", Napi::Function::New(env, EvictJs, "evict"));
  exports.Set("prefetch", Napi::Function::New(env, PrefetchJs, "prefetch"));
}

}  // namespace zc
