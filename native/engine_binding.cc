// JS glue for the engine: submit and cancel jobs, deliver their events to one JS dispatcher per environment
// through a thread-safe function, and the fast path that sends page-cached ranges right on the JS thread.
#include <errno.h>
#include <unistd.h>

#include <memory>

#include <string>

#include "addon.h"
#include "args.h"
#include "engine.h"
#include "errors.h"
#include "js_channel.h"
#include "lease.h"
#include "transfer.h"

namespace zc {

namespace {

// Delivers engine events to this environment's dispatcher; goes quiet when the environment goes away.
class JsSink : public engine::Sink {
 public:
  JsSink(Napi::Env env, Napi::Function dispatcher) : channel_(env, dispatcher, "zerocopy:engine", CallJs) {}

  void Deliver(const engine::Event& event) override { channel_.Post(event); }

  // On the JS thread: a job started or ended; the process stays alive while any runs.
  void JobStarted(Napi::Env env) {
    if (active_++ == 0) channel_.Ref(env);
  }
  void JobEnded(Napi::Env env) {
    if (--active_ == 0) channel_.Unref(env);
  }

  void Close() { channel_.Close(); }

 private:
  static void CallJs(Napi::Env env, Napi::Function dispatcher, const engine::Event& e) {
    JsSink* sink = static_cast<JsSink*>(GetAddonData(env)->engineSink.get());
    if (e.done && sink != nullptr) sink->JobEnded(env);
    napi_value argv[] = {
        Napi::Number::New(env, static_cast<double>(e.job)),
        Napi::Boolean::New(env, e.done),
        Napi::Number::New(env, static_cast<double>(e.bytes)),
        Napi::Number::New(env, static_cast<double>(e.fallbackBytes)),
        e.error ? ErrnoError(env, e.error, e.syscall ? e.syscall : "engine") : env.Null(),
        Napi::Boolean::New(env, e.truncated),
        e.fallbackReason ? Napi::Value(Napi::String::New(env, e.fallbackReason)) : env.Null(),
        e.notice ? Napi::Value(Napi::String::New(env, e.notice)) : env.Null(),
        Napi::Number::New(env, e.sinkId),
        e.unwritten ? Napi::Value(Napi::Buffer<char>::Copy(env, e.unwritten->data(), e.unwritten->size()))
                    : env.Null(),
    };
    CallQuietly(env, dispatcher, 10, argv);
  }

  JsChannel<engine::Event> channel_;
  int active_ = 0;  // JS thread only
};

void CloseSink(void* arg) {
  JsSink* sink = static_cast<JsSink*>(arg);
  sink->Close();
  engine::CancelAll(sink);
}

// setEngineCallback(dispatcher(job, done, bytes, fallbackBytes, error|null, truncated, fallbackReason|null,
//                              notice|null, sinkId, unwritten|null))
Napi::Value SetEngineCallbackJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) return ThrowType(env, "dispatcher must be a function");
  AddonData* data = GetAddonData(env);
  if (data->engineSink) return ThrowType(env, "the engine callback is already set");
  data->engineSink = std::make_shared<JsSink>(env, info[0].As<Napi::Function>());
  // At environment teardown: stop posting and cancel this environment's jobs.
  napi_add_env_cleanup_hook(env, CloseSink, data->engineSink.get());
  return env.Undefined();
}

// submit(kind, outFd, inFd, offset|null, outOffset|null, length (-1: until the end, for 'splice'), progress,
//        pipeSize, shutdownOnEof, maxLag, sinkFds, copyUnderLease (a lease id, 0: none)) -> job id
Napi::Value SubmitJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData* data = GetAddonData(env);
  if (!data->engineSink) return ThrowType(env, "the engine callback is not set");
  engine::Spec spec{};
  std::string kind = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (kind == "sendfile") spec.kind = engine::Kind::kSendfile;
  else if (kind == "copyFileRange") spec.kind = engine::Kind::kCopyFileRange;
  else if (kind == "splice") spec.kind = engine::Kind::kSplice;
  else if (kind == "broadcast") spec.kind = engine::Kind::kBroadcast;
  else return ThrowType(env, "unknown job kind");
  bool hasOffset, hasOutOffset;
  size_t length = 0, pipeSize;
  bool untilEnd = info[5].IsNumber() && info[5].As<Napi::Number>().DoubleValue() == -1;
  if (!ArgFd(info, 1, &spec.outFd) || !ArgFd(info, 2, &spec.inFd) || !ArgOffset(info, 3, &spec.offset, &hasOffset) ||
      !ArgOffset(info, 4, &spec.outOffset, &hasOutOffset) || (!untilEnd && !ArgLength(info, 5, SIZE_MAX, &length)) ||
      !ArgLength(info, 7, INT32_MAX, &pipeSize))
    return env.Undefined();
  bool stream = spec.kind == engine::Kind::kSplice || spec.kind == engine::Kind::kBroadcast;
  if (!hasOffset && !stream) return ThrowType(env, "a file job needs an input offset");
  if (untilEnd && !stream) return ThrowType(env, "only a splice job runs to the end");
  if (!hasOffset) spec.offset = 0;
  if (!hasOutOffset) spec.outOffset = -1;
  spec.length = untilEnd ? -1 : static_cast<int64_t>(length);
  spec.progress = ArgFlag(info, 6);
  spec.pipeSize = static_cast<int>(pipeSize);
  spec.shutdownOnEof = ArgFlag(info, 8);
  spec.maxLag = info[9].IsNumber() ? info[9].As<Napi::Number>().Int64Value() : 0;
  if (info[10].IsArray()) {
    Napi::Array fds = info[10].As<Napi::Array>();
    for (uint32_t i = 0; i < fds.Length(); i++) {
      Napi::Value v = fds.Get(i);
      if (!v.IsNumber()) return ThrowType(env, "sink fds must be numbers");
      spec.sinkFds.push_back(v.As<Napi::Number>().Int32Value());
    }
  }
  int copyUnderLease = info[11].IsNumber() ? info[11].As<Napi::Number>().Int32Value() : 0;
  if (copyUnderLease > 0) spec.leaseHeld = lease::HeldFlagOf(copyUnderLease);
  int64_t id = engine::Submit(spec, data->engineSink);
  if (id < 0) return ThrowErrno(env, static_cast<int>(id), "dup");
  static_cast<JsSink*>(data->engineSink.get())->JobStarted(env);
  return Napi::Number::New(env, static_cast<double>(id));
}

// addSink(job, fd) -> sink id; removeSink(job, sinkId)
Napi::Value AddSinkJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!info[0].IsNumber() || !ArgFd(info, 1, &fd)) return ThrowType(info.Env(), "addSink(job, fd)");
  int id = engine::AddSink(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), fd);
  if (id < 0) return ThrowErrno(info.Env(), id, "dup");
  return Napi::Number::New(info.Env(), id);
}

Napi::Value RemoveSinkJs(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber() && info[1].IsNumber()) {
    engine::RemoveSink(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()),
                       info[1].As<Napi::Number>().Int32Value());
  }
  return info.Env().Undefined();
}

Napi::Value CancelJs(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) engine::Cancel(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

// configure(threads): before the first job only; false when too late.
Napi::Value ConfigureJs(const Napi::CallbackInfo& info) {
  size_t threads;
  if (!ArgLength(info, 0, 1024, &threads)) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), engine::Configure(static_cast<int>(threads)) == 0);
}

Napi::Value StatsJs(const Napi::CallbackInfo& info) {
  engine::Stats s = engine::GetStats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("zeroCopyBytes", static_cast<double>(s.zeroCopyBytes));
  o.Set("fallbackBytes", static_cast<double>(s.fallbackBytes));
  o.Set("syscalls", static_cast<double>(s.syscalls));
  o.Set("eagainWaits", static_cast<double>(s.eagainWaits));
  o.Set("activeJobs", static_cast<double>(s.activeJobs));
  o.Set("pooledPipes", static_cast<double>(s.pooledPipes));
  o.Set("engineThreads", engine::Threads());
  return o;
}

constexpr int64_t kFastChunk = 4 << 20;
constexpr size_t kCopyChunk = 256 << 10;

// pread + write through a buffer, so that the socket holds a copy (a lease's path for a peer on this host); a
// chunk read after the lease was given up is never written. Returns bytes written, 0 at end of file, or -errno
// (-EAGAIN: the socket is full, nothing written; -ECANCELED: the lease is gone).
ssize_t CopyThrough(int out, int in, int64_t* offset, size_t length, const lease::HeldFlag& held) {
  static thread_local std::unique_ptr<char[]> buffer(new char[kCopyChunk]);
  ssize_t n;
  do n = pread(in, buffer.get(), length < kCopyChunk ? length : kCopyChunk, *offset);
  while (n == -1 && errno == EINTR);
  if (n <= 0) return n == 0 ? 0 : -errno;
  if (!held->load()) return -ECANCELED;
  ssize_t w;
  do w = write(out, buffer.get(), static_cast<size_t>(n));
  while (w == -1 && errno == EINTR);
  if (w < 0) return -errno;
  *offset += w;
  return w;
}

// sendfileFast(outFd, inFd, offset, length, copyUnderLease) -> bytes sent right now on the JS thread, or -1 when
// the range is not entirely in the page cache (a read could block on the disk: the engine must do it). Stops at
// EAGAIN, end of file, or a lease given up; the caller caps `length` so the event loop never stalls.
// `copyUnderLease` (a lease id, 0: none): read/write instead of sendfile, each chunk only while the lease holds.
Napi::Value SendfileFastJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int out, in;
  int64_t offset;
  bool hasOffset;
  size_t length;
  if (!ArgFd(info, 0, &out) || !ArgFd(info, 1, &in) || !ArgOffset(info, 2, &offset, &hasOffset) ||
      !ArgLength(info, 3, SIZE_MAX, &length) || !hasOffset)
    return env.Undefined();
  int copyUnderLease = info[4].IsNumber() ? info[4].As<Napi::Number>().Int32Value() : 0;
  bool copy = copyUnderLease > 0;
  lease::HeldFlag held = copy ? lease::HeldFlagOf(copyUnderLease) : nullptr;
  if (RangeCached(in, offset, static_cast<int64_t>(length)) != 1) return Napi::Number::New(env, -1);
  int64_t sent = 0, calls = 0;
  int64_t left = static_cast<int64_t>(length);
  ssize_t r = 0;
  while (left > 0) {
    size_t want = static_cast<size_t>(left < kFastChunk ? left : kFastChunk);
    r = copy ? CopyThrough(out, in, &offset, want, held) : Sendfile(out, in, &offset, want);
    calls++;
    if (r <= 0) break;
    sent += r;
    left -= r;
  }
  engine::CountFastPath(sent, calls, copy);
  if (r < 0 && r != -EAGAIN && sent == 0) return ThrowErrno(env, static_cast<int>(r), copy ? "write" : "sendfile");
  return Napi::Number::New(env, static_cast<double>(sent));
}

}  // namespace

void RegisterEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("setEngineCallback", Napi::Function::New(env, SetEngineCallbackJs, "setEngineCallback"));
  exports.Set("submit", Napi::Function::New(env, SubmitJs, "submit"));
  exports.Set("cancel", Napi::Function::New(env, CancelJs, "cancel"));
  exports.Set("addSink", Napi::Function::New(env, AddSinkJs, "addSink"));
  exports.Set("removeSink", Napi::Function::New(env, RemoveSinkJs, "removeSink"));
  exports.Set("configure", Napi::Function::New(env, ConfigureJs, "configure"));
  exports.Set("engineStats", Napi::Function::New(env, StatsJs, "engineStats"));
  exports.Set("sendfileFast", Napi::Function::New(env, SendfileFastJs, "sendfileFast"));
  Napi::Array refusals = Napi::Array::New(env);
  for (int refusal : engine::kRefusals) refusals.Set(refusals.Length(), -refusal);
  exports.Set("refusals", refusals);
}

}  // namespace zc
