// Per-environment state (the main thread and every worker thread get their own) and family registration.
#pragma once
#include <napi.h>

namespace zc {

struct AddonData {
  Napi::FunctionReference errorFactory;
};

AddonData* GetAddonData(Napi::Env env);

// Each family adds its exports to the module object.
void RegisterTransfer(Napi::Env env, Napi::Object exports);
void RegisterCapabilities(Napi::Env env, Napi::Object exports);

}  // namespace zc
