// JS glue for the engine: submit and cancel jobs, deliver their events to one JS dispatcher per environment
// through a thread-safe function, and the fast path that sends page-cached ranges right on the JS thread.
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>

#include <string>

#include "addon.h"
#include "args.h"
#include "constants.h"
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
        e.strategy ? Napi::Value(Napi::String::New(env, e.strategy)) : env.Null(),
        e.notice ? Napi::Value(Napi::String::New(env, e.notice)) : env.Null(),
        Napi::Number::New(env, e.sinkId),
        e.unwritten ? BufferCopyOrNull(env, e.unwritten->data(), e.unwritten->size()) : env.Null(),
    };
    CallQuietly(env, dispatcher, 11, argv);
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
//                              strategy|null, notice|null, sinkId, unwritten|null))
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

// `leaseId` (a native lease id; absent or 0: none): a chunk is written only while the lease holds, which only a
// strategy that copies can promise (the destination must hold copies, not the file's pages).
bool LeaseFlag(Napi::Object o, engine::Strategy strategy, lease::HeldFlag* held) {
  Napi::Value v = o.Get("leaseId");
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsNumber()) return ThrowType(o.Env(), "leaseId must be a number"), false;
  int id = v.As<Napi::Number>().Int32Value();
  if (id <= 0) return true;
  if (strategy != engine::Strategy::kCopy && strategy != engine::Strategy::kMmap)
    return ThrowType(o.Env(), "leaseId needs a strategy that copies ('copy' or 'mmap')"), false;
  *held = lease::HeldFlagOf(id);
  return true;
}

// A member naming one row of a table (a job kind, a strategy): absent -> *out unchanged; unknown -> TypeError.
template <typename T, size_t N>
bool OptNamed(Napi::Object o, const char* name, const engine::Named<T> (&table)[N], T* out) {
  std::string value;
  if (!OptString(o, name, &value)) return false;
  if (value.empty() && o.Get(name).IsUndefined()) return true;
  for (const auto& row : table) {
    if (value == row.name) {
      *out = row.value;
      return true;
    }
  }
  return ThrowType(o.Env(), ("unknown " + std::string(name) + " '" + value + "'").c_str()), false;
}

// submit({ kind, outFd, inFd, offset?, outOffset?, length (-1: until the input ends, 'relay' and 'broadcast'),
//          strategy? ('send'), progress?, pipeSize?, shutdownOnEof?, maxLag?, sinkFds?, leaseId? }) -> job id
Napi::Value SubmitJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData* data = GetAddonData(env);
  if (!data->engineSink) return ThrowType(env, "the engine callback is not set");
  if (!info[0].IsObject()) return ThrowType(env, "submit(spec): spec must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  engine::Spec spec{};
  spec.strategy = engine::Strategy::kSendfile;
  if (!o.Get("kind").IsString()) return ThrowType(env, "kind must be a string");
  if (!OptNamed(o, "kind", engine::kKinds, &spec.kind) || !OptNamed(o, "strategy", engine::kStrategies, &spec.strategy))
    return env.Undefined();
  bool hasOffset, hasOutOffset;
  size_t length = 0, pipeSize, maxLag;
  Napi::Value lengthValue = o.Get("length");
  bool untilEnd = lengthValue.IsNumber() && lengthValue.As<Napi::Number>().DoubleValue() == -1;
  if (lengthValue.IsUndefined()) return ThrowType(env, "length must be a number");
  if (!OptFd(o, "outFd", &spec.outFd) || !OptFd(o, "inFd", &spec.inFd) || !OptOffset(o, "offset", &spec.offset, &hasOffset) ||
      !OptOffset(o, "outOffset", &spec.outOffset, &hasOutOffset) ||
      (!untilEnd && !OptLength(o, "length", SIZE_MAX, &length)) ||
      !OptLength(o, "pipeSize", INT32_MAX, &pipeSize) || !OptLength(o, "maxLag", INT64_MAX, &maxLag))
    return env.Undefined();
  bool stream = spec.kind == engine::Kind::kRelay || spec.kind == engine::Kind::kBroadcast;
  if (!hasOffset && !stream) return ThrowType(env, "a file job needs an input offset");
  if (untilEnd && !stream) return ThrowType(env, "only a relay or broadcast job runs to the end");
  if (!hasOffset) spec.offset = 0;
  if (!hasOutOffset) spec.outOffset = -1;
  spec.length = untilEnd ? -1 : static_cast<int64_t>(length);
  spec.progress = OptFlag(o, "progress");
  spec.pipeSize = static_cast<int>(pipeSize);
  spec.shutdownOnEof = OptFlag(o, "shutdownOnEof");
  spec.maxLag = static_cast<int64_t>(maxLag);
  Napi::Value sinks = o.Get("sinkFds");
  if (sinks.IsArray()) {
    Napi::Array fds = sinks.As<Napi::Array>();
    for (uint32_t i = 0; i < fds.Length(); i++) {
      Napi::Value v = fds.Get(i);
      if (!v.IsNumber()) return ThrowType(env, "sink fds must be numbers");
      spec.sinkFds.push_back(v.As<Napi::Number>().Int32Value());
    }
  }
  if (!LeaseFlag(o, spec.kind == engine::Kind::kSend ? spec.strategy : engine::Strategy::kSendfile, &spec.leaseHeld))
    return env.Undefined();
  Napi::Value kept = o.Get("map");
  if (kept.IsNumber() && spec.kind == engine::Kind::kSend && spec.strategy == engine::Strategy::kMmap)
    spec.kept = FindKeptMap(env, kept.As<Napi::Number>().Uint32Value());  // gone already: the job maps its own
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

// pread + write through a buffer, so that the socket holds a copy; with a lease flag, a chunk read after the lease
// was given up is never written. `head` (bytes that go before the chunk: a response's headers) is written with it
// in one writev and emptied once written. Returns the bytes written, head included, 0 at end of file, or -errno
// (-EAGAIN: the socket is full, nothing written; -ECANCELED: the lease is gone). *offset advances by the chunk's.
ssize_t CopyThrough(int out, int in, int64_t* offset, size_t length, const lease::HeldFlag& held, struct iovec* head) {
  static thread_local std::unique_ptr<char[]> buffer(new char[constants::kCopyChunk]);
  ssize_t n;
  do n = pread(in, buffer.get(), length < constants::kCopyChunk ? length : constants::kCopyChunk, *offset);
  while (n == -1 && errno == EINTR);
  if (n <= 0) return n == 0 ? 0 : -errno;
  if (held && !held->held()) return -ECANCELED;
  struct iovec iov[2] = {*head, {buffer.get(), static_cast<size_t>(n)}};
  bool withHead = head->iov_len > 0;
  ssize_t w;
  do w = withHead ? writev(out, iov, 2) : write(out, buffer.get(), static_cast<size_t>(n));
  while (w == -1 && errno == EINTR);
  if (w < 0) return -errno;
  size_t headPart = static_cast<size_t>(w) < head->iov_len ? static_cast<size_t>(w) : head->iov_len;
  head->iov_base = static_cast<char*>(head->iov_base) + headPart;
  head->iov_len -= headPart;
  *offset += w - static_cast<ssize_t>(headPart);
  return w;
}

// write(2) from a read-only mapping of [offset, offset + length) until EAGAIN, an error or the end (its last page
// by pread: WriteFromMapping). A file that shrank under the mapping answers EFAULT or a short count, never SIGBUS
// (the kernel reads the mapping): that ends it like the end of the file, and the caller, seeing fewer bytes than
// asked, checks the size; *untrusted: it shrank under what went (WriteFromMapping). Returns the bytes written, or
// -errno when none were (*mapped false: the file cannot be mapped); *calls counts syscalls.
ssize_t MmapThrough(int out, int in, int64_t offset, size_t length, bool* mapped, bool* untrusted, int64_t* calls) {
  int64_t page = sysconf(_SC_PAGESIZE);
  int64_t base = offset / page * page;
  size_t span = static_cast<size_t>(offset - base) + length;
  void* map = mmap(nullptr, span, PROT_READ, MAP_SHARED, in, base);
  ++*calls;
  *mapped = map != MAP_FAILED;
  if (!*mapped) return -errno;
  struct iovec none = {nullptr, 0};
  ssize_t sent = WriteFromMapping(out, in, static_cast<const char*>(map) + (offset - base), offset, length, &none,
                                  nullptr, untrusted, calls);
  munmap(map, span);
  return sent;
}

// sendFast({ strategy, outFd, inFd, offset, length, leaseId?, head? }) -> bytes moved right now on the JS thread
// (head included), or -1 when this is not for the fast path: the range is not entirely in the page cache (a read
// could block on the disk: the engine must do it), or the strategy does not run on the JS thread. Stops at EAGAIN,
// end of file, or a lease given up; at most constants.fastPathMax per call, so the event loop never stalls.
// `head` goes first, in the same segment as the first body bytes: in the copy's writev, else sent with MSG_MORE;
// nothing of the body moves before all of it has.
Napi::Value SendFastJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "sendFast(spec): spec must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  engine::Strategy strategy = engine::Strategy::kSendfile;
  int out, in;
  int64_t offset;
  bool hasOffset;
  size_t length;
  lease::HeldFlag held;
  struct iovec head;
  if (!o.Get("strategy").IsString()) return ThrowType(env, "strategy must be a string");
  if (!OptNamed(o, "strategy", engine::kStrategies, &strategy) || !OptFd(o, "outFd", &out) || !OptFd(o, "inFd", &in) ||
      !OptOffset(o, "offset", &offset, &hasOffset) || !OptLength(o, "length", constants::kFastPathMax, &length) ||
      !LeaseFlag(o, strategy, &held) || !OptView(o, "head", &head))
    return env.Undefined();
  if (!hasOffset) return ThrowType(env, "offset must be a number or bigint");
  bool copy = strategy == engine::Strategy::kCopy;
  // splice needs a pipe, and mmap under a lease the engine (the lease stops its job before a writer may go on).
  bool mmap = strategy == engine::Strategy::kMmap && !held;
  if (strategy != engine::Strategy::kSendfile && !copy && !mmap) return Napi::Number::New(env, -1);
  if (RangeCached(in, offset, static_cast<int64_t>(length)) != 1) return Napi::Number::New(env, -1);
  int64_t headSent = 0, calls = 0;
  if (head.iov_len > 0 && !copy) {
    ssize_t h = SendMore(out, head.iov_base, head.iov_len);
    calls++;
    if (h < 0 && h != -EAGAIN) return ThrowErrno(env, static_cast<int>(h), "send");
    headSent = h > 0 ? h : 0;
    if (static_cast<size_t>(headSent) < head.iov_len) return Napi::Number::New(env, static_cast<double>(headSent));
    head.iov_len = 0;
  }
  if (mmap) {
    bool mapped = true, untrusted = false;
    ssize_t r = length == 0 ? 0 : MmapThrough(out, in, offset, length, &mapped, &untrusted, &calls);
    engine::CountFastPath(r > 0 ? r : 0, calls, false);
    if (untrusted) return ThrowErrnoAfter(env, -EFAULT, "write", static_cast<double>(r > 0 ? r : 0));
    if (headSent > 0 && r <= 0) PushHeld(out);
    if (!mapped) return Napi::Number::New(env, headSent > 0 ? static_cast<double>(headSent) : -1);
    if (r < 0 && r != -EAGAIN && headSent == 0) return ThrowErrno(env, static_cast<int>(r), "write");
    return Napi::Number::New(env, static_cast<double>(headSent + (r > 0 ? r : 0)));
  }
  int64_t left = static_cast<int64_t>(length), sent = 0;
  ssize_t r = 0;
  while (left > 0) {
    size_t want = static_cast<size_t>(left < constants::kChunk ? left : constants::kChunk);
    size_t headBefore = head.iov_len;
    r = copy ? CopyThrough(out, in, &offset, want, held, &head) : Sendfile(out, in, &offset, want);
    calls++;
    if (r <= 0) break;
    int64_t headPart = static_cast<int64_t>(headBefore - head.iov_len);
    headSent += headPart;
    sent += r - headPart;
    left -= r - headPart;
    if (head.iov_len > 0) break;  // the socket took part of the head only: the rest goes in order, by JS
  }
  engine::CountFastPath(sent, calls, copy);
  if (!copy && headSent > 0 && sent == 0) PushHeld(out);
  if (r < 0 && r != -EAGAIN && sent + headSent == 0) return ThrowErrno(env, static_cast<int>(r), copy ? "write" : "sendfile");
  return Napi::Number::New(env, static_cast<double>(headSent + sent));
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
  exports.Set("sendFast", Napi::Function::New(env, SendFastJs, "sendFast"));
  Napi::Array refusals = Napi::Array::New(env);
  for (const engine::Refusal& refusal : engine::kRefusals) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("errno", -refusal.errnum);
    row.Set("code", refusal.code);
    row.Set("reason", refusal.reason);
    refusals.Set(refusals.Length(), row);
  }
  exports.Set("refusals", refusals);
  Napi::Array kinds = Napi::Array::New(env), strategies = Napi::Array::New(env);
  for (const auto& row : engine::kKinds) kinds.Set(kinds.Length(), row.name);
  for (const auto& row : engine::kStrategies) strategies.Set(strategies.Length(), row.name);
  exports.Set("jobKinds", kinds);
  Napi::Array reasons = Napi::Array::New(env);
  for (const char* reason : engine::reason::kAll) reasons.Set(reasons.Length(), reason);
  exports.Set("fallbackReasons", reasons);
  exports.Set("strategies", strategies);
  Napi::Object shared = Napi::Object::New(env);
  shared.Set("fastPathMax", static_cast<double>(constants::kFastPathMax));
  shared.Set("chunk", static_cast<double>(constants::kChunk));
  shared.Set("copyChunk", static_cast<double>(constants::kCopyChunk));
  shared.Set("defaultPipeSize", constants::kDefaultPipeSize);
  shared.Set("leaseSignalOffset", constants::kLeaseSignalOffset);
  exports.Set("constants", shared);
}

}  // namespace zc
