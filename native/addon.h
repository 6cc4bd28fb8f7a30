// Per-environment state (the main thread and every worker thread get their own) and family registration.
#pragma once
#include <napi.h>

#include <memory>

#include "engine.h"
#include "kept_map.h"
#include "lease.h"

namespace zc {

struct MappingTable;  // mmap_binding.cc: this environment's live mappings

struct AddonData {
  napi_env env;
  Napi::FunctionReference errorFactory;
  std::unique_ptr<MappingTable> mappings;
  std::shared_ptr<engine::Sink> engineSink;  // engine_binding.cc: delivers job events to JS
  std::shared_ptr<lease::Listener> leaseListener;  // lease_binding.cc: delivers lease events to JS
  std::shared_ptr<engine::Sink> directSink;  // direct_binding.cc: delivers direct I/O completions to JS
  KeptMaps keptMaps;  // http_binding.cc: the open-file cache's mappings
  AddonData();
  ~AddonData();
};

AddonData* GetAddonData(Napi::Env env);

// Each family adds its exports to the module object.
void RegisterTransfer(Napi::Env env, Napi::Object exports);
void RegisterCapabilities(Napi::Env env, Napi::Object exports);
void RegisterMmap(Napi::Env env, Napi::Object exports);
void RegisterEngine(Napi::Env env, Napi::Object exports);
void RegisterLease(Napi::Env env, Napi::Object exports);
void RegisterHttp(Napi::Env env, Napi::Object exports);
void RegisterDirect(Napi::Env env, Napi::Object exports);

}  // namespace zc
