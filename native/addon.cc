#include "addon.h"

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
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
