// Per-environment state (the main thread and every worker thread get their own) and family registration.
#pragma once
#include <napi.h>

#include <memory>

namespace zc {

struct MappingTable;  // mmap_binding.cc: this environment's live mappings

struct AddonData {
  napi_env env;
  Napi::FunctionReference errorFactory;
  std::unique_ptr<MappingTable> mappings;
  AddonData();
  ~AddonData();
};

AddonData* GetAddonData(Napi::Env env);

// Each family adds its exports to the module object.
void RegisterTransfer(Napi::Env env, Napi::Object exports);
void RegisterCapabilities(Napi::Env env, Napi::Object exports);
void RegisterMmap(Napi::Env env, Napi::Object exports);

}  // namespace zc
