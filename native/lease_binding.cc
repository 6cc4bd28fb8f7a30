// JS glue for leases: acquire, release, getLease, and one thread-safe function per environment that tells JS
// of breaks and releases (after the lease thread has acted).
#include <fcntl.h>
#include <signal.h>

#include <string>

#include "addon.h"
#include "args.h"
#include "errors.h"
#include "js_channel.h"
#include "lease.h"

namespace zc {

namespace {

struct LeaseMessage {
  int id;
  lease::Event event;
  int64_t at;
};

class JsListener : public lease::Listener {
 public:
  // A held lease does not keep the process alive: the channel stays unref'd.
  JsListener(Napi::Env env, Napi::Function dispatcher) : channel_(env, dispatcher, "zerocopy:lease", CallJs) {}
  void Notify(int id, lease::Event event, int64_t at) override { channel_.Post({id, event, at}); }
  void Close() { channel_.Close(); }

 private:
  static void CallJs(Napi::Env env, Napi::Function dispatcher, const LeaseMessage& m) {
    napi_value argv[] = {Napi::Number::New(env, m.id),
                         Napi::String::New(env, m.event == lease::Event::kBroken ? "break" : "released"),
                         Napi::Number::New(env, static_cast<double>(m.at))};
    CallQuietly(env, dispatcher, 3, argv);
  }

  JsChannel<LeaseMessage> channel_;
};

void CloseListener(void* arg) {
  JsListener* listener = static_cast<JsListener*>(arg);
  listener->Close();
  lease::ReleaseAll(listener);
}

Napi::Value SetLeaseCallbackJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) return ThrowType(env, "dispatcher must be a function");
  AddonData* data = GetAddonData(env);
  if (data->leaseListener) return ThrowType(env, "the lease callback is already set");
  data->leaseListener = std::make_shared<JsListener>(env, info[0].As<Napi::Function>());
  napi_add_env_cleanup_hook(env, CloseListener, data->leaseListener.get());
  return env.Undefined();
}

// acquireLease(fd, 'read'|'write', hold, graceMs) -> id
Napi::Value AcquireJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  size_t grace;
  if (!ArgFd(info, 0, &fd) || !ArgLength(info, 3, INT32_MAX, &grace)) return env.Undefined();
  std::string type = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  if (type != "read" && type != "write") return ThrowType(env, "lease type must be 'read' or 'write'");
  AddonData* data = GetAddonData(env);
  if (!data->leaseListener) return ThrowType(env, "the lease callback is not set");
  int id = lease::Acquire(fd, type == "read" ? F_RDLCK : F_WRLCK, ArgFlag(info, 2), static_cast<int>(grace),
                          data->leaseListener);
  if (id < 0) return ThrowErrno(env, id, "fcntl");
  return Napi::Number::New(env, id);
}

// guardLease(id, job): the engine job this lease guards
Napi::Value GuardJs(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber() && info[1].IsNumber()) {
    lease::Guard(info[0].As<Napi::Number>().Int32Value(), static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()));
  }
  return info.Env().Undefined();
}

// guardLeaseSocket(id, socketFd): the socket whose unacknowledged bytes the lease guards
Napi::Value GuardSocketJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!info[0].IsNumber() || !ArgFd(info, 1, &fd)) return ThrowType(info.Env(), "guardLeaseSocket(id, fd)");
  int r = lease::GuardSocket(info[0].As<Napi::Number>().Int32Value(), fd);
  if (r < 0) return ThrowErrno(info.Env(), r, "dup");
  return info.Env().Undefined();
}

// leaseUnacked(id) -> bytes the guarded socket's peer has not acknowledged
Napi::Value UnackedJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) return ThrowType(info.Env(), "leaseUnacked(id)");
  int64_t r = lease::Unacked(info[0].As<Napi::Number>().Int32Value());
  if (r < 0) return ThrowErrno(info.Env(), static_cast<int>(r), "ioctl");
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

// leaseHeld(id) -> false once the lease has been given up (natively, perhaps before JS heard of it)
Napi::Value HeldJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), info[0].IsNumber() && lease::Held(info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value ReleaseJs(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) lease::Release(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// getLease(fd) -> 'read' | 'write' | 'none'
Napi::Value GetJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return info.Env().Undefined();
  int r = lease::Get(fd);
  if (r < 0) return ThrowErrno(info.Env(), r, "fcntl");
  return Napi::String::New(info.Env(), r == F_RDLCK ? "read" : r == F_WRLCK ? "write" : "none");
}

// configureLeaseSignal(offset from SIGRTMIN) -> false when too late
Napi::Value ConfigureJs(const Napi::CallbackInfo& info) {
  size_t offset;
  if (!ArgLength(info, 0, 64, &offset)) return info.Env().Undefined();
  int r = lease::Configure(static_cast<int>(offset));
  if (r == -EINVAL) return ThrowType(info.Env(), "no such real-time signal");
  return Napi::Boolean::New(info.Env(), r == 0);
}

}  // namespace

void RegisterLease(Napi::Env env, Napi::Object exports) {
  exports.Set("setLeaseCallback", Napi::Function::New(env, SetLeaseCallbackJs, "setLeaseCallback"));
  exports.Set("acquireLease", Napi::Function::New(env, AcquireJs, "acquireLease"));
  exports.Set("releaseLease", Napi::Function::New(env, ReleaseJs, "releaseLease"));
  exports.Set("guardLease", Napi::Function::New(env, GuardJs, "guardLease"));
  exports.Set("guardLeaseSocket", Napi::Function::New(env, GuardSocketJs, "guardLeaseSocket"));
  exports.Set("leaseUnacked", Napi::Function::New(env, UnackedJs, "leaseUnacked"));
  exports.Set("leaseHeld", Napi::Function::New(env, HeldJs, "leaseHeld"));
  exports.Set("getLease", Napi::Function::New(env, GetJs, "getLease"));
  exports.Set("configureLeaseSignal", Napi::Function::New(env, ConfigureJs, "configureLeaseSignal"));
  exports.Set("leaseSignalBase", Napi::Number::New(env, SIGRTMIN));
}

}  // namespace zc
