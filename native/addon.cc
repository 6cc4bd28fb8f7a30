#include "addon.h"

#include <dlfcn.h>

#include <mutex>

#include "errors.h"
#include "mapping_table.h"

namespace zc {

AddonData::AddonData() = default;
AddonData::~AddonData() = default;

AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

static Napi::Value SetErrorFactoryJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) return ThrowType(info.Env(), "error factory must be a function");
  SetErrorFactory(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// The engine threads, the lease-signal thread and the SIGBUS handler are process-wide and outlive any one
// environment. Node unloads an addon once the last environment that loaded it is gone (a worker that ends): its
// code would then be unmapped under those threads (an engine task finishing after a worker's terminate() crashed
// the process with SIGSEGV). So the library stays loaded for the life of the process.
static void PinLibrary() {
  static std::once_flag pinned;
  std::call_once(pinned, [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&PinLibrary), &info) != 0 && info.dli_fname != nullptr) {
      dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    }
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinLibrary();
  AddonData* data = new AddonData();
  data->env = env;
  env.SetInstanceData(data);
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactoryJs, "setErrorFactory"));
  RegisterTransfer(env, exports);
  RegisterCapabilities(env, exports);
  RegisterMmap(env, exports);
  RegisterEngine(env, exports);
  RegisterLease(env, exports);
  RegisterHttp(env, exports);
  RegisterDirect(env, exports);
  return exports;
}

}  // namespace zc

static Napi::Object InitZerocopy(Napi::Env env, Napi::Object exports) { return zc::Init(env, exports); }

NODE_API_MODULE(zerocopy, InitZerocopy)
